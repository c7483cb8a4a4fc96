"""How many exposures cover each part of an output grid, from the chips' outlines.

Cosmic rays are found by comparing each exposure with the median of all
that cover a pixel: where one exposure covers the output, the median is that
exposure and nothing can be found; where two do, the median is their mean and
a cosmic ray raises it.  :func:`exposure_coverage` counts the exposures over a
coarse grid of cells (the chips' outlines, mapped through their pixel maps,
tested at each cell centre), cheap enough for a mosaic of hundreds of inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from multidrizzle.model.geometry import PixelMap

__all__ = ["Coverage", "exposure_coverage", "chip_outline"]

#: Cells of the coarse grid at most (the output is cut into square cells).
MAX_CELLS = 2**16
#: Points along each side of a chip's outline.
_POINTS_PER_SIDE = 32


@dataclass(frozen=True)
class Coverage:
    """Exposure depth over the output grid.

    Attributes
    ----------
    depth : numpy.ndarray
        Exposures covering each cell (int32, coarse grid).
    cell : int
        Side of a cell in output pixels.
    isolated : tuple of int
        Indices of exposures that share no cell with another exposure.
    """

    depth: np.ndarray
    cell: int
    isolated: tuple[int, ...]

    def fraction_at_least(self, count: int) -> float:
        """The fraction of the covered output (depth >= 1) covered by ``count`` or more."""
        covered = np.count_nonzero(self.depth >= 1)
        return float(np.count_nonzero(self.depth >= count) / covered) if covered else 0.0


def chip_outline(pixel_map: PixelMap) -> np.ndarray:
    """The outline of a chip on the output grid, ``(n, 2)`` (x, y): its border pixels'
    centres (half a pixel inside the footprint a drizzle fills)."""
    ny, nx = pixel_map.shape
    rows = [pixel_map.evaluate((slice(0, 1), slice(None)))[0],
            pixel_map.evaluate((slice(None), slice(nx - 1, nx)))[:, 0],
            pixel_map.evaluate((slice(ny - 1, ny), slice(None)))[0][::-1],
            pixel_map.evaluate((slice(None), slice(0, 1)))[:, 0][::-1]]
    points = np.concatenate([side[::max(1, len(side) // _POINTS_PER_SIDE)] for side in rows])
    return points[np.isfinite(points).all(axis=1)]


#: Booleans of (rows x columns x edges) tested at once by :func:`_inside`.
_BATCH = 2**22


def _inside(polygon: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd test of the points of a grid against a closed polygon.

    Parameters
    ----------
    polygon : numpy.ndarray
        ``(n, 2)`` vertices (x, y); the last joins the first.
    x, y : numpy.ndarray
        The grid's column and row coordinates (1-D).

    Returns
    -------
    numpy.ndarray
        ``(len(y), len(x))``: True inside.  Where an edge crosses a row
        depends on the row only, so it is found once per row, and edges are
        taken in batches (a chip covers few cells of a mosaic's grid: one
        edge at a time would spend its time in numpy's call overhead).
    """
    inside = np.zeros((y.size, x.size), dtype=bool)
    x_ends, y_ends = polygon[:, 0], polygon[:, 1]
    x_starts, y_starts = np.roll(x_ends, 1), np.roll(y_ends, 1)
    rows = y[:, np.newaxis]
    batch = max(1, _BATCH // max(inside.size, 1))
    for first in range(0, len(polygon), batch):
        edge = slice(first, first + batch)
        x0, y0, x1, y1 = x_starts[edge], y_starts[edge], x_ends[edge], y_ends[edge]
        crosses = (y0 > rows) != (y1 > rows)                   # (rows, edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x0 + (rows - y0) * (x1 - x0) / (y1 - y0)  # (rows, edges)
        left_of = x[np.newaxis, :, np.newaxis] < x_cross[:, np.newaxis, :]
        inside ^= (np.count_nonzero(left_of & crosses[:, np.newaxis, :], axis=2) % 2
                   ).astype(bool)
    return inside


def exposure_coverage(exposure_maps: Sequence[Sequence[PixelMap]],
                      grid_shape: tuple[int, int], max_cells: int = MAX_CELLS) -> Coverage:
    """Count the exposures over the cells of a grid.

    Parameters
    ----------
    exposure_maps : sequence of sequences of PixelMap
        For each exposure, the pixel maps of its chips onto the grid.
    grid_shape : (int, int)
        ``(ny, nx)`` of the grid.
    max_cells : int
        Cells of the coarse grid at most.

    Returns
    -------
    Coverage
    """
    ny, nx = grid_shape
    cell = max(1, math.ceil(math.sqrt(ny * nx / max_cells)))
    cells_y, cells_x = math.ceil(ny / cell), math.ceil(nx / cell)
    centres_x = (np.arange(cells_x) + 0.5) * cell - 0.5
    centres_y = (np.arange(cells_y) + 0.5) * cell - 0.5
    masks = []
    for pixel_maps in exposure_maps:
        mask = np.zeros((cells_y, cells_x), dtype=bool)
        for pixel_map in pixel_maps:
            outline = chip_outline(pixel_map)
            if len(outline) < 3:
                continue
            (x_low, y_low), (x_high, y_high) = outline.min(axis=0), outline.max(axis=0)
            columns = np.flatnonzero((centres_x >= x_low) & (centres_x <= x_high))
            rows = np.flatnonzero((centres_y >= y_low) & (centres_y <= y_high))
            if not columns.size or not rows.size:
                continue
            window = np.ix_(rows, columns)
            mask[window] |= _inside(outline, centres_x[columns], centres_y[rows])
        masks.append(mask)
    depth = np.sum(masks, axis=0, dtype=np.int32) if masks else \
        np.zeros((cells_y, cells_x), np.int32)
    isolated = tuple(index for index, mask in enumerate(masks)
                     if len(masks) > 1 and mask.any() and not (depth[mask] > 1).any())
    return Coverage(depth=depth, cell=cell, isolated=isolated)
