"""Numba helpers shared by the drizzle kernels.

Everything here works on plain floats and arrays:

* rounding as the C ``round()`` of the reference drizzle does it;
* the shrunken input pixel mapped through a pixel map (bilinear
  interpolation of the pixel-centre positions, extrapolated at the edges);
* exact overlap areas of a polygon with the cells of the output grid,
  computed by accumulating signed edge coverage per cell and summing it
  along each output row (the "signed area accumulation" used by font
  rasterisers), so that every edge is visited once instead of once per
  output pixel as in a general polygon-clipping routine;
* one-dimensional kernel profiles (box overlap, Gaussian, Lanczos).

Output pixel ``(row, col)`` covers ``[col - 0.5, col + 0.5] x
[row - 0.5, row + 0.5]``: integer coordinates are pixel centres.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Overlaps smaller than this fraction of the footprint are rounding noise of
# the coverage sums (cells the polygon only touches along an edge); dropping
# them keeps such cells out of the weight and context images.
AREA_NOISE_FRACTION = 1e-12


@njit(cache=True, inline="always", error_model="numpy")
def c_round(x: float) -> float:
    """Round half away from zero (C ``round``), returned as a float."""
    if x >= 0.0:
        return math.floor(x + 0.5)
    return -math.floor(0.5 - x)


@njit(cache=True, inline="always", error_model="numpy")
def nearest_cell(x: float) -> float:
    """Index (as a float) of the grid cell ``[k - 0.5, k + 0.5)`` holding ``x``."""
    return math.floor(x + 0.5)


@njit(cache=True, inline="always", error_model="numpy")
def clip_index_range(lo: float, hi: float, limit_lo: int, limit_hi: int):
    """Intersect the float index range ``[lo, hi]`` with ``[limit_lo, limit_hi]``.

    Comparing as floats before converting keeps huge (but finite) positions
    from overflowing the integer conversion.

    Returns
    -------
    first, last : int
        The clipped range; ``first > last`` when it is empty.
    """
    if hi < limit_lo or lo > limit_hi or hi < lo:
        return 1, 0
    first = limit_lo if lo < limit_lo else int(lo)
    last = limit_hi if hi > limit_hi else int(hi)
    return first, last


@njit(cache=True, inline="always", error_model="numpy")
def axis_cell(position: float, n: int):
    """Interpolation cell ``[k, k + 1]`` of a grid of ``n >= 2`` nodes.

    The cell is clamped to the grid so that positions beyond the first or
    last node extrapolate linearly from the outermost cell, as the reference
    drizzle does for the corners of edge pixels.

    Returns
    -------
    k : int
        Index of the lower node.
    fraction : float
        ``position - k`` (outside ``[0, 1]`` when extrapolating).
    """
    k = math.floor(position)
    if k < 0.0:
        k = 0.0
    elif k > n - 2:
        k = float(n - 2)
    return int(k), position - k


@njit(cache=True, error_model="numpy")
def interpolate_pixmap_row(pixmap: np.ndarray, y: float, first_col: int, last_col: int,
                           row_x: np.ndarray, row_y: np.ndarray) -> None:
    """Output position of input points ``(i, y)`` for ``i`` in ``[first_col, last_col]``.

    Linear interpolation between two rows of pixel centres; ``row_x[i]`` and
    ``row_y[i]`` receive the result.  A non-finite centre propagates into
    every point interpolated from it, even with a zero coefficient, so that
    corners touching an undefined part of the map are undefined too.
    """
    k, f = axis_cell(y, pixmap.shape[0])
    g = 1.0 - f
    for i in range(first_col, last_col + 1):
        row_x[i] = g * pixmap[k, i, 0] + f * pixmap[k + 1, i, 0]
        row_y[i] = g * pixmap[k, i, 1] + f * pixmap[k + 1, i, 1]


@njit(cache=True, inline="always", error_model="numpy")
def corner_on_row(row_x: np.ndarray, row_y: np.ndarray, x: float, n_cols: int):
    """Output position of input point ``x`` on a row filled by `interpolate_pixmap_row`."""
    k, f = axis_cell(x, n_cols)
    g = 1.0 - f
    return g * row_x[k] + f * row_x[k + 1], g * row_y[k] + f * row_y[k + 1]


@njit(cache=True, inline="always", error_model="numpy")
def corner_columns(first: int, last: int, half_side: float, n_cols: int):
    """Columns of the pixel map needed for the corners of pixels ``first..last``."""
    lo, _ = axis_cell(first - half_side, n_cols)
    hi, _ = axis_cell(last + half_side, n_cols)
    return lo, hi + 1


@njit(cache=True, inline="always", error_model="numpy")
def shrunk_pixel_footprint(bottom_x, bottom_y, top_x, top_y, i: int, half_side: float,
                           n_cols: int):
    """Corners of input pixel ``i`` shrunk to ``2 * half_side`` on a side, mapped.

    ``bottom_*`` and ``top_*`` hold the row interpolated at ``y = j - half_side``
    and ``y = j + half_side``.  The corners are returned counter-clockwise in
    the input frame: ``(i-h, j-h), (i+h, j-h), (i+h, j+h), (i-h, j+h)``.
    """
    x0, y0 = corner_on_row(bottom_x, bottom_y, i - half_side, n_cols)
    x1, y1 = corner_on_row(bottom_x, bottom_y, i + half_side, n_cols)
    x2, y2 = corner_on_row(top_x, top_y, i + half_side, n_cols)
    x3, y3 = corner_on_row(top_x, top_y, i - half_side, n_cols)
    return x0, y0, x1, y1, x2, y2, x3, y3


@njit(cache=True, inline="always", error_model="numpy")
def quadrilateral_area(x0, y0, x1, y1, x2, y2, x3, y3) -> float:
    """Signed (shoelace) area of a quadrilateral: half the cross product of its diagonals."""
    return 0.5 * ((x2 - x0) * (y3 - y1) - (x3 - x1) * (y2 - y0))


@njit(cache=True, inline="always", error_model="numpy")
def _deposit(cover: np.ndarray, row: int, col: int, dy: float, to_right_edge: float) -> None:
    """Record an edge piece lying in cell ``(row, col)`` of ``cover``.

    With ``area = -sum over edges of integral clamp(col + 0.5 - x, 0, 1) dy``
    every cell right of the piece receives ``-dy`` and the cell holding it
    ``-dy * to_right_edge`` (the mean part of the cell right of the piece).
    Storing the first amount in ``col`` and the rest in ``col + 1`` lets a
    running sum along the row give every cell its area.
    """
    inside = -dy * to_right_edge
    cover[row, col] += inside
    cover[row, col + 1] += -dy - inside


@njit(cache=True, inline="always", error_model="numpy")
def _local_piece(x_a: float, x_b: float, dy: float, row: int, cover: np.ndarray) -> None:
    """Split an edge piece lying within one row at the column boundaries."""
    cell_a = math.floor(x_a + 0.5)
    cell_b = math.floor(x_b + 0.5)
    if cell_a == cell_b:
        _deposit(cover, row, int(cell_a), dy, cell_a + 0.5 - 0.5 * (x_a + x_b))
        return
    if x_a > x_b:
        x_a, x_b = x_b, x_a
        cell_a, cell_b = cell_b, cell_a
    dy_per_x = dy / (x_b - x_a)
    right = cell_a + 0.5
    _deposit(cover, row, int(cell_a), dy_per_x * (right - x_a), 0.5 * (right - x_a))
    cell = cell_a + 1.0
    while cell < cell_b:
        _deposit(cover, row, int(cell), dy_per_x, 0.5)
        cell += 1.0
    left = cell_b - 0.5
    _deposit(cover, row, int(cell_b), dy_per_x * (x_b - left), cell_b + 0.5 - 0.5 * (left + x_b))


@njit(cache=True, inline="always", error_model="numpy")
def rasterize_edge_local(x_a: float, y_a: float, x_b: float, y_b: float,
                         cover: np.ndarray) -> None:
    """Add the coverage of the directed edge ``a -> b`` to a small local buffer.

    Local coordinates put the footprint's lowest and leftmost cells at index
    0; ``cover`` must have a row for every cell row the edge reaches and two
    more columns than the cell columns.  No clipping: the fast path for
    footprints of a few output pixels.  Horizontal edges carry no coverage in
    this formulation.
    """
    if y_a == y_b:
        return
    sign = 1.0
    if y_a > y_b:
        x_a, y_a, x_b, y_b = x_b, y_b, x_a, y_a
        sign = -1.0
    row_a = math.floor(y_a + 0.5)
    row_b = math.floor(y_b + 0.5)
    if row_a == row_b:
        _local_piece(x_a, x_b, sign * (y_b - y_a), int(row_a), cover)
        return
    dx_per_y = (x_b - x_a) / (y_b - y_a)
    top = row_a + 0.5
    x_top = x_a + (top - y_a) * dx_per_y
    _local_piece(x_a, x_top, sign * (top - y_a), int(row_a), cover)
    row = row_a + 1.0
    while row < row_b:
        x_next = x_top + dx_per_y
        _local_piece(x_top, x_next, sign, int(row), cover)
        x_top = x_next
        row += 1.0
    _local_piece(x_top, x_b, sign * (y_b - (row_b - 0.5)), int(row_b), cover)


@njit(cache=True, inline="always", error_model="numpy")
def _clipped_deposit(cover: np.ndarray, row: int, col: int, dy: float, to_right_edge: float,
                     n_cols: int) -> None:
    """`_deposit` for a grid of ``n_cols`` columns: pieces left of it count in column 0."""
    if col < 0:
        cover[row, 0] -= dy
    elif col < n_cols:
        _deposit(cover, row, col, dy, to_right_edge)


@njit(cache=True, inline="always", error_model="numpy")
def _clipped_piece(x_a: float, x_b: float, dy: float, row: int, col_offset: int,
                   n_cols: int, cover: np.ndarray) -> None:
    """`_local_piece` on a grid of ``n_cols`` columns starting at local ``-col_offset``."""
    grid_left = -0.5 - col_offset
    grid_right = n_cols - 0.5 - col_offset
    if x_a > x_b:
        x_a, x_b = x_b, x_a
    if x_b <= grid_left:
        cover[row, 0] -= dy
        return
    if x_a >= grid_right:
        return
    if x_b == x_a:
        cell = math.floor(x_a + 0.5)
        _clipped_deposit(cover, row, int(cell) + col_offset, dy, cell + 0.5 - x_a, n_cols)
        return
    dy_per_x = dy / (x_b - x_a)
    # Everything left of the grid lands in column 0 at once and nothing right
    # of it matters, so the loop below only visits columns on the grid.
    if x_a < grid_left:
        cover[row, 0] -= dy_per_x * (grid_left - x_a)
        x_a = grid_left
    if x_b > grid_right:
        x_b = grid_right
    first = int(math.floor(x_a + 0.5))
    last = int(math.floor(x_b + 0.5))
    for col in range(first, last + 1):
        lo = max(x_a, col - 0.5)
        hi = min(x_b, col + 0.5)
        if hi > lo:
            _clipped_deposit(cover, row, col + col_offset, dy_per_x * (hi - lo),
                             col + 0.5 - 0.5 * (lo + hi), n_cols)


@njit(cache=True, inline="always", error_model="numpy")
def rasterize_edge_clipped(x_a: float, y_a: float, x_b: float, y_b: float, row_lo: int,
                           row_hi: int, row_offset: int, col_offset: int, n_cols: int,
                           cover: np.ndarray) -> None:
    """Add the coverage of the directed edge ``a -> b``, clipped to part of the grid.

    For footprints too large for `rasterize_edge_local`.  Coordinates are
    local (global minus integer offsets); only local rows ``row_lo..row_hi``
    are rasterised, into ``cover[row + row_offset]``, and only the ``n_cols``
    grid columns (global column = local column + ``col_offset``).
    """
    if y_a == y_b:
        return
    if y_a < y_b:
        x0, y0, x1, y1, sign = x_a, y_a, x_b, y_b, 1.0
    else:
        x0, y0, x1, y1, sign = x_b, y_b, x_a, y_a, -1.0
    # Compared as floats first: a finite but huge coordinate must not
    # overflow the integer conversion.
    first = int(max(math.floor(y0 + 0.5), float(row_lo)))
    last = int(min(math.floor(y1 + 0.5), float(row_hi)))
    x_min = min(x0, x1)
    x_max = max(x0, x1)
    dx_per_y = (x1 - x0) / (y1 - y0)
    for row in range(first, last + 1):
        lo = max(y0, row - 0.5)
        hi = min(y1, row + 0.5)
        if hi <= lo:
            continue
        # Clamped so that a nearly horizontal edge cannot overshoot its ends.
        x_lo = x0 if lo == y0 else min(max(x0 + (lo - y0) * dx_per_y, x_min), x_max)
        x_hi = x1 if hi == y1 else min(max(x0 + (hi - y0) * dx_per_y, x_min), x_max)
        _clipped_piece(x_lo, x_hi, sign * (hi - lo), row + row_offset, col_offset, n_cols,
                       cover)


@njit(cache=True, inline="always", error_model="numpy")
def interval_overlap(lo: float, hi: float, cell: int) -> float:
    """Length of ``[lo, hi]`` inside grid cell ``[cell - 0.5, cell + 0.5]`` (0 if none)."""
    length = min(hi, cell + 0.5) - max(lo, cell - 0.5)
    return length if length > 0.0 else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def lanczos(u: float, order: float) -> float:
    """Lanczos window ``sinc(u) * sinc(u / order)`` for ``|u| < order``, else 0."""
    if u < 0.0:
        u = -u
    if u >= order:
        return 0.0
    if u < 1e-7:
        # sinc(u) ~ 1 - (pi u)^2 / 6; avoids 0/0 at the centre.
        pu = math.pi * u
        return 1.0 - pu * pu * (1.0 + 1.0 / (order * order)) / 6.0
    pu = math.pi * u
    return order * math.sin(pu) * math.sin(pu / order) / (pu * pu)
