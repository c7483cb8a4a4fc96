"""Blot: resample the median image back onto each input chip."""

from __future__ import annotations

import numpy as np

from multidrizzle.geometry import OutputGrid, PixelMap, native_scale
from multidrizzle.kernels.blot import blot_image
from multidrizzle.model import Chip

__all__ = ["blot_median"]


def blot_median(median: np.ndarray, chip: Chip, pixel_map: PixelMap, grid: OutputGrid, *,
                interp: str = "poly5", sinscl: float = 1.0, sky: float = 0.0) -> np.ndarray:
    """The median (a count rate on ``grid``) seen through one chip.

    Parameters
    ----------
    median : ndarray
        Median image on the separate-drizzle grid, in processing units per
        second per output pixel.
    chip : Chip
        The chip to blot onto.
    pixel_map : PixelMap
        The chip's map onto ``grid``.
    grid : OutputGrid
        The grid of ``median``.
    interp, sinscl
        ``blot_interp`` and ``blot_sinscl``.
    sky : float
        Value added to every pixel, in the chip's processing units (the sky
        that was subtracted before drizzling, or ``blot_skyval``).

    Returns
    -------
    ndarray of float32, the chip's shape
        In the chip's processing units (per exposure unless the chip's units
        are a rate), so it can be compared with the chip's data directly.
    """
    ratio = grid.scale / native_scale(chip)
    per_exposure = 1.0 if chip.is_rate else chip.exptime
    blotted = blot_image(median, pixel_map.evaluate(), interp=interp, sinscl=sinscl,
                         scale=per_exposure / ratio ** 2, fillval=0.0)
    if sky:
        blotted += np.float32(sky)
    return blotted
