"""Bilinear interpolation of a coarsely sampled pixel map.

The full WCS chain (SIP, NPOL, D2IM, projection) is evaluated only on a grid
of nodes every ``step`` pixels; these kernels fill in every pixel from the
four surrounding nodes.  A separable per-column / per-row shift (the 1-D
detector-to-image tables of HST) can be added to the query position first,
so that such sharp corrections stay exact while the smooth part is
interpolated.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from multidrizzle.kernels._parallel import part_range, run_parts, thread_count

__all__ = ["NO_COARSE_MAP", "CoarsePixelMap", "coarse_pixel_map", "fill_pixel_map_block",
           "fill_pixel_map_row", "interpolate_pixel_map"]


@njit(cache=True, inline="always")
def _cell(position: float, origin: float, step: float, n_nodes: int):
    """Index of the node cell holding ``position`` and the fraction inside it."""
    scaled = (position - origin) / step
    index = int(np.floor(scaled))
    if index < 0:
        index = 0
    elif index > n_nodes - 2:
        index = n_nodes - 2
    return index, scaled - index


# How a row of the map is found from the nodes (the first item of a packed map).
_DIRECT, _AXIS_SEPARABLE, _SEPARABLE = 0, 1, 2


@njit(cache=True, inline="always")
def _bilinear(node_values, iy: int, ix: int, ty: float, tx: float, axis: int) -> float:
    """One coordinate inside node cell (iy, ix) at fractions (ty, tx)."""
    lower = (1.0 - tx) * node_values[iy, ix, axis] + tx * node_values[iy, ix + 1, axis]
    upper = (1.0 - tx) * node_values[iy + 1, ix, axis] + tx * node_values[iy + 1, ix + 1, axis]
    return (1.0 - ty) * lower + ty * upper


# inline: compiled into each kernel that reads a map this way, so that kernel
# families compiled by separate processes share no cache file
# (multidrizzle.kernels.warmup).
@njit(cache=True, inline="always")
def fill_pixel_map_row(packed, j: int, i_start: int, i_stop: int, out_row) -> None:
    """Write columns ``i_start .. i_stop - 1`` of row ``j`` of the map described by
    ``packed`` into the same elements of ``out_row`` (nx, 2).

    ``packed`` is :attr:`CoarsePixelMap.packed`.  The arithmetic is that of
    the dense map, whichever way it is asked for: a kernel that reads the
    map row by row from here gets, to the last bit, the positions the dense
    map would hold, without the (ny, nx, 2) array.
    """
    (mode, node_values, x_origin, y_origin, step, dx_of_column, dx_of_row, dy_of_column,
     dy_of_row, x_first, y_first, column_index, column_fraction, row_index, row_fraction,
     x_offset, y_offset) = packed
    if mode == _DIRECT:
        for i in range(i_start, i_stop):
            out_row[i, 0] = node_values[j + y_first, i + x_first, 0] - x_offset
            out_row[i, 1] = node_values[j + y_first, i + x_first, 1] - y_offset
    elif mode == _AXIS_SEPARABLE:
        # x depends on the column only and y on the row only: cells found once per axis
        iy = row_index[j]
        ty = row_fraction[j]
        for i in range(i_start, i_stop):
            ix = column_index[i]
            tx = column_fraction[i]
            out_row[i, 0] = _bilinear(node_values, iy, ix, ty, tx, 0) - x_offset
            out_row[i, 1] = _bilinear(node_values, iy, ix, ty, tx, 1) - y_offset
    else:
        n_node_y = node_values.shape[0]
        n_node_x = node_values.shape[1]
        for i in range(i_start, i_stop):
            qx = (i + x_first) + dx_of_column[i] + dx_of_row[j]
            qy = (j + y_first) + dy_of_column[i] + dy_of_row[j]
            ix, tx = _cell(qx, x_origin, step, n_node_x)
            iy, ty = _cell(qy, y_origin, step, n_node_y)
            out_row[i, 0] = _bilinear(node_values, iy, ix, ty, tx, 0) - x_offset
            out_row[i, 1] = _bilinear(node_values, iy, ix, ty, tx, 1) - y_offset


@njit(cache=True, inline="always")
def fill_pixel_map_block(packed, j: int, i_start: int, i_stop: int, out_row, node_rows,
                         node_row_held: int) -> int:
    """`fill_pixel_map_row` for kernels that go down a block of columns row after row.

    Writes columns ``i_start .. i_stop - 1`` of row ``j`` into the same
    elements of ``out_row`` (nx, 2), with the same bits as
    `fill_pixel_map_row`.  ``node_rows`` is scratch of shape
    ``(4, >= i_stop - i_start)`` kept by the caller between calls; it holds
    the first half of `_bilinear` (the node values interpolated along x, in
    the node rows above and below) for the block's columns in node row
    ``node_row_held``.  Pass -1 when it holds nothing for these columns, and
    the value returned on the next call for the same block.

    Why: in an axis-separable map the interpolation along x depends on the
    column and on the node row only, so it is done once per node row (every
    ``step`` map rows) instead of once per pixel, and what is left per pixel
    is a contiguous loop of two products and two sums per coordinate that
    vectorises: every row of a 4096 x 2051 map with nodes every 10 pixels in
    6.3 ms, against 21 ms with `fill_pixel_map_row`.  The operations and
    their order are those of `_bilinear`, so the bits are.
    Other maps are filled by `fill_pixel_map_row` (``node_rows`` unused).
    """
    (mode, node_values, x_origin, y_origin, step, dx_of_column, dx_of_row, dy_of_column,
     dy_of_row, x_first, y_first, column_index, column_fraction, row_index, row_fraction,
     x_offset, y_offset) = packed
    if mode != _AXIS_SEPARABLE:
        fill_pixel_map_row(packed, j, i_start, i_stop, out_row)
        return node_row_held
    iy = row_index[j]
    n = i_stop - i_start
    # Views that start at the block's first column: loops from 0 vectorise,
    # loops from a variable start did not (numba 0.6x, LLVM 14/15).
    lower_x = node_rows[0, :n]
    upper_x = node_rows[1, :n]
    lower_y = node_rows[2, :n]
    upper_y = node_rows[3, :n]
    if iy != node_row_held:
        cell_index = column_index[i_start:i_stop]
        cell_fraction = column_fraction[i_start:i_stop]
        for k in range(n):
            ix = cell_index[k]
            tx = cell_fraction[k]
            lower_x[k] = (1.0 - tx) * node_values[iy, ix, 0] + tx * node_values[iy, ix + 1, 0]
            upper_x[k] = ((1.0 - tx) * node_values[iy + 1, ix, 0]
                          + tx * node_values[iy + 1, ix + 1, 0])
            lower_y[k] = (1.0 - tx) * node_values[iy, ix, 1] + tx * node_values[iy, ix + 1, 1]
            upper_y[k] = ((1.0 - tx) * node_values[iy + 1, ix, 1]
                          + tx * node_values[iy + 1, ix + 1, 1])
    ty = row_fraction[j]
    # A flat view: the stride of [2 * k] is known when compiling, that of
    # [k, 0] in an (n, 2) view is not (and LLVM does not vectorise for it).
    positions = out_row.reshape(out_row.size)[2 * i_start:2 * i_stop]
    for k in range(n):
        positions[2 * k] = ((1.0 - ty) * lower_x[k] + ty * upper_x[k]) - x_offset
        positions[2 * k + 1] = ((1.0 - ty) * lower_y[k] + ty * upper_y[k]) - y_offset
    return iy


@njit(cache=True, nogil=True)
def _axis_cells(n: int, first: int, shifts, origin: float, step: float, n_nodes: int):
    """Cell index and fraction for positions ``first + k + shifts[k]``, k = 0..n-1."""
    index = np.empty(n, dtype=np.int64)
    fraction = np.empty(n, dtype=np.float64)
    for k in range(n):
        index[k], fraction[k] = _cell((k + first) + shifts[k], origin, step, n_nodes)
    return index, fraction


# Two entry points that differ only by name: each is its own compiled variant
# (multidrizzle.kernels.warmup's "pixmap/axes" and "pixmap/shifted"), so a run
# compiles only the one its maps use.
@njit(cache=True, nogil=True)
def _interpolate_axis_separable(part, n_parts, packed, out):
    """Fill the rows of part ``part`` of ``n_parts`` of a dense map when x depends on
    the column only and y on the row only."""
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for j in range(row_lo, row_hi):
        fill_pixel_map_row(packed, j, 0, out.shape[1], out[j])


@njit(cache=True, nogil=True)
def _interpolate_separable(part, n_parts, packed, out):
    """Fill the rows of part ``part`` of ``n_parts`` of a dense map for any separable
    shifts."""
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for j in range(row_lo, row_hi):
        fill_pixel_map_row(packed, j, 0, out.shape[1], out[j])


class CoarsePixelMap(NamedTuple):
    """A pixel map known on a grid of nodes, for kernels that read it row by row.

    Made by :func:`coarse_pixel_map`; ``shape`` is ``(ny, nx)`` of the map
    and ``packed`` the tuple of arrays and numbers that
    :func:`fill_pixel_map_row` reads.
    """

    shape: tuple[int, int]
    packed: tuple


_EMPTY_INDEX = np.zeros(0, dtype=np.int64)
_EMPTY_VALUES = np.zeros(0, dtype=np.float64)

#: A packed map of no rows: what kernels that take either a dense or a
#: coarse map receive when they are given the dense one (one compiled version).
NO_COARSE_MAP = (np.int64(_DIRECT), np.zeros((0, 0, 2), dtype=np.float64), 0.0, 0.0, 1.0,
                 _EMPTY_VALUES, _EMPTY_VALUES, _EMPTY_VALUES, _EMPTY_VALUES, np.int64(0),
                 np.int64(0), _EMPTY_INDEX, _EMPTY_VALUES, _EMPTY_INDEX, _EMPTY_VALUES,
                 0.0, 0.0)


def coarse_pixel_map(node_values: np.ndarray, origin: tuple[float, float],
                     step: float, shape: tuple[int, int], *,
                     dx_of_column: np.ndarray | None = None,
                     dx_of_row: np.ndarray | None = None,
                     dy_of_column: np.ndarray | None = None,
                     dy_of_row: np.ndarray | None = None,
                     first: tuple[int, int] = (0, 0),
                     offset: tuple[float, float] = (0.0, 0.0)) -> CoarsePixelMap:
    """A pixel map described by its nodes, evaluated by the kernels row by row.

    The parameters are those of :func:`interpolate_pixel_map`, plus
    ``offset``: ``(x, y)`` subtracted from every position (the origin of a
    window of the output grid).  ``interpolate_pixel_map`` with the same
    arguments returns exactly the positions this map gives, minus ``offset``.
    When ``step`` is 1, ``origin`` is (0, 0), there are no shifts and
    ``node_values`` holds the whole chip's map, the nodes are read directly.
    """
    node_values = np.ascontiguousarray(node_values, dtype=np.float64)
    if node_values.ndim != 3 or node_values.shape[2] != 2 or min(node_values.shape[:2]) < 1:
        raise ValueError(f"node_values must have shape (n_node_y, n_node_x, 2), "
                         f"got {node_values.shape}")
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    ny, nx = (int(n) for n in shape)
    y_first, x_first = (int(n) for n in first)
    x_offset, y_offset = (float(n) for n in offset)
    shifts = [dx_of_column, dx_of_row, dy_of_column, dy_of_row]
    if (float(step) == 1.0 and tuple(float(n) for n in origin) == (0.0, 0.0)
            and all(shift is None for shift in shifts)
            and y_first >= 0 and x_first >= 0
            and y_first + ny <= node_values.shape[0] and x_first + nx <= node_values.shape[1]):
        return CoarsePixelMap((ny, nx), (
            np.int64(_DIRECT), node_values, 0.0, 0.0, 1.0, _EMPTY_VALUES, _EMPTY_VALUES,
            _EMPTY_VALUES, _EMPTY_VALUES, np.int64(x_first), np.int64(y_first), _EMPTY_INDEX,
            _EMPTY_VALUES, _EMPTY_INDEX, _EMPTY_VALUES, x_offset, y_offset))
    mode, packed_nodes = _packed_nodes(node_values, origin, step, (ny, nx), dx_of_column,
                                       dx_of_row, dy_of_column, dy_of_row, (y_first, x_first))
    return CoarsePixelMap((ny, nx), (np.int64(mode), *packed_nodes, x_offset, y_offset))


def _packed_nodes(node_values, origin, step, shape, dx_of_column, dx_of_row, dy_of_column,
                  dy_of_row, first):
    """The mode and the middle of a packed map (everything but the offsets)."""
    if min(node_values.shape[:2]) < 2:
        raise ValueError(f"node_values must have shape (n_node_y >= 2, n_node_x >= 2, 2), "
                         f"got {node_values.shape}")
    ny, nx = shape
    columns = _shift_or_zeros(dx_of_column, nx, "dx_of_column")
    rows = _shift_or_zeros(dx_of_row, ny, "dx_of_row")
    y_columns = _shift_or_zeros(dy_of_column, nx, "dy_of_column")
    y_rows = _shift_or_zeros(dy_of_row, ny, "dy_of_row")
    x_origin, y_origin, step = float(origin[0]), float(origin[1]), float(step)
    y_first, x_first = (int(n) for n in first)
    if not rows.any() and not y_columns.any():
        # the usual case: cells can be found once per column and once per row
        column_index, column_fraction = _axis_cells(nx, x_first, columns, x_origin, step,
                                                    node_values.shape[1])
        row_index, row_fraction = _axis_cells(ny, y_first, y_rows, y_origin, step,
                                              node_values.shape[0])
        mode = _AXIS_SEPARABLE
    else:
        column_index, row_index = _EMPTY_INDEX, _EMPTY_INDEX
        column_fraction, row_fraction = _EMPTY_VALUES, _EMPTY_VALUES
        mode = _SEPARABLE
    return mode, (node_values, x_origin, y_origin, step, columns, rows, y_columns, y_rows,
                  np.int64(x_first), np.int64(y_first), column_index, column_fraction,
                  row_index, row_fraction)


def interpolate_pixel_map(node_values: np.ndarray, origin: tuple[float, float],
                          step: float, shape: tuple[int, int], *,
                          dx_of_column: np.ndarray | None = None,
                          dx_of_row: np.ndarray | None = None,
                          dy_of_column: np.ndarray | None = None,
                          dy_of_row: np.ndarray | None = None,
                          first: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Fill a dense pixel map from values known on a regular grid of nodes.

    Parameters
    ----------
    node_values : ndarray, shape (n_node_y, n_node_x, 2)
        Output coordinates ``(x_out, y_out)`` at nodes ``(x_origin + i*step,
        y_origin + j*step)``.
    origin : (float, float)
        ``(x_origin, y_origin)`` of node ``[0, 0]`` in input pixels.
    step : float
        Node spacing in input pixels.
    shape : (int, int)
        ``(ny, nx)`` of the map to fill: the whole chip, or a window of it.
    dx_of_column, dx_of_row, dy_of_column, dy_of_row : ndarray, optional
        Separable shifts added to the query position before interpolating:
        pixel ``(x, y)`` is looked up at ``x + dx_of_column[x] + dx_of_row[y]``
        and ``y + dy_of_column[x] + dy_of_row[y]``.  Zero when omitted.  For a
        window, the shifts of its columns and rows only.
    first : (int, int)
        ``(y, x)`` of the window's first pixel on the chip: the map of a
        window holds exactly the values of the same pixels in the map of the
        whole chip.

    Returns
    -------
    ndarray, shape (ny, nx, 2), float64
        ``pixmap[y, x] = (x_out, y_out)``.  NaN nodes give NaN only in the
        cells that touch them.
    """
    node_values = np.ascontiguousarray(node_values, dtype=np.float64)
    if node_values.ndim != 3 or node_values.shape[2] != 2 or min(node_values.shape[:2]) < 2:
        raise ValueError(f"node_values must have shape (n_node_y >= 2, n_node_x >= 2, 2), "
                         f"got {node_values.shape}")
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    ny, nx = (int(n) for n in shape)
    mode, packed_nodes = _packed_nodes(node_values, origin, step, (ny, nx), dx_of_column,
                                       dx_of_row, dy_of_column, dy_of_row, first)
    out = np.empty((ny, nx, 2), dtype=np.float64)
    n_parts = max(1, min(thread_count(), ny))
    kernel = _interpolate_axis_separable if mode == _AXIS_SEPARABLE else _interpolate_separable
    run_parts(kernel, n_parts, (np.int64(mode), *packed_nodes, 0.0, 0.0), out)
    return out


def _shift_or_zeros(shift: np.ndarray | None, length: int, name: str) -> np.ndarray:
    if shift is None:
        return np.zeros(length, dtype=np.float64)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    if shift.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {shift.shape}")
    return shift
