"""Numba helpers shared by the drizzle kernels.

* rounding as the C ``round()`` of the reference drizzle does it;
* the shrunken input pixel ("drop") mapped through a pixel map: bilinear
  interpolation of the pixel-centre positions, extrapolated beyond the
  image edge;
* exact overlap areas of polygons with the cells of the output grid by
  *signed area accumulation* (as font rasterisers do): every directed edge
  adds, to the cells of the rows it crosses, the amounts whose running sum
  along the row is the area of the polygon in each cell.  Edges are visited
  once each, instead of once per output pixel as in a polygon-clipping
  routine, and the deposits of many polygons can share one buffer;
* one-dimensional kernel profiles (Lanczos).

Output pixel ``(row, col)`` covers ``[col - 0.5, col + 0.5] x
[row - 0.5, row + 0.5]``: integer coordinates are pixel centres.

A note on speed: numba adds atomic reference-count updates around every
call to a function that takes an array *and* branches, even when the call
is inlined.  The helpers used once per pixel therefore either take only
scalars (`edge_cover`) or do not branch (`add_edge_cover`); the callers
hold the branches.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: The one fast-math freedom the drizzle kernels take: ``a * b + c`` may be
#: computed with one rounding (a fused multiply-add), about 8% faster on the
#: square kernel.  Every other IEEE rule holds (NaN and inf are handled as
#: written), results are still the same for any number of threads, and
#: between CPUs with and without FMA they can differ in the last bit of a
#: float64 sum, far below the float32 outputs' precision.
FUSED_MULTIPLY_ADD = {"contract"}

#: Cell weights below this fraction of the largest drop weight of a band are
#: rounding residue of the coverage sums (cells the drops only touch along
#: an edge, gaps between shrunken drops); they are left out of the weight and
#: context images.
WEIGHT_NOISE_FRACTION = 1e-9

#: How `edge_route` tells the caller to deposit an edge.
SKIP_EDGE = 0
FAST_EDGE = 1
CLIPPED_EDGE = 2


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def c_round(x: float) -> float:
    """Round half away from zero (C ``round``), returned as a float."""
    if x >= 0.0:
        return math.floor(x + 0.5)
    return -math.floor(0.5 - x)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def nearest_cell(x: float) -> float:
    """Index (as a float) of the grid cell ``[k - 0.5, k + 0.5)`` holding ``x``."""
    return math.floor(x + 0.5)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
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


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def quadrilateral_area(x0, y0, x1, y1, x2, y2, x3, y3) -> float:
    """Signed (shoelace) area of a quadrilateral: half the cross product of its diagonals."""
    return 0.5 * ((x2 - x0) * (y3 - y1) - (x3 - x1) * (y2 - y0))


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _lerp(a: float, b: float, f: float) -> float:
    """``a`` to ``b`` at fraction ``f``; one expression everywhere so that equal
    inputs give bit-identical corners."""
    return (1.0 - f) * a + f * b


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def interpolate_pixmap_row(pixmap: np.ndarray, y: float, first_col: int, last_col: int,
                           row_x: np.ndarray, row_y: np.ndarray) -> None:
    """Output position of input points ``(i, y)`` for ``i`` in ``[first_col, last_col]``.

    Linear interpolation between two rows of pixel centres; ``row_x[i]`` and
    ``row_y[i]`` receive the result.  A non-finite centre propagates into
    every point interpolated from it, even with a zero coefficient, so that
    corners touching an undefined part of the map are undefined too.
    """
    k, f = axis_cell(y, pixmap.shape[0])
    for i in range(first_col, last_col + 1):
        row_x[i] = _lerp(pixmap[k, i, 0], pixmap[k + 1, i, 0], f)
        row_y[i] = _lerp(pixmap[k, i, 1], pixmap[k + 1, i, 1], f)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _corner_cells(col: int, half_side: float, n_cols: int):
    """Interpolation cells and fractions of the left and right corners of pixel ``col``."""
    k_left = min(max(col + int(math.floor(-half_side)), 0), n_cols - 2)
    k_right = min(max(col + int(math.floor(half_side)), 0), n_cols - 2)
    return k_left, (col - half_side) - k_left, k_right, (col + half_side) - k_right


# Rows of the x coordinate of each corner in `fill_corners`'s ``corners``.
# numpy integers, not Python ones: numba compiles a function called with a
# literal constant once more for every value of it.
_BOTTOM_LEFT = np.int64(0)
_BOTTOM_RIGHT = np.int64(2)
_TOP_RIGHT = np.int64(4)
_TOP_LEFT = np.int64(6)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _fill_corner_row(pixmap, y: float, first: int, last: int, half_side: float, row_x, row_y,
                     corners, left: int, right: int) -> None:
    """Corners at height ``y`` of the drops ``first..last``: ``corners[left:left + 2]``
    receives ``(x, y)`` at ``col - half_side``, ``corners[right:right + 2]`` at
    ``col + half_side``."""
    n_cols = pixmap.shape[1]
    c_lo, _, _, _ = _corner_cells(first, half_side, n_cols)
    _, _, c_hi, _ = _corner_cells(last, half_side, n_cols)
    interpolate_pixmap_row(pixmap, y, c_lo, c_hi + 1, row_x, row_y)
    for col in range(first, last + 1):
        k_left, f_left, k_right, f_right = _corner_cells(col, half_side, n_cols)
        corners[left, col] = _lerp(row_x[k_left], row_x[k_left + 1], f_left)
        corners[left + 1, col] = _lerp(row_y[k_left], row_y[k_left + 1], f_left)
        corners[right, col] = _lerp(row_x[k_right], row_x[k_right + 1], f_right)
        corners[right + 1, col] = _lerp(row_y[k_right], row_y[k_right + 1], f_right)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def fill_corners(pixmap, row: int, first: int, last: int, half_side: float,
                 rows: np.ndarray, corners: np.ndarray, reuse_first: int = 1,
                 reuse_last: int = 0) -> None:
    """Mapped corners of the drops of input pixels ``first..last`` of ``row``.

    A drop is the input pixel shrunk to ``2 * half_side`` on a side about its
    centre.  ``corners`` (8 x nx_in) receives the corners x0, y0, x1, y1, x2,
    y2, x3, y3 of every drop, counter-clockwise in the input frame from
    ``(col - h, row - h)``; ``rows`` (4 x nx_in) is scratch for the pixel map
    interpolated along y.  The interpolation is bilinear in the cells of the
    pixel-centre grid, extrapolated from the outermost cell beyond the image
    edge, and computed identically wherever two drops share a corner (whole
    pixels, ``half_side = 0.5``).

    With whole pixels, the bottom corners of a row are the top corners of
    the row below: columns ``reuse_first..reuse_last``, whose top corners of
    ``row - 1`` are still in ``corners``, take them instead of recomputing.
    (Corners and rows are two arrays: the compiler must see that the corners
    cannot overwrite the rows, or the loops run twice as slowly.)
    """
    reuse_first = max(first, reuse_first)
    reuse_last = min(last, reuse_last)
    if reuse_first <= reuse_last:
        for col in range(reuse_first, reuse_last + 1):
            corners[0, col] = corners[6, col]
            corners[1, col] = corners[7, col]
            corners[2, col] = corners[4, col]
            corners[3, col] = corners[5, col]
        if first < reuse_first:
            _fill_corner_row(pixmap, row - half_side, first, reuse_first - 1, half_side,
                             rows[0], rows[1], corners, _BOTTOM_LEFT, _BOTTOM_RIGHT)
        if reuse_last < last:
            _fill_corner_row(pixmap, row - half_side, reuse_last + 1, last, half_side,
                             rows[0], rows[1], corners, _BOTTOM_LEFT, _BOTTOM_RIGHT)
    else:
        _fill_corner_row(pixmap, row - half_side, first, last, half_side, rows[0], rows[1],
                         corners, _BOTTOM_LEFT, _BOTTOM_RIGHT)
    _fill_corner_row(pixmap, row + half_side, first, last, half_side, rows[2], rows[3],
                     corners, _TOP_LEFT, _TOP_RIGHT)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def pixel_corners(pixmap, row: int, col: int, half_side: float):
    """The corners `fill_corners` gives pixel ``(row, col)``, bit for bit, alone."""
    n_rows = pixmap.shape[0]
    n_cols = pixmap.shape[1]
    k_bottom, f_bottom = axis_cell(row - half_side, n_rows)
    k_top, f_top = axis_cell(row + half_side, n_rows)
    k_left, f_left, k_right, f_right = _corner_cells(col, half_side, n_cols)
    corners = np.empty(8)
    for axis in range(2):
        bottom_left = _lerp(pixmap[k_bottom, k_left, axis], pixmap[k_bottom + 1, k_left, axis],
                            f_bottom)
        bottom_left1 = _lerp(pixmap[k_bottom, k_left + 1, axis],
                             pixmap[k_bottom + 1, k_left + 1, axis], f_bottom)
        bottom_right = _lerp(pixmap[k_bottom, k_right, axis],
                             pixmap[k_bottom + 1, k_right, axis], f_bottom)
        bottom_right1 = _lerp(pixmap[k_bottom, k_right + 1, axis],
                              pixmap[k_bottom + 1, k_right + 1, axis], f_bottom)
        top_left = _lerp(pixmap[k_top, k_left, axis], pixmap[k_top + 1, k_left, axis], f_top)
        top_left1 = _lerp(pixmap[k_top, k_left + 1, axis], pixmap[k_top + 1, k_left + 1, axis],
                          f_top)
        top_right = _lerp(pixmap[k_top, k_right, axis], pixmap[k_top + 1, k_right, axis], f_top)
        top_right1 = _lerp(pixmap[k_top, k_right + 1, axis],
                           pixmap[k_top + 1, k_right + 1, axis], f_top)
        corners[axis] = _lerp(bottom_left, bottom_left1, f_left)
        corners[2 + axis] = _lerp(bottom_right, bottom_right1, f_right)
        corners[4 + axis] = _lerp(top_right, top_right1, f_right)
        corners[6 + axis] = _lerp(top_left, top_left1, f_left)
    return (corners[0], corners[1], corners[2], corners[3], corners[4], corners[5],
            corners[6], corners[7])


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _finite_step(a: float, b: float) -> float:
    """``|b - a|``, or 0 if that is not finite (steps from undefined centres are ignored)."""
    step = abs(b - a)
    return step if step < math.inf else 0.0


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def pixmap_steps(pixmap, row_lo: int, row_hi: int, col_lo: int, col_hi: int):
    """Largest steps of the map between neighbouring pixel centres.

    Over rows ``row_lo..row_hi`` and columns ``col_lo..col_hi`` (inclusive,
    neighbours included only inside that range); steps involving a
    non-finite centre are ignored.

    Returns
    -------
    x_along_x, y_along_x, x_along_y, y_along_y : float
        Largest ``|dx_out|`` and ``|dy_out|`` between horizontal neighbours,
        then between vertical neighbours.
    """
    x_along_x = 0.0
    y_along_x = 0.0
    x_along_y = 0.0
    y_along_y = 0.0
    for row in range(row_lo, row_hi + 1):
        below = min(row + 1, row_hi)
        for col in range(col_lo, col_hi + 1):
            right = min(col + 1, col_hi)
            x = pixmap[row, col, 0]
            y = pixmap[row, col, 1]
            x_along_x = max(x_along_x, _finite_step(x, pixmap[row, right, 0]))
            y_along_x = max(y_along_x, _finite_step(y, pixmap[row, right, 1]))
            x_along_y = max(x_along_y, _finite_step(x, pixmap[below, col, 0]))
            y_along_y = max(y_along_y, _finite_step(y, pixmap[below, col, 1]))
    return x_along_x, y_along_x, x_along_y, y_along_y


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def corner_reach(half_side: float, step_along_x: float, step_along_y: float) -> float:
    """Bound on how far a drop corner lies from its pixel centre, in one output axis.

    The map is interpolated bilinearly between centres whose neighbours
    differ by at most ``step_along_x`` (horizontally) and ``step_along_y``
    (vertically) in this axis: walking ``h`` along x changes the value by at
    most ``h * step_along_x``; walking ``h`` along y, on a vertical line
    through interpolated (possibly extrapolated, weights up to ``1 + h`` and
    ``h``) columns, by at most ``h * (1 + 2h) * step_along_y``.  A millionth
    of a pixel covers rounding.
    """
    return (half_side * step_along_x + half_side * (1.0 + 2.0 * half_side) * step_along_y
            + 1e-6)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _piece_cover(x_a: float, x_b: float, dy: float):
    """Deposits of an edge piece lying in one row and at most two cells.

    With ``area = -sum over edges of integral clamp(col + 0.5 - x, 0, 1) dy``
    every cell right of a piece receives ``-dy`` and the cell holding it
    ``-dy`` times the mean part of the cell right of the piece.  Storing that
    first amount in the cell and the rest in the next one lets a running sum
    along the row give every cell its area.  Local coordinates: the piece
    starts in cell ``cell = nearest_cell(min(x_a, x_b))`` and ends in ``cell``
    or ``cell + 1``.

    Returns
    -------
    cell : float
        Cell of the first deposit.
    d0, d1, d2 : float
        Amounts for cells ``cell``, ``cell + 1`` and ``cell + 2``.
    """
    x_lo = min(x_a, x_b)
    x_hi = max(x_a, x_b)
    cell = np.floor(x_lo + 0.5)
    boundary = cell + 0.5
    x_mid = min(x_hi, boundary)
    width = x_hi - x_lo
    share = (x_mid - x_lo) / width if width > 0.0 else 1.0
    dy_first = dy * share
    dy_second = dy - dy_first
    in_first = -dy_first * (boundary - 0.5 * (x_lo + x_mid))
    in_second = -dy_second * (cell + 1.5 - 0.5 * (boundary + x_hi))
    return cell, in_first, -dy_first - in_first + in_second, -dy_second - in_second


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def edge_cover(x_a: float, y_a: float, x_b: float, y_b: float):
    """Deposits of the directed edge ``a -> b`` when it spans at most 2 x 2 cells.

    The usual drop edge is shorter than an output pixel; this handles it in
    straight-line code.  Coordinates are made local to an integer origin
    near the edge, so the subtraction is exact and cell boundaries stay at
    half-integers.

    Returns
    -------
    fits : bool
        False if the edge spans more than two rows or two columns; the other
        values are then meaningless.
    row, col : float
        Row of the lower piece and leftmost column of the edge.
    cell0, d0, d1, d2 : float
        Deposits of the lower piece in row ``row``, columns ``col + cell0 + k``.
    cell1, e0, e1, e2 : float
        Deposits of the upper piece in row ``row + 1`` (zeros if none).
    """
    # Selects, not a branch, and np.floor (a float; math.floor gives an int,
    # whose conversion does not vectorise): straight-line code that
    # `edge_covers` runs vectorised.
    upwards = y_a <= y_b
    sign = 1.0 if upwards else -1.0
    x_a, y_a, x_b, y_b = (x_a if upwards else x_b, y_a if upwards else y_b,
                          x_b if upwards else x_a, y_b if upwards else y_a)
    row = np.floor(y_a + 0.5)
    col = np.floor(min(x_a, x_b) + 0.5)
    x_a -= col
    x_b -= col
    y_a -= row
    y_b -= row
    fits = (y_b <= 1.5) & (max(x_a, x_b) <= 1.5)
    split = min(y_b, 0.5)
    x_split = x_b if split == y_b else x_a + (split - y_a) * ((x_b - x_a) / (y_b - y_a))
    cell0, d0, d1, d2 = _piece_cover(x_a, x_split, sign * (split - y_a))
    cell1, e0, e1, e2 = _piece_cover(x_split, x_b, sign * (y_b - split))
    return fits, row, col, cell0, d0, d1, d2, cell1, e0, e1, e2


#: Values per edge in `edge_covers`'s output rows: `edge_cover`'s 11 and one of
#: padding (rows of 96 bytes).
EDGE_ROW_LENGTH = 12


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def edge_covers(x_a, y_a, x_b, y_b, out) -> None:
    """`edge_cover` of the edges ``a[i] -> b[i]`` into ``out[i, :11]`` (``fits`` as
    1.0 or 0.0); ``out`` has rows of `EDGE_ROW_LENGTH`.

    A run of drops' edges at once, in a loop LLVM vectorises, ahead of the
    loop that deposits them: the square kernel's science pass 4 to 5% faster
    (benchmarks/bench_kernels.py, runs alternating with the per-edge calls).
    Each edge's values lie side by side, so the deposit loop reads one or two
    cache lines per edge.  The same values to the bit as `edge_cover`.
    """
    for i in range(x_a.shape[0]):
        fits, row, col, cell0, d0, d1, d2, cell1, e0, e1, e2 = edge_cover(x_a[i], y_a[i],
                                                                          x_b[i], y_b[i])
        values = out[i]
        values[0] = 1.0 if fits else 0.0
        values[1] = row
        values[2] = col
        values[3] = cell0
        values[4] = d0
        values[5] = d1
        values[6] = d2
        values[7] = cell1
        values[8] = e0
        values[9] = e1
        values[10] = e2


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def edge_route(fits: bool, row: float, col: float, row0: int, row1: int, n_cols: int) -> int:
    """How to deposit an edge whose `edge_cover` gave ``fits``, ``row``, ``col``.

    The band buffer has a spare row above and below the band (deposits there
    are dropped) and spare columns right of the grid, so a fitting edge can
    be added as it is unless it reaches left of the grid, whose coverage must
    land in column 0.
    """
    if not fits:
        return CLIPPED_EDGE
    if row > row1 or row < row0 - 1 or col > n_cols - 1:
        return SKIP_EDGE
    if col < 0.0:
        return CLIPPED_EDGE
    return FAST_EDGE


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def add_edge_cover(cover: np.ndarray, row0: int, row: float, col: float, cell0: float,
                   d0: float, d1: float, d2: float, cell1: float, e0: float, e1: float,
                   e2: float, alpha: float, beta: float) -> None:
    """Add `edge_cover` deposits, times ``alpha`` and ``beta``, to a band buffer.

    ``cover[r - row0 + 1, c, 0 or 1]`` holds output cell ``(r, c)``.
    Branch-free on purpose (see the module notes).
    """
    r = int(row) - row0 + 1
    c = int(col + cell0)
    cover[r, c, 0] += alpha * d0
    cover[r, c, 1] += beta * d0
    cover[r, c + 1, 0] += alpha * d1
    cover[r, c + 1, 1] += beta * d1
    cover[r, c + 2, 0] += alpha * d2
    cover[r, c + 2, 1] += beta * d2
    c = int(col + cell1)
    cover[r + 1, c, 0] += alpha * e0
    cover[r + 1, c, 1] += beta * e0
    cover[r + 1, c + 1, 0] += alpha * e1
    cover[r + 1, c + 1, 1] += beta * e1
    cover[r + 1, c + 2, 0] += alpha * e2
    cover[r + 1, c + 2, 1] += beta * e2


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def add_edge_weight(cover: np.ndarray, row0: int, row: float, col: float, cell0: float,
                    d0: float, d1: float, d2: float, cell1: float, e0: float, e1: float,
                    e2: float, alpha: float) -> None:
    """`add_edge_cover` of the weights only (``cover[..., 0]``).

    The variance pass reads no weighted values: writing their zero deposits
    was half its memory traffic.
    """
    r = int(row) - row0 + 1
    c = int(col + cell0)
    cover[r, c, 0] += alpha * d0
    cover[r, c + 1, 0] += alpha * d1
    cover[r, c + 2, 0] += alpha * d2
    c = int(col + cell1)
    cover[r + 1, c, 0] += alpha * e0
    cover[r + 1, c + 1, 0] += alpha * e1
    cover[r + 1, c + 2, 0] += alpha * e2


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _clipped_deposit(cover: np.ndarray, row: int, col: int, dy: float, to_right_edge: float,
                     n_cols: int, alpha: float, beta: float) -> None:
    """One deposit on a grid of ``n_cols`` columns; pieces left of it count in column 0."""
    if col < 0:
        cover[row, 0, 0] -= alpha * dy
        cover[row, 0, 1] -= beta * dy
    elif col < n_cols:
        inside = -dy * to_right_edge
        rest = -dy - inside
        cover[row, col, 0] += alpha * inside
        cover[row, col, 1] += beta * inside
        cover[row, col + 1, 0] += alpha * rest
        cover[row, col + 1, 1] += beta * rest


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _clipped_piece(x_a: float, x_b: float, dy: float, row: int, col_offset: int, n_cols: int,
                   alpha: float, beta: float, cover: np.ndarray) -> None:
    """Deposits of a piece within one row, any length, clipped to the grid columns.

    Local coordinates: grid column ``c`` is local column ``c - col_offset``.
    """
    grid_left = -0.5 - col_offset
    grid_right = n_cols - 0.5 - col_offset
    if x_a > x_b:
        x_a, x_b = x_b, x_a
    if x_b <= grid_left:
        cover[row, 0, 0] -= alpha * dy
        cover[row, 0, 1] -= beta * dy
        return
    if x_a >= grid_right:
        return
    if x_b == x_a:
        cell = math.floor(x_a + 0.5)
        _clipped_deposit(cover, row, int(cell) + col_offset, dy, cell + 0.5 - x_a, n_cols,
                         alpha, beta)
        return
    dy_per_x = dy / (x_b - x_a)
    # Everything left of the grid lands in column 0 at once and nothing right
    # of it matters, so the loop below only visits columns on the grid.
    if x_a < grid_left:
        cut = dy_per_x * (grid_left - x_a)
        cover[row, 0, 0] -= alpha * cut
        cover[row, 0, 1] -= beta * cut
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
                             col + 0.5 - 0.5 * (lo + hi), n_cols, alpha, beta)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def deposit_edge_clipped(x_a: float, y_a: float, x_b: float, y_b: float, alpha: float,
                         beta: float, row0: int, row1: int, n_cols: int,
                         cover: np.ndarray) -> None:
    """Deposits of an edge of any size, clipped to band rows ``row0..row1`` and the grid.

    The slow path, for edges longer than an output pixel or reaching left of
    the grid; same buffer layout as `add_edge_cover`.
    """
    if y_a == y_b:
        return
    if y_a < y_b:
        x0, y0, x1, y1, sign = x_a, y_a, x_b, y_b, 1.0
    else:
        x0, y0, x1, y1, sign = x_b, y_b, x_a, y_a, -1.0
    if math.floor(y1 + 0.5) < row0 or math.floor(y0 + 0.5) > row1:
        return
    if math.floor(min(x0, x1) + 0.5) > n_cols - 1:
        return
    # Local coordinates from an integer origin on the grid; compared as
    # floats first so that a finite but huge coordinate cannot overflow the
    # integer conversions.
    origin_x = min(max(math.floor(min(x0, x1) + 0.5), 0.0), float(n_cols - 1))
    origin_y = float(row0)
    x0 -= origin_x
    x1 -= origin_x
    y0 -= origin_y
    y1 -= origin_y
    first = int(max(math.floor(y0 + 0.5), 0.0))
    last = int(min(math.floor(y1 + 0.5), float(row1 - row0)))
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
        _clipped_piece(x_lo, x_hi, sign * (hi - lo), row + 1, int(origin_x), n_cols,
                       alpha, beta, cover)


# Taylor coefficients of sin(x) / x and cos(x) in powers of x^2: on
# |x| <= pi/4 the first omitted terms are below 1e-16 of the result.
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7 = (
    (-1.0) ** k / math.factorial(2 * k + 1) for k in range(8))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8 = (
    (-1.0) ** k / math.factorial(2 * k) for k in range(9))


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def sin_cos_pi(t: float):
    """``(sin(pi t), cos(pi t))`` to a few ulps, for finite ``t``.

    Written by hand because numba calls the C library's ``sin`` and ``cos``
    separately, with a general range reduction each: four such calls per
    drop were 40% of the Lanczos drizzle kernel (benchmarks/bench_kernels.py).
    ``t`` is reduced exactly by the nearest multiple of 1/2, leaving an angle
    within pi/4 for two short polynomials, evaluated in pairs of terms
    (Estrin) so that their multiplications overlap.
    """
    half_turns = math.floor(2.0 * t + 0.5)
    x = math.pi * (t - 0.5 * half_turns)
    x2 = x * x
    x4 = x2 * x2
    x8 = x4 * x4
    sin_x = x * (((_S0 + _S1 * x2) + (_S2 + _S3 * x2) * x4)
                 + ((_S4 + _S5 * x2) + (_S6 + _S7 * x2) * x4) * x8)
    cos_x = (((_C0 + _C1 * x2) + (_C2 + _C3 * x2) * x4)
             + ((_C4 + _C5 * x2) + (_C6 + _C7 * x2) * x4) * x8 + _C8 * (x8 * x8))
    # The quarter turn picks and signs the pair, with selects: the quadrant
    # of a drop's offset is random, and branches on it were mispredicted.
    quadrant = int(half_turns) & 3
    swap = (quadrant & 1) != 0
    sine = cos_x if swap else sin_x
    cosine = sin_x if swap else cos_x
    sine = -sine if (quadrant & 2) != 0 else sine
    cosine = -cosine if ((quadrant + 1) & 2) != 0 else cosine
    return sine, cosine


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def lanczos_from_sines(u: float, sin_pi_u: float, sin_pi_u_over_order: float,
                       order: float) -> float:
    """Lanczos window ``sinc(u) * sinc(u / order)`` given ``sin(pi u)`` and ``sin(pi u / order)``.

    Zero for ``|u| >= order``.  Taking the sines as arguments lets a caller
    get them for a whole row of samples from two angle-addition recurrences
    instead of two ``sin`` calls per sample.
    """
    magnitude = abs(u)
    if magnitude >= order:
        return 0.0
    pu = math.pi * magnitude
    if magnitude < 1e-7:
        # sinc(u) ~ 1 - (pi u)^2 / 6; avoids 0/0 at the centre.
        return 1.0 - pu * pu * (1.0 + 1.0 / (order * order)) / 6.0
    return order * sin_pi_u * sin_pi_u_over_order / (pu * pu)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def lanczos_step_table(step: float, order: float, n: int) -> np.ndarray:
    """``cos``/``sin`` of ``k pi step`` and ``k pi step / order`` for ``k < n`` (4 x n).

    With them, ``sin(pi (u0 + k step)) = sin(pi u0) cos(k pi step) +
    cos(pi u0) sin(k pi step)`` for every sample of a window.
    """
    table = np.empty((4, n))
    for k in range(n):
        angle = k * math.pi * step
        table[0, k] = math.cos(angle)
        table[1, k] = math.sin(angle)
        table[2, k] = math.cos(angle / order)
        table[3, k] = math.sin(angle / order)
    return table
