"""editpars(): the widget form driven in code, the $EDITOR loop with a fake editor."""

from __future__ import annotations

import shlex
import sys
import textwrap

import pytest

from multidrizzle import Multidrizzle
from multidrizzle.demo import datasets
from multidrizzle.session import editpars as editpars_module
from multidrizzle.session.editpars import (
    ERROR_MARK, EditorUnavailableError, ParameterForm, display_text, edit_in_editor,
    edit_parameters, parse_text_value,
)
from multidrizzle.errors import ParameterError
from multidrizzle.session.parameters import Choice, DrizzleParameters, Flag


@pytest.fixture(scope="module")
def demo_list(tmp_path_factory):
    folder = tmp_path_factory.mktemp("editpars_demo")
    dataset = datasets.make_demo_dataset(folder, n_exposures=2, chip_shape=(64, 64))
    return f"@{dataset.list_file}"


@pytest.fixture
def session(demo_list):
    return Multidrizzle(demo_list, runfile="")


# ---------------------------------------------------------------- values


def test_every_value_round_trips_through_its_text():
    params = DrizzleParameters(final_scale=0.05, driz_cr_snr="3 2", final_bits="4+8",
                               input=["a.fits", "b.fits"], output="out", group="1,2")
    for name, value in params.parameters_dict().items():
        assert parse_text_value(name, display_text(value)) == value, name


def test_parse_text_value_refuses_with_reason():
    with pytest.raises(ParameterError, match=r"final_pixfrac.*\[0, 1\]"):
        parse_text_value("final_pixfrac", "1.5")
    assert parse_text_value("build", "yes") is True  # AstroDrizzle's name of build_mef
    assert parse_text_value("final_outnx", "") is None


# ------------------------------------------------------------ widget form


def test_form_has_a_widget_per_parameter_grouped_by_step(session):
    form = ParameterForm(session)
    names = [n for n, t in DrizzleParameters.parameter_traits().items()
             if "alias_of" not in t.metadata]
    assert set(form.widgets) == set(names)
    assert "gnkeyword" not in form.widgets
    assert len(form.sections.children) == len(
        [s for s, n in DrizzleParameters.steps().items() if n])
    assert any("Step 7" in title for title in form.sections.titles)
    traits = DrizzleParameters.parameter_traits()
    for name, widget in form.widgets.items():
        if isinstance(traits[name], Choice):
            assert list(widget.options) == list(traits[name].choices)  # a drop-down
        elif isinstance(traits[name], Flag):
            assert isinstance(widget.value, bool)
        else:
            assert widget.value == display_text(getattr(session, name))


def test_form_refuses_bad_value_then_applies(session):
    form = ParameterForm(session)
    form.widgets["final_pixfrac"].value = "0.8"
    assert form.pending == {"final_pixfrac": 0.8} and not form.errors

    form.widgets["final_pixfrac"].value = "2"
    assert "final_pixfrac" in form.errors
    assert "a number in [0, 1]" in form.errors["final_pixfrac"]
    assert "refused" in form._error_labels["final_pixfrac"].value
    assert "final_pixfrac" not in form.pending
    assert form.apply() is None                    # refused values block Apply
    assert session.final_pixfrac == 1.0
    assert "not applied" in form.status.value

    form.widgets["final_pixfrac"].value = "0.7"
    form.widgets["final_kernel"].value = "gaussian"
    form.widgets["driz_cr"].value = False
    form.widgets["driz_cr_snr"].value = "3.0 2.5"
    assert not form.errors and form._error_labels["final_pixfrac"].value == ""
    changed = form.apply()
    assert changed == {"final_pixfrac": 0.7, "final_kernel": "gaussian", "driz_cr": False,
                       "driz_cr_snr": (3.0, 2.5)}
    assert session.final_pixfrac == 0.7 and session.final_kernel == "gaussian"
    assert session.driz_cr is False and session.driz_cr_snr == (3.0, 2.5)
    assert "applied" in form.status.value and not form.pending


def test_form_apply_refreshes_switched_values(session):
    form = ParameterForm(session)
    form.widgets["final_scale"].value = "0.05"
    form.apply()
    assert session.final_wcs is True and form.widgets["final_wcs"].value is True


def test_form_unsupported_and_unchanged_values(session):
    form = ParameterForm(session)
    form.widgets["updatewcs"].value = True
    assert "not supported" in form.errors["updatewcs"]
    form.widgets["updatewcs"].value = False
    assert not form.errors and not form.pending      # back to the session's value
    assert form.apply() == {}


def test_form_cancel_forgets_changes(session):
    form = ParameterForm(session)
    form.widgets["skywidth"].value = "0.5"
    form.widgets["crbit"].value = "3"
    assert form.errors and form.pending
    form.cancel()
    assert not form.errors and not form.pending
    assert form.widgets["skywidth"].value == "0.3" and form.widgets["crbit"].value == "4096"
    assert session.skywidth == 0.3 and "cancelled" in form.status.value


def test_form_refuses_inconsistent_changes(session):
    form = ParameterForm(session)
    form.widgets["gain"].value = "2.0"
    form.widgets["gainkeyword"].value = "CCDGAIN"
    assert form.apply() is None
    assert "gain" in form.status.value and session.gain is None


def test_edit_parameters_widgets_interface_returns_the_form(session):
    form = session.editpars(interface="widgets")
    assert isinstance(form, ParameterForm) and form.session is session


# ------------------------------------------------------------- the editor


def _fake_editor(tmp_path, body: str) -> str:
    """An editor command: a Python script run as ``python script FILE``."""
    script = tmp_path / "fake_editor.py"
    script.write_text("import pathlib, re, sys\n"
                      "path = pathlib.Path(sys.argv[1])\n"
                      "text = path.read_text()\n"
                      "state = pathlib.Path(__file__).with_suffix('.round')\n"
                      "round = int(state.read_text()) + 1 if state.exists() else 1\n"
                      "state.write_text(str(round))\n"
                      "pathlib.Path(__file__).with_suffix(f'.seen{round}').write_text(text)\n"
                      + textwrap.dedent(body))
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def _set(line: str) -> str:
    name = line.split("=")[0].strip()
    return f"text = re.sub(r'(?m)^{name} = .*$', {line!r}, text)\n"


def test_editor_applies_valid_file(tmp_path, session):
    editor = _fake_editor(tmp_path, _set("final_pixfrac = 0.8") + _set("build_mef = no")
                          + "path.write_text(text)\n")
    assert edit_in_editor(session, editor=editor) == {"final_pixfrac": 0.8, "build_mef": False}
    assert session.final_pixfrac == 0.8 and session.build_mef is False
    seen = (tmp_path / "fake_editor.seen1").read_text()
    assert "[final]" in seen and "final_pixfrac = 1.0" in seen


def test_editor_keeps_a_wcs_reference_grid_that_was_not_edited(tmp_path, session):
    from astropy.wcs import WCS

    grid = WCS(naxis=2)
    grid.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    grid.wcs.cd = [[-1e-5, 0.0], [0.0, 1e-5]]
    grid.pixel_shape = (50, 40)
    session.final_refimage = grid
    editor = _fake_editor(tmp_path, _set("final_pixfrac = 0.8") + "path.write_text(text)\n")
    assert edit_in_editor(session, editor=editor) == {"final_pixfrac": 0.8}
    assert isinstance(session.final_refimage, WCS)
    assert session.final_refimage.pixel_shape == (50, 40)
    seen = (tmp_path / "fake_editor.seen1").read_text()
    assert "multidrizzle_final_refimage.fits" in seen  # the grid, written for the editor


def test_editor_reopens_with_errors_on_top_until_valid(tmp_path, session):
    editor = _fake_editor(tmp_path, """\
        if round == 1:
            text = re.sub(r'(?m)^final_pixfrac = .*$', 'final_pixfrac = 2', text)
            text = text.replace('[final]', '[final]\\nfinal_pixfra = 1')
        else:
            text = re.sub(r'(?m)^final_pixfrac = .*$', 'final_pixfrac = 0.6', text)
            text = text.replace('final_pixfra = 1\\n', '')
        path.write_text(text)
        """)
    assert edit_in_editor(session, editor=editor) == {"final_pixfrac": 0.6}
    assert session.final_pixfrac == 0.6
    second = (tmp_path / "fake_editor.seen2").read_text().splitlines()
    errors = [line for line in second if line.startswith(f"{ERROR_MARK} ERROR")]
    assert len(errors) == 2 and all(line.startswith(ERROR_MARK) for line in second[:4])
    unknown, bad = errors
    assert "unknown parameter 'final_pixfra'; did you mean 'final_pixfrac'" in unknown
    assert "'final_pixfrac': value 2 is not allowed" in bad
    # the line numbers point into the file as reopened, error block included
    assert second[_line_of(unknown) - 1] == "final_pixfra = 1"
    assert second[_line_of(bad) - 1] == "final_pixfrac = 2"


def _line_of(error: str) -> int:
    return int(error.split("line ")[1].split(":")[0])


def test_editor_reports_rules_between_parameters(tmp_path, session):
    editor = _fake_editor(tmp_path, """\
        if round == 1:
            text = re.sub(r'(?m)^gain = .*$', 'gain = 2.0', text)
            text = re.sub(r'(?m)^gainkeyword = .*$', 'gainkeyword = CCDGAIN', text)
        else:
            text = re.sub(r'(?m)^gainkeyword = .*$', 'gainkeyword = None', text)
        path.write_text(text)
        """)
    assert edit_in_editor(session, editor=editor) == {"gain": 2.0}
    second = (tmp_path / "fake_editor.seen2").read_text()
    assert "ERROR: parameters 'gain'" in second


@pytest.mark.parametrize("body, reason", [
    ("sys.exit(1)\n", "editor failed"),
    ("path.write_text('')\n", "saved empty"),
    (_set("skywidth = -1") + "path.write_text(text) if round == 1 else None\n",
     "unchanged after rejection"),
])
def test_editor_abandoned_leaves_session_unchanged(tmp_path, session, body, reason):
    before = session.parameters_dict()
    assert edit_in_editor(session, editor=_fake_editor(tmp_path, body)) is None, reason
    assert session.parameters_dict() == before


def test_editor_gives_up_after_max_rounds(tmp_path, session):
    editor = _fake_editor(tmp_path, "text = re.sub(r'(?m)^skywidth = .*$', "
                                    "f'skywidth = -{round}', text)\npath.write_text(text)\n")
    assert edit_in_editor(session, editor=editor, max_rounds=3) is None
    assert (tmp_path / "fake_editor.round").read_text() == "3"


def test_editor_from_environment_and_constructor(tmp_path, demo_list, monkeypatch):
    editor = _fake_editor(tmp_path, _set("final_kernel = turbo") + "path.write_text(text)\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.setattr(editpars_module, "in_jupyter", lambda: False)
    monkeypatch.setattr(editpars_module, "in_terminal", lambda: True)
    md = Multidrizzle(demo_list, runfile="", editpars=True)
    assert md.final_kernel == "turbo"


def test_no_editor_and_no_vi(monkeypatch, session):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setattr(editpars_module.shutil, "which", lambda name: None)
    with pytest.raises(EditorUnavailableError, match="EDITOR"):
        edit_in_editor(session)


def test_editor_that_cannot_start(tmp_path, session):
    with pytest.raises(EditorUnavailableError, match="cannot start the editor"):
        edit_in_editor(session, editor=str(tmp_path / "no-such-editor"))


def test_neither_notebook_nor_terminal_is_a_clear_error(monkeypatch, session):
    monkeypatch.setattr(editpars_module, "in_jupyter", lambda: False)
    monkeypatch.setattr(editpars_module, "in_terminal", lambda: False)
    with pytest.raises(EditorUnavailableError, match="configobj"):
        session.editpars()
    with pytest.raises(ParameterError, match="interface"):
        edit_parameters(session, "gui")
