"""Blot: resample the median image back onto each input chip."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from multidrizzle.model.geometry import OutputGrid, PixelMap, native_scale
from multidrizzle.kernels.blot import SINC_HALF_WIDTH, blot_image
from multidrizzle.kernels.pixmap import CoarsePixelMap
from multidrizzle.model import Chip
from multidrizzle.model.plan import Box
from multidrizzle.progress import ProgressCallback, no_progress, tracked
from multidrizzle.steps.registry import Registry
from multidrizzle.steps.sky import SkyResult

__all__ = ["BLOT_INTERPOLANTS", "BlotInterpolant", "BlottedChip", "blot_median",
           "blot_counts", "footprint_minimum", "blot_chips", "BlotSettings", "BlotInputs",
           "blot_sky", "run_blot"]

#: Largest count :func:`blot_counts` records (uint8).
MAX_BLOTTED_COUNT = 255


@dataclass(frozen=True)
class BlotInterpolant:
    """A value of ``blot_interp``.

    Attributes
    ----------
    name : str
        Also the name :func:`~multidrizzle.kernels.blot.blot_image` takes.
    reach : int
        Pixels of the median on each side of a sample point that the
        interpolant reads (at ``blot_sinscl=1`` for 'sinc', whose reach
        grows with it; 0 for 'nearest').
    """

    name: str
    reach: int

    def reach_at(self, sinscl: float = 1.0) -> int:
        """The reach for ``blot_sinscl`` (only 'sinc' depends on it)."""
        if self.name == "sinc":
            return int(math.ceil(SINC_HALF_WIDTH * float(sinscl)))
        return self.reach

    def halo(self, sinscl: float = 1.0) -> int:
        """Margin, in median pixels, that a window of the median keeps around a chip's
        footprint to blot it as from the whole image (the reach, and one more for
        the nearest pixel's rounding)."""
        return self.reach_at(max(float(sinscl), 1.0)) + 1


#: The values of ``blot_interp``.
BLOT_INTERPOLANTS: Registry[BlotInterpolant] = Registry("blot interpolant", ("blot_interp",), {
    "nearest": BlotInterpolant("nearest", 0),
    "linear": BlotInterpolant("linear", 1),
    "poly3": BlotInterpolant("poly3", 2),
    "poly5": BlotInterpolant("poly5", 3),
    "sinc": BlotInterpolant("sinc", int(math.ceil(SINC_HALF_WIDTH))),
})


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


def blot_counts(counts: np.ndarray, pixmap: np.ndarray | CoarsePixelMap) -> np.ndarray:
    """The number of inputs of each median pixel, seen through one chip (nearest pixel).

    Parameters
    ----------
    counts : ndarray
        Inputs per pixel of the median (``MedianResult.good_counts``); pass
        it as float32 to save a conversion per chip.
    pixmap : ndarray or CoarsePixelMap
        The chip's pixel map onto the median's grid, dense or from its nodes
        (:meth:`PixelMap.coarse <multidrizzle.model.geometry.PixelMap.coarse>`).

    Returns
    -------
    ndarray of uint8, the chip's shape
        0 where the chip maps outside the grid; at most ``MAX_BLOTTED_COUNT``.
    """
    values = np.asarray(counts, dtype=np.float32)
    blotted = blot_image(values, pixmap, interp="nearest", scale=1.0, fillval=0.0)
    np.minimum(blotted, MAX_BLOTTED_COUNT, out=blotted)
    return blotted.astype(np.uint8)


def _off_the_grid(chip: Chip, sky: float, with_counts: bool) -> BlottedChip:
    """The blot of a chip that maps onto no pixel of the median: the fill value, 0, plus
    the sky, as the kernel gives for every position off the image."""
    image = np.zeros(chip.shape, dtype=np.float32)
    if sky:
        image += np.float32(sky)
    return BlottedChip(chip.name, image,
                       np.zeros(chip.shape, dtype=np.uint8) if with_counts else None)


def blot_median(median: np.ndarray, chip: Chip,
                pixel_map: PixelMap | CoarsePixelMap | np.ndarray,
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
    pixel_map : PixelMap, CoarsePixelMap or ndarray
        The chip's map onto ``grid``, read from its nodes as the kernel goes
        (:meth:`PixelMap.coarse`, made here for a PixelMap), or evaluated.
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
    pixmap = pixel_map.coarse() if isinstance(pixel_map, PixelMap) else pixel_map
    blotted = blot_image(median, pixmap, interp=BLOT_INTERPOLANTS[interp].name, sinscl=sinscl,
                         scale=per_exposure / ratio ** 2, fillval=0.0)
    if sky:
        blotted += np.float32(sky)
    return blotted


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
        The blot interpolant's reach (:meth:`BlotInterpolant.reach_at`, >= 0).
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


def blot_chips(median: np.ndarray, chips: Sequence[Chip], pixel_maps: Mapping[str, PixelMap],
               grid: OutputGrid, *, interp: str = "poly5", sinscl: float = 1.0,
               sky_of: Callable[[Chip], float] = lambda chip: 0.0,
               counts: np.ndarray | None = None, counts_reach: int = 0,
               windows: Mapping[str, Box | None] | None = None,
               progress: ProgressCallback = no_progress) -> Iterator[BlottedChip]:
    """The median blotted onto every chip, made one chip at a time as they are asked for.

    With ``windows``, each chip reads only the window of the median (and of
    ``counts``) that its pixels map into plus the interpolant's halo
    (:meth:`BlotInterpolant.halo`): the positions are shifted by the window's
    origin, an integer, which changes none of their fractions, so the result
    is the same, to the last bit, as from the whole median.

    Parameters
    ----------
    median : ndarray
        Median image on ``grid`` (see :func:`blot_median`).
    chips : sequence of Chip
        The chips to blot onto, in order.
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto ``grid``; the kernels evaluate it from
        its nodes row by row (no dense map), for the median and ``counts``.
    grid : OutputGrid
    interp, sinscl
        ``blot_interp`` and ``blot_sinscl``.
    sky_of : callable
        The value added to a chip's blotted median (see :func:`blot_median`).
    counts : ndarray, optional
        Exposures behind each median pixel, blotted with :func:`blot_counts`
        (float32 saves a conversion per chip).
    counts_reach : int
        Take the fewest of ``counts`` within this many pixels first
        (:func:`footprint_minimum`), on each chip's window (0: as given).
    windows : mapping, optional
        ``chip.name`` -> the window of the median the chip needs (None: it
        maps onto no pixel of the grid); without it, the whole median.
    progress : callable
        ``progress(done, total, label)`` after each chip (see
        :mod:`multidrizzle.progress`).

    Yields
    ------
    BlottedChip
    """
    for chip in tracked(chips, progress, label=lambda chip: chip.name):
        window = None if windows is None else windows[chip.name]
        if windows is not None and window is None:
            yield _off_the_grid(chip, sky_of(chip), counts is not None)
            continue
        part, part_counts = median, counts
        offset = (0.0, 0.0)
        if window is not None:
            part = np.asarray(median[window.slices], dtype=np.float32)
            part_counts = None if counts is None else counts[window.slices]
            offset = (window.x0, window.y0)  # exact: integers off positions on the window
        pixmap = pixel_maps[chip.name].coarse(offset)
        if part_counts is not None and counts_reach:
            # exact on a window: the pixels a chip reads are a halo away from its edges
            part_counts = footprint_minimum(part_counts, counts_reach)
        image = blot_median(part, chip, pixmap, grid, interp=interp, sinscl=sinscl,
                            sky=sky_of(chip))
        yield BlottedChip(chip.name, image,
                          None if part_counts is None else blot_counts(part_counts, pixmap))


# ---------------------------------------------------------------------------
# the step


@dataclass(frozen=True)
class BlotSettings:
    """The blot step's parameters (named and meant as the session's)."""

    blot_interp: str
    blot_sinscl: float
    blot_addsky: bool
    blot_skyval: float


@dataclass(frozen=True)
class BlotInputs:
    """What the blot step works on.

    Attributes
    ----------
    chips : tuple of Chip
        The chips to blot onto, in order.
    median : array-like
        The median on ``grid`` (an array, or an image kept in a file).
    pixel_maps : mapping
        ``chip.name`` -> PixelMap onto ``grid``.
    grid : OutputGrid
        The separate-drizzle grid.
    settings : BlotSettings
    median_counts : ndarray or None
        Exposures behind each median pixel (the median step's
        ``good_counts``), blotted too when given.
    sky : SkyResult or None
        The sky step's result (``blot_addsky``).
    windows : mapping or None
        ``chip.name`` -> the window of the median it needs (see
        :func:`blot_chips`); None: the whole median, read once.
    """

    chips: tuple[Chip, ...]
    median: np.ndarray
    pixel_maps: Mapping[str, PixelMap]
    grid: OutputGrid
    settings: BlotSettings
    median_counts: np.ndarray | None = None
    sky: SkyResult | None = None
    windows: Mapping[str, Box | None] | None = None


def blot_sky(chip: Chip, settings: BlotSettings, sky: SkyResult | None) -> float:
    """What the blot step adds to the blotted median so that it matches the chip's data.

    The sky subtracted before drizzling (``blot_addsky=True``; nothing when
    no sky was subtracted), or ``blot_skyval`` in the chip's native units.

    Returns
    -------
    float
        In the chip's processing units; the ``_blt`` file records it as
        MDRIZSKY.
    """
    if settings.blot_addsky:
        return 0.0 if sky is None else sky.subtracted(chip)
    return float(settings.blot_skyval) * chip.proc_scale


def run_blot(inputs: BlotInputs, progress: ProgressCallback = no_progress
             ) -> Iterator[BlottedChip]:
    """The median blotted onto every chip, made one chip at a time as they are asked for.

    The number of exposures behind the median is blotted too (when the
    median step gave it), through the same pixel map: at each chip pixel, the
    fewest behind any median pixel its interpolation read
    (:func:`footprint_minimum`).
    """
    # the whole median is read once (a file when kept on disk); windows each
    median = inputs.median if inputs.windows is not None else np.asarray(inputs.median)
    settings = inputs.settings
    reach = BLOT_INTERPOLANTS[settings.blot_interp].reach_at(settings.blot_sinscl)
    counts, counts_reach = inputs.median_counts, reach
    if counts is not None and inputs.windows is None:  # once for every chip
        counts, counts_reach = footprint_minimum(counts, reach), 0
    return blot_chips(median, inputs.chips, inputs.pixel_maps, inputs.grid,
                      interp=settings.blot_interp, sinscl=settings.blot_sinscl,
                      sky_of=lambda chip: blot_sky(chip, settings, inputs.sky),
                      counts=counts, counts_reach=counts_reach, windows=inputs.windows,
                      progress=progress)
