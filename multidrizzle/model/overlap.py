"""Which pixels of two chips see the same sky (for sky matching).

A chip's pixels are mapped onto the other chip's pixels with the pixel maps
of :mod:`multidrizzle.model.geometry` (the full distortion, D2IM included, on nodes
every ``OVERLAP_NODE_SPACING`` pixels, bilinear in between).  Node cells whose
four corners land on the other chip are inside, cells whose corners' bounding
box misses it are outside; only the cells crossed by the other chip's edge
are filled pixel by pixel, a band of cells at a time, so that the memory of
the dense coordinates stays at a few tens of MB whatever the chip size.
"""

from __future__ import annotations

import numpy as np

from multidrizzle.model.geometry import PixelMap, compute_pixel_map
from multidrizzle.model.exposure import Chip

__all__ = ["OVERLAP_NODE_SPACING", "chip_overlap"]

#: Node spacing of the pixel maps between chips: HST distortion changes by
#: far less than 0.01 pixel over such a cell.
OVERLAP_NODE_SPACING = 32

# Rows of cells filled at once where an overlap edge crosses a chip.
_BAND_CELLS = 16


def chip_overlap(chip: Chip, other: Chip) -> tuple[np.ndarray, np.ndarray] | None:
    """Pixels of two chips that see the sky both chips see.

    Returns
    -------
    (ndarray of bool, ndarray of bool) or None
        Masks of ``chip`` and ``other`` (True = the pixel's centre falls on
        the other chip), or None when the chips do not overlap.
    """
    inside_other = _inside(chip, other)
    if inside_other is None:
        return None
    inside_chip = _inside(other, chip)
    if inside_chip is None:
        return None
    return inside_other, inside_chip


def _inside(chip: Chip, other: Chip) -> np.ndarray | None:
    """Pixels of ``chip`` whose centres fall on ``other``; None if there are none."""
    pixel_map = compute_pixel_map(chip, other, OVERLAP_NODE_SPACING)
    nodes = pixel_map.node_values
    on_other = _on_chip(nodes, other.shape)
    corners = [nodes[:-1, :-1], nodes[:-1, 1:], nodes[1:, :-1], nodes[1:, 1:]]
    low = np.minimum.reduce(corners)
    high = np.maximum.reduce(corners)
    other_ny, other_nx = other.shape
    candidate = ((high[..., 0] >= -0.5) & (low[..., 0] < other_nx - 0.5)
                 & (high[..., 1] >= -0.5) & (low[..., 1] < other_ny - 0.5))
    if not candidate.any():
        return None
    full = on_other[:-1, :-1] & on_other[:-1, 1:] & on_other[1:, :-1] & on_other[1:, 1:]
    row_cells, column_cells = _cells_of_pixels(pixel_map)
    inside = full[row_cells][:, column_cells]
    partial = candidate & ~full
    for band_start in range(0, partial.shape[0], _BAND_CELLS):
        band = partial[band_start:band_start + _BAND_CELLS]
        if not band.any():
            continue
        rows = _pixels_of_cells(row_cells, band_start, band_start + band.shape[0],
                                band.any(axis=1))
        for first_cell, last_cell in _runs(np.flatnonzero(band.any(axis=0))):
            columns = _pixels_of_cells(column_cells, first_cell, last_cell + 1, None)
            if rows.start == rows.stop or columns.start == columns.stop:
                continue
            dense = pixel_map.evaluate((rows, columns))
            inside[rows, columns] = _on_chip(dense, other.shape)
    if not inside.any():
        return None
    return inside


def _cells_of_pixels(pixel_map: PixelMap) -> tuple[np.ndarray, np.ndarray]:
    """Node cell of each row and of each column of the chip (as the fill finds it)."""
    step = pixel_map.stepsize
    n_cell_y = pixel_map.node_values.shape[0] - 1
    n_cell_x = pixel_map.node_values.shape[1] - 1
    ny, nx = pixel_map.shape
    x_origin, y_origin = pixel_map.origin
    rows = np.clip(np.floor((np.arange(ny) - y_origin) / step).astype(np.int64), 0, n_cell_y - 1)
    columns = np.clip(np.floor((np.arange(nx) - x_origin) / step).astype(np.int64), 0,
                      n_cell_x - 1)
    return rows, columns


def _pixels_of_cells(cell_of_pixel: np.ndarray, first_cell: int, stop_cell: int,
                     wanted: np.ndarray | None) -> slice:
    """The slice of pixels whose cells are in ``[first_cell, stop_cell)`` (and wanted)."""
    cells = np.arange(first_cell, stop_cell)
    if wanted is not None:
        cells = cells[wanted]
    pixels = np.flatnonzero((cell_of_pixel >= cells.min()) & (cell_of_pixel <= cells.max()))
    if pixels.size == 0:
        return slice(0, 0)
    return slice(int(pixels[0]), int(pixels[-1]) + 1)


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive integers in sorted ``indices``."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1)
    starts = np.concatenate([[indices[0]], indices[breaks + 1]])
    ends = np.concatenate([indices[breaks], [indices[-1]]])
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def _on_chip(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ny, nx = shape
    x, y = positions[..., 0], positions[..., 1]
    return (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
