"""multidrizzle.progress: the callback protocol the steps report through."""

from __future__ import annotations

import pickle

from multidrizzle.progress import ProgressCounter, for_step, no_progress, tracked


def _recorder():
    calls = []
    return calls, lambda *report: calls.append(report)


def test_tracked_reports_each_item_after_the_loop_body():
    calls, progress = _recorder()
    seen_while_working = []
    for item in tracked(["a", "b", "c"], progress, label=str.upper):
        seen_while_working.append((item, list(calls)))
    assert calls == [(0, 3, ""), (1, 3, "A"), (2, 3, "B"), (3, 3, "C")]
    # the item is reported done only once the body has finished with it
    assert seen_while_working[1] == ("b", [(0, 3, ""), (1, 3, "A")])


def test_tracked_announces_an_empty_total():
    calls, progress = _recorder()
    assert list(tracked([], progress)) == []
    assert calls == [(0, 0, "")]


def test_counter_spans_several_loops():
    calls, progress = _recorder()
    counter = ProgressCounter(4, progress)
    for name in ("x", "y"):
        counter.advance(name)
    counter.start()  # announced once only
    for pair in ("x-y", "y-x"):
        counter.advance(pair)
    assert calls == [(0, 4, ""), (1, 4, "x"), (2, 4, "y"), (3, 4, "x-y"), (4, 4, "y-x")]


def test_for_step_names_the_step_and_pickles():
    calls = []
    bound = for_step(_StepRecorder(calls), "median")
    bound(2, 5, "rows 1-10")
    assert calls == [("median", 2, 5, "rows 1-10")]
    assert pickle.loads(pickle.dumps(for_step(print, "sky"))).args == ("sky",)
    assert no_progress(1, 2, "ignored") is None


class _StepRecorder:
    def __init__(self, calls):
        self.calls = calls

    def __call__(self, step, done, total, label=""):
        self.calls.append((step, done, total, label))
