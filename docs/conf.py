"""Sphinx configuration of the multidrizzle documentation.

Build with warnings as errors (as CI does)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The parameter pages are generated at build time from the parameter
declarations (traits metadata) through the directives defined below, so they
never go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the package, when it is not installed
sys.path.insert(0, str(DOCS))         # generate_parameter_reference

import generate_parameter_reference as reference  # noqa: E402

import multidrizzle  # noqa: E402
from multidrizzle.session.parameters import STEPS  # noqa: E402

project = "multidrizzle"
author = "the multidrizzle developers"
copyright = "the multidrizzle developers"  # noqa: A001 - Sphinx's name
release = multidrizzle.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "parameters.md", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
html_theme = "alabaster"
html_theme_options = {"description": "MultiDrizzle sessions in Python",
                      "fixed_sidebar": True}
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" sections as fields: no duplicate descriptions
# Type names in numpydoc sections are plain words here ("float", "Multidrizzle").
nitpicky = False


class _GeneratedRst(SphinxDirective):
    """Parse reStructuredText made by generate_parameter_reference at build time."""

    def generate(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        text = self.generate()
        container = nodes.section() if self.has_titles else nodes.container()
        lines = StringList(text.splitlines(), source="<generated from the parameter traits>")
        nested_parse_with_titles(self.state, lines, container)
        return container.children

    has_titles = False


class StepParameters(_GeneratedRst):
    """``.. step-parameters:: TAG``: a table of one step tag's parameters."""

    required_arguments = 1

    def generate(self) -> str:
        step = self.arguments[0]
        if step not in STEPS:
            raise self.error(f"unknown step tag {step!r}; expected one of {', '.join(STEPS)}")
        return reference.render_rst_step_table(step)


class ParameterReference(_GeneratedRst):
    """``.. parameter-reference::``: every step section with its parameters."""

    has_titles = True

    def generate(self) -> str:
        return reference.render_rst_reference()


def _simple_directive(function):
    return type(function.__name__, (_GeneratedRst,), {"generate": lambda self: function()})


def setup(app):
    app.add_directive("step-parameters", StepParameters)
    app.add_directive("parameter-reference", ParameterReference)
    app.add_directive("parameter-summary", _simple_directive(reference.render_rst_summary))
    app.add_directive("parameter-defaults-that-differ",
                      _simple_directive(reference.render_rst_defaults))
    app.add_directive("behaviour-differences",
                      _simple_directive(reference.render_rst_behaviours))
    app.add_directive("parameter-origins", _simple_directive(reference.render_rst_origins))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
