"""Small sessions on the demo data, and running some of their steps only."""

from __future__ import annotations

from pathlib import Path

from multidrizzle import Multidrizzle

# step name -> the parameter that switches it on
STEPS = {"static": "static", "sky": "skysub", "driz_separate": "driz_separate",
         "median": "median", "blot": "blot", "driz_cr": "driz_cr",
         "driz_combine": "driz_combine"}
ALL_OFF = {switch: False for switch in STEPS.values()}

# the small demo set of the ``small_demo_set`` fixture: three exposures of two chips
SMALL_DEMO_CHIP_SHAPE = (64, 128)
SMALL_DEMO_SEED = 8


def build_demo_session(folder: Path, output: Path, **params) -> Multidrizzle:
    """A built session on the demo set in ``folder`` (``inputs.lst``), products in ``output``.

    Intermediates stay in memory and no run log is written unless asked for.
    Test modules get this function as the ``demo_session`` fixture.
    """
    params.setdefault("in_memory", True)
    params.setdefault("runfile", "")
    md = Multidrizzle(f"@{folder / 'inputs.lst'}", output=str(output), **params)
    md.build()
    return md


def run_only(md: Multidrizzle, *steps: str) -> None:
    """Run the named steps (names of :data:`STEPS`) and switch every other one off."""
    md.run(**(ALL_OFF | {STEPS[step]: True for step in steps}))


def chips_of(md: Multidrizzle) -> list:
    """Every chip of the session, exposure by exposure."""
    return [chip for exposure in md.exposures for chip in exposure.chips]
