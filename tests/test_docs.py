"""The docs: the parameter reference is generated from the traits and kept current,
and the Sphinx site builds with warnings as errors."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from multidrizzle.session.parameters import DrizzleParameters

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ("index", "getting_started", "command_line", "notebooks", "steps", "parameters",
         "differences", "architecture", "api")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_parameter_reference", DOCS / "generate_parameter_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parameter_reference_is_current():
    committed = (DOCS / "parameters.md").read_text(encoding="utf-8")
    assert committed == _generator().render(), (
        "docs/parameters.md is stale: run python docs/generate_parameter_reference.py")


def test_rst_reference_covers_every_parameter():
    module = _generator()
    reference = module.render_rst_reference()
    summary = module.render_rst_summary()
    for name in DrizzleParameters.parameter_names():
        assert f".. _parameter-{name}:" in reference, name
        assert f"<parameter-{name}>`" in summary, name
    tables = "".join(module.render_rst_step_table(step)
                     for step, names in DrizzleParameters.steps().items() if names)
    assert all(f"<parameter-{name}>`" in tables for name in DrizzleParameters.parameter_names())
    assert "``build_mef``" in reference and "also spelled ``build``" in reference
    assert "workinplace" in module.render_rst_behaviours()


def test_every_step_tag_has_its_table_on_the_steps_page():
    text = (DOCS / "steps.rst").read_text(encoding="utf-8")
    tags = re.findall(r"^\.\. step-parameters:: (\w+)$", text, flags=re.M)
    assert sorted(tags) == sorted(step for step, names in DrizzleParameters.steps().items()
                                  if names)


@pytest.mark.slow
def test_sphinx_site_builds_without_warnings(tmp_path):
    output = tmp_path / "html"
    finished = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(DOCS), str(output), "-d", str(tmp_path / "doctrees")],
        capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-5000:]
    for page in PAGES:
        assert (output / f"{page}.html").exists(), page
    reference = (output / "parameters.html").read_text(encoding="utf-8")
    for name in DrizzleParameters.parameter_names():
        assert f'id="parameter-{name.replace("_", "-")}"' in reference, name
    api = (output / "api.html").read_text(encoding="utf-8")
    assert "multidrizzle.session.Multidrizzle.run" in api
