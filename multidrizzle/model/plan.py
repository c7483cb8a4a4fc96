"""Footprints and tiles: which part of an output grid each chip can touch.

A drizzled image is made of the contributions of the chips whose pixels
reach it, so work on a part of a grid (a tile) needs only the chips whose
footprint meets that part, and of each chip only the pixels that can reach
it.  This module finds both from the chips' pixel maps, conservatively (a
footprint may be a little larger than needed, never smaller), and splits
grids into tiles.  Everything here is plain data: boxes of integers that can
be sent to another process.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from multidrizzle.errors import ParameterError
from multidrizzle.model.geometry import PixelMap

#: Nodes per axis sampled inside a chip when finding its footprint.
_INTERIOR_SAMPLES = 64

__all__ = ["Box", "parse_memory", "MappedExtent", "mapped_extent", "footprint_box",
           "input_box", "split_into_tiles",
           "split_into_strips", "tile_depths", "choose_tile_size", "TileCosts"]


@dataclass(frozen=True, order=True)
class Box:
    """The pixels ``[y0, y1) x [x0, x1)`` of a grid (0-based, half-open)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def size(self) -> int:
        """Number of pixels."""
        return max(self.y1 - self.y0, 0) * max(self.x1 - self.x0, 0)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` to index an array of the whole grid."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def is_empty(self) -> bool:
        return self.y1 <= self.y0 or self.x1 <= self.x0

    def intersection(self, other: "Box") -> "Box | None":
        """The common pixels, or None."""
        box = Box(max(self.y0, other.y0), min(self.y1, other.y1),
                  max(self.x0, other.x0), min(self.x1, other.x1))
        return None if box.is_empty() else box

    def expanded(self, margin: int, shape: tuple[int, int]) -> "Box":
        """``margin`` more pixels on every side, clipped to a grid of ``shape``."""
        return Box(max(self.y0 - margin, 0), min(self.y1 + margin, shape[0]),
                   max(self.x0 - margin, 0), min(self.x1 + margin, shape[1]))

    def relative_to(self, outer: "Box") -> tuple[slice, slice]:
        """Where this box lies in an array that holds ``outer``."""
        return (slice(self.y0 - outer.y0, self.y1 - outer.y0),
                slice(self.x0 - outer.x0, self.x1 - outer.x0))

    def __str__(self) -> str:
        return f"[{self.y0}:{self.y1}, {self.x0}:{self.x1}]"


_MEMORY = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*"
                     r"(?P<unit>[kKmMgGtT]?i?[bB]?)\s*$")
_UNIT_BYTES = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6,
               "mb": 10**6, "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30,
               "t": 10**12, "tb": 10**12, "tib": 2**40}


def parse_memory(value: int | float | str, parameter: str = "memory_limit") -> int:
    """Bytes from ``2000000000``, ``"2GB"``, ``"1.5 GiB"`` or ``"512MB"``.

    Raises
    ------
    ParameterError
        Naming ``parameter`` for anything that is not a positive amount.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _MEMORY.match(str(value))
        unit = match.group("unit").lower() if match else None
        if match is None or unit not in _UNIT_BYTES:
            raise ParameterError(f"parameter {parameter!r}: {value!r} is not an amount of "
                                 "memory; expected bytes or a string such as '2GB' or "
                                 "'512 MiB'")
        number = float(match.group("number")) * _UNIT_BYTES[unit]
    if not (math.isfinite(number) and number >= 1):
        raise ParameterError(f"parameter {parameter!r}: {value!r} is not a positive amount "
                             "of memory")
    return int(number)


def _cell_ranges(pixel_map: PixelMap) -> tuple[np.ndarray, np.ndarray]:
    """Per node cell, the (min, max) of x and of y its four corners map to.

    Returns arrays of shape ``(n_cell_y, n_cell_x, 2)`` (x, y) of the lowest
    and of the highest mapped coordinate; NaN nodes make NaN cells.
    """
    nodes = pixel_map.node_values
    corners = (nodes[:-1, :-1], nodes[:-1, 1:], nodes[1:, :-1], nodes[1:, 1:])
    return np.minimum.reduce(corners), np.maximum.reduce(corners)


def _cell_pixels(pixel_map: PixelMap, first_cell: int, last_cell: int, axis: int
                 ) -> tuple[int, int]:
    """Chip pixels (half-open, clipped) whose centres lie in cells ``first..last``."""
    origin = pixel_map.origin[1 - axis]
    step = pixel_map.stepsize
    size = pixel_map.shape[axis]
    low = int(math.floor(origin + first_cell * step))
    high = int(math.ceil(origin + (last_cell + 1) * step)) + 1
    return max(low, 0), min(high, size)


@dataclass(frozen=True)
class MappedExtent:
    """The smallest rectangle of a grid that holds a chip's mapped pixel centres.

    Found once per pixel map by :func:`mapped_extent`; :meth:`box` then gives
    the footprint for any reach (the drizzles and the blot ask for several).
    """

    x_low: float
    y_low: float
    x_high: float
    y_high: float

    def box(self, grid_shape: tuple[int, int], reach: float) -> Box | None:
        """The pixels of the grid that the chip's pixels can reach, or None if none.

        Parameters
        ----------
        grid_shape : (int, int)
            ``(ny, nx)`` of the grid.
        reach : float
            How far, in output pixels, a mapped pixel centre spreads its value
            (half the pixel's footprint plus the kernel's radius), on top of the
            one-pixel margin added for rounding.
        """
        margin = float(reach) + 1.0
        box = Box(max(int(math.floor(self.y_low - margin + 0.5)), 0),
                  min(int(math.floor(self.y_high + margin + 0.5)) + 1, grid_shape[0]),
                  max(int(math.floor(self.x_low - margin + 0.5)), 0),
                  min(int(math.floor(self.x_high + margin + 0.5)) + 1, grid_shape[1]))
        return None if box.is_empty() else box


def mapped_extent(pixel_map: PixelMap) -> MappedExtent | None:
    """Where a chip's pixel centres land on its grid, or None if nowhere (all NaN).

    The chip's border pixels are mapped exactly (the map of a smooth
    distortion takes its extremes on the border) together with the nodes
    that lie on the chip.
    """
    ny, nx = pixel_map.shape
    edges = [pixel_map.evaluate((slice(0, 1), slice(None))),
             pixel_map.evaluate((slice(ny - 1, ny), slice(None))),
             pixel_map.evaluate((slice(None), slice(0, 1))),
             pixel_map.evaluate((slice(None), slice(nx - 1, nx)))]
    positions = np.concatenate([edge.reshape(-1, 2) for edge in edges]
                               + [_nodes_on_chip(pixel_map)])
    positions = positions[np.isfinite(positions).all(axis=1)]
    if positions.size == 0:
        return None
    (x_low, y_low), (x_high, y_high) = positions.min(axis=0), positions.max(axis=0)
    return MappedExtent(float(x_low), float(y_low), float(x_high), float(y_high))


def footprint_box(pixel_map: PixelMap, grid_shape: tuple[int, int], reach: float
                  ) -> Box | None:
    """The pixels of a grid that a chip's pixels can reach, or None if none.

    :func:`mapped_extent` and :meth:`MappedExtent.box` in one call (find the
    extent once when several reaches are wanted).

    Parameters
    ----------
    pixel_map : PixelMap
        The chip's map onto the grid.
    grid_shape : (int, int)
        ``(ny, nx)`` of the grid.
    reach : float
        As :meth:`MappedExtent.box`.
    """
    extent = mapped_extent(pixel_map)
    return None if extent is None else extent.box(grid_shape, reach)


def _nodes_on_chip(pixel_map: PixelMap) -> np.ndarray:
    """The mapped nodes that lie on the chip (pixel centres 0 .. n-1), as ``(n, 2)``."""
    ny, nx = pixel_map.shape
    x_origin, y_origin = pixel_map.origin
    n_node_y, n_node_x = pixel_map.node_values.shape[:2]
    node_x = x_origin + pixel_map.stepsize * np.arange(n_node_x)
    node_y = y_origin + pixel_map.stepsize * np.arange(n_node_y)
    columns = np.flatnonzero((node_x >= 0) & (node_x <= nx - 1))
    rows = np.flatnonzero((node_y >= 0) & (node_y <= ny - 1))
    # a sample of them is enough: they only guard against a map whose extreme is
    # not on the border (a stepsize-1 map has a node per pixel)
    columns = columns[::max(1, columns.size // _INTERIOR_SAMPLES)]
    rows = rows[::max(1, rows.size // _INTERIOR_SAMPLES)]
    return pixel_map.node_values[np.ix_(rows, columns)].reshape(-1, 2)


def input_box(pixel_map: PixelMap, region: Box, reach: float) -> Box | None:
    """The chip pixels whose values can reach ``region`` of the output grid, or None.

    Conservative: every pixel whose mapped footprint (centre +- ``reach`` +
    one pixel) meets the region is inside, plus a ring of one pixel so that
    a kernel that builds pixel corners from the neighbouring centres sees
    the same neighbours as on the whole chip.
    """
    low, high = _cell_ranges(pixel_map)
    margin = float(reach) + 1.0
    with np.errstate(invalid="ignore"):
        touches = ((high[..., 0] + margin >= region.x0 - 0.5)
                   & (low[..., 0] - margin <= region.x1 - 0.5)
                   & (high[..., 1] + margin >= region.y0 - 0.5)
                   & (low[..., 1] - margin <= region.y1 - 0.5))
    if not touches.any():
        return None
    cell_rows = np.flatnonzero(touches.any(axis=1))
    cell_columns = np.flatnonzero(touches.any(axis=0))
    y0, y1 = _cell_pixels(pixel_map, int(cell_rows[0]), int(cell_rows[-1]), axis=0)
    x0, x1 = _cell_pixels(pixel_map, int(cell_columns[0]), int(cell_columns[-1]), axis=1)
    box = Box(y0, y1, x0, x1).expanded(1, pixel_map.shape)
    return None if box.is_empty() else box


def split_into_tiles(grid_shape: tuple[int, int], tile_size: int) -> list[Box]:
    """Square tiles of ``tile_size`` pixels (smaller at the far edges), row by row."""
    size = int(tile_size)
    if size < 1:
        raise ParameterError(f"parameter 'tile_size': {tile_size!r} must be at least 1")
    ny, nx = grid_shape
    return [Box(y, min(y + size, ny), x, min(x + size, nx))
            for y in range(0, ny, size) for x in range(0, nx, size)]


def split_into_strips(grid_shape: tuple[int, int], rows: int) -> list[Box]:
    """Strips of ``rows`` whole rows (the last one shorter), top to bottom."""
    size = int(rows)
    if size < 1:
        raise ParameterError(f"parameter 'tile_size': {rows!r} must be at least 1")
    ny, nx = grid_shape
    return [Box(y, min(y + size, ny), 0, nx) for y in range(0, ny, size)]


def _tile_extents(length: int, size: int, halo: int) -> np.ndarray:
    """Lengths of the tiles along one axis, each grown by ``halo`` inside the grid."""
    starts = np.arange(0, length, size)
    return np.minimum(starts + size + halo, length) - np.maximum(starts - halo, 0)


def tile_depths(grid_shape: tuple[int, int], boxes: list[Box | None], tile_size: int,
                halo: int = 0) -> np.ndarray:
    """How many of ``boxes`` meet each tile of :func:`split_into_tiles`.

    Each tile is grown by ``halo`` pixels (inside the grid) before the test,
    as the median reads it.  Returns an array of shape (tile rows, tile
    columns), in the order of :func:`split_into_tiles` when flattened.
    """
    size = int(tile_size)
    ny, nx = grid_shape
    rows, columns = -(-ny // size), -(-nx // size)
    # a difference array: +1 at a box's first tile, -1 past its last, on both axes
    steps = np.zeros((rows + 1, columns + 1), dtype=np.int64)
    for box in boxes:
        if box is None:
            continue
        # tile t (rows [t*size, (t+1)*size) grown by halo) meets [y0, y1) when
        # (y0 - halo) // size <= t <= (y1 + halo - 1) // size
        r0, r1 = max((box.y0 - halo) // size, 0), min((box.y1 + halo - 1) // size, rows - 1)
        c0, c1 = max((box.x0 - halo) // size, 0), min((box.x1 + halo - 1) // size, columns - 1)
        steps[r0, c0] += 1
        steps[r0, c1 + 1] -= 1
        steps[r1 + 1, c0] -= 1
        steps[r1 + 1, c1 + 1] += 1
    return steps.cumsum(axis=0).cumsum(axis=1)[:rows, :columns]


@dataclass(frozen=True)
class TileCosts:
    """What a median tile costs, for choosing the tile size.

    Attributes
    ----------
    bytes_per_stacked_pixel : int
        Memory per pixel of each exposure stacked on a tile.
    bytes_per_tile_pixel : int
        Memory per tile pixel beyond the stack (the combination's work arrays).
    task_overhead : int
        Cost of one tile's task, in stacked pixels of work (starting it,
        assembling its result).
    member_overhead : int
        Cost of reading one exposure's part of a tile, in stacked pixels.
    """

    bytes_per_stacked_pixel: int
    bytes_per_tile_pixel: int
    task_overhead: int
    member_overhead: int


def choose_tile_size(grid_shape: tuple[int, int], boxes: list[Box | None], halo: int,
                     memory_limit: int, costs: TileCosts, smallest: int) -> int:
    """The tile side (``smallest`` times a power of two) with the least work
    whose deepest tile fits ``memory_limit``.

    A tile stacks every exposure whose box meets it on the whole tile, so in
    a mosaic large tiles stack many exposures on pixels most of them do not
    cover, and small tiles pay each task's and each read's overhead: the work
    of a side is ``sum(depth x grown area) + task_overhead x tiles +
    member_overhead x sum(depth)``.  On a single pointing every exposure
    meets every tile and the largest side that fits wins.  The choice
    depends only on the geometry and the limit (ties go to the larger side),
    never on where the tasks run.
    """
    ny, nx = grid_shape
    sides = [int(smallest)]
    while sides[-1] < max(ny, nx):
        sides.append(sides[-1] * 2)
    best, best_work = sides[0], None
    for side in sides:
        depths = tile_depths(grid_shape, boxes, side, halo)
        areas = np.outer(_tile_extents(ny, side, halo), _tile_extents(nx, side, halo))
        memory = int((depths * areas).max(initial=0)) * costs.bytes_per_stacked_pixel \
            + min(side, ny) * min(side, nx) * costs.bytes_per_tile_pixel
        if memory > memory_limit and side > smallest:
            break
        work = (int((depths * areas).sum()) + costs.task_overhead * depths.size
                + costs.member_overhead * int(depths.sum()))
        if best_work is None or work <= best_work:
            best, best_work = side, work
    return best


@dataclass(frozen=True)
class RunPlan:
    """How a run splits its work: cutouts, tiles, windows, strips (plain boxes).

    Made from the parameters (``tile_size``, or ``memory_limit``), never from
    the executor, so every executor runs the same tasks and the products are
    the same whichever runs them.

    Attributes
    ----------
    tile_size : int
        Side of the median's tiles.
    strip_rows : int
        Height of the final drizzle's strips: ``tile_size``, or lower with many
        context planes when the tile size is automatic.
    separate_shape, final_shape : (int, int)
        The grids.
    cutouts : dict
        Exposure file name -> the box of the separate grid its separate
        drizzle keeps (its chips' footprints), or None.
    median_tiles : tuple of Box
        Tiles of the separate grid, combined one at a time.
    blot_windows : dict
        Chip name -> the box of the separate grid its blot reads (its
        footprint plus the interpolant's halo), or None.
    final_strips : tuple of Box
        Strips of whole rows of the output grid, drizzled one at a time.
    strip_inputs : tuple of dict
        Per strip, chip name -> the chip pixels that can reach it (chips
        that cannot are left out).
    """

    tile_size: int
    strip_rows: int
    separate_shape: tuple[int, int]
    final_shape: tuple[int, int]
    cutouts: dict[str, Box | None]
    median_tiles: tuple[Box, ...]
    blot_windows: dict[str, Box | None]
    final_strips: tuple[Box, ...]
    strip_inputs: tuple[dict[str, Box], ...]

    def tiles_of(self, box: Box | None) -> list[int]:
        """Indices of the median tiles ``box`` meets."""
        if box is None:
            return []
        return [index for index, tile in enumerate(self.median_tiles)
                if tile.intersection(box) is not None]

    @property
    def deepest_tile(self) -> tuple[int, int]:
        """(index, number of exposures) of the median tile most cutouts reach."""
        depths = tile_depths(self.separate_shape, list(self.cutouts.values()),
                             self.tile_size).ravel()
        index = int(np.argmax(depths)) if depths.size else 0
        return index, (int(depths[index]) if depths.size else 0)

    def summary(self) -> str:
        """Lines for the build summary."""
        index, depth = self.deepest_tile
        chips_per_strip = [len(members) for members in self.strip_inputs]
        cutout_pixels = sum(box.size for box in self.cutouts.values() if box is not None)
        return "\n".join([
            f"tiles: {len(self.median_tiles)} median tiles of up to {self.tile_size} x "
            f"{self.tile_size}, {len(self.final_strips)} final strips of up to "
            f"{self.strip_rows} rows",
            f"deepest tile: {self.median_tiles[index]} ({depth} exposures); most chips in "
            f"a strip: {max(chips_per_strip, default=0)}",
            f"separate drizzles: {cutout_pixels / 1e6:.1f} Mpixels in cutouts (the whole "
            f"grid {self.separate_shape[1]} x {self.separate_shape[0]} per exposure would "
            f"be {len(self.cutouts) * self.separate_shape[0] * self.separate_shape[1] / 1e6:.1f})"])
