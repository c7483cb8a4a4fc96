"""The thread pool that runs the parts of the parallel kernels."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
import pytest

from multidrizzle.kernels import _parallel
from multidrizzle.kernels._parallel import part_range, run_parts, thread_count


def test_every_part_runs_once_each_on_its_own_thread():
    seen = []
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=10)

    def kernel(part, n_parts, label):
        barrier.wait()  # both parts at once, or this times out
        with lock:
            seen.append((part, n_parts, label, threading.get_ident()))

    run_parts(kernel, 2, "x")
    assert sorted(part for part, *_ in seen) == [0, 1]
    assert {(n_parts, label) for _, n_parts, label, _ in seen} == {(2, "x")}
    assert len({thread for *_, thread in seen}) == 2
    part_zero_thread = next(thread for part, *_, thread in seen if part == 0)
    assert part_zero_thread == threading.get_ident()  # the caller does part 0


def test_more_parts_than_threads_wait_their_turn():
    done = []
    n_parts = 2 * numba.config.NUMBA_NUM_THREADS + 1
    run_parts(lambda part, n_parts: done.append(part), n_parts)
    assert sorted(done) == list(range(n_parts))


def test_a_failing_part_is_raised_after_every_part_finished():
    finished = []

    def kernel(part, n_parts):
        if part == 1:
            raise ValueError("part 1 failed")
        threading.Event().wait(0.05)
        finished.append(part)

    with pytest.raises(ValueError, match="part 1 failed"):
        run_parts(kernel, 3)
    assert sorted(finished) == [0, 2]


def test_parts_cover_the_items_once():
    for n_items in (0, 1, 5, 64, 1001):
        for n_parts in (1, 2, 3, 7):
            ranges = [part_range(part, n_parts, n_items) for part in range(n_parts)]
            covered = np.concatenate([np.arange(*bounds) for bounds in ranges])
            assert np.array_equal(covered, np.arange(n_items))


def test_thread_count_is_numba_s():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert thread_count() == 1
    finally:
        numba.set_num_threads(before)
    assert thread_count() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_pool_of_its_own():
    run_parts(lambda part, n_parts: None, 2)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # child: a pool inherited with no threads would hang here
        try:
            done = []
            run_parts(lambda part, n_parts: done.append(part), 2)
            os._exit(0 if sorted(done) == [0, 1] else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _parallel._pool is not None


def _python_entry_points(module) -> set[str]:
    """Names of the module's numba functions that its plain Python functions call."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))
    compiled = {name for name, value in vars(module).items()
                if isinstance(value, numba.core.registry.CPUDispatcher)}
    called = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name not in compiled:
            called |= {sub.id for sub in ast.walk(node)
                       if isinstance(sub, ast.Name) and sub.id in compiled}
    return called


@pytest.mark.parametrize("module_name", ["blot", "combine", "cosmic_rays", "drizzle",
                                         "pixmap", "statistics", "_geometry"])
def test_kernels_called_from_python_release_the_gil(module_name):
    """The local executor runs tasks side by side on threads: a kernel that keeps
    the GIL would run them one after the other."""
    import importlib

    module = importlib.import_module(f"multidrizzle.kernels.{module_name}")
    holding = sorted(name for name in _python_entry_points(module)
                     if not getattr(module, name).targetoptions.get("nogil"))
    assert not holding, f"compiled without nogil=True: {holding}"
