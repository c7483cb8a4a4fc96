"""Drizzle steps: each exposure onto its own grid, and all onto the final grid.

Plain functions from the data model and arrays to arrays; the numba kernels
in :mod:`multidrizzle.kernels.drizzle` do the pixel work.  The outputs are
count rates (per second) in the processing units; ``final_units='counts'``
is applied by the caller on the finished image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from multidrizzle.errors import InputError
from multidrizzle.geometry import OutputGrid, PixelMap, native_scale
from multidrizzle.kernels.drizzle import drizzle_add_image, finalize_fill, new_context
from multidrizzle.model import Chip, Exposure
from multidrizzle.progress import ProgressCallback, ProgressCounter, no_progress

__all__ = [
    "DrizzleSettings", "DrizzledImage", "weight_scale", "good_pixel_mask",
    "chip_weight_map", "drizzle_exposures", "background_ivm",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrizzleSettings:
    """The drizzle parameters of one step (``driz_sep_*`` or ``final_*``).

    ``maskval`` is the value the output science image starts at, which stays
    where no input pixel adds weight (AstroDrizzle's ``final_maskval``; its
    separate drizzles start at 0); ``fillval``, when not None, then replaces
    every zero-weight pixel.
    """

    kernel: str = "square"
    pixfrac: float = 1.0
    wt_scl: str | float = "exptime"
    fillval: float | None = None
    bits: int | None = 0
    maskval: float = 0.0


@dataclass
class DrizzledImage:
    """Science (count rate), weight and optional context on an output grid."""

    sci: np.ndarray
    wht: np.ndarray
    ctx: np.ndarray | None = None
    exptime: float = 0.0
    n_images: int = 0


def weight_scale(wt_scl: str | float, exptime: float) -> float:
    """AstroDrizzle's ``wt_scl``: ``'exptime'``, ``'expsq'`` or a number."""
    if wt_scl == "exptime":
        return float(exptime)
    if wt_scl == "expsq":
        return float(exptime) ** 2
    return float(wt_scl)


def good_pixel_mask(dq: np.ndarray, bits: int | None) -> np.ndarray:
    """True where the DQ flags are all among the ``bits`` considered good.

    ``bits=None`` ignores the DQ array (every pixel good).
    """
    if bits is None:
        return np.ones(dq.shape, dtype=bool)
    return bitfield_to_boolean_mask(dq, ignore_flags=bits, good_mask_value=True)


def background_ivm(chip: Chip, sky: float) -> float:
    """Inverse variance of the background noise, in processing units.

    Used for ``final_wht_type='IVM'`` when no IVM file is given: the Poisson
    noise of the sky plus the read noise, without the sources' own Poisson
    noise, as AstroDrizzle builds it.  The files carry no flat field or dark,
    so the measured sky stands for everything the background holds.

    Parameters
    ----------
    chip : Chip
    sky : float
        The chip's sky in its native units (MDRIZSKY).
    """
    sky_electrons = max(float(sky) * chip.to_electrons, 0.0)
    variance_electrons = sky_electrons + chip.read_noise ** 2
    electrons_per_unit = chip.to_electrons / chip.proc_scale
    variance = variance_electrons / electrons_per_unit ** 2
    if not variance > 0:
        raise InputError(f"{chip.name}: background variance is zero (no sky and no read "
                         "noise); cannot build an IVM")
    return 1.0 / variance


def chip_weight_map(chip: Chip, dq: np.ndarray, bits: int | None, *,
                    static_mask: np.ndarray | None = None,
                    cr_mask: np.ndarray | None = None, wht_type: str = "EXP",
                    error: np.ndarray | None = None,
                    ivm: np.ndarray | float | None = None) -> np.ndarray:
    """Per-pixel input weights: good pixels x the weighting scheme.

    Parameters
    ----------
    chip : Chip
        For error messages.
    dq : ndarray
        The chip's DQ array.
    bits : int or None
        DQ bits considered good.
    static_mask, cr_mask : ndarray of bool, optional
        True where a pixel is bad (static mask) or a cosmic ray.
    wht_type : {'EXP', 'ERR', 'IVM'}
        ``EXP``: 1 for good pixels (the exposure time enters through
        ``wt_scl``); ``ERR``: 1 / ERR**2; ``IVM``: the inverse variance map.
    error : ndarray, optional
        ERR array (processing units), for ``ERR``.
    ivm : ndarray or float, optional
        Inverse variance (map or constant), for ``IVM``.

    Returns
    -------
    ndarray of float32
    """
    good = good_pixel_mask(dq, bits)
    if static_mask is not None:
        good &= ~static_mask
    if cr_mask is not None:
        good &= ~cr_mask
    if wht_type == "EXP":
        return good.astype(np.float32)
    if wht_type == "ERR":
        if error is None:
            raise InputError(f"{chip.name}: final_wht_type='ERR' needs an ERR array, "
                             "and this file has none")
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where((error > 0) & np.isfinite(error), 1.0 / error ** 2, 0.0)
        return (inverse * good).astype(np.float32)
    if wht_type == "IVM":
        if ivm is None:
            raise InputError(f"{chip.name}: final_wht_type='IVM' needs an IVM")
        return (np.where(np.isfinite(ivm) & (np.asarray(ivm) > 0), ivm, 0.0)
                * good).astype(np.float32)
    raise ValueError(f"wht_type must be EXP, ERR or IVM, got {wht_type!r}")


def drizzle_exposures(exposures: Sequence[Exposure], pixel_maps: Mapping[str, PixelMap],
                      grid: OutputGrid, settings: DrizzleSettings, *,
                      science_of: Callable[[Chip], np.ndarray],
                      weights_of: Callable[[Chip], np.ndarray],
                      context: bool = False, separate: bool = False,
                      progress: ProgressCallback = no_progress
                      ) -> Iterator[DrizzledImage] | DrizzledImage:
    """Drizzle exposures onto ``grid``: one image each, or all onto one.

    With ``separate=True`` the images come from an iterator that drizzles
    each exposure when it is asked for the next image, so that a caller
    storing them one by one never holds more than one in memory.

    Parameters
    ----------
    exposures : sequence of Exposure
        In context order (image ``i`` sets context bit ``i``).
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto ``grid``.
    grid : OutputGrid
    settings : DrizzleSettings
    science_of : callable
        Returns a chip's data to drizzle (sky-subtracted, processing units).
    weights_of : callable
        Returns a chip's per-pixel weight map (see :func:`chip_weight_map`).
    context : bool
        Build a context image (final drizzle).
    separate : bool
        True: an iterator of one :class:`DrizzledImage` per exposure; False:
        a single one.
    progress : callable
        ``progress(done, total, label)`` after each chip (see
        :mod:`multidrizzle.progress`); the total counts the chips of every
        exposure.
    """
    chips_done = ProgressCounter(sum(len(exposure.chips) for exposure in exposures), progress)
    if separate:
        return _drizzle_one_by_one(exposures, pixel_maps, grid, settings,
                                   science_of=science_of, weights_of=weights_of,
                                   chips_done=chips_done)
    combined = _new_output(grid, len(exposures), context, settings.maskval)
    for image_id, exposure in enumerate(exposures):
        _add_exposure(exposure, image_id, pixel_maps, grid, settings, combined, science_of,
                      weights_of, chips_done)
    finalize_fill(combined.sci, combined.wht, settings.fillval)
    return combined


def _drizzle_one_by_one(exposures, pixel_maps, grid, settings, *, science_of,
                        weights_of, chips_done: ProgressCounter) -> Iterator[DrizzledImage]:
    for exposure in exposures:
        single = _new_output(grid, 1, False, settings.maskval)
        _add_exposure(exposure, 0, pixel_maps, grid, settings, single, science_of, weights_of,
                      chips_done)
        finalize_fill(single.sci, single.wht, settings.fillval)
        yield single


def _add_exposure(exposure: Exposure, image_id: int, pixel_maps: Mapping[str, PixelMap],
                  grid: OutputGrid, settings: DrizzleSettings, target: DrizzledImage,
                  science_of: Callable[[Chip], np.ndarray],
                  weights_of: Callable[[Chip], np.ndarray],
                  chips_done: ProgressCounter) -> None:
    chips_done.start()
    for chip in exposure.chips:
        _add_chip(chip, pixel_maps[chip.name], grid, settings, settings.kernel, target,
                  image_id, science_of(chip), weights_of(chip))
        chips_done.advance(chip.name)
    target.exptime += exposure.exptime
    target.n_images += 1


def _new_output(grid: OutputGrid, n_inputs: int, context: bool,
                maskval: float = 0.0) -> DrizzledImage:
    return DrizzledImage(sci=np.full(grid.shape, maskval, dtype=np.float32),
                         wht=np.zeros(grid.shape, dtype=np.float32),
                         ctx=new_context(n_inputs, grid.shape) if context else None)


def _add_chip(chip: Chip, pixel_map: PixelMap, grid: OutputGrid, settings: DrizzleSettings,
              kernel: str, target: DrizzledImage, image_id: int, science: np.ndarray,
              weights: np.ndarray) -> None:
    ratio = grid.scale / native_scale(chip)
    drizzle_add_image(
        science, pixel_map.evaluate(), target.sci, target.wht, target.ctx,
        image_id=image_id, weight_map=weights, kernel=kernel, pixfrac=settings.pixfrac,
        wt_scl=weight_scale(settings.wt_scl, chip.exptime), exptime=chip.exptime,
        in_units="cps" if chip.processing_is_rate else "counts", iscale=ratio ** 2,
        pixel_scale_ratio=ratio, fillval=None)
