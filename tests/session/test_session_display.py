"""What a session shows: progress, warnings, the run log, repr and HTML."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from astropy.io import fits

from multidrizzle import Multidrizzle, __version__
from multidrizzle.demo.datasets import make_demo_dataset

from support.sessions import build_demo_session

ALL_OFF = dict(static=False, skysub=False, driz_separate=False, median=False, blot=False,
               driz_cr=False, driz_combine=False)
#: A run of the sky step alone, with no static masks: it warns that use_static
#: has no masks to use (a cheap warning to follow).
SKY_WITHOUT_MASKS = ALL_OFF | {"skysub": True}
SKY_WARNING = "WARNING: sky: use_static is True but no static masks were made"


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("display")
    make_demo_dataset(folder, n_exposures=2, chip_shape=(96, 128), seed=11)
    return folder


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# ------------------------------------------------------------------ progress


def test_progress_forced_on_is_written_to_stderr(demo_set, tmp_path, capsys, demo_session):
    md = demo_session(demo_set, tmp_path / "final", verbose="always")
    md.run()
    err = capsys.readouterr().err
    assert "build: 100%" in err and "3/3" in err
    assert "run: 100%" in err and "7/7" in err
    # a second bar for the steps of several chips or tasks: 2 exposures x 2 chips
    for step in ("static", "sky", "blot", "driz_cr"):
        assert f"\r{step}:   0%|" in err and "| 0/4 [" in err, step
    assert "\rdriz_separate:   0%|" in err and "| 0/2 [" in err


@pytest.mark.parametrize("verbose", [True, False])
def test_no_progress_when_off_or_not_a_terminal(demo_set, tmp_path, capsys, verbose, demo_session):
    md = demo_session(demo_set, tmp_path / "final", verbose=verbose)
    md.run(**(ALL_OFF | {"static": True, "skysub": True}))
    assert "%|" not in capsys.readouterr().err


def test_progress_on_a_terminal_by_default_and_off_with_verbose_false(demo_set, tmp_path,
                                                                       monkeypatch, demo_session):
    for verbose, shown in ((True, True), (False, False)):
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        md = demo_session(demo_set, tmp_path / f"final_{verbose}", verbose=verbose)
        md.run(**(ALL_OFF | {"static": True}))
        assert ("run: 100%" in terminal.getvalue()) is shown, verbose


# ------------------------------------------------------------------ warnings


_SCRIPT = """
import logging, sys
from multidrizzle import Multidrizzle

root, user = logging.getLogger(), logging.getLogger("my.analysis")
user.setLevel(logging.DEBUG)
user.addHandler(logging.StreamHandler(sys.stdout))
package = logging.getLogger("multidrizzle")

def state():
    return (root.level, list(root.handlers), user.level, list(user.handlers), user.propagate,
            package.level, list(package.handlers), package.propagate)

before = state()
md = Multidrizzle("@" + sys.argv[1], output=sys.argv[2], in_memory=True, runfile=sys.argv[3])
md.build()
md.run(static=False, skysub=True, driz_separate=False, median=False, blot=False,
       driz_cr=False, driz_combine=False)
user.info("the user's own message")
print("loggers unchanged" if state() == before else f"changed: {before} -> {state()}")
"""


def test_warnings_reach_stderr_without_any_logging_set_up(demo_set, tmp_path):
    """A fresh Python process, as a user's script: the sky step's warning is
    printed once on stderr, INFO stays in the run log, no logger is changed."""
    runfile = tmp_path / "run.log"
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT), str(demo_set / "inputs.lst"),
         str(tmp_path / "final"), str(runfile)],
        capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr.count(SKY_WARNING) == 1, finished.stderr
    assert "INFO" not in finished.stderr
    assert "loggers unchanged" in finished.stdout
    assert "the user's own message" in finished.stdout
    assert "INFO multidrizzle.session.session: step sky ..." in runfile.read_text()
    assert SKY_WARNING.replace("WARNING: ", "WARNING multidrizzle.steps.sky: ") in \
        runfile.read_text()


def test_a_run_changes_no_logger_and_passes_no_info_to_user_handlers(demo_set, tmp_path,
                                                                      capsys, demo_session):
    root, package = logging.getLogger(), logging.getLogger("multidrizzle")
    received = []
    user_handler = logging.Handler()  # NOTSET: whatever reaches the root logger
    user_handler.emit = received.append
    root.addHandler(user_handler)
    saved_level = package.level
    package.setLevel(logging.WARNING)  # as if the user asked for warnings only
    try:
        before = (root.level, list(root.handlers), package.level, list(package.handlers),
                  package.propagate)
        md = demo_session(demo_set, tmp_path / "final", runfile=str(tmp_path / "run.log"))
        md.run(**SKY_WITHOUT_MASKS)
        after = (root.level, list(root.handlers), package.level, list(package.handlers),
                 package.propagate)
    finally:
        root.removeHandler(user_handler)
        package.setLevel(saved_level)
    assert after == before
    from_package = [r for r in received if r.name.startswith("multidrizzle")]
    assert [r.levelname for r in from_package] == ["WARNING"]  # the sky warning only
    assert "use_static" in from_package[0].getMessage()
    # the user's handler shows it: the session does not print it a second time
    assert "use_static" not in capsys.readouterr().err
    assert "INFO multidrizzle" in (tmp_path / "run.log").read_text()


# ------------------------------------------------------------------- run log


def _run_log_session(demo_set, tmp_path, **params):
    return build_demo_session(demo_set, tmp_path / "out" / "final",
                        runfile=str(tmp_path / "run.log"), **params)


def test_run_log_has_header_parameters_step_table_and_products(demo_set, tmp_path):
    md = _run_log_session(demo_set, tmp_path, final_pixfrac=0.8, in_memory=False)
    md.run()
    text = (tmp_path / "run.log").read_text()
    header, rest = text.split("\nmessages:\n")
    messages, footer = rest.split("\nstep table:\n")
    assert header.startswith("multidrizzle run log\n")
    assert f"software: multidrizzle {__version__} (Python" in header
    assert "\ndate: 20" in header
    assert f"inputs ({len(md.exposures)}):" in header
    for exposure in md.exposures:
        assert f"\n  {exposure.filename}\n" in header
    grid = md.output_grid
    assert f"output grid: {grid.nx} x {grid.ny} pixels at {grid.scale:.5f}" in header
    for name in md.parameter_names():
        assert f"\n    {name} = " in header, name
    assert "\n    final_pixfrac = 0.8\n" in header
    assert "steps to run: static, sky, driz_separate, median, blot, driz_cr, driz_combine" \
        in header
    assert "INFO multidrizzle.session.session: step static ..." in messages
    assert "INFO multidrizzle.steps.sky: sky (localmin" in messages
    for step in ("static", "sky", "driz_separate", "median", "blot", "driz_cr",
                 "driz_combine"):
        assert f"\n  {step:<14} done" in footer
    assert md.products and all(f"\n  {path}\n" in footer for path in md.products)
    assert f"products ({len(md.products)}):" in footer
    assert f"\n  {tmp_path / 'out' / 'final_med.fits'}\n" in footer  # an intermediate file
    assert footer.rstrip().splitlines()[-1].startswith("finished: ")


def test_each_run_starts_a_new_log_and_keeps_the_earlier_ones(demo_set, tmp_path):
    md = _run_log_session(demo_set, tmp_path)
    md.run(**(ALL_OFF | {"static": True}))
    first = (tmp_path / "run.log").read_text()
    md.static_sig = 5.0
    md.run(**(ALL_OFF | {"static": True, "skysub": True}))
    second = (tmp_path / "run.log").read_text()
    assert (tmp_path / "run.log.1").read_text() == first
    assert "static_sig = 5.0" in second and "static_sig = 5.0" not in first
    assert "steps to run: static, sky\n" in second
    assert second.count("multidrizzle run log") == 1  # one run, one log
    assert f"previous run log kept as {tmp_path / 'run.log.1'}" in second
    md.run(**(ALL_OFF | {"static": True}))
    assert (tmp_path / "run.log.2").read_text() == first
    assert (tmp_path / "run.log.1").read_text() == second


def test_a_failed_run_says_so_at_the_end_of_its_log(demo_set, tmp_path):
    md = _run_log_session(demo_set, tmp_path)

    def broken_sky(session):
        raise RuntimeError("the user's sky failed")

    md.replace_step("sky", broken_sky)
    with pytest.raises(RuntimeError):
        md.run(**(ALL_OFF | {"static": True, "skysub": True}))
    footer = (tmp_path / "run.log").read_text().split("\nstep table:\n")[1]
    assert "\n  static         done" in footer and "\n  sky            not run" in footer
    assert "\nfailed: " in footer
    assert "RuntimeError: the user's sky failed" in footer


# ------------------------------------------------------------- repr and html


def test_repr_and_html_show_inputs_grid_and_steps_without_reading_files(tmp_path,
                                                                        monkeypatch):
    make_demo_dataset(tmp_path, n_exposures=4, chip_shape=(96, 128), seed=11)
    md = Multidrizzle(f"@{tmp_path / 'inputs.lst'}", output=str(tmp_path / "final"),
                      runfile="", in_memory=True, verbose=False)
    names = [Path(line.split()[0]).name
             for line in (tmp_path / "inputs.lst").read_text().splitlines()]
    assert len(names) == 4

    def no_file_reads(*args, **kwargs):
        raise AssertionError("repr read a file")

    with monkeypatch.context() as patched:
        patched.setattr(fits, "open", no_file_reads)
        text, page = repr(md), md._repr_html_()
    assert text.startswith(f"<Multidrizzle: 4 inputs ({', '.join(names[:3])}, ...) -> ")
    assert "output grid: not built (call build())" in text
    assert "driz_combine   not run" in text and text.endswith(">")
    assert names[3] not in text
    assert "<table>" in page and "not built" in page and f"<code>{names[0]}</code>" in page

    md.build()
    md.run(**(ALL_OFF | {"static": True}))
    with monkeypatch.context() as patched:
        patched.setattr(fits, "open", no_file_reads)
        text, page = repr(md), md._repr_html_()
    grid = md.output_grid
    expected_grid = (f"{grid.nx} x {grid.ny} pixels, {grid.scale:.5f} arcsec/pixel, "
                     f"rotation {grid.rotation:.3f} deg")
    assert f"output grid: {expected_grid}" in text and expected_grid in page
    assert "static         done" in text
    assert "<td><code>static</code></td><td>done</td>" in page
    md.stepsize = 5
    assert "(stale: call build() again)" in repr(md)
