"""The parameter reference, generated from the parameter declarations (traits metadata).

    python docs/generate_parameter_reference.py

writes docs/parameters.md (Markdown, browsable on the forge); tests/test_docs.py
fails when the committed file differs from what this makes.  The Sphinx site
calls the ``render_rst_*`` functions at build time (see docs/conf.py), so its
pages never go stale.
"""

from __future__ import annotations

from pathlib import Path

import re

from multidrizzle.session.parameters import (
    NAME_ALIASES, ORIGIN_TEXT, STEP_TITLES, DrizzleParameters, _first_sentence,
    format_parameter_value,
)

OUTPUT = Path(__file__).with_name("parameters.md")

_BEHAVIOURS = [
    ("input files", "AstroDrizzle and MultiDrizzle write sky values and cosmic-ray flags "
     "into the inputs (or their copies)", "inputs are opened read-only and never changed "
     "unless `workinplace=True`"),
    ("custom output WCS", "AstroDrizzle applies `final_scale`, `final_rot`, ... only "
     "with `final_wcs=True`; MultiDrizzle had no switch", "setting any `final_*` "
     "(or `driz_sep_*`) custom WCS value switches `final_wcs` (`driz_sep_wcs`) on, "
     "logged; switching it off afterwards ignores them, as AstroDrizzle does"),
    ("`group`", "an extension number, a GEIS group or `'sci,1'`", "an integer or "
     "`'1,2'` selects SCI extension versions; `'sci,N'` selects SCI,N"),
    ("`shiftfile`", "MultiDrizzle: shifts added to the header WCS", "the same; "
     "`form: absolute` raises an error (UnsupportedError, a NotImplementedError); a line "
     "naming no input is an error"),
    ("`updatewcs`, `rules_file`", "rewrite input WCS / blend headers",
     "not supported: setting them raises an error saying so"),
    ("`bits`", "MultiDrizzle's one set of good DQ bits", "sets `driz_sep_bits` and "
     "`final_bits` where those are 0; a different non-zero value in either is an error"),
    ("`restore`", "copy `OrIg_files/` over the inputs before processing", "the same, "
     "before the inputs are read in `build()`, and only with `workinplace=True` (it "
     "changes the inputs)"),
    ("`clean`", "remove intermediate files", "the same, each step's as soon as no later "
     "step of the run reads them (less disk at the peak); the results kept in those "
     "files leave the session with them (`in_memory=False`), `_crclean` images are kept"),
    ("`in_memory`", "keep intermediates in memory instead of files", "the same; with "
     "`False` the session reads them back from their files when asked (`md.single_sci`, "
     "`md.median_image`, `md.blotted_images`), so memory holds one exposure's worth"),
    ("cosmic-ray noise (`driz_cr_snr`)", "noise of the data with the subtracted sky "
     "counted a second time; two-sided test `|D - B|`", "the data's noise with the sky "
     "once, plus, in the first (detection) test, the blotted median's own noise from the "
     "number of exposures behind it; one-sided test `D - B` (cosmic rays add charge)"),
    ("cosmic rays on rejected pixels", "tested and flagged like any other", "pixels "
     "rejected by DQ (`driz_sep_bits`) or the static mask are not tested and never "
     "flagged"),
    ("`num_cores`", "number of processes working on separate chips", "number of threads "
     "in this process: one task's kernels get them all, a step of many tasks (chips, "
     "a mosaic's tiles and strips) runs that many tasks side by side; the worker "
     "processes with `scheduler='dask'`; results are identical for any value"),
    ("final product (`build_mef`)", "AstroDrizzle: three simple files by default "
     "(`build=False`); MultiDrizzle: one multi-extension file (`build=True`)",
     "MultiDrizzle's default: one `_drz`/`_drc` file with SCI, WHT, CTX and HDRTAB; "
     "`build_mef=False` writes `_sci`, `_wht` and `_ctx` files, with HDRTAB in the `_sci` "
     "file as AstroDrizzle does"),
    ("product header", "headers of all inputs blended by fitsblender rules (`rules_file`): "
     "photometric keywords in the SCI header, PHOTFLAM the mean over the input chips; "
     "`NDRIZIM` and the `Dnnn` cards count chips",
     "the first input's identity keywords, and its first chip's photometric keywords in "
     "the primary and SCI headers; EXPSTART/EXPEND over all inputs; `NDRIZIM` and "
     "AstroDrizzle's `Dnnn` cards count exposures; `S_REGION`; a warning names keywords "
     "that differ between inputs (instrument, detector, filter, photometry); HDRTAB has "
     "one row per input chip, as AstroDrizzle's"),
    ("zero-weight final pixels (`final_maskval`, `final_fillval`)", "AstroDrizzle starts "
     "the final image at `final_maskval` (None: NaN); an empty output pixel that a "
     "zero-weight input pixel falls on takes that pixel's value (drizzle's INDEF fill); "
     "`final_fillval` replaces every zero-weight pixel", "the same start value and fill, "
     "but a zero-weight input pixel brings no value, so every zero-weight pixel holds "
     "`final_maskval` (NaN by default) unless `final_fillval` is set; with "
     "`final_units='counts'` both are scaled by the exposure time, as AstroDrizzle does"),
    ("`driz_sep_compress`", "write the separate drizzles as tile-compressed FITS "
     "(astropy's default, RICE_1 quantized: lossy; AstroDrizzle 3.11 stops with an "
     "IndexError when it writes them)", "lossless GZIP_2 tile compression of the "
     "`_single_sci`/`_single_wht` files: the same values, smaller files; no effect "
     "with `in_memory=True`"),
    ("parameter files", "TEAL `.cfg` files (configobj) with `_task_name_` and "
     "section titles", "read unchanged with configobj (section titles only group the "
     "names; `_task_name_` and `[_RULES_]` skipped); `md.save_pars()` writes the same "
     "format with one `[step]` section per step"),
    ("reference images, angles", "file names, numbers", "also an `astropy.wcs.WCS` with "
     "`pixel_shape` (saved by `save_pars` to a FITS file beside the parameter file) and "
     "`astropy.units.Quantity` angles and scales"),
]


#: Parameters whose default here is MultiDrizzle's, not AstroDrizzle's
#: (declared with ``astrodrizzle_default`` metadata).
_MULTIDRIZZLE_DEFAULT_USED = [name for name, trait in
                              DrizzleParameters.parameter_traits().items()
                              if "astrodrizzle_default" in trait.metadata]


def _astrodrizzle_default(trait) -> object:
    """AstroDrizzle's default of a parameter (its own default unless declared otherwise)."""
    return trait.metadata.get("astrodrizzle_default", trait.default_value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    traits = DrizzleParameters.parameter_traits()
    lines = [
        "# Parameter reference",
        "",
        "Generated from the parameter declarations by "
        "`python docs/generate_parameter_reference.py`; do not edit by hand.",
        "",
        "Defaults are AstroDrizzle's documented ones, except "
        + ", ".join(f"`{name}`" for name in _MULTIDRIZZLE_DEFAULT_USED)
        + ", which follow MultiDrizzle.  *Origin* says which program "
        "documents the parameter; *MultiDrizzle default* is shown where MultiDrizzle's "
        "Table 2 differs from AstroDrizzle.",
        "",
        "## Differences in behaviour",
        "",
        "| topic | AstroDrizzle / MultiDrizzle | multidrizzle |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in _BEHAVIOURS]
    differing = [(name, trait) for name, trait in traits.items()
                 if "multidrizzle_default" in trait.metadata]
    lines += ["", "## Defaults that differ from MultiDrizzle", "",
              "| parameter | default (AstroDrizzle) | MultiDrizzle default |",
              "| --- | --- | --- |"]
    lines += [f"| `{name}` | `{format_parameter_value(_astrodrizzle_default(trait))}` | "
              f"`{format_parameter_value(trait.metadata['multidrizzle_default'])}` |"
              for name, trait in differing]
    for step, names in DrizzleParameters.steps().items():
        if not names:
            continue
        lines += ["", f"## {STEP_TITLES[step]} (`{step}`)", "",
                  "| parameter | type | default | allowed | origin | description |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name in names:
            trait = traits[name]
            lines.append(
                f"| `{name}` | {_escape(trait.type_label)} | "
                f"`{_escape(format_parameter_value(trait.default_value))}` | "
                f"{_escape(trait.allowed_text())} | {trait.metadata.get('origin', 'both')} | "
                f"{_escape(_first_sentence(trait.help))} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# reStructuredText for the Sphinx site
# --------------------------------------------------------------------------

_ORIGIN_TEXT = ORIGIN_TEXT


def _rst_text(text: str) -> str:
    """Plain text made safe for reStructuredText: no accidental inline markup."""
    return re.sub(r"([\\*`_|\[\]])", r"\\\1", text)


def _rst_inline_markdown(text: str) -> str:
    """The Markdown of _BEHAVIOURS (only `code` spans) as reStructuredText."""
    parts = text.split("`")
    return "".join(f"``{part}``" if index % 2 else _rst_text(part)
                   for index, part in enumerate(parts))


def _rst_literal(value: object) -> str:
    return f"``{format_parameter_value(value)}``"


def _list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header] + rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines + [""]


def render_rst_step(step: str) -> str:
    """One step's parameters: a definition list with type, defaults, allowed values, help."""
    traits = DrizzleParameters.parameter_traits()
    aliases = {target: name for name, target in NAME_ALIASES.items()}
    lines: list[str] = []
    for name in DrizzleParameters.parameter_names(step):
        trait = traits[name]
        facts = [f"*{_rst_text(trait.type_label)}*", f"default {_rst_literal(trait.default_value)}"]
        if "astrodrizzle_default" in trait.metadata:
            facts.append("AstroDrizzle default "
                         f"{_rst_literal(trait.metadata['astrodrizzle_default'])}")
        elif "multidrizzle_default" in trait.metadata:
            facts.append("MultiDrizzle default "
                         f"{_rst_literal(trait.metadata['multidrizzle_default'])}")
        facts.append(_ORIGIN_TEXT[trait.metadata.get("origin", "both")])
        if name in aliases:
            facts.append(f"also spelled ``{aliases[name]}``")
        if "alias_of" in trait.metadata:
            facts.append(f"alias of ``{trait.metadata['alias_of']}``")
        lines += [f".. _parameter-{name}:", "", f"``{name}``",
                  f"   {'; '.join(facts)}.", "",
                  f"   Allowed: {_rst_text(trait.allowed_text())}.", "",
                  f"   {_rst_text(trait.help)}", ""]
    return "\n".join(lines)


def render_rst_step_table(step: str) -> str:
    """One step's parameters as a compact table linking to the full reference."""
    traits = DrizzleParameters.parameter_traits()
    rows = [[f":ref:`{name} <parameter-{name}>`", _rst_text(traits[name].type_label),
             _rst_literal(traits[name].default_value),
             _rst_text(_first_sentence(traits[name].help))]
            for name in DrizzleParameters.parameter_names(step)]
    return "\n".join(_list_table(["parameter", "type", "default", "what it does"], rows,
                                  "22 10 14 54"))


def render_rst_reference() -> str:
    """Every step's section (title, tag) with its parameters."""
    lines: list[str] = []
    for step, names in DrizzleParameters.steps().items():
        if not names:
            continue
        title = f"{STEP_TITLES[step]} (``{step}``)"
        lines += [title, "-" * len(title), "", render_rst_step(step)]
    return "\n".join(lines)


def render_rst_summary() -> str:
    """One table of every parameter: name, step, type, default, allowed values."""
    traits = DrizzleParameters.parameter_traits()
    rows = [[f":ref:`{name} <parameter-{name}>`", f"``{trait.metadata['step']}``",
             _rst_text(trait.type_label), _rst_literal(trait.default_value),
             _rst_text(trait.allowed_text())]
            for name, trait in traits.items()]
    return "\n".join(_list_table(["parameter", "step", "type", "default", "allowed"], rows,
                                  "22 12 10 14 42"))


def render_rst_defaults() -> str:
    """The defaults where MultiDrizzle's Table 2 differs from AstroDrizzle."""
    traits = DrizzleParameters.parameter_traits()
    rows = [[f":ref:`{name} <parameter-{name}>`", _rst_literal(_astrodrizzle_default(trait)),
             _rst_literal(trait.metadata["multidrizzle_default"]),
             "MultiDrizzle's" if "astrodrizzle_default" in trait.metadata else "AstroDrizzle's"]
            for name, trait in traits.items() if "multidrizzle_default" in trait.metadata]
    return "\n".join(_list_table(["parameter", "AstroDrizzle default",
                                   "MultiDrizzle default", "used here"], rows, "28 26 26 20"))


def render_rst_behaviours() -> str:
    """The behaviours that differ from AstroDrizzle and MultiDrizzle."""
    rows = [[_rst_inline_markdown(cell) for cell in row] for row in _BEHAVIOURS]
    return "\n".join(_list_table(["topic", "AstroDrizzle / MultiDrizzle", "multidrizzle"],
                                  rows, "20 40 40"))


def render_rst_origins() -> str:
    """The parameters documented by only one of the two programs, and this package's own."""
    traits = DrizzleParameters.parameter_traits()
    lines = []
    for origin in ("multidrizzle", "astrodrizzle", "package"):
        names = [f":ref:`{name} <parameter-{name}>`" for name, trait in traits.items()
                 if trait.metadata.get("origin") == origin]
        lines += [f"{_ORIGIN_TEXT[origin]} ({len(names)})", "   " + ", ".join(names), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
