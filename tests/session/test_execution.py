"""The local executor hands results over one at a time and holds none of them
while the next task runs (a mosaic's strips would otherwise be held twice)."""

from __future__ import annotations

import weakref

from multidrizzle.progress import no_progress, reported
from multidrizzle.session.execution import LocalExecutor


class _Result:
    """A stand-in for a task's arrays."""


def test_no_result_is_held_while_the_next_task_runs():
    earlier: list[weakref.ref] = []
    alive_at_start: list[int] = []

    def task(number: int) -> _Result:
        alive_at_start.append(sum(ref() is not None for ref in earlier))
        result = _Result()
        result.number = number
        earlier.append(weakref.ref(result))
        return result

    keys = [f"task {number}" for number in range(5)]
    results = reported(LocalExecutor().map(task, [(n,) for n in range(5)], keys), keys,
                       no_progress)
    seen = []
    for _ in keys:   # as the steps' joins take them: one, used, let go
        result = next(results)
        seen.append(result.number)
        del result
    assert seen == [0, 1, 2, 3, 4]
    assert alive_at_start == [0, 0, 0, 0, 0]


def test_reported_stops_with_the_shorter_of_items_and_labels():
    assert list(reported(iter([1, 2]), ["a", "b", "c"], no_progress)) == [1, 2]
    assert list(reported(iter([1, 2, 3]), ["a", "b"], no_progress)) == [1, 2]
