"""Small sessions and WCSs shared by the tests."""

from __future__ import annotations

from pathlib import Path

from astropy.wcs import WCS

from multidrizzle import Multidrizzle


def demo_session(folder: Path, output: Path, **params) -> Multidrizzle:
    """A built session on the demo set in ``folder`` (``inputs.lst``), products in ``output``.

    Intermediates stay in memory and no run log is written unless asked for.
    """
    params.setdefault("in_memory", True)
    params.setdefault("runfile", "")
    md = Multidrizzle(f"@{folder / 'inputs.lst'}", output=str(output), **params)
    md.build()
    return md


def tan_wcs(scale_arcsec: float) -> WCS:
    """A north-up tangent-plane WCS at (150, 2) deg with pixels of ``scale_arcsec``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.cd = [[-scale_arcsec / 3600.0, 0.0], [0.0, scale_arcsec / 3600.0]]
    wcs.wcs.set()
    return wcs
