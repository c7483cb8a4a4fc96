"""Pixel maps shared by the drizzle-kernel tests."""

from __future__ import annotations

import numpy as np
import pytest

from support.hst_files import UVIS_FLC


@pytest.fixture(scope="session")
def uvis_sip_map():
    """Factory: pixel map of a cutout of WFC3/UVIS chip 1 (SIP + lookup tables) on a
    north-up tangent-plane frame of the same pixel scale.

    ``uvis_sip_map(shape, origin=(x0, y0))`` maps input pixel ``(i, j)`` of the
    cutout, i.e. chip pixel ``(x0 + i, y0 + j)``.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(UVIS_FLC) as hdul:
        chip = WCS(hdul["SCI", 1].header, fobj=hdul)
    scale = 0.0396 / 3600.0

    def make(shape, origin=(1800, 900)):
        y, x = np.indices(shape, dtype=np.float64)
        ra, dec = chip.all_pix2world(x + origin[0], y + origin[1], 0)
        frame = WCS(naxis=2)
        frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        frame.wcs.crval = [float(np.mean(ra)), float(np.mean(dec))]
        frame.wcs.cd = [[-scale, 0.0], [0.0, scale]]
        frame.wcs.crpix = [0.0, 0.0]
        x_out, y_out = frame.wcs_world2pix(ra, dec, 0)
        return np.dstack([x_out, y_out])

    return make
