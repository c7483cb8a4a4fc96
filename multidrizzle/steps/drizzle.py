"""Drizzle steps: each exposure onto its own grid, and all onto the final grid.

Plain functions from the data model and arrays to arrays; the numba kernels
in :mod:`multidrizzle.kernels.drizzle` do the pixel work.  The outputs are
count rates (per second) in the processing units; ``final_units='counts'``
is applied by the caller on the finished image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from multidrizzle.errors import InputError
from multidrizzle.model.geometry import OutputGrid, PixelMap, native_scale
from multidrizzle.kernels.drizzle import (
    drizzle_add_image, error_from_variance, finalize_fill, new_context,
)
from multidrizzle.model import Chip, Exposure
from multidrizzle.model.exposure import Window
from multidrizzle.model.memory import sparse_zeros, use_small_pages
from multidrizzle.model.plan import Box
from multidrizzle.steps.registry import Registry
from multidrizzle.steps.sky import SkyResult
from multidrizzle.progress import ProgressCallback, ProgressCounter, no_progress

__all__ = [
    "DRIZZLE_KERNELS", "DrizzleKernel", "WEIGHT_TYPES", "POINT_KERNEL_PIXFRAC",
    "effective_kernel", "subtract_sky", "SeparateDrizzleSettings", "SeparateDrizzleInputs",
    "run_driz_separate", "FinalDrizzleSettings", "FinalDrizzleInputs", "final_weights",
    "run_driz_combine", "DrizzleSettings", "DrizzledImage",
    "weight_scale", "good_pixel_mask",
    "chip_weight_map", "drizzle_exposures", "background_ivm",
    "input_variance", "noise_model_variance",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrizzleKernel:
    """A value of ``driz_sep_kernel`` / ``final_kernel``.

    Attributes
    ----------
    name : str
        Also the name :func:`~multidrizzle.kernels.drizzle.drizzle_add_image`
        takes.
    footprint : {'area', 'point', 'weighted'}
        How an input pixel reaches the output: through the overlap area of
        its (shrunken) footprint ('square', 'turbo', 'tophat'), at one point
        ('point'), or through a smooth weighting function ('gaussian',
        'lanczos3'; these do not conserve flux).
    wants_unit_pixfrac : bool
        Only meant for ``pixfrac=1`` (a warning otherwise).
    """

    name: str
    footprint: str
    wants_unit_pixfrac: bool = False

    def reach(self, pixfrac: float, pixel_scale_ratio: float) -> float:
        """How far from an input pixel's mapped centre its value can land, in output pixels.

        ``pixel_scale_ratio`` is the output pixel scale over the input's (an
        input pixel spans ``1 / pixel_scale_ratio`` output pixels).  Generous
        (the footprint's half diagonal, the kernel's full window): the
        footprints and tiles of a run only need an upper bound.
        """
        input_pixel = 1.0 / float(pixel_scale_ratio)
        if self.footprint == "point":
            return 1.0
        if self.footprint == "area":
            return float(pixfrac) * input_pixel
        if self.name == "gaussian":
            return max(2.5 * float(pixfrac) / 2.3548, 1.2) * input_pixel
        return 3.0 * input_pixel  # lanczos3


#: The drizzle kernels a user may choose (AstroDrizzle's list).
DRIZZLE_KERNELS: Registry[DrizzleKernel] = Registry(
    "drizzle kernel", ("driz_sep_kernel", "final_kernel"), {
        "square": DrizzleKernel("square", "area"),
        "point": DrizzleKernel("point", "point"),
        "turbo": DrizzleKernel("turbo", "area"),
        "gaussian": DrizzleKernel("gaussian", "weighted"),
        "lanczos3": DrizzleKernel("lanczos3", "weighted", wants_unit_pixfrac=True),
        "tophat": DrizzleKernel("tophat", "area"),
    })


#: Below this pixfrac the kernel is switched to 'point', as AstroDrizzle does.
POINT_KERNEL_PIXFRAC = 0.001


def effective_kernel(kernel: str, pixfrac: float) -> str:
    """The kernel a drizzle with ``kernel`` and ``pixfrac`` uses: 'point' below 0.001."""
    return "point" if pixfrac < POINT_KERNEL_PIXFRAC else DRIZZLE_KERNELS.canonical(kernel)


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
    error: bool = False


@dataclass
class DrizzledImage:
    """Science (count rate), weight and optional context and error on an output grid.

    ``box`` is the part of the grid the arrays hold (a separate drizzle's
    cutout, a tile of the final image); None: the whole grid.  ``err`` is
    the standard deviation of ``sci`` propagated from the inputs' variance
    (same units; NaN where the weight is 0), when the drizzle was asked for
    it (``DrizzleSettings.error``).
    """

    sci: np.ndarray
    wht: np.ndarray
    ctx: np.ndarray | None = None
    exptime: float = 0.0
    n_images: int = 0
    box: Box | None = None
    err: np.ndarray | None = None
    #: While drizzling: sum(dow^2 variance) per pixel, turned into ``err`` at the end.
    variance_sum: np.ndarray | None = field(default=None, repr=False)

    def on_grid(self, shape: tuple[int, int], image: str = "sci",
                fill: float = 0.0) -> np.ndarray:
        """``sci`` or ``wht`` as an image of the whole grid of ``shape``.

        A cutout is placed at its box, the rest holds ``fill`` (0: what a
        separate drizzle holds where it has no weight, unless
        ``driz_sep_fillval`` says otherwise); the image of a whole grid is
        returned as it is.
        """
        values = self.sci if image == "sci" else self.wht
        if self.box is None:
            return np.asarray(values)
        whole = np.full(shape, fill, dtype=np.float32)
        if not self.box.is_empty():
            whole[self.box.slices] = np.asarray(values)
        return whole


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


def noise_model_variance(signal: np.ndarray, electrons_per_unit: float,
                         read_noise: float) -> np.ndarray:
    """Variance of pixel values from Poisson and read noise, in their own units squared.

    ``(max(signal, 0) * e + read_noise**2) / e**2`` with ``e`` the electrons
    per unit: the detector's noise for a pixel that collected ``signal``
    (sky included) in those units.

    Parameters
    ----------
    signal : ndarray
        Pixel values, sky included (processing units).
    electrons_per_unit : float
        Electrons in one unit of ``signal`` (> 0).
    read_noise : float
        Read noise in electrons.
    """
    electrons = np.maximum(np.asarray(signal, dtype=np.float64), 0.0) * electrons_per_unit
    return ((electrons + float(read_noise) ** 2) / electrons_per_unit ** 2).astype(np.float32)


def input_variance(chip: Chip, science: np.ndarray, sky: SkyResult | None,
                   window: Window | None = None) -> np.ndarray:
    """Variance of each pixel of a chip's data as drizzled, in processing units squared.

    The square of the ERR array where it is positive and finite; elsewhere
    (no ERR array, or ERR zero or bad) the detector noise model
    :func:`noise_model_variance` of the pixel's signal: ``science`` (the data
    as drizzled, sky subtracted) plus the sky, whether multidrizzle or the
    user removed it.

    Parameters
    ----------
    chip : Chip
    science : ndarray
        The chip's data as drizzled (:func:`subtract_sky`), or its ``window``.
    sky : SkyResult or None
        The sky step's result.
    window : (slice, slice), optional
        The part of the chip ``science`` holds (None: all of it).
    """
    sky_level = 0.0 if sky is None else sky.in_processing_units(chip)
    electrons_per_unit = chip.to_electrons / chip.proc_scale
    if not (electrons_per_unit > 0 and np.isfinite(electrons_per_unit)):
        raise InputError(f"{chip.name}: cannot model its noise: the gain and exposure time "
                         f"give {electrons_per_unit!r} electrons per unit")
    error = chip.read_error(window)
    if error is not None:
        usable = (error > 0) & np.isfinite(error)
        if usable.all():
            return np.square(error, dtype=np.float32)
    modelled = noise_model_variance(science + np.float32(sky_level), electrons_per_unit,
                                    chip.read_noise)
    if error is None:
        return modelled
    return np.where(usable, np.square(error, dtype=np.float32), modelled)


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
    return WEIGHT_TYPES[wht_type](chip, good, error, ivm)


def _exposure_weights(chip: Chip, good: np.ndarray, error: np.ndarray | None,
                      ivm: np.ndarray | float | None) -> np.ndarray:
    """``EXP``: 1 for good pixels (the exposure time enters through ``wt_scl``)."""
    return good.astype(np.float32)


def _error_weights(chip: Chip, good: np.ndarray, error: np.ndarray | None,
                   ivm: np.ndarray | float | None) -> np.ndarray:
    """``ERR``: 1 / ERR**2 where ERR is positive and finite."""
    if error is None:
        raise InputError(f"{chip.name}: final_wht_type='ERR' needs an ERR array, "
                         "and this file has none")
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where((error > 0) & np.isfinite(error), 1.0 / error ** 2, 0.0)
    return (inverse * good).astype(np.float32)


def _inverse_variance_weights(chip: Chip, good: np.ndarray, error: np.ndarray | None,
                              ivm: np.ndarray | float | None) -> np.ndarray:
    """``IVM``: the inverse variance map (or constant) where positive and finite."""
    if ivm is None:
        raise InputError(f"{chip.name}: final_wht_type='IVM' needs an IVM")
    return (np.where(np.isfinite(ivm) & (np.asarray(ivm) > 0), ivm, 0.0)
            * good).astype(np.float32)


#: The values of ``final_wht_type``: ``(chip, good, error, ivm) -> weights``.
WEIGHT_TYPES: Registry[Callable[..., np.ndarray]] = Registry(
    "weighting scheme", ("final_wht_type",), {
        "EXP": _exposure_weights, "ERR": _error_weights, "IVM": _inverse_variance_weights})


def drizzle_exposures(exposures: Sequence[Exposure], pixel_maps: Mapping[str, PixelMap],
                      grid: OutputGrid, settings: DrizzleSettings, *,
                      science_of: Callable[[Chip, Window | None], np.ndarray],
                      weights_of: Callable[[Chip, Window | None], np.ndarray],
                      variance_of: Callable[[Chip, np.ndarray, Window | None], np.ndarray]
                      | None = None,
                      context: bool = False, separate: bool = False,
                      cutouts: Mapping[str, Box | None] | None = None,
                      region: Box | None = None,
                      input_boxes: Mapping[str, Box | None] | None = None,
                      image_ids: Sequence[int] | None = None, n_context_images: int = 0,
                      progress: ProgressCallback = no_progress
                      ) -> Iterator[DrizzledImage] | DrizzledImage:
    """Drizzle exposures onto ``grid``: one image each, or all onto one.

    With ``separate=True`` the images come from an iterator that drizzles
    each exposure when it is asked for the next image, so that a caller
    storing them one by one never holds more than one in memory.

    Every image is drizzled onto a frame of the whole grid whose memory is
    only touched where the chips land (a zeroed array's pages cost nothing
    until written), then the part asked for is cut out: the pixel kernels
    run exactly as on the whole grid, so a cutout or a region holds the
    same values, to the last bit, as the same pixels of a whole-grid image.

    Parameters
    ----------
    exposures : sequence of Exposure
        In context order (image ``i`` sets context bit ``i``).
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto ``grid``.
    grid : OutputGrid
    settings : DrizzleSettings
    science_of : callable
        ``science_of(chip, window)``: the chip's data to drizzle
        (sky-subtracted, processing units), only the part ``window``
        (``(rows, columns)`` slices) when it is not None: with
        ``input_boxes``, a chip is read only where it can reach the region.
    weights_of : callable
        ``weights_of(chip, window)``: the chip's per-pixel weight map (see
        :func:`chip_weight_map`), or its part ``window``.
    variance_of : callable, optional
        ``variance_of(chip, science, window)``: the variance of the chip's
        data as ``science_of`` gave it (see :func:`input_variance`); needed
        when ``settings.error`` asks for the error image, unused otherwise.
    context : bool
        Build a context image (final drizzle).
    separate : bool
        True: an iterator of one :class:`DrizzledImage` per exposure; False:
        a single one.
    cutouts : mapping, optional
        ``separate=True``: exposure file name -> the part of the grid its
        image keeps (a box holding every pixel its chips reach; None: the
        exposure reaches nothing).  Without it, whole-grid images.
    region : Box, optional
        ``separate=False``: the part of the grid to make (a tile); None: all.
    input_boxes : mapping, optional
        ``chip.name`` -> the chip pixels that can reach ``region`` (None: the
        chip reaches nothing there, and is skipped); chips missing from it
        are drizzled whole.  See :func:`multidrizzle.model.plan.input_box`.
    image_ids : sequence of int, optional
        Each exposure's number in the context image (default 0, 1, ...):
        the exposures of a tile are a few of the whole run's.
    n_context_images : int
        How many exposures the context image records (default: these).
    progress : callable
        ``progress(done, total, label)`` after each chip (see
        :mod:`multidrizzle.progress`); the total counts the chips of every
        exposure.
    """
    chips_done = ProgressCounter(sum(len(exposure.chips) for exposure in exposures), progress)
    if settings.error and variance_of is None:
        raise ValueError("drizzle_exposures: settings.error asks for an error image; "
                         "give variance_of")
    if separate and settings.error:
        raise ValueError("drizzle_exposures: the separate drizzle makes no error image")
    if separate:
        return _drizzle_one_by_one(exposures, pixel_maps, grid, settings,
                                   science_of=science_of, weights_of=weights_of,
                                   chips_done=chips_done, cutouts=cutouts)
    frame = _new_frame(grid, max(len(exposures), n_context_images), context, settings.error)
    # only the region's rows are kept: the kernels need not drizzle pixels whose
    # drops land only elsewhere (the region's rows get the same values)
    out_rows = None if region is None else (region.y0, region.y1 - 1)
    for image_id, exposure in zip(image_ids or range(len(exposures)), exposures):
        _add_exposure(exposure, image_id, pixel_maps, grid, settings, frame, science_of,
                      weights_of, chips_done, input_boxes, variance_of, out_rows)
    return _finished(frame, region, settings)


def _drizzle_one_by_one(exposures, pixel_maps, grid, settings, *, science_of,
                        weights_of, chips_done: ProgressCounter,
                        cutouts: Mapping[str, Box | None] | None) -> Iterator[DrizzledImage]:
    for exposure in exposures:
        frame = _new_frame(grid, 1, False)
        _add_exposure(exposure, 0, pixel_maps, grid, settings, frame, science_of, weights_of,
                      chips_done, None)
        cutout = None if cutouts is None else cutouts[exposure.filename.name]
        if cutouts is not None and cutout is None:
            cutout = Box(0, 0, 0, 0)  # the exposure reaches no pixel of the grid
        yield _finished(frame, cutout, settings)


def _add_exposure(exposure: Exposure, image_id: int, pixel_maps: Mapping[str, PixelMap],
                  grid: OutputGrid, settings: DrizzleSettings, target: DrizzledImage,
                  science_of: Callable[[Chip, Window | None], np.ndarray],
                  weights_of: Callable[[Chip, Window | None], np.ndarray],
                  chips_done: ProgressCounter,
                  input_boxes: Mapping[str, Box | None] | None,
                  variance_of: Callable[[Chip, np.ndarray, Window | None], np.ndarray]
                  | None = None,
                  out_rows: tuple[int, int] | None = None) -> None:
    chips_done.start()
    for chip in exposure.chips:
        boxed = input_boxes is not None and chip.name in input_boxes
        box = input_boxes[chip.name] if boxed else None
        if not boxed or box is not None:
            # a box is drizzled from a window one pixel larger on each side, so that
            # the pixel corners the kernels build from neighbouring centres are those
            # of the whole chip; only the window is read
            window = None if box is None else box.expanded(1, chip.shape)
            part = None if window is None else window.slices
            science = science_of(chip, part)
            variance = (variance_of(chip, science, part)
                        if target.variance_sum is not None else None)
            _add_chip(chip, pixel_maps[chip.name], grid, settings, settings.kernel, target,
                      image_id, science, weights_of(chip, part), box, window, variance,
                      out_rows)
        chips_done.advance(chip.name)
    target.exptime += exposure.exptime
    target.n_images += 1


def _new_frame(grid: OutputGrid, n_inputs: int, context: bool,
               error: bool = False) -> DrizzledImage:
    """Zeroed outputs on the whole grid (and variance sums if ``error``).

    ``np.zeros`` of this size gets pages the system zeroes when they are
    first written, so a frame costs memory only where the chips land; small
    pages (:mod:`multidrizzle.model.memory`), so that this is the rows the
    chips land on, not the 2 MiB huge pages around them.
    """
    return DrizzledImage(sci=sparse_zeros(grid.shape, np.float32),
                         wht=sparse_zeros(grid.shape, np.float32),
                         ctx=use_small_pages(new_context(n_inputs, grid.shape)) if context
                         else None,
                         variance_sum=sparse_zeros(grid.shape, np.float32) if error
                         else None)


#: Pixels of a band in which the error image is made from the variance sums
#: (its float64 work arrays are a few times the band, not the strip).
_ERROR_BAND_PIXELS = 2 ** 18


def _error_in_bands(variance_sum: np.ndarray, wht: np.ndarray) -> np.ndarray:
    """:func:`error_from_variance` band of rows by band of rows (the same values:
    it works pixel by pixel), so that its float64 work arrays stay small."""
    n_rows = variance_sum.shape[0]
    band = max(1, _ERROR_BAND_PIXELS // max(variance_sum.shape[1], 1))
    err = np.empty(variance_sum.shape, dtype=np.float32)
    for row in range(0, n_rows, band):
        err[row:row + band] = error_from_variance(variance_sum[row:row + band],
                                                  wht[row:row + band])
    return err


def _finished(frame: DrizzledImage, region: Box | None,
              settings: DrizzleSettings) -> DrizzledImage:
    """The part ``region`` of a drizzled frame (all of it for None), filled as asked.

    Pixels without weight get ``maskval`` (the frame started at 0: the
    kernels never read the old value of a pixel without weight, so starting
    at 0 and setting ``maskval`` afterwards is the same as starting at it),
    then ``fillval`` when given.
    """
    variance_sum = frame.variance_sum
    if region is None:
        sci, wht, ctx = frame.sci, frame.wht, frame.ctx
    elif region.x0 == 0 and region.x1 == frame.sci.shape[1]:
        # whole rows (a final strip): views, not copies; the frame's pages outside
        # the strip were never written and cost nothing
        rows = slice(region.y0, region.y1)
        sci, wht = frame.sci[rows], frame.wht[rows]
        ctx = None if frame.ctx is None else frame.ctx[:, rows]
        if variance_sum is not None:
            variance_sum = variance_sum[rows]
    else:
        rows, columns = region.slices
        sci, wht = frame.sci[rows, columns].copy(), frame.wht[rows, columns].copy()
        ctx = None if frame.ctx is None else frame.ctx[:, rows, columns].copy()
        if variance_sum is not None:
            variance_sum = variance_sum[rows, columns]
    err = None if variance_sum is None else _error_in_bands(variance_sum, wht)
    if settings.maskval != 0.0:
        sci[wht == 0] = np.float32(settings.maskval)
    finalize_fill(sci, wht, settings.fillval)
    return DrizzledImage(sci=sci, wht=wht, ctx=ctx, exptime=frame.exptime,
                         n_images=frame.n_images, box=region, err=err)


def _add_chip(chip: Chip, pixel_map: PixelMap, grid: OutputGrid, settings: DrizzleSettings,
              kernel: str, target: DrizzledImage, image_id: int, science: np.ndarray,
              weights: np.ndarray, input_box: Box | None = None, window: Box | None = None,
              variance: np.ndarray | None = None,
              out_rows: tuple[int, int] | None = None) -> None:
    """Drizzle one chip (or the pixels ``input_box`` of it) onto ``target``, of which
    only the rows ``out_rows`` are read (None: all).

    With ``input_box``, ``science``, ``weights`` and ``variance`` hold the
    chip's part ``window`` (a box around ``input_box``), whole chips otherwise.
    """
    ratio = grid.scale / native_scale(chip)
    if input_box is None:
        pixmap, box = pixel_map.evaluate(), {}
    else:
        rows, columns = input_box.relative_to(window)
        pixmap = pixel_map.evaluate(window.slices)
        box = dict(xmin=columns.start, xmax=columns.stop - 1, ymin=rows.start,
                   ymax=rows.stop - 1)
    drizzle_add_image(
        science, pixmap, target.sci, target.wht, target.ctx,
        image_id=image_id, weight_map=weights, kernel=DRIZZLE_KERNELS[kernel].name,
        pixfrac=settings.pixfrac, wt_scl=weight_scale(settings.wt_scl, chip.exptime),
        exptime=chip.exptime, in_units="cps" if chip.processing_is_rate else "counts",
        iscale=ratio ** 2, pixel_scale_ratio=ratio, fillval=None, variance=variance,
        out_var=None if variance is None else target.variance_sum, out_rows=out_rows, **box)


# ---------------------------------------------------------------------------
# the steps


def subtract_sky(chip: Chip, sky: SkyResult | None, window: Window | None = None
                 ) -> np.ndarray:
    """The chip's data (or its ``window``) in processing units with its subtracted sky
    removed (a copy)."""
    science = chip.read_science(window)
    if sky is not None and sky.subtract:
        science -= np.float32(sky.subtracted(chip))
    return science


def _static_mask_of(static_masks: Mapping[tuple, np.ndarray] | None,
                    chip: Chip) -> np.ndarray | None:
    return None if static_masks is None else static_masks.get(chip.signature)


def _part(image: Any, window: Window | None) -> Any:
    """``image[window]`` of an array or a stored image (the whole image for None; None
    stays None)."""
    return image if image is None or window is None else image[window]


@dataclass(frozen=True)
class SeparateDrizzleSettings:
    """The separate drizzle's parameters (named and meant as the session's)."""

    driz_sep_kernel: str
    driz_sep_pixfrac: float
    driz_sep_wt_scl: str | float
    driz_sep_fillval: float | None
    driz_sep_bits: int | None

    def drizzle(self) -> DrizzleSettings:
        return DrizzleSettings(kernel=effective_kernel(self.driz_sep_kernel,
                                                       self.driz_sep_pixfrac),
                               pixfrac=self.driz_sep_pixfrac, wt_scl=self.driz_sep_wt_scl,
                               fillval=self.driz_sep_fillval, bits=self.driz_sep_bits)


@dataclass(frozen=True)
class SeparateDrizzleInputs:
    """What the separate drizzle works on.

    Attributes
    ----------
    exposures : tuple of Exposure
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto ``grid``.
    grid : OutputGrid
        The separate-drizzle grid.
    settings : SeparateDrizzleSettings
    sky : SkyResult or None
        The sky step's result; subtracted when it says so.
    static_masks : mapping or None
        The static-mask step's result.
    cutouts : mapping or None
        Exposure file name -> the part of the grid its image keeps (see
        :func:`drizzle_exposures`); None: whole-grid images.
    """

    exposures: tuple[Exposure, ...]
    pixel_maps: Mapping[str, PixelMap]
    grid: OutputGrid
    settings: SeparateDrizzleSettings
    sky: SkyResult | None = None
    static_masks: Mapping[tuple, np.ndarray] | None = None
    cutouts: Mapping[str, Box | None] | None = None


def run_driz_separate(inputs: SeparateDrizzleInputs,
                      progress: ProgressCallback = no_progress) -> Iterator[DrizzledImage]:
    """Each exposure alone on the separate grid, made one at a time as they are asked for."""
    settings = inputs.settings.drizzle()
    return drizzle_exposures(
        inputs.exposures, inputs.pixel_maps, inputs.grid, settings,
        science_of=lambda chip, window: subtract_sky(chip, inputs.sky, window),
        weights_of=lambda chip, window: chip_weight_map(
            chip, chip.read_dq(window), settings.bits,
            static_mask=_part(_static_mask_of(inputs.static_masks, chip), window)),
        separate=True, cutouts=inputs.cutouts, progress=progress)


@dataclass(frozen=True)
class FinalDrizzleSettings:
    """The final drizzle's parameters (named and meant as the session's)."""

    final_kernel: str
    final_pixfrac: float
    final_wt_scl: str | float
    final_fillval: float | None
    final_maskval: float | None
    final_bits: int | None
    final_wht_type: str
    context: bool
    final_err: bool = True

    def drizzle(self) -> DrizzleSettings:
        # AstroDrizzle starts the final image at final_maskval, None meaning NaN
        return DrizzleSettings(kernel=effective_kernel(self.final_kernel, self.final_pixfrac),
                               pixfrac=self.final_pixfrac, wt_scl=self.final_wt_scl,
                               fillval=self.final_fillval, bits=self.final_bits,
                               maskval=np.nan if self.final_maskval is None
                               else float(self.final_maskval), error=bool(self.final_err))


@dataclass(frozen=True)
class FinalDrizzleInputs:
    """What the final drizzle works on.

    Attributes
    ----------
    exposures : tuple of Exposure
        In context order (image ``i`` sets context bit ``i``).
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto ``grid``.
    grid : OutputGrid
        The output grid.
    settings : FinalDrizzleSettings
    sky : SkyResult or None
    static_masks : mapping or None
    cr_masks : mapping or None
        ``chip.name`` -> cosmic-ray mask (True = cosmic ray), the driz_cr
        step's result: an array, or anything ``np.asarray`` reads into one
        (the session passes the masks' ``_crmask`` files).
    region : Box or None
        The part of the grid to make (a tile); None: the whole grid.
    input_boxes : mapping or None
        ``chip.name`` -> the chip pixels that can reach ``region`` (None:
        none can); see :func:`drizzle_exposures`.
    image_ids : tuple of int or None
        Each exposure's number in the context image, when ``exposures`` are
        only those that reach ``region``; None: 0, 1, ...
    n_images : int
        Exposures of the whole run (the context image's), 0: these.
    """

    exposures: tuple[Exposure, ...]
    pixel_maps: Mapping[str, PixelMap]
    grid: OutputGrid
    settings: FinalDrizzleSettings
    sky: SkyResult | None = None
    static_masks: Mapping[tuple, np.ndarray] | None = None
    cr_masks: Mapping[str, np.ndarray] | None = None
    region: Box | None = None
    input_boxes: Mapping[str, Box | None] | None = None
    image_ids: tuple[int, ...] | None = None
    n_images: int = 0


def final_weights(exposure: Exposure, chip: Chip, inputs: FinalDrizzleInputs,
                  window: Window | None = None) -> np.ndarray:
    """A chip's weights (or those of its part ``window``) in the final drizzle: good
    pixels x ``final_wht_type``."""
    wht_type = WEIGHT_TYPES.canonical(inputs.settings.final_wht_type)
    error = ivm = None
    if wht_type == "ERR":
        error = chip.read_error(window)
    elif wht_type == "IVM":
        ivm = _part(exposure.read_ivm(chip), window)
        if ivm is None:
            ivm = background_ivm(chip, 0.0 if inputs.sky is None else inputs.sky.native(chip))
    cr_mask = None if inputs.cr_masks is None else inputs.cr_masks.get(chip.name)
    if cr_mask is not None:   # an array, or its _crmask file (read here)
        cr_mask = np.asarray(_part(cr_mask, window), dtype=bool)
    return chip_weight_map(chip, chip.read_dq(window), inputs.settings.final_bits,
                           static_mask=_part(_static_mask_of(inputs.static_masks, chip),
                                             window),
                           cr_mask=cr_mask, wht_type=wht_type, error=error, ivm=ivm)


def run_driz_combine(inputs: FinalDrizzleInputs,
                     progress: ProgressCallback = no_progress) -> DrizzledImage:
    """Every exposure onto the final grid, cosmic rays and bad pixels weighted out.

    With ``final_err`` the result's ``err`` is the propagated standard
    deviation of ``sci`` (see :func:`input_variance` for the inputs' variance).
    """
    exposure_of = {chip.name: exposure for exposure in inputs.exposures
                   for chip in exposure.chips}
    return drizzle_exposures(
        inputs.exposures, inputs.pixel_maps, inputs.grid, inputs.settings.drizzle(),
        science_of=lambda chip, window: subtract_sky(chip, inputs.sky, window),
        weights_of=lambda chip, window: final_weights(exposure_of[chip.name], chip, inputs,
                                                      window),
        variance_of=lambda chip, science, window: input_variance(chip, science, inputs.sky,
                                                                 window),
        context=bool(inputs.settings.context), separate=False, region=inputs.region,
        input_boxes=inputs.input_boxes, image_ids=inputs.image_ids,
        n_context_images=inputs.n_images, progress=progress)
