"""Progress reporting from the steps: a plain callable, no display.

A long step function takes an optional ``progress`` argument, a callable
``progress(done, total, label)``.  It is called once with ``done=0`` before
the first unit of work (so that a display can show the total while the first
chip is processed, which on a cold start includes compiling the kernels),
then after each unit with the number of units finished so far and the label
of the one just finished (a chip name, a band of rows).  The default,
:func:`no_progress`, does nothing.

The session reports on behalf of every step through one callable that also
names the step, ``report(step, done, total, label)``
(:class:`StepProgress`); :func:`for_step` binds it to one step for a step
function, which need not know its own name.  Nothing here displays anything:
:mod:`multidrizzle.session.console` turns the reports into progress bars.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

__all__ = ["ProgressCallback", "StepProgress", "no_progress", "for_step", "tracked",
           "reported", "ProgressCounter"]

Item = TypeVar("Item")


class ProgressCallback(Protocol):
    """What a step function calls as it works: ``progress(done, total, label)``."""

    def __call__(self, done: int, total: int, label: str = "") -> None: ...


class StepProgress(Protocol):
    """What the session's reporter is: ``report(step, done, total, label)``."""

    def __call__(self, step: str, done: int, total: int, label: str = "") -> None: ...


def no_progress(done: int, total: int, label: str = "") -> None:
    """The default progress callback: reports nothing."""


def for_step(report: StepProgress, step: str) -> ProgressCallback:
    """``report`` bound to ``step``: the callback a step function is given.

    Parameters
    ----------
    report : StepProgress
        The session's reporter.
    step : str
        The name of the step the callback reports for (``'sky'``, ...).

    Returns
    -------
    ProgressCallback
        A picklable partial when ``report`` is picklable.
    """
    return functools.partial(report, step)


def tracked(items: Iterable[Item], progress: ProgressCallback,
            label: Callable[[Item], str] = str) -> Iterator[Item]:
    """Yield ``items`` and report each one done when the caller asks for the next.

    ``progress(0, total)`` is called before the first item, and
    ``progress(k, total, label(item))`` once the caller's loop body has
    finished with the ``k``-th item.

    Parameters
    ----------
    items : iterable
        The units of work (read into a list to count them).
    progress : ProgressCallback
        Where to report.
    label : callable
        The label of an item (default ``str``).

    Examples
    --------
    >>> seen = []
    >>> for chip in tracked(["a", "b"], lambda *report: seen.append(report)):
    ...     pass
    >>> seen
    [(0, 2, ''), (1, 2, 'a'), (2, 2, 'b')]
    """
    units: Sequence[Item] = list(items)
    total = len(units)
    progress(0, total, "")
    for done, item in enumerate(units, start=1):
        yield item
        progress(done, total, label(item))


_END = object()


def reported(items: Iterable[Item], labels: Sequence[str],
             progress: ProgressCallback) -> Iterator[Item]:
    """Yield ``items`` as they come, one per label, each reported done as it arrives.

    For the results of tasks computed elsewhere (an item arrives when its
    task is done): unlike :func:`tracked`, the items are not read ahead, the
    total is the number of ``labels``, and each is reported before it is
    handed on.
    """
    total = len(labels)
    progress(0, total, "")
    items = iter(items)
    for done, label in enumerate(labels, start=1):
        item = next(items, _END)
        if item is _END:
            return
        progress(done, total, label)
        yield item
        # hold no item while the next one is made (a task's result can be large);
        # zip() would keep the last pair until it has the next one
        del item


class ProgressCounter:
    """Counts units of work done in several loops and reports them as one total.

    Parameters
    ----------
    total : int
        Units of work in every loop together.
    progress : ProgressCallback
        Where to report.

    Examples
    --------
    >>> seen = []
    >>> counter = ProgressCounter(3, lambda *report: seen.append(report))
    >>> counter.start(); counter.advance("a"); counter.advance("b")
    >>> seen
    [(0, 3, ''), (1, 3, 'a'), (2, 3, 'b')]
    """

    def __init__(self, total: int, progress: ProgressCallback) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self._started = False

    def start(self) -> None:
        """Report the total (once, however often it is called)."""
        if not self._started:
            self._started = True
            self.progress(0, self.total, "")

    def advance(self, label: str = "") -> None:
        """One more unit done."""
        self.start()
        self.done += 1
        self.progress(self.done, self.total, label)
