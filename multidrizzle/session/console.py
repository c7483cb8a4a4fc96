"""What a session shows while it works: progress bars and messages, through ``tqdm.auto``.

A :class:`Console` draws a bar of the steps of a ``build()`` or ``run()``
and, while a step reports its chips (or bands of rows), a second bar under
it; ``tqdm.auto`` makes them a widget in Jupyter and a text bar in a
terminal.  It also prints the package's log messages at or above its
``level`` with ``tqdm.write``, so that they appear above the bars instead of
breaking them.  It does so through a handler attached to the ``multidrizzle``
logger while the console is open; the user's loggers, the root logger and
their levels are never touched.

``verbose`` (the session parameter) decides the bars, as tqdm's ``disable``:

==========  ==============================================================
``True``    shown when the stream is a terminal, or in a Jupyter notebook
``False``   never shown
'always'    shown even when the stream is not a terminal (a batch log)
==========  ==============================================================

A session prints warnings unless ``verbose=False``; so that nothing is said
twice, a message is not printed when one of the user's own handlers (on the
root logger, after ``logging.basicConfig()``, or on a ``multidrizzle``
logger) will show it.  The command line prints every message at its
``--log-level`` (``only_unhandled=False``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import IO, Any

from multidrizzle.io.runlog import PACKAGE_LOGGER, RelayToAncestors

__all__ = ["Console", "ALWAYS", "tqdm_disable"]

#: The ``verbose`` value that shows the bars whatever the stream.
ALWAYS = "always"

#: Units of the per-step bars (the units a step reports in); "chip" otherwise.
_STEP_UNITS = {"median": "tile", "sky": "measurement", "inputs": "exposure",
               "driz_separate": "exposure", "driz_combine": "strip"}

#: Format of the messages printed by a console.
MESSAGE_FORMAT = "%(levelname)s: %(message)s"


def tqdm_disable(verbose: bool | str) -> bool | None:
    """tqdm's ``disable`` for a ``verbose`` value: True hides, None decides by terminal."""
    if verbose == ALWAYS:
        return False
    return None if verbose else True


def _tqdm() -> type:
    from tqdm.auto import tqdm

    return tqdm


def _shown_elsewhere(record: logging.LogRecord) -> bool:
    """Whether one of the user's handlers will show ``record``.

    Follows the record up the logger tree as :meth:`logging.Logger.callHandlers`
    does; the package's own handlers (this console's, the run log's) and
    NullHandlers do not count.
    """
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        relay_threshold = None
        for handler in logger.handlers:
            if isinstance(handler, RelayToAncestors):
                relay_threshold = handler.threshold  # see io.runlog.records_from
            elif getattr(handler, "_multidrizzle_internal", False):
                continue
            elif isinstance(handler, logging.NullHandler):
                continue
            elif record.levelno >= handler.level:
                return True
        if relay_threshold is not None:
            if record.levelno < relay_threshold:
                return False
        elif not logger.propagate:
            return False
        logger = logger.parent
    return False


class _MessageHandler(logging.Handler):
    """Writes package log records with ``tqdm.write``, above the console's bars."""

    _multidrizzle_internal = True

    def __init__(self, console: "Console", level: int) -> None:
        super().__init__(level)
        self.console = console
        self.setFormatter(logging.Formatter(MESSAGE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.console.only_unhandled and _shown_elsewhere(record):
                return
            _tqdm().write(self.format(record), file=self.console.stream)
        except Exception:  # pragma: no cover - logging's own policy for broken handlers
            self.handleError(record)


class Console:
    """Progress bars and messages of a session (or of the command line).

    Parameters
    ----------
    verbose : bool or 'always'
        When the bars are drawn (see the module notes).
    level : int or None
        Messages of the package's loggers at or above this level are
        printed (above the bars); None prints none.
    stream : file, optional
        Where to draw and print; None: standard error at the time of use.
    only_unhandled : bool
        Skip the messages one of the user's own logging handlers will show.

    Examples
    --------
    >>> with Console(verbose=False, level=None) as console:   # doctest: +SKIP
    ...     console.begin("run", ["sky", "median"])
    ...     console.step("sky"); console.report("sky", 1, 4, "chip 1")
    ...     console.step("median")
    ...     console.end()
    """

    def __init__(self, verbose: bool | str = True, *, level: int | None = logging.WARNING,
                 stream: IO[str] | None = None, only_unhandled: bool = True) -> None:
        self.verbose = verbose
        self.level = level
        self._stream = stream
        self.only_unhandled = only_unhandled
        self._handler: _MessageHandler | None = None
        self._steps_bar: Any = None
        self._units_bar: Any = None
        self._units_step: str | None = None
        self._current_step: str | None = None

    @property
    def stream(self) -> IO[str]:
        """Where the bars and messages go."""
        return self._stream if self._stream is not None else sys.stderr

    @property
    def draws_bars(self) -> bool:
        """False when ``verbose`` is False (the bars then cost nothing)."""
        return tqdm_disable(self.verbose) is not True

    # ------------------------------------------------------------ messages

    def open(self) -> "Console":
        """Start printing messages (attach the handler to the package logger)."""
        if self._handler is None and self.level is not None:
            self._handler = _MessageHandler(self, self.level)
            logging.getLogger(PACKAGE_LOGGER).addHandler(self._handler)
        return self

    def close(self) -> None:
        """Close the bars and stop printing messages."""
        self.end(completed=False)
        if self._handler is not None:
            logging.getLogger(PACKAGE_LOGGER).removeHandler(self._handler)
            self._handler = None

    def __enter__(self) -> "Console":
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---------------------------------------------------------------- bars

    def begin(self, title: str, steps: Sequence[str]) -> None:
        """Start a bar of ``steps`` named ``title`` (``'build'``, ``'run'``).

        A bar still open (not ended by :meth:`end`) is closed as completed.
        """
        self.end()
        if self.draws_bars and steps:
            self._steps_bar = self._bar(total=len(steps), desc=title, unit="step",
                                        leave=True)

    def step(self, name: str) -> None:
        """Step ``name`` starts: the previous one is done."""
        self._close_units_bar()
        if self._steps_bar is None:
            return
        if self._current_step is not None:
            self._steps_bar.update(1)
        self._current_step = name
        self._steps_bar.set_postfix_str(name)

    def report(self, step: str, done: int, total: int, label: str = "") -> None:
        """The progress of a step (a :class:`~multidrizzle.progress.StepProgress`).

        A second bar shows it when the step has more than one unit of work.
        """
        if not self.draws_bars or total <= 1:
            return
        bar = self._units_bar
        if bar is None or self._units_step != step or bar.total != total or done < bar.n:
            self._close_units_bar()
            bar = self._units_bar = self._bar(total=total, desc=step,
                                              unit=_STEP_UNITS.get(step, "chip"),
                                              leave=False)
            self._units_step = step
        if label:
            bar.set_postfix_str(label, refresh=False)
        bar.update(done - bar.n)

    def end(self, completed: bool = True) -> None:
        """Close the bars; ``completed`` counts the last step as done."""
        self._close_units_bar()
        if self._steps_bar is not None:
            if completed and self._current_step is not None:
                self._steps_bar.update(1)
            self._steps_bar.close()
            self._steps_bar = None
        self._current_step = None

    def _bar(self, **options: Any) -> Any:
        return _tqdm()(file=self.stream, disable=tqdm_disable(self.verbose),
                       dynamic_ncols=True, **options)

    def _close_units_bar(self) -> None:
        if self._units_bar is not None:
            self._units_bar.close()
            self._units_bar = None
            self._units_step = None
