"""Step 4: combine the separate drizzles into the median image.

The separate drizzles (one per input exposure, all on the same output grid)
are combined pixel by pixel into the "truth" image used to find cosmic rays.
The images are read in bands of whole rows, so that they may be numpy memmaps
of files on disk and the temporary stack stays near ``combine_bufsize`` MiB
per image whatever the image size (AstroDrizzle reads "sections" of at most
1 MiB per image in the same way).

Bad-pixel masks (``drizzlepac/createMedian.py``)
------------------------------------------------
``median_newmasks=True``: a pixel of image ``i`` is excluded where its weight
is below ``combine_maskpt`` times the *mean* of image ``i``'s weights that are
``>= 1e-8`` (AstroDrizzle: ``ImageStats(weight, lower=1e-8, fields='mean',
nclip=0).mean * maskpt`` and ``weight < threshold``; the mean, not the median,
despite what the parameter help suggests).

``median_newmasks=False``: AstroDrizzle then uses no mask at all, so the fill
values of pixels an image does not cover enter the combination (and minmed
takes them as the minimum; it prints a warning).  Here only pixels that carry
no data are excluded: zero weight.

In both cases pixels with a weight that is zero, negative or not finite, and
values that are not finite, are always excluded: they hold a drizzle fill
value, not a measurement.  The thresholds ``combine_lthresh`` /
``combine_hthresh`` (in the units of the separate drizzles) exclude further
values, for every combine type (AstroDrizzle's minmed ignores them).

Units
-----
Only ``minmed`` cares: its noise model needs electrons.  ``units`` says
whether the separate drizzles are per second (``'cps'``, what AstroDrizzle's
separate drizzle always writes) or per exposure (``'counts'``), and ``gains``
how many electrons one unit of each image is: 1 (the default) for electrons,
the detector gain for DN.  The combined image stays in the units of the
separate drizzles whatever the gains; they only scale the noise model.
``sky_values_electrons`` is the sky subtracted from each image in electrons
per separate-drizzle pixel (AstroDrizzle: the lowest sky of the image's chips
times the chip's conversion factor), ``read_noises`` each image's read noise in
electrons (AstroDrizzle: the root mean square over its chips).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from multidrizzle.errors import ParameterError
from multidrizzle.kernels.combine import (
    COMBINE_UNITS,
    Combination,
    checked_gains,
    mean_combine,
    median_combine,
    minmed_combine,
)
from multidrizzle.model import Exposure
from multidrizzle.model.plan import Box
from multidrizzle.steps.drizzle import DrizzledImage
from multidrizzle.steps.registry import Registry
from multidrizzle.steps.sky import SkyResult
from multidrizzle.progress import ProgressCallback, no_progress, tracked

__all__ = ["COMBINE_TYPES", "CombineType", "MedianResult", "create_median",
           "weight_mask_thresholds", "weight_threshold", "MedianSettings", "MedianInputs",
           "minmed_noise_terms", "median_thresholds", "run_median"]

log = logging.getLogger(__name__)


#: AstroDrizzle's section buffer, in MiB, when ``combine_bufsize`` is None.
DEFAULT_BUFSIZE_MIB = 1.0

#: Weights below this are left out of the mean weight (ImageStats ``lower``).
MEAN_WEIGHT_FLOOR = 1.0e-8

_MIB = 1024 * 1024
_BYTES_PER_VALUE = 4  # float32 separate drizzles


@dataclass(frozen=True)
class MedianResult:
    """The median image and what went into it.

    Attributes
    ----------
    median : numpy.ndarray
        The combined image, float32, ``(ny, nx)``.
    masks : numpy.ndarray or None
        ``(n_images, ny, nx)`` bool, True where a pixel of an image was
        excluded by its weight (``keep_masks=True`` only; None otherwise, to
        save ``n_images`` bytes per pixel).  Values rejected by the thresholds
        or for not being finite are not included; ``good_counts`` includes
        them.
    good_counts : numpy.ndarray
        Number of values that entered each pixel's combination, int16.
    weight_thresholds : numpy.ndarray
        Per-image weight below which pixels were excluded (0 when
        ``median_newmasks`` is False: only non-positive weights excluded).
    masked_fractions : numpy.ndarray
        Per-image fraction of pixels excluded by weight.
    filled_pixels : int
        Pixels without any good value (``fillval``, or the last image's value
        for the 'i' combine types).
    minimum_pixels : int or None
        minmed: pixels where the minimum replaced the median (for a region
        of the grid, counted over the region and its ``combine_grow`` halo
        columns); None otherwise.
    combine_type : str
        The combine type used.
    section_rows : int
        Rows of output produced per section (band) of the images.
    n_sections : int
        Number of sections.
    """

    median: np.ndarray
    masks: np.ndarray | None
    good_counts: np.ndarray
    weight_thresholds: np.ndarray
    masked_fractions: np.ndarray
    filled_pixels: int
    minimum_pixels: int | None
    combine_type: str
    section_rows: int
    n_sections: int


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

def _image_shape(single_images: Sequence[np.ndarray],
                 single_weights: Sequence[np.ndarray]) -> tuple[int, int]:
    """Common 2-D shape of every image and weight; ParameterError otherwise."""
    if len(single_images) == 0:
        raise ParameterError("single_images is empty: the median needs at least one image.")
    if len(single_weights) != len(single_images):
        raise ParameterError(
            f"single_weights needs one weight image per single image "
            f"({len(single_images)}); got {len(single_weights)}.")
    shape = np.shape(single_images[0])
    if len(shape) != 2:
        raise ParameterError(f"single_images[0] must be 2-D; got shape {shape}.")
    for name, arrays in (("single_images", single_images), ("single_weights", single_weights)):
        for index, array in enumerate(arrays):
            if np.shape(array) != shape:
                raise ParameterError(
                    f"{name}[{index}] has shape {np.shape(array)}; every single image and "
                    f"weight must have the shape of single_images[0], {shape}.")
    return shape


def _bufsize_bytes(combine_bufsize: float | None) -> float:
    if combine_bufsize is None:
        return DEFAULT_BUFSIZE_MIB * _MIB
    size = float(combine_bufsize)
    if not math.isfinite(size) or size <= 0:
        raise ParameterError(
            f"combine_bufsize must be a positive number of MiB or None; got {combine_bufsize!r}.")
    return size * _MIB


def _minmed_noise_inputs(n_images: int, exptimes, sky_values_electrons,
                         read_noises) -> None:
    """minmed needs exposure times, skies and read noises; check they were given."""
    missing = [name for name, value in (("exptimes", exptimes),
                                        ("sky_values_electrons", sky_values_electrons),
                                        ("read_noises", read_noises)) if value is None]
    if missing:
        raise ParameterError(
            f"combine_type minmed needs {', '.join(missing)} (one value per image, "
            f"{n_images} images) for its noise model.")


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Section:
    """Rows ``[read_start, read_stop)`` are read to produce ``[start, stop)``."""

    start: int
    stop: int
    read_start: int
    read_stop: int


def _output_rows_per_section(n_cols: int, bufsize_bytes: float, halo: int) -> int:
    """Rows produced per section: the buffer's rows minus the halo on both sides.

    At least one row is produced (the buffer then grows to hold it and its
    halo; AstroDrizzle instead shrinks ``combine_grow``, which changes the
    result).
    """
    buffer_rows = int(bufsize_bytes // (n_cols * _BYTES_PER_VALUE))
    return max(buffer_rows - 2 * halo, 1)


def _sections(n_rows: int, rows_per_section: int, halo: int) -> Iterator[_Section]:
    """Consecutive sections covering every row, each read with ``halo`` extra rows."""
    for start in range(0, n_rows, rows_per_section):
        stop = min(start + rows_per_section, n_rows)
        yield _Section(start, stop, max(start - halo, 0), min(stop + halo, n_rows))


def _read_band(arrays: Sequence[np.ndarray], section: _Section,
               buffer: np.ndarray) -> np.ndarray:
    """Rows of every array into a C-contiguous float32 ``(n, rows, nx)`` view of ``buffer``."""
    n_rows = section.read_stop - section.read_start
    n_cols = np.shape(arrays[0])[1]
    band = buffer[: len(arrays) * n_rows * n_cols].reshape(len(arrays), n_rows, n_cols)
    for index, array in enumerate(arrays):
        band[index] = array[section.read_start:section.read_stop]
    return band


# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------

def _mean_weight(weight: np.ndarray, rows_per_chunk: int) -> float:
    """Mean of the weights ``>= MEAN_WEIGHT_FLOOR``, read a few rows at a time; 0 if none."""
    total = 0.0
    count = 0
    for start in range(0, weight.shape[0], rows_per_chunk):
        chunk = np.asarray(weight[start:start + rows_per_chunk])
        usable = chunk >= MEAN_WEIGHT_FLOOR
        total += float(np.sum(chunk, where=usable, dtype=np.float64))
        count += int(np.count_nonzero(usable))
    return total / count if count else 0.0


def weight_mask_thresholds(
    single_weights: Sequence[np.ndarray],
    *,
    combine_maskpt: float = 0.3,
    median_newmasks: bool = True,
    combine_bufsize: float | None = None,
) -> np.ndarray:
    """Per-image weight below which a pixel is left out of the median.

    Parameters
    ----------
    single_weights : sequence of 2-D arrays
        Separate-drizzle weight images (memmaps are read in row chunks).
    combine_maskpt : float
        Fraction of the mean weight (AstroDrizzle's rule; see module docstring).
    median_newmasks : bool
        False: thresholds are 0 and only non-positive weights are excluded.
    combine_bufsize : float or None
        MiB read at a time per image (None: 1 MiB).

    Returns
    -------
    numpy.ndarray
        float64, one threshold per image.  A pixel is excluded where
        ``weight < threshold`` or ``weight <= 0`` or the weight is not finite.
    """
    maskpt = float(combine_maskpt)
    if not math.isfinite(maskpt) or maskpt < 0:
        raise ParameterError(
            f"combine_maskpt must be a non-negative number; got {combine_maskpt!r}.")
    if not median_newmasks:
        return np.zeros(len(single_weights), dtype=np.float64)
    bufsize = _bufsize_bytes(combine_bufsize)
    thresholds = []
    for weight in single_weights:
        rows = max(int(bufsize // (max(np.shape(weight)[1], 1) * _BYTES_PER_VALUE)), 1)
        thresholds.append(maskpt * _mean_weight(weight, rows))
    return np.asarray(thresholds, dtype=np.float64)


def weight_threshold(single: DrizzledImage, grid_shape: tuple[int, int], *,
                     combine_maskpt: float = 0.3, median_newmasks: bool = True,
                     combine_bufsize: float | None = None) -> float:
    """One separate drizzle's weight threshold, whether it holds the grid or a cutout.

    The same value, to the last bit, as :func:`weight_mask_thresholds` gives
    for the whole-grid image: the mean is summed over the same chunks of
    whole rows, with zeros where a cutout has no pixels (the weight of a
    separate drizzle outside its cutout).
    """
    if single.box is None:
        return float(weight_mask_thresholds([single.wht], combine_maskpt=combine_maskpt,
                                            median_newmasks=median_newmasks,
                                            combine_bufsize=combine_bufsize)[0])
    maskpt = float(combine_maskpt)
    if not math.isfinite(maskpt) or maskpt < 0:
        raise ParameterError(
            f"combine_maskpt must be a non-negative number; got {combine_maskpt!r}.")
    if not median_newmasks:
        return 0.0
    n_rows, n_cols = grid_shape
    rows_per_chunk = max(int(_bufsize_bytes(combine_bufsize)
                             // (max(n_cols, 1) * _BYTES_PER_VALUE)), 1)
    box = single.box
    total, count = 0.0, 0
    first_chunk = box.y0 // rows_per_chunk * rows_per_chunk
    for start in range(first_chunk, box.y1, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_rows)
        chunk = np.zeros((stop - start, n_cols), dtype=np.float32)
        inside = Box(start, stop, 0, n_cols).intersection(box)
        if inside is not None:
            chunk[inside.relative_to(Box(start, stop, 0, n_cols))] = \
                np.asarray(single.wht[inside.relative_to(box)])
        usable = chunk >= MEAN_WEIGHT_FLOOR
        total += float(np.sum(chunk, where=usable, dtype=np.float64))
        count += int(np.count_nonzero(usable))
    return maskpt * (total / count if count else 0.0)


def _weight_masks(weights: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """True where a weight is below its image's threshold, non-positive or not finite."""
    usable = weights > 0
    usable &= weights >= thresholds[:, None, None]
    return ~usable


# ---------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------

def _minmed_band(images: np.ndarray, bad: np.ndarray, weights: np.ndarray, options: dict,
                 fill_with_last: bool) -> Combination:
    return minmed_combine(images, bad, weights, exptimes=options["exptimes"],
                          sky_electrons=options["sky_values_electrons"],
                          read_noises=options["read_noises"], units=options["units"],
                          gains=options["gains"], nsigma=options["nsigma"],
                          grow=options["grow"], lthresh=options["lthresh"],
                          hthresh=options["hthresh"], fill_with_last=fill_with_last,
                          fillval=options["fillval"], n_total=options["n_total"])


def _rejecting_band(combine: Callable[..., Combination]) -> Callable[..., Combination]:
    """A band function for a kernel that rejects ``nlow``/``nhigh`` extreme values."""
    def band(images: np.ndarray, bad: np.ndarray, weights: np.ndarray, options: dict,
             fill_with_last: bool) -> Combination:
        return combine(images, bad, nlow=options["nlow"], nhigh=options["nhigh"],
                       lthresh=options["lthresh"], hthresh=options["hthresh"],
                       fill_with_last=fill_with_last, fillval=options["fillval"])
    return band


@dataclass(frozen=True)
class CombineType:
    """A value of ``combine_type``.

    Attributes
    ----------
    name : str
    combine_band : callable
        ``(images, bad, weights, options, fill_with_last) -> Combination`` on
        one band of the stack (see :mod:`multidrizzle.kernels.combine`).
    is_mean : bool
        The result is a mean of the inputs (else a median): sets the
        variance of the combination relative to one input, which the
        cosmic-ray test uses.
    fill_with_last : bool
        Pixels without a good value take the last image's value (the 'i'
        types) instead of ``fillval``.
    uses_grow : bool
        ``combine_grow`` applies (minmed); the others ignore it, as
        AstroDrizzle does.
    needs_noise_model : bool
        Needs each image's exposure time, sky, read noise and gain.
    """

    name: str
    combine_band: Callable[..., Combination]
    is_mean: bool
    fill_with_last: bool
    uses_grow: bool
    needs_noise_model: bool


_median_band = _rejecting_band(median_combine)
_mean_band = _rejecting_band(mean_combine)

#: The values of ``combine_type``.
COMBINE_TYPES: Registry[CombineType] = Registry("combine type", ("combine_type",), {
    "median": CombineType("median", _median_band, False, False, False, False),
    "mean": CombineType("mean", _mean_band, True, False, False, False),
    "minmed": CombineType("minmed", _minmed_band, False, False, True, True),
    "imedian": CombineType("imedian", _median_band, False, True, False, False),
    "imean": CombineType("imean", _mean_band, True, True, False, False),
    "iminmed": CombineType("iminmed", _minmed_band, False, True, True, True),
})


def create_median(
    single_images: Sequence[np.ndarray],
    single_weights: Sequence[np.ndarray],
    *,
    combine_type: str = "minmed",
    combine_maskpt: float = 0.3,
    combine_nsigma: float | Sequence[float] = (4.0, 3.0),
    combine_nlow: int = 0,
    combine_nhigh: int = 0,
    combine_lthresh: float | None = None,
    combine_hthresh: float | None = None,
    combine_grow: int = 1,
    combine_bufsize: float | None = None,
    median_newmasks: bool = True,
    exptimes: Sequence[float] | None = None,
    sky_values_electrons: Sequence[float] | None = None,
    read_noises: Sequence[float] | None = None,
    units: str = "cps",
    gains: Sequence[float] | None = None,
    fillval: float = 0.0,
    keep_masks: bool = False,
    weight_thresholds: Sequence[float] | None = None,
    n_images_total: int | None = None,
    progress: ProgressCallback = no_progress,
) -> MedianResult:
    """Combine the separate drizzles into the median image, section by section.

    Parameters
    ----------
    single_images : sequence of 2-D arrays
        Separate drizzles on one output grid (arrays or memmaps; only whole
        rows are sliced, converted to float32).  Order matters only for the
        'i' combine types, which fall back on the *last* image.
    single_weights : sequence of 2-D arrays
        Their weight images, same shape.
    combine_type : {'median', 'mean', 'minmed', 'imedian', 'imean', 'iminmed'}
        Combination (see :mod:`multidrizzle.kernels.combine`).
    combine_maskpt : float
        Fraction of an image's mean weight below which its pixels are excluded.
    combine_nsigma : float or (float, float)
        minmed significance, first pass and grow pass.
    combine_nlow, combine_nhigh : int
        Lowest / highest values rejected per pixel (median, mean only).
    combine_lthresh, combine_hthresh : float or None
        Values ``< lthresh`` or ``>= hthresh`` are excluded.
    combine_grow : int
        minmed grow radius, pixels; ignored by the other types.
    combine_bufsize : float or None
        MiB of each image read per section (None: 1 MiB).  minmed reads
        ``combine_grow`` extra rows on each side of a section, so the result
        does not depend on the buffer size.  Peak temporary memory is about
        ``n_images`` x 2.5 x bufsize (images, weights, masks) plus the
        kernel's work arrays (2 x bufsize, 12 x bufsize for minmed); the
        outputs are one float32 and one int16 image of full size.
    median_newmasks : bool
        Build masks from the weights (True) or exclude only zero weights.
    exptimes, sky_values_electrons, read_noises : sequence of float or None
        Per image: exposure time (s), subtracted sky (electrons per drizzled
        pixel), read noise (electrons).  Required for minmed only.
    units : {'cps', 'counts'}
        Whether the separate drizzles are per second or per exposure.
    gains : sequence of float or None
        Per image: electrons per unit of its values (the gain, e-/DN, for
        images in DN or DN/s).  None: every image is in electrons (or
        electrons/s).  Used by minmed's noise model only; the combined image
        keeps the units of the images.
    fillval : float
        Value of pixels without any good value (AstroDrizzle: 0).
    keep_masks : bool
        Return the per-image weight masks in ``MedianResult.masks``.
    weight_thresholds : sequence of float, optional
        The images' weight thresholds, computed beforehand (a tile of a
        larger grid takes those of the whole images, see
        :func:`weight_threshold`); None: computed here from the images.
    n_images_total : int, optional
        How many images the whole combination has when these are only those
        that reach a tile (minmed's rule for two images); None: these.
    progress : callable
        ``progress(done, total, label)`` after each band of rows (see
        :mod:`multidrizzle.progress`).

    Returns
    -------
    MedianResult

    Raises
    ------
    multidrizzle.errors.ParameterError
        Shapes differ, a parameter is out of range, or minmed lacks its
        per-image noise inputs (or they are not one positive number per
        image).
    """
    n_rows, n_cols = _image_shape(single_images, single_weights)
    n_images = len(single_images)
    kind = COMBINE_TYPES[combine_type]
    if units not in COMBINE_UNITS:
        raise ParameterError(f"units must be one of {COMBINE_UNITS}; got {units!r}.")
    checked_gains(gains, n_images)  # refused for every combine type, used by minmed
    if kind.needs_noise_model:
        _minmed_noise_inputs(n_images, exptimes, sky_values_electrons, read_noises)
    if int(combine_grow) != combine_grow or combine_grow < 0:
        raise ParameterError(f"combine_grow must be a non-negative integer; got {combine_grow!r}.")
    # AstroDrizzle sets grow to 0 for the combine types that do not use it.
    grow = int(combine_grow) if kind.uses_grow else 0
    options = dict(exptimes=exptimes, sky_values_electrons=sky_values_electrons,
                   read_noises=read_noises, units=units, gains=gains, nsigma=combine_nsigma,
                   grow=grow, nlow=combine_nlow, nhigh=combine_nhigh,
                   lthresh=combine_lthresh, hthresh=combine_hthresh, fillval=fillval,
                   n_total=n_images_total)

    bufsize = _bufsize_bytes(combine_bufsize)
    if weight_thresholds is None:
        thresholds = weight_mask_thresholds(single_weights, combine_maskpt=combine_maskpt,
                                            median_newmasks=median_newmasks,
                                            combine_bufsize=combine_bufsize)
    else:
        thresholds = np.asarray(weight_thresholds, dtype=np.float64)
        if thresholds.shape != (n_images,):
            raise ParameterError(f"weight_thresholds: expected {n_images} values, one per "
                                 f"image; got {thresholds.shape}")
    rows_per_section = _output_rows_per_section(n_cols, bufsize, grow)
    sections = list(_sections(n_rows, rows_per_section, grow))
    log.info("median: %s of %d images %d x %d in %d sections of %d rows",
             kind.name, n_images, n_cols, n_rows, len(sections), rows_per_section)

    largest_band = min(rows_per_section + 2 * grow, n_rows) * n_cols * n_images
    image_buffer = np.empty(largest_band, dtype=np.float32)
    weight_buffer = np.empty(largest_band, dtype=np.float32)
    median = np.empty((n_rows, n_cols), dtype=np.float32)
    good_counts = np.empty((n_rows, n_cols), dtype=np.int16)
    masks = np.empty((n_images, n_rows, n_cols), dtype=bool) if keep_masks else None
    masked_pixels = np.zeros(n_images, dtype=np.int64)
    minimum_pixels = None  # stays None unless the kernel reports where it took the minimum

    for section in tracked(sections, progress,
                           label=lambda band: f"rows {band.start + 1}-{band.stop}"):
        images = _read_band(single_images, section, image_buffer)
        weights = _read_band(single_weights, section, weight_buffer)
        bad = _weight_masks(weights, thresholds)
        combination = kind.combine_band(images, bad, weights, options, kind.fill_with_last)
        core = slice(section.start - section.read_start, section.stop - section.read_start)
        median[section.start:section.stop] = combination.image[core]
        good_counts[section.start:section.stop] = combination.good_counts[core]
        masked_pixels += np.count_nonzero(bad[:, core], axis=(1, 2))
        if masks is not None:
            masks[:, section.start:section.stop] = bad[:, core]
        if combination.used_minimum is not None:
            minimum_pixels = (minimum_pixels or 0) + int(
                np.count_nonzero(combination.used_minimum[core]))

    filled = int(np.count_nonzero(good_counts == 0))
    if filled:
        log.info("median: %d pixels have no good value", filled)
    return MedianResult(
        median=median,
        masks=masks,
        good_counts=good_counts,
        weight_thresholds=thresholds,
        masked_fractions=masked_pixels / float(n_rows * n_cols),
        filled_pixels=filled,
        minimum_pixels=minimum_pixels,
        combine_type=kind.name,
        section_rows=rows_per_section,
        n_sections=len(sections),
    )


# ---------------------------------------------------------------------------
# The step on explicit inputs
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MedianSettings:
    """The median step's parameters (named and meant as the session's)."""

    combine_type: str
    combine_maskpt: float
    combine_nsigma: tuple[float, float]
    combine_nlow: int
    combine_nhigh: int
    combine_lthresh: float | None
    combine_hthresh: float | None
    combine_grow: int
    combine_bufsize: float | None
    median_newmasks: bool


@dataclass(frozen=True)
class MedianInputs:
    """What the median step works on.

    Attributes
    ----------
    exposures : tuple of Exposure
        The inputs, in the order of ``singles``.
    singles : tuple of DrizzledImage
        The separate drizzles (arrays, or images kept in files), of the whole
        grid or cutouts of it (``box``).
    settings : MedianSettings
    sky : SkyResult or None
        The sky step's result (minmed's noise model).
    grid_shape : (int, int) or None
        The separate grid's shape (needed when the singles are cutouts).
    region : Box or None
        The part of the grid to combine (a tile); None: all of it.
    thresholds : tuple of float or None
        Each single's weight threshold (:func:`weight_threshold`), computed
        once for every tile; None: computed here.
    single_fill : float
        The value of a separate drizzle where it has no weight
        (``driz_sep_fillval``, or 0), outside its cutout too.
    """

    exposures: tuple[Exposure, ...]
    singles: tuple[DrizzledImage, ...]
    settings: MedianSettings
    sky: SkyResult | None = None
    grid_shape: tuple[int, int] | None = None
    region: Box | None = None
    thresholds: tuple[float, ...] | None = None
    single_fill: float = 0.0


def minmed_noise_terms(exposures: Sequence[Exposure], sky: SkyResult | None
                       ) -> tuple[list[float], list[float], list[float]]:
    """Per exposure, minmed's sky (e-), read noise (e-) and electrons per processing unit.

    AstroDrizzle's values: the lowest sky of the exposure's chips in
    electrons, the root mean square of their read noises, and the electrons
    per processing unit (the gain for data in DN processed natively, else 1;
    the mean over the chips, which share one gain on every HST detector that
    writes DN).
    """
    sky_electrons, read_noises, gains = [], [], []
    for exposure in exposures:
        chips = exposure.chips
        sky_electrons.append(min(sky.native(c) * c.to_electrons for c in chips)
                             if sky is not None and sky.values else 0.0)
        read_noises.append(float(np.sqrt(np.mean([c.read_noise ** 2 for c in chips]))))
        # to_electrons / proc_scale: electrons per processing unit, per exposure
        # for a rate; dividing a rate's by the exposure time leaves the gain.
        gains.append(float(np.mean([c.to_electrons / c.proc_scale
                                    / (c.exptime if c.processing_is_rate else 1.0)
                                    for c in chips])))
    return sky_electrons, read_noises, gains


def median_thresholds(inputs: MedianInputs) -> tuple[float, ...]:
    """Every single's weight threshold, once per exposure (see :func:`weight_threshold`)."""
    settings = inputs.settings
    shape = _grid_shape(inputs)
    return tuple(weight_threshold(single, shape, combine_maskpt=settings.combine_maskpt,
                                  median_newmasks=settings.median_newmasks,
                                  combine_bufsize=settings.combine_bufsize)
                 for single in inputs.singles)


def _grid_shape(inputs: MedianInputs) -> tuple[int, int]:
    if inputs.grid_shape is not None:
        return tuple(inputs.grid_shape)
    return tuple(np.shape(inputs.singles[0].sci))


def _region_stack(singles: Sequence[DrizzledImage], members: Sequence[int], read: Box,
                  fill: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images and weights of ``members`` on the pixels ``read``: zero weight and the
    fill value where a cutout has no pixels."""
    images, weights = [], []
    for index in members:
        single = singles[index]
        image = np.full(read.shape, fill, dtype=np.float32)
        weight = np.zeros(read.shape, dtype=np.float32)
        if single.box is None:  # a whole-grid single
            image[...] = single.sci[read.slices]
            weight[...] = single.wht[read.slices]
        else:
            common = read.intersection(single.box)
            if common is not None:
                target, source = common.relative_to(read), common.relative_to(single.box)
                image[target] = single.sci[source]
                weight[target] = single.wht[source]
        images.append(image)
        weights.append(weight)
    return images, weights


def run_median(inputs: MedianInputs, progress: ProgressCallback = no_progress
               ) -> MedianResult:
    """The median step: the separate drizzles combined (count rates, processing units).

    The result also says how many exposures entered each pixel
    (``good_counts``), which the cosmic-ray step needs for the median's noise.

    With a ``region`` (a tile) only the singles that reach it (and the last
    one, which the 'i' combine types fall back on) are stacked, on the
    region plus the ``combine_grow`` halo; per-exposure values (weight
    thresholds, minmed's noise terms, the number of images) are those of the
    whole combination, so a tile holds the same values, to the last bit, as
    the same pixels of the whole median.
    """
    settings = inputs.settings
    sky_electrons, read_noises, gains = minmed_noise_terms(inputs.exposures, inputs.sky)
    exptimes = [exposure.exptime for exposure in inputs.exposures]
    whole_grid = inputs.region is None and all(s.box is None for s in inputs.singles)
    if whole_grid:
        return create_median(
            [single.sci for single in inputs.singles], [single.wht for single in inputs.singles],
            **dataclasses.asdict(settings), exptimes=exptimes,
            sky_values_electrons=sky_electrons, read_noises=read_noises, units="cps",
            gains=gains, fillval=0.0, weight_thresholds=inputs.thresholds,
            progress=progress)
    shape = _grid_shape(inputs)
    region = inputs.region if inputs.region is not None else Box(0, shape[0], 0, shape[1])
    kind = COMBINE_TYPES[settings.combine_type]
    halo = int(settings.combine_grow) if kind.uses_grow else 0
    read = region.expanded(halo, shape)
    thresholds = inputs.thresholds if inputs.thresholds is not None else \
        median_thresholds(inputs)
    last = len(inputs.singles) - 1
    members = [index for index, single in enumerate(inputs.singles)
               if single.box is None or read.intersection(single.box) is not None
               or (kind.fill_with_last and index == last)]
    images, weights = _region_stack(inputs.singles, members, read, inputs.single_fill)

    def pick(values: Sequence[float]) -> list[float]:
        return [values[index] for index in members]

    combined = create_median(
        images, weights, **dataclasses.asdict(settings), exptimes=pick(exptimes),
        sky_values_electrons=pick(sky_electrons), read_noises=pick(read_noises),
        units="cps", gains=pick(gains), fillval=0.0, weight_thresholds=pick(thresholds),
        n_images_total=len(inputs.singles), progress=progress) if members else None
    if combined is None:  # no single reaches the region
        return _empty_median(region, settings.combine_type, len(inputs.singles))
    core = region.relative_to(read)
    masked = np.zeros(len(inputs.singles))
    for member, weight, threshold in zip(members, weights, pick(thresholds)):
        masked[member] = np.count_nonzero(_weight_masks(
            weight[core][np.newaxis], np.array([threshold]))) / region.size
    return dataclasses.replace(
        combined, median=combined.median[core].copy(),
        good_counts=combined.good_counts[core].copy(),
        masks=None if combined.masks is None else combined.masks[:, core[0], core[1]],
        weight_thresholds=np.asarray(thresholds, dtype=np.float64), masked_fractions=masked,
        filled_pixels=int(np.count_nonzero(combined.good_counts[core] == 0)))


def _empty_median(region: Box, combine_type: str, n_images: int) -> MedianResult:
    """The median of a region no image reaches: the fill value, no input."""
    return MedianResult(median=np.zeros(region.shape, dtype=np.float32), masks=None,
                        good_counts=np.zeros(region.shape, dtype=np.int16),
                        weight_thresholds=np.zeros(n_images),
                        masked_fractions=np.ones(n_images),
                        filled_pixels=region.size, minimum_pixels=None,
                        combine_type=COMBINE_TYPES.canonical(combine_type),
                        section_rows=0, n_sections=0)
