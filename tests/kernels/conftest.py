"""Pixel maps shared by the drizzle-kernel tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

UVIS_HEADER = Path(__file__).resolve().parents[1] / "data" / "wfc3_uvis_ib4606c6q_flc.fits"


def frame_map(pixmap: np.ndarray, margin: float = 3.0):
    """Shift ``pixmap`` so that it starts ``margin`` output pixels inside a frame.

    Returns the shifted map and the shape ``(ny, nx)`` of a frame that holds
    all of it with the same margin on the far sides.
    """
    shifted = pixmap.copy()
    shifted[..., 0] += margin - np.nanmin(pixmap[..., 0])
    shifted[..., 1] += margin - np.nanmin(pixmap[..., 1])
    shape = (int(np.ceil(np.nanmax(shifted[..., 1]) + margin)),
             int(np.ceil(np.nanmax(shifted[..., 0]) + margin)))
    return shifted, shape


def affine_map(shape, *, angle_deg=0.0, scale=1.0, shift=(0.0, 0.0), quadratic=0.0):
    """``pixmap`` of a rotation, a scale, a shift and an optional smooth distortion."""
    y, x = np.indices(shape, dtype=np.float64)
    c, s = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    x_out = scale * (c * x - s * y) + shift[0] + quadratic * (x * x - 0.5 * x * y)
    y_out = scale * (s * x + c * y) + shift[1] + quadratic * (0.7 * y * y + 0.3 * x * y)
    return np.dstack([x_out, y_out])


@pytest.fixture(scope="session")
def uvis_sip_map():
    """Factory: pixel map of a cutout of WFC3/UVIS chip 1 (SIP + lookup tables) on a
    north-up tangent-plane frame of the same pixel scale.

    ``uvis_sip_map(shape, origin=(x0, y0))`` maps input pixel ``(i, j)`` of the
    cutout, i.e. chip pixel ``(x0 + i, y0 + j)``.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(UVIS_HEADER) as hdul:
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
