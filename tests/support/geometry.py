"""Tangent-plane WCSs, reference images and synthetic pixel maps for the tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS


def tan_wcs(scale_arcsec: float) -> WCS:
    """A north-up tangent-plane WCS at (150, 2) deg with pixels of ``scale_arcsec``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.cd = [[-scale_arcsec / 3600.0, 0.0], [0.0, scale_arcsec / 3600.0]]
    wcs.wcs.set()
    return wcs


def write_reference_image(path: Path, scale: float = 0.1, rotation: float = 30.0,
                          shape: tuple[int, int] = (50, 60)) -> Path:
    """A reference image: one SCI extension of ``shape`` zeros whose tangent-plane WCS
    puts (150, 2) deg at pixel (30, 25), pixels of ``scale`` arcsec turned by
    ``rotation`` degrees."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [30.0, 25.0]
    theta, degrees = math.radians(rotation), scale / 3600.0
    wcs.wcs.cd = [[-degrees * math.cos(theta), degrees * math.sin(theta)],
                  [degrees * math.sin(theta), degrees * math.cos(theta)]]
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(np.zeros(shape, np.float32), header=wcs.to_header(),
                                name="SCI", ver=1)]).writeto(path)
    return path


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
