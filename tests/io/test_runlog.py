"""multidrizzle.io.runlog: one log per run, earlier ones kept, INFO without touching user loggers."""

from __future__ import annotations

import logging

from multidrizzle.io.runlog import RunLog, records_from, rotate_run_log


def test_rotation_keeps_earlier_logs_under_numbers(tmp_path):
    log = tmp_path / "run.log"
    assert rotate_run_log(log) is None            # nothing to keep
    log.write_text("")
    assert rotate_run_log(log) is None            # an empty file (made by the run check)
    for run in ("first", "second", "third"):
        log.write_text(run)
        assert rotate_run_log(log, keep=2) == tmp_path / "run.log.1"
        assert not log.exists()
    assert (tmp_path / "run.log.1").read_text() == "third"
    assert (tmp_path / "run.log.2").read_text() == "second"
    assert not (tmp_path / "run.log.3").exists()  # beyond keep: removed


def test_run_log_has_header_messages_and_footer(tmp_path):
    path = tmp_path / "run.log"
    path.write_text("an earlier run\n")
    logger = logging.getLogger("multidrizzle.test_runlog")
    package_logger = logging.getLogger("multidrizzle")
    handlers_before = list(package_logger.handlers)
    with RunLog(path, "the header") as run_log:
        logger.info("a message at INFO")
        logger.debug("below INFO: not in the log")
        run_log.finish("the footer")
    logger.info("after the run: not in the log")
    lines = path.read_text().splitlines()
    assert lines[0] == "the header" and lines[-1] == "the footer"
    assert len(lines) == 3 and lines[1].endswith("INFO multidrizzle.test_runlog: "
                                                 "a message at INFO")
    assert run_log.previous == tmp_path / "run.log.1"
    assert run_log.previous.read_text() == "an earlier run\n"
    assert package_logger.handlers == handlers_before


def test_records_from_leaves_the_user_handlers_what_they_had(tmp_path):
    root = logging.getLogger()
    package_logger = logging.getLogger("multidrizzle")
    received = []
    user_handler = logging.Handler()  # level NOTSET: everything that reaches it
    user_handler.emit = received.append
    saved = package_logger.level, package_logger.propagate
    package_logger.setLevel(logging.WARNING)  # as the user left it
    root.addHandler(user_handler)
    try:
        made = []
        with records_from(logging.INFO):
            assert package_logger.getEffectiveLevel() == logging.INFO
            logger = logging.getLogger("multidrizzle.test_runlog")
            for level in (logging.DEBUG, logging.INFO, logging.WARNING):
                made.append(logger.isEnabledFor(level))
                logger.log(level, "level %d", level)
        assert (package_logger.level, package_logger.propagate) == (logging.WARNING,
                                                                    saved[1])
        assert made == [False, True, True]
        assert [r.levelno for r in received] == [logging.WARNING]  # exactly once
    finally:
        root.removeHandler(user_handler)
        package_logger.setLevel(saved[0])
