"""Blot: resample the median image back onto each input chip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multidrizzle.errors import ParameterError
from multidrizzle.geometry import OutputGrid, PixelMap, native_scale
from multidrizzle.kernels.blot import BLOT_INTERPOLANTS, SINC_HALF_WIDTH, blot_image
from multidrizzle.model import Chip

__all__ = ["BlottedChip", "blot_median", "blot_counts", "footprint_minimum",
           "interpolation_reach"]

#: Largest count :func:`blot_counts` records (uint8).
MAX_BLOTTED_COUNT = 255


@dataclass
class BlottedChip:
    """The blot step's result for one chip.

    Attributes
    ----------
    name : str
        ``chip.name``.
    image : ndarray
        The blotted median, in the chip's processing units, sky added.
    counts : ndarray or None
        How many exposures entered the median at each chip pixel, the
        fewest among the median pixels the blot interpolation read there
        (uint8; None when the median step did not say).
    """

    name: str
    image: np.ndarray
    counts: np.ndarray | None = None


def blot_counts(counts: np.ndarray, pixmap: np.ndarray) -> np.ndarray:
    """The number of inputs of each median pixel, seen through one chip (nearest pixel).

    Parameters
    ----------
    counts : ndarray
        Inputs per pixel of the median (``MedianResult.good_counts``); pass
        it as float32 to save a conversion per chip.
    pixmap : ndarray
        The chip's dense pixel map onto the median's grid.

    Returns
    -------
    ndarray of uint8, the chip's shape
        0 where the chip maps outside the grid; at most ``MAX_BLOTTED_COUNT``.
    """
    values = np.asarray(counts, dtype=np.float32)
    blotted = blot_image(values, pixmap, interp="nearest", scale=1.0, fillval=0.0)
    np.minimum(blotted, MAX_BLOTTED_COUNT, out=blotted)
    return blotted.astype(np.uint8)


def blot_median(median: np.ndarray, chip: Chip, pixel_map: PixelMap | np.ndarray,
                grid: OutputGrid, *, interp: str = "poly5", sinscl: float = 1.0,
                sky: float = 0.0) -> np.ndarray:
    """The median (a count rate on ``grid``) seen through one chip.

    Parameters
    ----------
    median : ndarray
        Median image on the separate-drizzle grid, in processing units per
        second per output pixel.
    chip : Chip
        The chip to blot onto.
    pixel_map : PixelMap or ndarray
        The chip's map onto ``grid``, or that map evaluated (to share it).
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
        In the chip's processing units (per exposure unless
        ``chip.read_science()`` gives a rate), so it can be compared with the
        chip's data directly.
    """
    ratio = grid.scale / native_scale(chip)
    # The processing units, not the file's: proc_unit='electrons' turns a
    # per-second file into electrons per exposure.
    per_exposure = 1.0 if chip.processing_is_rate else chip.exptime
    pixmap = pixel_map.evaluate() if isinstance(pixel_map, PixelMap) else pixel_map
    blotted = blot_image(median, pixmap, interp=interp, sinscl=sinscl,
                         scale=per_exposure / ratio ** 2, fillval=0.0)
    if sky:
        blotted += np.float32(sky)
    return blotted


#: How many median pixels each interpolant reaches on either side of the
#: point it interpolates (its footprint is ``2 * reach`` pixels wide, or 1).
_INTERPOLANT_REACH = {"nearest": 0, "linear": 1, "poly3": 2, "poly5": 3}


def interpolation_reach(interp: str, sinscl: float = 1.0) -> int:
    """Median pixels on either side that a blot interpolant reads.

    Parameters
    ----------
    interp : str
        AstroDrizzle's ``blot_interp`` (see :data:`multidrizzle.kernels.blot.BLOT_INTERPOLANTS`).
    sinscl : float
        ``blot_sinscl``, for ``'sinc'``.

    Returns
    -------
    int
        0 for ``nearest``, 1 for ``linear``, 2 for ``poly3``, 3 for
        ``poly5``, ``ceil(SINC_HALF_WIDTH * sinscl)`` for ``sinc``.
    """
    if interp == "sinc":
        return int(np.ceil(SINC_HALF_WIDTH * float(sinscl)))
    if interp not in _INTERPOLANT_REACH:
        raise ParameterError(f"blot_interp must be one of {BLOT_INTERPOLANTS}; got {interp!r}.")
    return _INTERPOLANT_REACH[interp]


def footprint_minimum(counts: np.ndarray, reach: int) -> np.ndarray:
    """The smallest count within ``reach`` pixels (a square box), as float32.

    Blotting this image with ``interp='nearest'`` (:func:`blot_counts`)
    gives, at each chip pixel, the fewest exposures behind any median pixel
    that the blot interpolation of that chip pixel may have read (the box of
    ``reach`` pixels about the nearest median pixel holds the interpolation
    footprint, and at most one more pixel on one side): 0 where it read a
    median pixel without data (holes under masked star cores, the grid's
    empty corners), whose blotted value is no measurement.

    Parameters
    ----------
    counts : ndarray
        Inputs per median pixel (``MedianResult.good_counts``).
    reach : int
        :func:`interpolation_reach` of the blot interpolant (>= 0).
    """
    values = np.asarray(counts, dtype=np.float32)
    if reach <= 0:
        return values.copy()
    smallest = values.copy()
    for axis in (0, 1):
        source = smallest.copy()
        size = source.shape[axis]
        for offset in range(1, min(reach, size - 1) + 1):
            ahead = [slice(None)] * 2
            behind = [slice(None)] * 2
            ahead[axis], behind[axis] = slice(offset, None), slice(None, size - offset)
            # neighbours beyond the edge do not exist: they do not lower the minimum
            np.minimum(smallest[tuple(behind)], source[tuple(ahead)],
                       out=smallest[tuple(behind)])
            np.minimum(smallest[tuple(ahead)], source[tuple(behind)],
                       out=smallest[tuple(ahead)])
    return smallest
