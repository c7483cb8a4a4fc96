"""Small sessions on the demo data, and running some of their steps only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

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


def product_digests(md: Multidrizzle, *, median: bool = False) -> dict[str, str]:
    """sha256 of a run's final SCI, WHT, CTX, ERR and cosmic-ray masks (and median):
    runs that must agree to the last bit compare these."""
    assert md.final_error is not None  # final_err is on by default
    arrays = {"sci": [md.final_sci], "wht": [md.final_wht], "ctx": [md.final_ctx],
              "err": [md.final_error], "cr": [md.cr_masks[c.name] for c in chips_of(md)]}
    if median:
        arrays["median"] = [md.median_image]
    return {name: hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes()
                                          for a in values)).hexdigest()
            for name, values in arrays.items()}
