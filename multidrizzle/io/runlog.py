"""The run log (``runfile``): one file per run, earlier ones kept with a number.

A run's log starts with a header the session writes (software version, date,
inputs, output grid, every parameter), then holds every message of the
package's loggers at INFO and above, and ends with a footer (step table,
files written, how the run ended).

An existing non-empty log is renamed before a run starts, as
:class:`logging.handlers.RotatingFileHandler` rotates: ``name`` becomes
``name.1``, ``name.1`` becomes ``name.2`` and so on; the oldest beyond
``name.9`` (:data:`KEPT_RUN_LOGS`) is removed.

The package logger's level may be lowered for the run so that INFO messages
are made at all; :func:`records_from` does it without passing more messages
than before to the user's own handlers.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["KEPT_RUN_LOGS", "PACKAGE_LOGGER", "RelayToAncestors", "RunLog", "records_from",
           "rotate_run_log"]

#: The logger every module's logger descends from.
PACKAGE_LOGGER = "multidrizzle"

#: How many earlier run logs are kept (``runfile.1`` .. ``runfile.9``).
KEPT_RUN_LOGS = 9

#: Format of the messages in the run log.
RUN_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def rotate_run_log(path: str | os.PathLike, keep: int = KEPT_RUN_LOGS) -> Path | None:
    """Move an existing, non-empty run log out of the way of a new run.

    Parameters
    ----------
    path : str or path-like
        The ``runfile``.
    keep : int
        Earlier logs kept: ``path.1`` (the latest) to ``path.<keep>``.

    Returns
    -------
    Path or None
        ``path.1``, where the previous log now is, or None when there was
        no previous log (missing or empty: the run check creates it empty).
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    rotation = logging.handlers.RotatingFileHandler(path, backupCount=keep, delay=True,
                                                    encoding="utf-8")
    try:
        rotation.doRollover()
    finally:
        rotation.close()
    return path.with_name(f"{path.name}.1")


class RelayToAncestors(logging.Handler):
    """Passes on to the handlers above the package logger what they received before.

    While :func:`records_from` lowers the package logger's level and stops
    its propagation, this handler hands the records at or above the level
    that was in effect before to the ancestors' handlers, as propagation
    would have (without logging's last-resort handler, which propagation
    did not reach either: the package logger has a NullHandler).
    """

    _multidrizzle_internal = True

    def __init__(self, logger: logging.Logger, threshold: int) -> None:
        super().__init__()
        self.logger = logger
        self.threshold = threshold

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.threshold:
            return
        ancestor = self.logger.parent
        while ancestor is not None:
            for handler in ancestor.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
            if not ancestor.propagate:
                break
            ancestor = ancestor.parent


@contextlib.contextmanager
def records_from(level: int) -> Iterator[None]:
    """Have the package's loggers make records from ``level`` up, for a while.

    If the package logger's effective level is above ``level``, it is set
    to ``level`` and restored afterwards.  The handlers of the user's
    loggers above it (the root logger's, usually) still receive only what
    they received before; the user's loggers are not changed.

    Parameters
    ----------
    level : int
        A :mod:`logging` level, such as ``logging.INFO``.
    """
    logger = logging.getLogger(PACKAGE_LOGGER)
    before = logger.getEffectiveLevel()
    if before <= level:
        yield
        return
    saved_level, saved_propagate = logger.level, logger.propagate
    relay = RelayToAncestors(logger, before) if saved_propagate else None
    logger.setLevel(level)
    if relay is not None:
        logger.addHandler(relay)
        logger.propagate = False
    try:
        yield
    finally:
        if relay is not None:
            logger.removeHandler(relay)
            logger.propagate = saved_propagate
        logger.setLevel(saved_level)


class RunLog:
    """The log file of one run: header, the run's messages, footer.

    Parameters
    ----------
    path : str or path-like
        The ``runfile``; an existing one is rotated first (see
        :func:`rotate_run_log`).
    header : str
        Written at the top, before any message.

    Examples
    --------
    >>> with RunLog("run.log", "header") as run_log:   # doctest: +SKIP
    ...     logging.getLogger("multidrizzle.session").info("a message")
    ...     run_log.finish("footer")
    """

    def __init__(self, path: str | os.PathLike, header: str) -> None:
        self.path = Path(path)
        self.header = header
        self.previous: Path | None = None
        self._handler: logging.FileHandler | None = None
        self._records = contextlib.ExitStack()

    def __enter__(self) -> "RunLog":
        self.previous = rotate_run_log(self.path)
        handler = logging.FileHandler(self.path, mode="w", encoding="utf-8")
        handler._multidrizzle_internal = True  # not one of the user's handlers
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter(RUN_LOG_FORMAT))
        self._write(handler, self.header)
        self._handler = handler
        self._records.enter_context(records_from(logging.INFO))
        logging.getLogger(PACKAGE_LOGGER).addHandler(handler)
        return self

    def finish(self, footer: str) -> None:
        """Stop taking messages and write ``footer`` at the end."""
        handler = self._handler
        if handler is None:
            return
        self._handler = None
        logging.getLogger(PACKAGE_LOGGER).removeHandler(handler)
        self._records.close()
        try:
            self._write(handler, footer)
        finally:
            handler.close()

    def __exit__(self, *exc_info) -> None:
        self.finish("")

    @staticmethod
    def _write(handler: logging.FileHandler, text: str) -> None:
        if text:
            with handler.lock:
                handler.stream.write(text if text.endswith("\n") else text + "\n")
                handler.stream.flush()
