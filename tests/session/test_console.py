"""multidrizzle.session.console: progress bars through tqdm.auto, messages above them."""

from __future__ import annotations

import contextlib
import io
import logging

import pytest

from multidrizzle.session.console import Console, tqdm_disable
from multidrizzle.io.runlog import records_from


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _screen_lines(text: str) -> list[str]:
    """What stays on each terminal line: the text after its last carriage return."""
    return [line.replace("\x1b[A", "").split("\r")[-1] for line in text.split("\n")]


def _show_a_run(console: Console) -> None:
    console.begin("run", ["static", "median"])
    console.step("static")
    for done in range(5):
        console.report("static", done, 4, f"chip {done}")
    console.step("median")
    console.report("median", 1, 1, "rows 1-10")  # one unit: no second bar
    console.end()


@pytest.mark.parametrize("verbose, expected", [(True, None), (False, True),
                                               ("always", False)])
def test_verbose_is_tqdm_disable(verbose, expected):
    assert tqdm_disable(verbose) is expected


def test_bars_forced_on_are_written_to_any_stream():
    stream = io.StringIO()
    _show_a_run(Console("always", level=None, stream=stream))
    text = stream.getvalue()
    assert "run: 100%" in text and "2/2" in text
    assert "static:" in text and "/4 [" in text  # tqdm draws at most every 0.1 s
    assert "median:" not in text


@pytest.mark.parametrize("verbose, stream", [(True, io.StringIO()), (False, _Terminal()),
                                             (False, io.StringIO())])
def test_no_bars_when_switched_off_or_not_a_terminal(verbose, stream):
    _show_a_run(Console(verbose, level=None, stream=stream))
    assert stream.getvalue() == ""


def test_bars_on_a_terminal_by_default():
    terminal = _Terminal()
    _show_a_run(Console(True, level=None, stream=terminal))
    assert "run: 100%" in terminal.getvalue()


def test_messages_are_written_on_lines_of_their_own_above_the_bars():
    terminal = _Terminal()
    logger = logging.getLogger("multidrizzle.test_console")
    with Console(True, level=logging.WARNING, stream=terminal, only_unhandled=False) as console:
        console.begin("run", ["sky"])
        console.step("sky")
        console.report("sky", 1, 3, "chip 1")
        logger.warning("sky: no usable pixel in %s", "chip 2")
        logger.info("not shown below the console's level")
        console.report("sky", 3, 3, "chip 3")
        console.end()
    lines = _screen_lines(terminal.getvalue())
    assert "WARNING: sky: no usable pixel in chip 2" in lines
    assert not any("not shown" in line for line in lines)
    assert lines[-2].startswith("run: 100%")  # the bar is redrawn after the message
    assert not any(isinstance(h, logging.Handler) and getattr(h, "console", None) is console
                   for h in logging.getLogger("multidrizzle").handlers)


@contextlib.contextmanager
def _package_logger_alone():
    """The package logger not propagating to pytest's handlers on the root logger.

    Set inside the test: pytest attaches its capture handler to the loggers
    that do not propagate when a test starts.
    """
    package_logger = logging.getLogger("multidrizzle")
    saved = package_logger.propagate, package_logger.level
    package_logger.propagate = False
    package_logger.setLevel(logging.WARNING)
    try:
        yield package_logger
    finally:
        package_logger.propagate, package_logger.level = saved


def test_a_message_a_user_handler_shows_is_not_printed_twice():
    stream = io.StringIO()
    child = logging.getLogger("multidrizzle.test_console.child")
    users = []
    user_handler = logging.Handler(logging.WARNING)
    user_handler.emit = users.append
    with _package_logger_alone(), Console(False, level=logging.WARNING, stream=stream):
        child.warning("printed by the console")
        child.addHandler(user_handler)
        try:
            child.warning("shown by the user's handler")
            child.error("an error too")
        finally:
            child.removeHandler(user_handler)
    assert stream.getvalue() == "WARNING: printed by the console\n"
    assert [r.getMessage() for r in users] == ["shown by the user's handler", "an error too"]


def test_a_user_handler_above_the_lowered_level_is_followed():
    """While the run log lowers the package level, the user's handlers above it
    still decide what the console leaves to them."""
    root = logging.getLogger()
    users = []
    user_handler = logging.Handler(logging.ERROR)
    user_handler.emit = users.append
    saved_root_handlers = list(root.handlers)
    root.handlers = [user_handler]  # pytest's own handlers put back below
    stream = io.StringIO()
    try:
        with _package_logger_alone() as package_logger:
            package_logger.propagate = True  # to the user's handler on the root logger
            with Console(False, level=logging.INFO, stream=stream), \
                    records_from(logging.INFO):
                logger = logging.getLogger("multidrizzle.test_console.run")
                logger.info("made for the run log only")
                logger.warning("below the user handler's level")
                logger.error("the user's handler shows this")
    finally:
        root.handlers = saved_root_handlers
    # the console prints what nobody else shows; the user's handler gets what it did
    assert stream.getvalue() == ("INFO: made for the run log only\n"
                                 "WARNING: below the user handler's level\n")
    assert [r.getMessage() for r in users] == ["the user's handler shows this"]
