"""The parameter reference in docs/ is generated from the traits and kept current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_parameter_reference_is_current():
    spec = importlib.util.spec_from_file_location(
        "generate_parameter_reference", DOCS / "generate_parameter_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (DOCS / "parameters.md").read_text(encoding="utf-8")
    assert committed == module.render(), (
        "docs/parameters.md is stale: run python docs/generate_parameter_reference.py")
