"""Bilinear interpolation of a coarsely sampled pixel map.

The full WCS chain (SIP, NPOL, D2IM, projection) is evaluated only on a grid
of nodes every ``step`` pixels; these kernels fill in every pixel from the
four surrounding nodes.  A separable per-column / per-row shift (the 1-D
detector-to-image tables of HST) can be added to the query position first,
so that such sharp corrections stay exact while the smooth part is
interpolated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from multidrizzle.kernels._parallel import part_range, run_parts, thread_count

__all__ = ["interpolate_pixel_map"]


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


@njit(cache=True, nogil=True)
def _interpolate_separable(part, n_parts, node_values, x_origin, y_origin, step,
                           dx_of_column, dx_of_row, dy_of_column, dy_of_row, x_first, y_first,
                           out):
    """Fill rows of part ``part`` of ``n_parts`` for any separable shifts."""
    ny = out.shape[0]
    nx = out.shape[1]
    n_node_y = node_values.shape[0]
    n_node_x = node_values.shape[1]
    row_lo, row_hi = part_range(part, n_parts, ny)
    for j in range(row_lo, row_hi):
        for i in range(nx):
            qx = (i + x_first) + dx_of_column[i] + dx_of_row[j]
            qy = (j + y_first) + dy_of_column[i] + dy_of_row[j]
            ix, tx = _cell(qx, x_origin, step, n_node_x)
            iy, ty = _cell(qy, y_origin, step, n_node_y)
            for axis in range(2):
                lower = (1.0 - tx) * node_values[iy, ix, axis] + tx * node_values[iy, ix + 1, axis]
                upper = (1.0 - tx) * node_values[iy + 1, ix, axis] + tx * node_values[iy + 1, ix + 1, axis]
                out[j, i, axis] = (1.0 - ty) * lower + ty * upper


@njit(cache=True)
def _axis_cells(n: int, first: int, shifts, origin: float, step: float, n_nodes: int):
    """Cell index and fraction for positions ``first + k + shifts[k]``, k = 0..n-1."""
    index = np.empty(n, dtype=np.int64)
    fraction = np.empty(n, dtype=np.float64)
    for k in range(n):
        index[k], fraction[k] = _cell((k + first) + shifts[k], origin, step, n_nodes)
    return index, fraction


@njit(cache=True, nogil=True)
def _interpolate_axis_separable(part, n_parts, node_values, column_index, column_fraction,
                                row_index, row_fraction, out):
    """Fill rows of part ``part`` of ``n_parts`` when x depends on the column only and y on
    the row only."""
    ny = out.shape[0]
    row_lo, row_hi = part_range(part, n_parts, ny)
    nx = out.shape[1]
    for j in range(row_lo, row_hi):
        iy = row_index[j]
        ty = row_fraction[j]
        for i in range(nx):
            ix = column_index[i]
            tx = column_fraction[i]
            for axis in range(2):
                lower = (1.0 - tx) * node_values[iy, ix, axis] + tx * node_values[iy, ix + 1, axis]
                upper = (1.0 - tx) * node_values[iy + 1, ix, axis] + tx * node_values[iy + 1, ix + 1, axis]
                out[j, i, axis] = (1.0 - ty) * lower + ty * upper


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
    columns = _shift_or_zeros(dx_of_column, nx, "dx_of_column")
    rows = _shift_or_zeros(dx_of_row, ny, "dx_of_row")
    y_columns = _shift_or_zeros(dy_of_column, nx, "dy_of_column")
    y_rows = _shift_or_zeros(dy_of_row, ny, "dy_of_row")
    out = np.empty((ny, nx, 2), dtype=np.float64)
    x_origin, y_origin, step = float(origin[0]), float(origin[1]), float(step)
    y_first, x_first = (int(n) for n in first)
    n_parts = max(1, min(thread_count(), ny))
    if not rows.any() and not y_columns.any():
        # the usual case: cells can be found once per column and once per row
        column_index, column_fraction = _axis_cells(nx, x_first, columns, x_origin, step,
                                                    node_values.shape[1])
        row_index, row_fraction = _axis_cells(ny, y_first, y_rows, y_origin, step,
                                              node_values.shape[0])
        run_parts(_interpolate_axis_separable, n_parts, node_values, column_index,
                  column_fraction, row_index, row_fraction, out)
    else:
        run_parts(_interpolate_separable, n_parts, node_values, x_origin, y_origin, step,
                  columns, rows, y_columns, y_rows, x_first, y_first, out)
    return out


def _shift_or_zeros(shift: np.ndarray | None, length: int, name: str) -> np.ndarray:
    if shift is None:
        return np.zeros(length, dtype=np.float64)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    if shift.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {shift.shape}")
    return shift
