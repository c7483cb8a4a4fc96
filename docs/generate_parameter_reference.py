"""Write docs/parameters.md from the parameter declarations (traits metadata).

    python docs/generate_parameter_reference.py

tests/test_docs.py fails when the committed file differs from what this makes.
"""

from __future__ import annotations

from pathlib import Path

from multidrizzle.parameters import (
    STEP_TITLES, DrizzleParameters, _first_sentence, format_parameter_value,
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
     "`form: absolute` raises NotImplementedError"),
    ("`updatewcs`, `rules_file`", "rewrite input WCS / blend headers",
     "not supported: setting them raises an error saying so"),
]


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
        "Defaults are AstroDrizzle's documented ones.  *Origin* says which program "
        "documents the parameter; *MultiDrizzle default* is shown where MultiDrizzle's "
        "Table 2 differs.",
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
    lines += [f"| `{name}` | `{format_parameter_value(trait.default_value)}` | "
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


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
