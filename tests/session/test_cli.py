"""The multidrizzle command: parameters on the command line, help, errors, progress."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys

import pytest

from multidrizzle.demo import datasets
from multidrizzle.session import cli
from multidrizzle.errors import ParameterError
from multidrizzle.session.parameters import DrizzleParameters


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_demo")
    datasets.make_demo_dataset(folder, n_exposures=2, chip_shape=(96, 128))
    return folder


def _one_error_line(captured) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("multidrizzle: error: ")
    return lines[0]


# ------------------------------------------------------------------- help


def test_dash_dash_help_explains_every_form(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in ("multidrizzle INPUT", "--PARAM VALUE", "--config FILE", "multidrizzle demo",
                 "multidrizzle help [PARAM]", "--no-driz_cr", "--final-pixfrac", "--quiet",
                 "--log-level", "--driz_cr no", "step switches"):
        assert text in out, text


def test_help_parameter_prints_its_full_help(capsys):
    assert cli.main(["help", "final_pixfrac"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("final_pixfrac")
    assert "default:  1.0" in out and "a number in [0, 1]" in out and "drop" in out
    assert cli.main(["help", "final-pixfrac"]) == 0  # dashes too
    assert cli.main(["help", "build"]) == 0          # AstroDrizzle's name
    assert "build_mef  [init" in capsys.readouterr().out


def test_help_without_parameter_prints_the_table(capsys):
    assert cli.main(["help"]) == 0
    out = capsys.readouterr().out
    assert "multidrizzle INPUT" in out
    assert all(name in out for name in DrizzleParameters.parameter_names())


def test_help_unknown_parameter(capsys):
    assert cli.main(["help", "final_pixfra"]) == 2
    assert "did you mean 'final_pixfrac'" in _one_error_line(capsys.readouterr())


def test_console_script_help_runs():
    finished = subprocess.run([sys.executable, "-m", "multidrizzle.session.cli", "help",
                               "final_pixfrac"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0 and "final_pixfrac" in finished.stdout


# ---------------------------------------------------- parameters and errors


def test_split_parameters_spellings():
    rest, values = cli.split_parameters([
        "in.fits", "--final_pixfrac", "0.8", "--final-kernel=turbo", "--driz_cr", "no",
        "--no-median", "--static", "--final_rot", "-30", "--build", "yes", "--coeffs",
        "header", "--output", "out", "--log-level", "DEBUG", "-q", "--skysub"])
    assert rest == ["in.fits", "--output", "out", "--log-level", "DEBUG", "-q"]
    assert values == {"final_pixfrac": "0.8", "final_kernel": "turbo", "driz_cr": "no",
                      "median": False, "static": True, "final_rot": "-30",
                      "build_mef": "yes", "coeffs": "header", "skysub": True}
    assert cli.check_values(values)["final_rot"] == -30.0
    assert cli.check_values(values)["driz_cr"] is False


def test_split_parameters_flag_followed_by_input():
    rest, values = cli.split_parameters(["--driz_cr", "in.fits"])
    assert rest == ["in.fits"] and values == {"driz_cr": True}


@pytest.mark.parametrize("argv, expected", [
    (["in.fits", "--final_pixfra", "0.8"], "did you mean 'final_pixfrac'"),
    (["in.fits", "--final-pixfrac", "2"], "parameter 'final_pixfrac': value '2' is not "
                                          "allowed; expected a number in [0, 1]"),
    (["in.fits", "--final_pixfrac"], "needs a value"),
    (["in.fits", "--no-final_pixfrac"], "not a boolean"),
    (["in.fits", "--driz_cr_snr", "a b"], "driz_cr_snr"),
    (["in.fits", "--log-level", "LOUD"], "invalid choice"),
    ([], "INPUT is missing"),
])
def test_bad_command_line_exits_2_with_one_line(capsys, argv, expected):
    assert cli.main(argv) == 2
    assert expected in _one_error_line(capsys.readouterr())


def test_missing_input_file_exits_1(capsys, tmp_path):
    assert cli.main([str(tmp_path / "none_flt.fits"), "--quiet"]) == 1
    assert "none_flt.fits" in _one_error_line(capsys.readouterr())


def test_bad_value_in_config_file(capsys, tmp_path, demo_folder):
    config = tmp_path / "bad.cfg"
    config.write_text("[final]\nfinal_pixfrac = 7\n")
    assert cli.main([f"@{demo_folder / 'inputs.lst'}", "--config", str(config)]) == 2
    assert "line 2" in _one_error_line(capsys.readouterr())


def test_parameter_error_is_raised_before_inputs_are_read(tmp_path):
    with pytest.raises(ParameterError):
        cli.check_values({"crbit": "3"})


# -------------------------------------------------------------------- runs


def test_run_input_with_parameters_and_switches(capsys, tmp_path, demo_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "my.cfg"
    DrizzleParameters(final_kernel="turbo", final_pixfrac=0.5).save_pars(config)
    status = cli.main([f"@{demo_folder / 'inputs.lst'}", "--output", "out/field",
                       "--config", str(config), "--final-pixfrac", "0.8", "--no-driz_cr",
                       "--build", "yes", "--runfile", "", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "products:" in captured.out and "out/field_drc.fits" in captured.out
    assert "driz_cr        skipped" in captured.out
    assert (tmp_path / "out" / "field_drc.fits").exists()
    from astropy.io import fits

    history = "\n".join(str(card) for header in (fits.getheader(
        tmp_path / "out" / "field_drc.fits", ext) for ext in (0, 1))
        for card in header.get("HISTORY", []))
    assert "final_pixfrac = 0.8" in history      # the command line over the config file
    assert "final_kernel = 'turbo'" in history    # the config file over the defaults


DRIZZLEPAC_STYLE_CFG = """\
_task_name_ = astrodrizzle
input = "*flt.fits"
runfile = ""
build = True

[STEP 3: DRIZZLE SEPARATE IMAGES]
driz_sep_bits = "0"

[STEP 7: DRIZZLE FINAL COMBINED IMAGE]
final_kernel = turbo
final_pixfrac = 0.7

[ _RULES_ ]
_rule1_ = string_kw(default='', code='OUT = VAL')
"""


def test_configobj_option_reads_a_drizzlepac_cfg_file(capsys, tmp_path, demo_folder,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "astrodrizzle.cfg"
    config.write_text(DRIZZLEPAC_STYLE_CFG)
    status = cli.main([f"@{demo_folder / 'inputs.lst'}", "--output", "out/cfg",
                       "--configobj", str(config), "--no-driz_cr", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    from astropy.io import fits

    product = tmp_path / "out" / "cfg_drc.fits"  # build = True: one multi-extension file
    with fits.open(product) as hdul:
        assert [hdu.name for hdu in hdul][1:3] == ["SCI", "WHT"]
        history = "\n".join(str(card) for hdu in hdul[:2]
                            for card in hdu.header.get("HISTORY", []))
    assert "final_pixfrac = 0.7" in history and "final_kernel = 'turbo'" in history
    # the file may name the inputs: no INPUT on the command line then
    config.write_text(DRIZZLEPAC_STYLE_CFG.replace('"*flt.fits"',
                                                   f'"@{demo_folder / "inputs.lst"}"'))
    status = cli.main(["--configobj", str(config), "--output", "out/from_file",
                       "--no-driz_cr", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert (tmp_path / "out" / "from_file_drc.fits").exists()
    config.write_text("[STEP 7]\nfinal_pixfrac = 0.7\n")
    assert cli.main(["--configobj", str(config)]) == 2
    assert "INPUT is missing" in _one_error_line(capsys.readouterr())
    config.write_text("_task_name_ = tweakreg\n")
    assert cli.main([f"@{demo_folder / 'inputs.lst'}", "--configobj", str(config)]) == 2
    assert "task 'tweakreg'" in _one_error_line(capsys.readouterr())


def test_demo_command(capsys, tmp_path):
    status = cli.main(["--log-level", "WARNING", "demo", "--folder", str(tmp_path / "d"),
                       "--n-exposures", "2"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "products:" in captured.out and "driz_combine   done" in captured.out
    assert (tmp_path / "d" / "demo.log").exists()
    # it ends by naming the product, what is in it, and how it compares with the truth
    *_, opening, compared, cosmic, stars, sky = captured.out.rstrip().splitlines()
    product = tmp_path / "d" / "demo_drc.fits"
    assert opening == f"open {product}: SCI, WHT, CTX, ERR, HDRTAB (science in ELECTRONS/S)"
    assert compared == "compared with the demo's ground truth:"
    recall = re.fullmatch(r"  cosmic rays: ([\d.]+)% of the injected pixels above 30 e- "
                          r"found; ([\d,]+) of ([\d,]+) flagged pixels hold none", cosmic)
    assert recall and float(recall[1]) > 80.0
    assert int(recall[2].replace(",", "")) < 0.1 * int(recall[3].replace(",", ""))
    ratio = re.fullmatch(r"  star fluxes: median measured/true ([\d.]+) \((\d+) isolated "
                         r"bright stars\)", stars)
    assert ratio and abs(float(ratio[1]) - 1.0) < 0.02 and int(ratio[2]) >= 1
    error = re.fullmatch(r"  sky: median relative error ([+-][\d.]+)%", sky)
    assert error and abs(float(error[1])) < 1.0


# ----------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_on_a_terminal(monkeypatch, tmp_path, demo_folder):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.chdir(tmp_path)
    package_logger = logging.getLogger("multidrizzle")
    handlers_before = list(package_logger.handlers)
    level_before, propagate_before = package_logger.level, package_logger.propagate
    status = cli.main([f"@{demo_folder / 'inputs.lst'}", "--runfile", "", "--log-level",
                       "WARNING"])
    assert status == 0
    drawn = terminal.getvalue()
    assert "build: 100%" in drawn and "run: 100%" in drawn and "7/7" in drawn
    # the per-chip bar of a long step: 2 exposures x 2 chips
    assert "driz_separate:" in drawn and "/4 " in drawn
    assert "INFO" not in drawn  # only the bars, at --log-level WARNING
    assert package_logger.handlers == handlers_before
    assert (package_logger.level, package_logger.propagate) == (level_before,
                                                                propagate_before)


def test_messages_at_the_log_level_above_the_bars(monkeypatch, tmp_path, demo_folder):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.chdir(tmp_path)
    assert cli.main([f"@{demo_folder / 'inputs.lst'}", "--runfile", ""]) == 0
    # what stays on each line of the terminal: the text after the last carriage
    # return, without the cursor movements between the two bars
    lines = [line.replace("\x1b[A", "").split("\r")[-1]
             for line in terminal.getvalue().split("\n")]
    # each message is a line of its own (the bars are cleared before it is written)
    assert any(line.startswith("INFO: step driz_separate ...") for line in lines)
    assert any(line.startswith("INFO: build summary:") for line in lines)


def test_no_progress_when_quiet_or_not_a_terminal(monkeypatch, tmp_path, demo_folder):
    for argv_extra, stream in ((["--quiet"], _Terminal()), ([], io.StringIO()),
                               (["--quiet", "--verbose", "always"], io.StringIO())):
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.chdir(tmp_path)
        assert cli.main([f"@{demo_folder / 'inputs.lst'}", "--runfile", "", *argv_extra]) == 0
        assert "%|" not in stream.getvalue(), argv_extra


def test_verbose_always_draws_on_any_stream(monkeypatch, tmp_path, demo_folder):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.chdir(tmp_path)
    assert cli.main([f"@{demo_folder / 'inputs.lst'}", "--runfile", "", "--verbose", "always",
                     "--log-level", "ERROR"]) == 0
    assert "run: 100%" in stream.getvalue()


# ------------------------------------------ input mistakes: one line, non-zero exit


def _bad_association(folder, **columns):
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns([fits.Column(name=name, format="8A", array=values)
                                           for name, values in columns.items()])
    path = folder / "mdz001010_asn.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return str(path)


def _mistake(case, folder, demo_folder):
    """The command line of one user mistake, and what its error line must say."""
    inputs = f"@{demo_folder / 'inputs.lst'}"
    first = demo_folder / "mdz001a1q_flc.fits"
    if case == "association without MEMTYPE":
        return [_bad_association(folder, MEMNAME=["MDZ001A1Q"])], "has no MEMTYPE column"
    if case == "MEMPRSNT not understood":
        return [_bad_association(folder, MEMNAME=["MDZ001A1Q"], MEMTYPE=["EXP-DTH"],
                                 MEMPRSNT=["maybe"])], "row 1: MEMPRSNT value 'maybe'"
    if case == "expkeyword names text":
        return [inputs, "--expkeyword", "FILTER"], "keyword FILTER (named by parameter " \
                                                   "'expkeyword') has the value 'F606W'"
    if case == "refimage not FITS":
        (folder / "grid.txt").write_text("no image here")
        return [inputs, "--final_refimage", str(folder / "grid.txt")], "cannot be read as FITS"
    if case == "refimage bad extension":
        return [inputs, "--final_refimage", f"{first}[foo,x]"], "extension [foo,x] is not " \
                                                                "understood"
    if case == "shift file absolute":
        (folder / "abs.txt").write_text("# form: absolute\nmdz001a1q_flc.fits 1 2\n")
        return [inputs, "--shiftfile", str(folder / "abs.txt")], "'form: absolute' is not " \
                                                                 "supported"
    if case == "shift file typo":
        (folder / "typo.txt").write_text("mdz001a7q_flc.fits 1 2\n")
        return [inputs, "--shiftfile", str(folder / "typo.txt")], "no input matches " \
                                                                  "'mdz001a7q_flc.fits'"
    if case == "IVM not FITS":
        (folder / "bad_ivm.fits").write_text("not FITS")
        (folder / "with_ivm.lst").write_text(f"{first} bad_ivm.fits\n")
        return [f"@{folder / 'with_ivm.lst'}"], "line 1: IVM file"
    if case == "output folder is a file":
        (folder / "plain").write_text("a file")
        return [inputs, "--output", str(folder / "plain" / "sub" / "final"), "--runfile",
                ""], "plain"
    if case == "runfile folder missing":
        return [inputs, "--output", str(folder / "final"), "--runfile",
                str(folder / "nodir" / "run.log")], "nodir"
    raise AssertionError(case)


@pytest.mark.parametrize("case, status", [
    ("association without MEMTYPE", 1), ("MEMPRSNT not understood", 1),
    ("expkeyword names text", 1), ("refimage not FITS", 1), ("refimage bad extension", 2),
    ("shift file absolute", 1), ("shift file typo", 1), ("IVM not FITS", 1),
    ("output folder is a file", 1), ("runfile folder missing", 1),
])
def test_input_mistakes_exit_with_one_line(capsys, tmp_path, demo_folder, monkeypatch,
                                           case, status):
    monkeypatch.chdir(tmp_path)
    argv, expected = _mistake(case, tmp_path, demo_folder)
    assert cli.main([*argv, "--quiet"]) == status
    assert expected in _one_error_line(capsys.readouterr())


def test_a_bug_still_shows_its_traceback(tmp_path, demo_folder, monkeypatch):
    from multidrizzle import session

    def broken_build(self):
        raise KeyError("a genuine bug")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(session.Multidrizzle, "build", broken_build)
    with pytest.raises(KeyError, match="a genuine bug"):
        cli.main([f"@{demo_folder / 'inputs.lst'}", "--quiet"])
