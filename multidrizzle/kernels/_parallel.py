"""Run the independent parts of a kernel on several threads.

The parallel kernels are compiled with ``nogil=True`` and take the number of
the part they do and the number of parts, ``kernel(part, n_parts, ...)``;
`run_parts` calls them from a pool of Python threads, the calling thread
doing part 0.  Each kernel decides what a part is (a block of rows, every
``n_parts``-th output band) so that no two parts write the same element and
a part's arithmetic does not depend on the number of parts: results are
bit-identical for any number of threads.

numba's ``parallel=True`` would do the same at run time, but it compiles
each parallel loop into an extra function (parfor passes, a gufunc in which
every callee is linked and optimised again): about a third of the compile
time of the demo's first run (``python benchmarks/bench_cold_start.py``),
for loops that need nothing more than this.  The thread count is numba's
(``numba.get_num_threads()``, set by ``NUMBA_NUM_THREADS`` or
``numba.set_num_threads``), so those settings keep working.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import numba
from numba import njit

__all__ = ["part_range", "run_parts", "thread_count"]

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@njit(cache=True, inline="always")
def part_range(part: int, n_parts: int, n_items: int):
    """``(start, stop)`` of part ``part`` when ``n_items`` are cut into ``n_parts`` blocks."""
    return part * n_items // n_parts, (part + 1) * n_items // n_parts


def thread_count() -> int:
    """Threads the kernels may use: ``numba.get_num_threads()``."""
    return numba.get_num_threads()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # The calling thread does one part itself.
            _pool = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="multidrizzle-kernels")
        return _pool


def _forget_pool_after_fork() -> None:
    # A forked child has none of the parent's threads: a pool inherited from
    # the parent would queue parts that no thread ever runs.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_parts(kernel: Callable[..., Any], n_parts: int, *args: Any) -> None:
    """Call ``kernel(part, n_parts, *args)`` for ``part`` in ``range(n_parts)``, in parallel.

    Parts 1 .. n_parts - 1 run on pool threads while the calling thread
    runs part 0; all parts have finished when this returns.  The first
    exception raised by a part is raised again here.
    """
    if n_parts <= 1:
        kernel(0, 1, *args)
        return
    pool = _executor()
    futures: list[Future] = [pool.submit(kernel, part, n_parts, *args)
                             for part in range(1, n_parts)]
    error: BaseException | None = None
    try:
        kernel(0, n_parts, *args)
    except BaseException as raised:  # re-raised below, once every part has stopped
        error = raised
    for future in futures:
        # Wait for every part: the arrays they write belong to the caller.
        part_error = future.exception()
        if error is None and part_error is not None:
            error = part_error
    if error is not None:
        raise error
