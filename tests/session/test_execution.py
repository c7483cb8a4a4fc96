"""The local executor: tasks side by side on the session's threads, results in order,
and no result held longer than needed (a mosaic's strips would otherwise be held
twice)."""

from __future__ import annotations

import threading
import time
import weakref

import numba
import pytest

from multidrizzle.progress import no_progress, reported
from multidrizzle.session.execution import LocalExecutor, TaskError


class _Recorder:
    """A task that records how many tasks run at once and its kernels' thread count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: list[int] = []

    def __call__(self, number: int, seconds: float) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.append(numba.get_num_threads())
        time.sleep(seconds)
        with self.lock:
            self.running -= 1
        if number < 0:
            raise ValueError("bad input")
        return number


@pytest.fixture
def two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread on this machine")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    yield
    numba.set_num_threads(before)


def test_tasks_run_two_at_a_time_and_come_back_in_order(two_threads):
    task = _Recorder()
    # the first tasks take longest: they finish after later ones
    arguments = [(number, 0.05 * (6 - number)) for number in range(6)]
    results = list(LocalExecutor().map(task, arguments, [f"t{n}" for n in range(6)]))
    assert results == list(range(6))
    assert task.most == 2
    assert task.threads == [1] * 6            # the two threads are shared out
    assert numba.get_num_threads() == 2      # the caller's count is untouched


def test_a_single_task_has_every_thread(two_threads):
    task = _Recorder()
    assert list(LocalExecutor().map(task, [(7, 0.0)], ["only"])) == [7]
    assert task.threads == [2] and task.most == 1


def test_an_error_names_its_task_and_no_later_task_starts(two_threads):
    task = _Recorder()
    arguments = [(0, 0.0), (-1, 0.0)] + [(n, 0.2) for n in range(2, 8)]
    results = LocalExecutor().map(task, arguments, [f"strip {n}" for n in range(8)])
    assert next(results) == 0
    with pytest.raises(TaskError, match="task strip 1: ValueError: bad input"):
        next(results)
    # tasks already under way finish; the rest were never started
    assert len(task.threads) <= 4 and task.running == 0


def test_the_first_tasks_start_before_a_result_is_asked_for(two_threads):
    """A step's join does its own work first (its product's headers): the tasks
    compute meanwhile."""
    task = _Recorder()
    results = LocalExecutor().map(task, [(n, 0.0) for n in range(5)], [str(n) for n in range(5)])
    deadline = time.monotonic() + 10.0
    while len(task.threads) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(task.threads) == 2          # two started, the rest wait for room
    assert list(results) == list(range(5))


def test_results_never_asked_for_stop_the_pool(two_threads):
    task = _Recorder()
    results = LocalExecutor().map(task, [(n, 0.05) for n in range(20)],
                                  [str(n) for n in range(20)])
    del results
    time.sleep(0.3)
    assert len(task.threads) <= 4 and task.running == 0


class _Result:
    """A stand-in for a task's arrays."""


def _results_alive_when_each_task_starts(n_tasks: int) -> list[int]:
    earlier: list[weakref.ref] = []
    alive_at_start: list[int] = []
    lock = threading.Lock()

    def task(number: int) -> _Result:
        with lock:
            alive_at_start.append(sum(ref() is not None for ref in earlier))
        result = _Result()
        result.number = number
        with lock:
            earlier.append(weakref.ref(result))
        time.sleep(0.02)
        return result

    keys = [f"task {number}" for number in range(n_tasks)]
    results = reported(LocalExecutor().map(task, [(n,) for n in range(n_tasks)], keys), keys,
                       no_progress)
    seen = []
    for _ in keys:   # as the steps' joins take them: one, used, let go
        result = next(results)
        seen.append(result.number)
        del result
    assert seen == list(range(n_tasks))
    return alive_at_start


def test_no_result_is_held_while_the_next_task_runs():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert _results_alive_when_each_task_starts(5) == [0, 0, 0, 0, 0]
    finally:
        numba.set_num_threads(before)


def test_side_by_side_holds_no_more_than_the_tasks_at_once(two_threads):
    # a task starts while the caller holds the result before it and the other
    # task of the pair may be done: never more
    assert max(_results_alive_when_each_task_starts(8)) <= 2


def test_reported_stops_with_the_shorter_of_items_and_labels():
    assert list(reported(iter([1, 2]), ["a", "b", "c"], no_progress)) == [1, 2]
    assert list(reported(iter([1, 2, 3]), ["a", "b"], no_progress)) == [1, 2]


def test_the_local_executor_maps_large_arrays_and_shares_one_heap(monkeypatch):
    """glibc settings the local executor makes (see share_one_heap for why)."""
    from multidrizzle.session import execution

    calls = []

    class _Glibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(execution, "_glibc", lambda: _Glibc())
    LocalExecutor()
    assert (execution._M_MMAP_THRESHOLD, execution.MAPPED_ALLOCATION_BYTES) in calls
    assert (execution._M_ARENA_MAX, 1) in calls
