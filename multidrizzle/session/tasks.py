"""A run's plan and its tasks: what every executor runs.

:func:`make_run_plan` splits a run into tasks from the parameters
(``tile_size`` or ``memory_limit``) and the chips' footprints: the static
masks and the whole-chip sky statistics per exposure, a separate drizzle per
exposure onto its cutout, the median per tile, a blot and a cosmic-ray test
per chip from the window of the median it needs, the final drizzle per strip
of rows.  The task functions here are module-level
functions of small picklable arguments (chips with their WCS, boxes, file
names, settings), which is what lets them run in another process.  Tasks that
keep their result in a file write it themselves (with the names and headers
the session gives them) and hand back a reference, not the pixels.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from multidrizzle.io.intermediates import (
    StoredCosmicRayMask, StoredImage, store_image, write_crmask,
)
from multidrizzle.kernels.drizzle import CONTEXT_PLANE_BITS
from multidrizzle.model.geometry import available_memory, native_scale
from multidrizzle.model.plan import (
    Box, RunPlan, TileCosts, choose_tile_size, footprint_box, input_box, split_into_strips,
    split_into_tiles,
)
from multidrizzle.steps.blot import BLOT_INTERPOLANTS, BlotInputs, BlottedChip, run_blot
from multidrizzle.steps.cosmic_rays import CosmicRayInputs, run_driz_cr
from multidrizzle.steps.drizzle import (
    DRIZZLE_KERNELS, DrizzledImage, FinalDrizzleInputs, SeparateDrizzleInputs,
    effective_kernel, run_driz_combine, run_driz_separate,
)
from multidrizzle.steps.median import COMBINE_TYPES, MedianInputs, MedianResult, run_median
from multidrizzle.steps.sky import SkyInputs, chip_sky_statistics
from multidrizzle.steps.static_mask import StaticInputs, static_masks_of

if TYPE_CHECKING:  # pragma: no cover
    from multidrizzle.session.session import Multidrizzle

__all__ = ["make_run_plan", "tile_size_for", "estimate_run", "RunEstimate", "Split",
           "static_task", "sky_statistics_task", "separate_task", "median_task", "blot_task",
           "cosmic_ray_task", "final_task", "DEFAULT_MEMORY_SHARE", "strip_rows_for"]

#: Share of the memory available at the start of a run that a task may use
#: when ``memory_limit`` is None.
DEFAULT_MEMORY_SHARE = 0.5

#: Bytes a tile pixel costs: the stacked images, weights and masks of up to
#: ``_PLANNED_DEPTH`` exposures (4 + 4 + 1 bytes each) and the combination's
#: float64 work arrays, or a strip's science, weight, a few context planes
#: and the kernels' float64 accumulators.
_PLANNED_DEPTH = 32
_BYTES_PER_TILE_PIXEL = _PLANNED_DEPTH * 9 + 64

#: Tile sides are multiples of this (whole cache lines of rows, tidy boxes).
_TILE_QUANTUM = 64
_SMALLEST_TILE = 64

#: A median tile's costs: the stacked image, weight and mask (4 + 4 + 1
#: bytes a pixel) and the combination's float64 work arrays.  The overheads
#: (a task as dear as combining 2**18 stacked pixels, a read of one
#: exposure's window as 2**15) are rough estimates, not fits; on the
#: 200-exposure benchmark mosaic (bench_mosaic.py) they choose 256-pixel
#: tiles, 24 exposures deep, and the run took 65 s and 0.5 GiB against 88 s
#: and 8.7 GiB with the whole grid as one tile.
_TILE_COSTS = TileCosts(bytes_per_stacked_pixel=9, bytes_per_tile_pixel=64,
                        task_overhead=2 ** 18, member_overhead=2 ** 15)


def tile_size_for(memory_limit: int | None) -> int:
    """The tile side that keeps one task under ``memory_limit`` bytes (None: automatic).

    A median tile stacks the exposures that reach it, a final strip holds
    its rows of science, weight and context: both about
    ``_BYTES_PER_TILE_PIXEL`` bytes a pixel for the depths of HST mosaics;
    deeper tiles are combined in bands inside the tile (``combine_bufsize``).
    """
    limit = memory_limit if memory_limit is not None else \
        int(available_memory() * DEFAULT_MEMORY_SHARE)
    side = int(math.sqrt(max(limit, 1) / _BYTES_PER_TILE_PIXEL))
    return max(_SMALLEST_TILE, side // _TILE_QUANTUM * _TILE_QUANTUM)


def _automatic_tile_size(md: "Multidrizzle", cutouts: dict[str, Box | None]) -> int:
    """The tile side with the least work that fits ``memory_limit`` (see
    :func:`~multidrizzle.model.plan.choose_tile_size`)."""
    limit = md.memory_limit if md.memory_limit is not None else \
        int(available_memory() * DEFAULT_MEMORY_SHARE)
    kind = COMBINE_TYPES[md.combine_type]
    halo = int(md.combine_grow) if kind.uses_grow else 0
    return choose_tile_size(md.separate_grid.shape, list(cutouts.values()), halo, limit,
                            _TILE_COSTS, _SMALLEST_TILE)


#: Bytes of a final strip's pixel besides its context: science, weight, the
#: error's variance sums and the error (float32 each); every context plane adds 4.
_STRIP_BYTES_BESIDES_CONTEXT = 4 * 4
_CONTEXT_PLANE_BYTES = 4

#: Context planes (32 inputs each) up to which a final strip is as high as the
#: tile; beyond them strips get lower, so that a strip holds no more bytes than
#: a tile-high strip of this many planes (on the benchmark mosaic, 8 planes'
#: worth raised the peak of 200 inputs 14% above that of 50; see bench_mosaic.py).
_FULL_HEIGHT_PLANES = 4


def strip_rows_for(tile: int, context_planes: int) -> int:
    """Rows of the final drizzle's strips chosen with an automatic tile size.

    A strip pixel holds one context plane per 32 inputs: so that a strip's
    bytes do not grow with the number of inputs, the strip is as high as the
    tile up to ``_FULL_HEIGHT_PLANES`` planes (128 inputs) and proportionally
    lower for more (a multiple of 64 rows, at least 64).  Strips are not made
    lower than that: every strip reads and maps again the part of each chip
    that lands in it, so low strips make the final drizzle slow (a 200-input
    mosaic's took twice as long with 64-row strips as with 192), and a strip
    costs only the rows it makes (its frame's other pages are never written,
    :mod:`multidrizzle.model.memory`).  The tile is the memory-limited one: a
    single pointing gets one strip.
    """
    budget = _STRIP_BYTES_BESIDES_CONTEXT + _CONTEXT_PLANE_BYTES * _FULL_HEIGHT_PLANES
    per_pixel = _STRIP_BYTES_BESIDES_CONTEXT + _CONTEXT_PLANE_BYTES * max(context_planes, 1)
    if per_pixel <= budget:
        return int(tile)
    rows = int(tile) * budget // per_pixel
    return max(_SMALLEST_TILE, rows // _TILE_QUANTUM * _TILE_QUANTUM)


def _reach(kernel: str, pixfrac: float, grid_scale: float, chip: Any) -> float:
    name = effective_kernel(kernel, pixfrac)
    return DRIZZLE_KERNELS[name].reach(pixfrac, grid_scale / native_scale(chip))


def make_run_plan(md: "Multidrizzle") -> RunPlan:
    """The plan of a run on the session's geometry and parameters.

    Footprints are conservative (see :mod:`multidrizzle.model.plan`): a
    cutout, window or strip may hold a few pixels more than needed, never
    fewer, so every task makes the same pixels as a whole-grid run.
    """
    separate, final = md.separate_grid, md.output_grid
    halo = BLOT_INTERPOLANTS[md.blot_interp].halo(md.blot_sinscl)
    cutouts: dict[str, Box | None] = {}
    windows: dict[str, Box | None] = {}
    final_boxes: dict[str, Box | None] = {}
    for exposure in md.exposures:
        boxes = []
        for chip in exposure.chips:
            pixel_map = md.separate_pixel_maps[chip.name]
            boxes.append(footprint_box(pixel_map, separate.shape, _reach(
                md.driz_sep_kernel, md.driz_sep_pixfrac, separate.scale, chip)))
            centres = footprint_box(pixel_map, separate.shape, 0.0)
            windows[chip.name] = None if centres is None else centres.expanded(
                halo, separate.shape)
            final_boxes[chip.name] = footprint_box(md.pixel_maps[chip.name], final.shape,
                                                   _reach(md.final_kernel, md.final_pixfrac,
                                                          final.scale, chip))
        present = [box for box in boxes if box is not None]
        cutouts[exposure.filename.name] = None if not present else Box(
            min(b.y0 for b in present), max(b.y1 for b in present),
            min(b.x0 for b in present), max(b.x1 for b in present))
    if md.tile_size:
        tile = rows = int(md.tile_size)
    else:
        tile = _automatic_tile_size(md, cutouts)
        planes = (len(md.exposures) - 1) // CONTEXT_PLANE_BITS + 1 if md.context else 0
        rows = min(tile, strip_rows_for(tile, planes))
    strips = tuple(split_into_strips(final.shape, rows))
    strip_inputs = []
    for strip in strips:
        members = {}
        for exposure in md.exposures:
            for chip in exposure.chips:
                box = final_boxes[chip.name]
                if box is None or box.intersection(strip) is None:
                    continue
                reach = _reach(md.final_kernel, md.final_pixfrac, final.scale, chip)
                pixels = input_box(md.pixel_maps[chip.name], strip, reach)
                if pixels is not None:
                    members[chip.name] = pixels
        strip_inputs.append(members)
    return RunPlan(tile_size=tile, strip_rows=rows, separate_shape=separate.shape,
                   final_shape=final.shape,
                   cutouts=cutouts, median_tiles=tuple(split_into_tiles(separate.shape, tile)),
                   blot_windows=windows, final_strips=strips,
                   strip_inputs=tuple(strip_inputs))


@dataclass(frozen=True)
class RunEstimate:
    """What a run is expected to need, from its plan (bytes)."""

    peak_memory: int
    temporary_disk: int
    product_disk: int
    tasks_at_once: int = 1

    def lines(self) -> list[str]:
        return [f"estimated peak memory: {self.peak_memory / 2**20:.0f} MiB (the largest "
                f"task{'s' if self.tasks_at_once > 1 else ''}, {self.tasks_at_once} at once, "
                "and what the session holds)",
                f"estimated temporary disk: {self.temporary_disk / 2**20:.0f} MiB "
                f"(intermediates), product {self.product_disk / 2**20:.0f} MiB"]


#: Bytes per input pixel a chip costs while a task works on it: the dense
#: pixel map (float64 x 2), data, weights, DQ and masks.
_CHIP_BYTES_PER_PIXEL = 16 + 4 + 4 + 4 + 2
_FLOAT32 = 4


def estimate_run(md: "Multidrizzle", plan: RunPlan) -> RunEstimate:
    """Peak memory of the largest task times the tasks that run at once (``num_cores``:
    the local executor's threads or the Dask workers) plus what the session
    keeps; peak disk of the intermediate files."""
    chips = [chip for exposure in md.exposures for chip in exposure.chips]
    chip_pixels = [chip.shape[0] * chip.shape[1] for chip in chips]
    planes = ((len(md.exposures) - 1) // 32 + 1) if md.context else 0
    final_pixel = 2 * _FLOAT32 + _FLOAT32 * planes
    ny, nx = plan.final_shape
    _, depth = plan.deepest_tile
    tile = plan.tile_size
    # a strip's rows of the frame (science, weight, variance sums, context; handed on
    # as views) and its error image
    strip = min(plan.strip_rows, ny) * nx * (_STRIP_BYTES_BESIDES_CONTEXT
                                             + _CONTEXT_PLANE_BYTES * planes)
    median_tile = (tile + 2 * int(md.combine_grow)) ** 2 * max(depth, 1) * 9 + tile ** 2 * 6
    task = max(chip_pixels) * _CHIP_BYTES_PER_PIXEL + max(strip, median_tile)
    cutouts = sum(box.size for box in plan.cutouts.values() if box is not None)
    separate_area = plan.separate_shape[0] * plan.separate_shape[1]
    kept = separate_area * 2   # the median's counts
    if md.clean and not md.in_memory:   # the cosmic-ray masks stay in memory, not files
        kept += sum(chip_pixels)
    if md.in_memory:
        kept += (cutouts * 2 * _FLOAT32 + separate_area * _FLOAT32
                 + sum(chip_pixels) * (_FLOAT32 + 1) + ny * nx * final_pixel)
    # the intermediates' files (the final strips go straight into the product); with
    # clean=True each step's go once the next step that reads them is done
    singles, median = cutouts * 2 * _FLOAT32, separate_area * _FLOAT32
    blots, masks = sum(chip_pixels) * _FLOAT32, sum(chip_pixels)
    disk = max(singles + median, median + blots, blots + masks) if md.clean else \
        singles + median + blots + masks
    disk = 0 if md.in_memory else disk
    at_once = int(md.num_cores or os.cpu_count() or 1)
    return RunEstimate(peak_memory=int(at_once * task + kept), temporary_disk=int(disk),
                       product_disk=int(ny * nx * final_pixel), tasks_at_once=at_once)


@dataclass
class Split:
    """A step cut into tasks: one function, its arguments and names, and how the
    results come back together (``join``, given them in the tasks' order)."""

    function: Callable[..., Any]
    arguments: list[tuple]
    keys: list[str]
    join: Callable[[Iterator[Any]], Any]


# --------------------------------------------------------------------------
# task functions (module-level: they travel to worker processes by name)


@dataclass(frozen=True)
class ImageStore:
    """Where a task writes an image it keeps in a file: path, header, compression.

    ``header`` is the header itself, or a function of no arguments that makes
    it (a module-level function or a ``functools.partial`` of one, so that it
    travels to a worker): then the task makes it, side by side with the other
    tasks, rather than the session making every task's header before the
    first task starts.
    """

    path: Path
    header: fits.Header | Callable[[], fits.Header] | None = None
    compress: bool = False

    def keep(self, image: np.ndarray) -> StoredImage:
        header = self.header() if callable(self.header) else self.header
        return store_image(self.path, image, header, compress=self.compress)


def static_task(inputs: StaticInputs) -> dict[tuple, np.ndarray]:
    """The static masks of some chips (one exposure's), OR-ed by chip signature."""
    settings = inputs.settings
    return static_masks_of(inputs.chips, settings.static_sig, settings.staticfile or None)


def sky_statistics_task(inputs: SkyInputs) -> dict[str, float]:
    """The whole-chip sky statistics of some exposures' chips (the sky step's
    comparisons are made when every chip's is known)."""
    return chip_sky_statistics(inputs)


def separate_task(inputs: SeparateDrizzleInputs,
                  stores: tuple[ImageStore, ImageStore] | None) -> DrizzledImage:
    """The separate drizzle of one exposure (its cutout); written when ``stores`` say where."""
    image = next(iter(run_driz_separate(inputs)))
    if stores is None:
        return image
    return dataclasses.replace(image, sci=stores[0].keep(image.sci),
                               wht=stores[1].keep(image.wht))


def median_task(inputs: MedianInputs) -> MedianResult:
    """The median of one tile."""
    return run_median(inputs)


def blot_task(inputs: BlotInputs, store: ImageStore | None) -> BlottedChip:
    """The median blotted onto one chip; written when ``store`` says where."""
    blotted = next(iter(run_blot(inputs)))
    if store is None:
        return blotted
    return dataclasses.replace(blotted, image=store.keep(blotted.image))


def cosmic_ray_task(inputs: CosmicRayInputs, mask_files: dict[str, Path] | None = None
                    ) -> dict[str, np.ndarray | StoredCosmicRayMask]:
    """The cosmic rays of one chip; written to its ``_crmask`` file when ``mask_files``
    names it (chip name -> path), and then the file is handed back, not the mask."""
    masks = run_driz_cr(inputs)
    if mask_files is None:
        return masks
    return {name: write_crmask(mask_files[name], mask) for name, mask in masks.items()}


def final_task(inputs: FinalDrizzleInputs) -> DrizzledImage:
    """The final drizzle of one strip of rows."""
    return run_driz_combine(inputs)


def joined_median(results: Iterator[MedianResult], tiles: Sequence[Box],
                  shape: tuple[int, int], image: np.ndarray | StoredImage,
                  n_images: int) -> MedianResult:
    """The tiles' medians put together in ``image`` (an array, or a file being written)."""
    counts = np.empty(shape, dtype=np.int16)
    masked = np.zeros(n_images)
    filled, minimum, sections, rows = 0, None, 0, 0
    thresholds = np.zeros(n_images)
    combine_type = ""
    results = iter(results)
    for tile in tiles:
        result = next(results)   # not zip(): it would hold a tile while the next is made
        if isinstance(image, StoredImage):
            image.write(tile.slices, result.median)
        else:
            image[tile.slices] = result.median
        counts[tile.slices] = result.good_counts
        masked += np.asarray(result.masked_fractions) * tile.size
        filled += result.filled_pixels
        if result.minimum_pixels is not None:
            minimum = (minimum or 0) + result.minimum_pixels
        sections += result.n_sections
        rows = max(rows, result.section_rows)
        thresholds = np.asarray(result.weight_thresholds)
        combine_type = result.combine_type
        del result
    return MedianResult(median=image, masks=None, good_counts=counts,
                        weight_thresholds=thresholds,
                        masked_fractions=masked / float(shape[0] * shape[1]),
                        filled_pixels=filled, minimum_pixels=minimum,
                        combine_type=combine_type, section_rows=rows, n_sections=sections)
