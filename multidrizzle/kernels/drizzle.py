"""Drizzle kernels: resample one input image onto an output grid and co-add it.

The kernels see a *pixel map* ``pixmap[y, x] = (x_out, y_out)`` (float64,
shape ``(ny_in, nx_in, 2)``, 0-based, integers at pixel centres), never a WCS,
exactly as the C kernels of the ``drizzle`` package
(``drizzle.resample.Drizzle.add_image``).  Each call adds one input image to
the output science, weight and context arrays in place, following the
drizzle weighted-mean rules (Fruchter & Hook 2002, eqs. 4-5)::

    w_new   = w_old + sum(dow)
    sci_new = (sci_old * w_old + sum(value * dow)) / w_new
    dow     = weight_map * wt_scl * kernel_fraction

so adding images one by one gives the same result as the reference.

How the work is parallelised
----------------------------
The output is cut into horizontal bands of ``BAND_HEIGHT`` rows.  A first
pass over the input (parallel over input rows) records, for every input row
and band, the first and last input pixel whose footprint reaches the band.
The second pass is parallel over bands: each band is owned by one thread,
which visits the input pixels reaching it in input order, accumulates their
contributions in float64 for its rows only, and then writes those rows back.
No two threads ever write the same output pixel and a band's arithmetic does
not depend on which thread runs it, so 1, 2 or N threads give bit-identical
results.

Differences from the reference C code (deliberate)
--------------------------------------------------
* Input pixels with a non-finite value, weight or pixel-map position are
  skipped (the reference lets a NaN value spoil every output pixel it
  touches).
* Contributions are summed in float64 and rounded to the output dtype once
  per call (the reference rounds to float32 after every contribution); the
  difference is at the float32 rounding level.
* ``gaussian``, ``lanczos2``, ``lanczos3`` and ``tophat`` are normalised so
  that each input pixel distributes exactly its weight over its whole kernel
  window: they conserve flux like ``square``, ``turbo`` and ``point``.  The
  reference samples a Gaussian normalised as a continuous function and an
  un-normalised Lanczos look-up table, whose sums vary with the sub-pixel
  phase (ripples in the weight image, flux not conserved).  Lanczos values are
  computed exactly rather than from a table.
* A context bit is set where the image's total weight on the pixel is
  positive (the reference sets it where any single contribution is
  positive; this differs only for Lanczos negative lobes).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from multidrizzle.errors import ParameterError
from multidrizzle.kernels._geometry import (
    AREA_NOISE_FRACTION,
    c_round,
    corner_columns,
    interpolate_pixmap_row,
    lanczos,
    nearest_cell,
    quadrilateral_area,
    rasterize_edge_clipped,
    rasterize_edge_local,
)

__all__ = [
    "DRIZZLE_KERNELS",
    "CONTEXT_PLANE_BITS",
    "drizzle_add_image",
    "new_context",
    "finalize_fill",
    "context_plane_and_bit",
]

#: Kernels understood by `drizzle_add_image`.
DRIZZLE_KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat")

#: Input images per context plane (bits of an int32).
CONTEXT_PLANE_BITS = 32

#: Output rows per band owned by one thread.  Small enough that a band's
#: float64 accumulators stay in cache, large enough that few input pixels
#: straddle two bands (measured with benchmarks/bench_kernels.py).
BAND_HEIGHT = 32

#: Size of the scratch buffer for the coverage of one square-kernel
#: footprint; footprints spanning more output pixels (input pixels much
#: larger than output pixels) take a slower clipped path.
LOCAL_ROWS = 16
LOCAL_COLS = 18

_KERNEL_CODES = {name: code for code, name in enumerate(DRIZZLE_KERNELS)}
_SQUARE = _KERNEL_CODES["square"]
_POINT = _KERNEL_CODES["point"]
_TURBO = _KERNEL_CODES["turbo"]
_GAUSSIAN = _KERNEL_CODES["gaussian"]
_LANCZOS2 = _KERNEL_CODES["lanczos2"]
_LANCZOS3 = _KERNEL_CODES["lanczos3"]
_TOPHAT = _KERNEL_CODES["tophat"]

# Gaussian kernel as drizzle defines it: FWHM = pixfrac input pixels,
# truncated at 2.5 sigma but never narrower than 1.2 input pixels.
_FWHM_PER_SIGMA = 2.3548
_GAUSSIAN_TRUNCATION_SIGMAS = 2.5
_GAUSSIAN_MIN_RADIUS = 1.2


# --------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _usable_input(data, weights, has_weights: bool, row: int, col: int):
    """Value and weight of an input pixel, and whether both are finite."""
    value = float(data[row, col])
    weight = float(weights[row, col]) if has_weights else 1.0
    return value, weight, math.isfinite(value) and math.isfinite(weight)


@njit(cache=True, inline="always", error_model="numpy")
def _register(first, last, box_row: int, col: int, row_lo: int, row_hi: int) -> None:
    """Note that input pixel ``col`` of ``box_row`` reaches output rows ``row_lo..row_hi``.

    The rows must already be clipped to the output image.
    """
    for band in range(row_lo // BAND_HEIGHT, row_hi // BAND_HEIGHT + 1):
        if first[band, box_row] < 0:
            first[band, box_row] = col
        last[band, box_row] = col


@njit(cache=True, inline="always", error_model="numpy")
def _add(acc_w, acc_wv, band_row: int, col: int, dow: float, value: float) -> None:
    acc_w[band_row, col] += dow
    acc_wv[band_row, col] += dow * value


@njit(cache=True, inline="always", error_model="numpy")
def _widen(extent, band_row: int, col_lo: int, col_hi: int) -> None:
    """Widen the columns of a band row that must be written back."""
    if col_lo < extent[band_row, 0]:
        extent[band_row, 0] = col_lo
    if col_hi > extent[band_row, 1]:
        extent[band_row, 1] = col_hi


@njit(cache=True, error_model="numpy")
def _write_back_band(row0: int, n_rows: int, out_sci, out_wht, ctx_plane, has_ctx: bool,
                     bit: np.int32, acc_w, acc_wv, extent) -> None:
    """Merge a band's float64 sums into the outputs and reset the sums.

    Pixels that received nothing are not touched, so a NaN fill value or a
    previous science value survives exactly.
    """
    n_cols = out_sci.shape[1]
    for band_row in range(n_rows):
        row = row0 + band_row
        for col in range(extent[band_row, 0], extent[band_row, 1] + 1):
            added_w = acc_w[band_row, col]
            added_wv = acc_wv[band_row, col]
            if added_w == 0.0 and added_wv == 0.0:
                continue
            acc_w[band_row, col] = 0.0
            acc_wv[band_row, col] = 0.0
            old_w = float(out_wht[row, col])
            new_w = old_w + added_w
            if new_w != 0.0:
                # sci_old is ignored where w_old == 0: it holds a fill value.
                old_sum = float(out_sci[row, col]) * old_w if old_w != 0.0 else 0.0
                out_sci[row, col] = (old_sum + added_wv) / new_w
            out_wht[row, col] = new_w
            if has_ctx and added_w > 0.0:
                ctx_plane[row, col] |= bit
        extent[band_row, 0] = n_cols
        extent[band_row, 1] = -1


@njit(cache=True, error_model="numpy")
def _count_skips(missed_per_row: np.ndarray, row_width: int):
    """Total missed pixels and number of box rows in which every pixel was missed."""
    skipped = 0
    missed = 0
    for n in missed_per_row:
        missed += n
        if n == row_width:
            skipped += 1
    return skipped, missed


@njit(cache=True, inline="always", error_model="numpy")
def _row_chunk(chunk: int, n_chunks: int, n_rows: int):
    """Rows ``lo..hi-1`` of chunk ``chunk`` when ``n_rows`` are cut into ``n_chunks``."""
    return chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks


@njit(cache=True, inline="always", error_model="numpy")
def _new_band_buffers(n_cols_out: int):
    """Per-thread float64 sums of a band and the written-column range of each row."""
    acc_w = np.zeros((BAND_HEIGHT, n_cols_out))
    acc_wv = np.zeros((BAND_HEIGHT, n_cols_out))
    extent = np.empty((BAND_HEIGHT, 2), dtype=np.int64)
    extent[:, 0] = n_cols_out
    extent[:, 1] = -1
    return acc_w, acc_wv, extent


# --------------------------------------------------------------------------
# square kernel
# --------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _fill_corners(pixmap, row: int, first: int, last: int, half_side: float,
                  rows: np.ndarray, corners: np.ndarray) -> None:
    """Mapped corners of the shrunken input pixels ``first..last`` of ``row``.

    ``rows`` (4 x nx_in) receives the pixel map interpolated along y at
    ``row - half_side`` and ``row + half_side`` (x then y of each);
    ``corners`` (8 x nx_in) the corners x0, y0, x1, y1, x2, y2, x3, y3 of
    every pixel, counter-clockwise in the input frame from
    ``(col - h, row - h)``.  Interpolation is bilinear in the cells of the
    pixel-centre grid, extrapolated from the outermost cell beyond the image
    edge.  (Two arrays rather than one: the compiler must see that the
    corners cannot overwrite the rows, or the loop runs twice as slowly.)
    """
    n_cols_in = pixmap.shape[1]
    c_lo, c_hi = corner_columns(first, last, half_side, n_cols_in)
    bottom_x = rows[0]
    bottom_y = rows[1]
    top_x = rows[2]
    top_y = rows[3]
    interpolate_pixmap_row(pixmap, row - half_side, c_lo, c_hi, bottom_x, bottom_y)
    interpolate_pixmap_row(pixmap, row + half_side, c_lo, c_hi, top_x, top_y)
    # Away from the edges every pixel's corners sit at the same offsets in
    # the same relative cells: find those once instead of per pixel.
    left_step = int(math.floor(-half_side))
    right_step = int(math.floor(half_side))
    for col in range(first, last + 1):
        k_left = min(max(col + left_step, 0), n_cols_in - 2)
        k_right = min(max(col + right_step, 0), n_cols_in - 2)
        f_left = (col - half_side) - k_left
        f_right = (col + half_side) - k_right
        g_left = 1.0 - f_left
        g_right = 1.0 - f_right
        corners[0, col] = g_left * bottom_x[k_left] + f_left * bottom_x[k_left + 1]
        corners[1, col] = g_left * bottom_y[k_left] + f_left * bottom_y[k_left + 1]
        corners[2, col] = g_right * bottom_x[k_right] + f_right * bottom_x[k_right + 1]
        corners[3, col] = g_right * bottom_y[k_right] + f_right * bottom_y[k_right + 1]
        corners[4, col] = g_right * top_x[k_right] + f_right * top_x[k_right + 1]
        corners[5, col] = g_right * top_y[k_right] + f_right * top_y[k_right + 1]
        corners[6, col] = g_left * top_x[k_left] + f_left * top_x[k_left + 1]
        corners[7, col] = g_left * top_y[k_left] + f_left * top_y[k_left + 1]


@njit(cache=True, error_model="numpy")
def _square_register_rows(data, weights, has_weights, pixmap, half_side, row_lo, row_hi,
                          y_first, x_first, x_last, n_rows_out, n_cols_out, first, last,
                          missed_per_row) -> None:
    """First pass of the square kernel over box rows ``row_lo..row_hi-1``."""
    rows = np.empty((4, pixmap.shape[1]))
    corners = np.empty((8, pixmap.shape[1]))
    for box_row in range(row_lo, row_hi):
        row = y_first + box_row
        _fill_corners(pixmap, row, x_first, x_last, half_side, rows, corners)
        missed = 0
        for col in range(x_first, x_last + 1):
            _, weight, ok = _usable_input(data, weights, has_weights, row, col)
            x0, y0 = corners[0, col], corners[1, col]
            x1, y1 = corners[2, col], corners[3, col]
            x2, y2 = corners[4, col], corners[5, col]
            x3, y3 = corners[6, col], corners[7, col]
            # Not finite if any corner is not (or the footprint is absurdly large).
            area = quadrilateral_area(x0, y0, x1, y1, x2, y2, x3, y3)
            if not (ok and math.isfinite(area) and area != 0.0):
                missed += 1
                continue
            bottom = nearest_cell(min(min(y0, y1), min(y2, y3)))
            top = nearest_cell(max(max(y0, y1), max(y2, y3)))
            left = nearest_cell(min(min(x0, x1), min(x2, x3)))
            right = nearest_cell(max(max(x0, x1), max(x2, x3)))
            if top < 0.0 or bottom > n_rows_out - 1.0 or right < 0.0 or left > n_cols_out - 1.0:
                missed += 1
            elif weight != 0.0:
                _register(first, last, box_row, col, int(max(bottom, 0.0)),
                          int(min(top, n_rows_out - 1.0)))
        missed_per_row[box_row] = missed


@njit(cache=True, inline="always", error_model="numpy")
def _emit_local(local, bottom: int, n_rows: int, left: int, n_cols: int, noise: float,
                weight_per_area: float, value: float, row0: int, row1: int, n_cols_out: int,
                acc_w, acc_wv, extent) -> None:
    """Turn the coverage in ``local`` into weights of the band's cells, and reset it.

    A running sum along each row gives every cell its overlap area; overlaps
    within ``noise`` of zero are rounding residue of cells the footprint does
    not really reach.
    """
    col_lo = max(left, 0)
    col_hi = min(left + n_cols - 1, n_cols_out - 1)
    for local_row in range(n_rows):
        row = bottom + local_row
        if row < row0 or row > row1:
            for local_col in range(n_cols + 1):
                local[local_row, local_col] = 0.0
            continue
        band_row = row - row0
        running = 0.0
        for local_col in range(n_cols + 1):
            running += local[local_row, local_col]
            local[local_row, local_col] = 0.0
            col = left + local_col
            if col_lo <= col <= col_hi and abs(running) > noise:
                _add(acc_w, acc_wv, band_row, col, running * weight_per_area, value)
        _widen(extent, band_row, col_lo, col_hi)


@njit(cache=True, error_model="numpy")
def _spread_clipped(x0, y0, x1, y1, x2, y2, x3, y3, noise, weight_per_area, value, r_first,
                    r_last, c_first, c_last, row0, n_cols_out, acc_w, acc_wv, cover,
                    extent) -> None:
    """Square kernel for a footprint larger than the local buffer.

    Only rows ``r_first..r_last`` of the band and columns ``c_first..c_last``
    of the output are rasterised, so the cost stays bounded by the band.
    """
    ox = float(c_first)
    oy = float(r_first)
    n_local_rows = r_last - r_first
    row_offset = r_first - row0
    rasterize_edge_clipped(x0 - ox, y0 - oy, x1 - ox, y1 - oy, 0, n_local_rows, row_offset,
                           c_first, n_cols_out, cover)
    rasterize_edge_clipped(x1 - ox, y1 - oy, x2 - ox, y2 - oy, 0, n_local_rows, row_offset,
                           c_first, n_cols_out, cover)
    rasterize_edge_clipped(x2 - ox, y2 - oy, x3 - ox, y3 - oy, 0, n_local_rows, row_offset,
                           c_first, n_cols_out, cover)
    rasterize_edge_clipped(x3 - ox, y3 - oy, x0 - ox, y0 - oy, 0, n_local_rows, row_offset,
                           c_first, n_cols_out, cover)
    for band_row in range(row_offset, row_offset + n_local_rows + 1):
        running = 0.0
        for col in range(c_first, c_last + 2):
            running += cover[band_row, col]
            cover[band_row, col] = 0.0
            if col <= c_last and abs(running) > noise:
                _add(acc_w, acc_wv, band_row, col, running * weight_per_area, value)
        _widen(extent, band_row, c_first, c_last)


@njit(cache=True, inline="always", error_model="numpy")
def _square_spread(x0, y0, x1, y1, x2, y2, x3, y3, value, weight, row0, row1, n_cols_out,
                   acc_w, acc_wv, cover, local, extent) -> None:
    """Spread one mapped input pixel over the band rows ``row0..row1`` it overlaps.

    Each output pixel gets ``weight * overlap / area``: the fraction of the
    (shrunken) input pixel that falls on it.
    """
    area = quadrilateral_area(x0, y0, x1, y1, x2, y2, x3, y3)
    if not (math.isfinite(area) and area != 0.0):
        return
    bottom = nearest_cell(min(min(y0, y1), min(y2, y3)))
    top = nearest_cell(max(max(y0, y1), max(y2, y3)))
    left = nearest_cell(min(min(x0, x1), min(x2, x3)))
    right = nearest_cell(max(max(x0, x1), max(x2, x3)))
    if top < row0 or bottom > row1 or right < 0.0 or left > n_cols_out - 1.0:
        return
    noise = AREA_NOISE_FRACTION * abs(area)
    weight_per_area = weight / area
    if top - bottom < LOCAL_ROWS and right - left + 2.0 < LOCAL_COLS:
        # Local coordinates put the lowest, leftmost cell at index 0; the
        # origin is an integer so the subtraction is exact and cell
        # boundaries stay at half-integers.
        rasterize_edge_local(x0 - left, y0 - bottom, x1 - left, y1 - bottom, local)
        rasterize_edge_local(x1 - left, y1 - bottom, x2 - left, y2 - bottom, local)
        rasterize_edge_local(x2 - left, y2 - bottom, x3 - left, y3 - bottom, local)
        rasterize_edge_local(x3 - left, y3 - bottom, x0 - left, y0 - bottom, local)
        _emit_local(local, int(bottom), int(top - bottom) + 1, int(left), int(right - left) + 1,
                    noise, weight_per_area, value, row0, row1, n_cols_out, acc_w, acc_wv, extent)
    else:
        r_first = int(max(bottom, float(row0)))
        r_last = int(min(top, float(row1)))
        c_first = int(max(left, 0.0))
        c_last = int(min(right, n_cols_out - 1.0))
        _spread_clipped(x0, y0, x1, y1, x2, y2, x3, y3, noise, weight_per_area, value,
                        r_first, r_last, c_first, c_last, row0, n_cols_out, acc_w, acc_wv,
                        cover, extent)


@njit(cache=True, error_model="numpy")
def _square_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                 weight_scale, pixmap, half_side, n_rows_out, n_cols_out, acc_w, acc_wv, cover,
                 local, extent, rows, corners) -> None:
    """Second pass of the square kernel: every input pixel reaching one band."""
    row0 = band * BAND_HEIGHT
    row1 = min(row0 + BAND_HEIGHT, n_rows_out) - 1
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        col_last = last[band, box_row]
        row = y_first + box_row
        _fill_corners(pixmap, row, col_first, col_last, half_side, rows, corners)
        for col in range(col_first, col_last + 1):
            value, weight, ok = _usable_input(data, weights, has_weights, row, col)
            if not ok or weight == 0.0:
                continue
            _square_spread(corners[0, col], corners[1, col], corners[2, col], corners[3, col],
                           corners[4, col], corners[5, col], corners[6, col], corners[7, col],
                           value * value_scale, weight * weight_scale, row0, row1, n_cols_out,
                           acc_w, acc_wv, cover, local, extent)


@njit(cache=True, parallel=True, error_model="numpy")
def _drizzle_square(data, weights, has_weights, pixmap, out_sci, out_wht, ctx_plane, has_ctx,
                    bit, value_scale, weight_scale, half_side, x_first, x_last, y_first, y_last,
                    n_threads):
    """Square kernel driver; returns ``(n_skipped_lines, n_missed_pixels)``."""
    n_rows_out, n_cols_out = out_sci.shape
    n_bands = (n_rows_out + BAND_HEIGHT - 1) // BAND_HEIGHT
    n_box_rows = y_last - y_first + 1
    first = np.full((n_bands, n_box_rows), -1, dtype=np.int32)
    last = np.full((n_bands, n_box_rows), -1, dtype=np.int32)
    missed_per_row = np.zeros(n_box_rows, dtype=np.int64)
    n_chunks = min(n_box_rows, 4 * n_threads)
    for chunk in prange(n_chunks):
        row_lo, row_hi = _row_chunk(chunk, n_chunks, n_box_rows)
        _square_register_rows(data, weights, has_weights, pixmap, half_side, row_lo, row_hi,
                              y_first, x_first, x_last, n_rows_out, n_cols_out, first, last,
                              missed_per_row)

    n_workers = min(n_threads, n_bands)
    for worker in prange(n_workers):
        acc_w, acc_wv, extent = _new_band_buffers(n_cols_out)
        cover = np.zeros((BAND_HEIGHT, n_cols_out + 1))
        local = np.zeros((LOCAL_ROWS, LOCAL_COLS))
        rows = np.empty((4, pixmap.shape[1]))
        corners = np.empty((8, pixmap.shape[1]))
        # Bands are dealt round-robin: neighbouring bands carry similar loads.
        for band in range(worker, n_bands, n_workers):
            _square_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                         weight_scale, pixmap, half_side, n_rows_out, n_cols_out, acc_w, acc_wv,
                         cover, local, extent, rows, corners)
            row0 = band * BAND_HEIGHT
            _write_back_band(row0, min(BAND_HEIGHT, n_rows_out - row0), out_sci, out_wht,
                             ctx_plane, has_ctx, bit, acc_w, acc_wv, extent)
    return _count_skips(missed_per_row, x_last - x_first + 1)


# --------------------------------------------------------------------------
# kernels centred on the mapped pixel centre
# --------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _window(kernel: int, center: float, radius: float):
    """First and last output cell (as floats) of a kernel window along one axis.

    The rounding follows the reference so that the same cells are visited.
    """
    if kernel == _POINT:
        cell = c_round(center)
        return cell, cell
    if kernel == _LANCZOS2 or kernel == _LANCZOS3:
        return math.floor(center - radius) + 1.0, math.floor(center + radius)
    return c_round(center - radius), c_round(center + radius)


@njit(cache=True, inline="always", error_model="numpy")
def _centred_input(data, weights, has_weights, pixmap, row, col, value_scale, weight_scale):
    """Scaled value and weight of an input pixel and its mapped centre.

    ``ok`` is False for a non-finite value, weight or position, or a zero weight.
    """
    value, weight, ok = _usable_input(data, weights, has_weights, row, col)
    x_out = pixmap[row, col, 0]
    y_out = pixmap[row, col, 1]
    ok = ok and weight != 0.0 and math.isfinite(x_out) and math.isfinite(y_out)
    return value * value_scale, weight * weight_scale, x_out, y_out, ok


@njit(cache=True, error_model="numpy")
def _centred_register_rows(data, weights, has_weights, pixmap, kernel, radius, row_lo, row_hi,
                           y_first, x_first, x_last, n_rows_out, n_cols_out, first, last,
                           missed_per_row) -> None:
    """First pass of a centred kernel over box rows ``row_lo..row_hi-1``."""
    for box_row in range(row_lo, row_hi):
        row = y_first + box_row
        missed = 0
        for col in range(x_first, x_last + 1):
            _, weight, ok = _usable_input(data, weights, has_weights, row, col)
            x_out = pixmap[row, col, 0]
            y_out = pixmap[row, col, 1]
            if not (ok and math.isfinite(x_out) and math.isfinite(y_out)):
                missed += 1
                continue
            bottom, top = _window(kernel, y_out, radius)
            left, right = _window(kernel, x_out, radius)
            if top < 0.0 or bottom > n_rows_out - 1.0 or right < 0.0 or left > n_cols_out - 1.0:
                missed += 1
            elif weight != 0.0:
                _register(first, last, box_row, col, int(max(bottom, 0.0)),
                          int(min(top, n_rows_out - 1.0)))
        missed_per_row[box_row] = missed


@njit(cache=True, error_model="numpy")
def _point_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                weight_scale, pixmap, n_rows_out, n_cols_out, acc_w, acc_wv, extent) -> None:
    """Point kernel over one band: all weight to the pixel holding the mapped centre."""
    row0 = band * BAND_HEIGHT
    row1 = min(row0 + BAND_HEIGHT, n_rows_out) - 1
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        row = y_first + box_row
        for col in range(col_first, last[band, box_row] + 1):
            value, weight, x_out, y_out, ok = _centred_input(
                data, weights, has_weights, pixmap, row, col, value_scale, weight_scale)
            if not ok:
                continue
            out_row = c_round(y_out)
            out_col = c_round(x_out)
            if row0 <= out_row <= row1 and 0.0 <= out_col < n_cols_out:
                band_row = int(out_row) - row0
                col_out = int(out_col)
                _add(acc_w, acc_wv, band_row, col_out, weight, value)
                _widen(extent, band_row, col_out, col_out)


@njit(cache=True, error_model="numpy")
def _turbo_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                weight_scale, pixmap, radius, n_rows_out, n_cols_out, acc_w, acc_wv,
                extent) -> None:
    """Turbo kernel over one band: an axis-aligned square drop, exact overlaps."""
    row0 = band * BAND_HEIGHT
    row1 = min(row0 + BAND_HEIGHT, n_rows_out) - 1
    per_area = 1.0 / (4.0 * radius * radius)
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        row = y_first + box_row
        for col in range(col_first, last[band, box_row] + 1):
            value, weight, x_out, y_out, ok = _centred_input(
                data, weights, has_weights, pixmap, row, col, value_scale, weight_scale)
            if not ok:
                continue
            x_lo = x_out - radius
            x_hi = x_out + radius
            y_lo = y_out - radius
            y_hi = y_out + radius
            r_first = max(c_round(y_lo), float(row0))
            r_last = min(c_round(y_hi), float(row1))
            c_first = max(c_round(x_lo), 0.0)
            c_last = min(c_round(x_hi), n_cols_out - 1.0)
            if r_first > r_last or c_first > c_last:
                continue
            scale = weight * per_area
            for out_row in range(int(r_first), int(r_last) + 1):
                height = min(y_hi, out_row + 0.5) - max(y_lo, out_row - 0.5)
                if height <= 0.0:
                    continue
                band_row = out_row - row0
                for out_col in range(int(c_first), int(c_last) + 1):
                    width = min(x_hi, out_col + 0.5) - max(x_lo, out_col - 0.5)
                    if width > 0.0:
                        _add(acc_w, acc_wv, band_row, out_col, width * height * scale, value)
                _widen(extent, band_row, int(c_first), int(c_last))


@njit(cache=True, inline="always", error_model="numpy")
def _fill_profile(kernel: int, lo: float, hi: float, center: float, shape: float,
                  profile: np.ndarray) -> float:
    """Gaussian or Lanczos profile over the whole window ``lo..hi``; returns its sum."""
    total = 0.0
    order = 2.0 if kernel == _LANCZOS2 else 3.0
    for k in range(int(hi - lo) + 1):
        offset = lo + k - center
        if kernel == _GAUSSIAN:
            value = math.exp(-offset * offset * shape)
        else:
            value = lanczos(offset * shape, order)
        profile[k] = value
        total += value
    return total


@njit(cache=True, error_model="numpy")
def _separable_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                    weight_scale, pixmap, kernel, radius, shape, n_rows_out, n_cols_out, acc_w,
                    acc_wv, extent, profile_x, profile_y) -> None:
    """Gaussian or Lanczos kernel over one band, normalised over the whole window."""
    row0 = band * BAND_HEIGHT
    row1 = min(row0 + BAND_HEIGHT, n_rows_out) - 1
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        row = y_first + box_row
        for col in range(col_first, last[band, box_row] + 1):
            value, weight, x_out, y_out, ok = _centred_input(
                data, weights, has_weights, pixmap, row, col, value_scale, weight_scale)
            if not ok:
                continue
            bottom, top = _window(kernel, y_out, radius)
            left, right = _window(kernel, x_out, radius)
            r_first = max(bottom, float(row0))
            r_last = min(top, float(row1))
            c_first = max(left, 0.0)
            c_last = min(right, n_cols_out - 1.0)
            if r_first > r_last or c_first > c_last:
                continue
            norm = (_fill_profile(kernel, left, right, x_out, shape, profile_x)
                    * _fill_profile(kernel, bottom, top, y_out, shape, profile_y))
            if not (norm > 0.0 and math.isfinite(norm)):
                continue
            scale = weight / norm
            for out_row in range(int(r_first), int(r_last) + 1):
                py = profile_y[out_row - int(bottom)] * scale
                if py == 0.0:
                    continue
                band_row = out_row - row0
                for out_col in range(int(c_first), int(c_last) + 1):
                    dow = profile_x[out_col - int(left)] * py
                    if dow != 0.0:
                        _add(acc_w, acc_wv, band_row, out_col, dow, value)
                _widen(extent, band_row, int(c_first), int(c_last))


@njit(cache=True, error_model="numpy")
def _tophat_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                 weight_scale, pixmap, radius, n_rows_out, n_cols_out, acc_w, acc_wv,
                 extent) -> None:
    """Top-hat kernel over one band: equal shares to pixels centred within ``radius``."""
    row0 = band * BAND_HEIGHT
    row1 = min(row0 + BAND_HEIGHT, n_rows_out) - 1
    radius2 = radius * radius
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        row = y_first + box_row
        for col in range(col_first, last[band, box_row] + 1):
            value, weight, x_out, y_out, ok = _centred_input(
                data, weights, has_weights, pixmap, row, col, value_scale, weight_scale)
            if not ok:
                continue
            bottom, top = _window(_TOPHAT, y_out, radius)
            left, right = _window(_TOPHAT, x_out, radius)
            r_first = max(bottom, float(row0))
            r_last = min(top, float(row1))
            c_first = max(left, 0.0)
            c_last = min(right, n_cols_out - 1.0)
            if r_first > r_last or c_first > c_last:
                continue
            n_inside = 0
            for k in range(int(top - bottom) + 1):
                dy = bottom + k - y_out
                for m in range(int(right - left) + 1):
                    dx = left + m - x_out
                    if dx * dx + dy * dy <= radius2:
                        n_inside += 1
            if n_inside == 0:
                continue
            share = weight / n_inside
            for out_row in range(int(r_first), int(r_last) + 1):
                dy = out_row - y_out
                band_row = out_row - row0
                for out_col in range(int(c_first), int(c_last) + 1):
                    dx = out_col - x_out
                    if dx * dx + dy * dy <= radius2:
                        _add(acc_w, acc_wv, band_row, out_col, share, value)
                _widen(extent, band_row, int(c_first), int(c_last))


@njit(cache=True, parallel=True, error_model="numpy")
def _drizzle_centred(data, weights, has_weights, pixmap, out_sci, out_wht, ctx_plane, has_ctx,
                     bit, value_scale, weight_scale, kernel, radius, shape, x_first, x_last,
                     y_first, y_last, n_threads):
    """Driver of the kernels centred on the mapped pixel centre."""
    n_rows_out, n_cols_out = out_sci.shape
    n_bands = (n_rows_out + BAND_HEIGHT - 1) // BAND_HEIGHT
    n_box_rows = y_last - y_first + 1
    first = np.full((n_bands, n_box_rows), -1, dtype=np.int32)
    last = np.full((n_bands, n_box_rows), -1, dtype=np.int32)
    missed_per_row = np.zeros(n_box_rows, dtype=np.int64)
    n_chunks = min(n_box_rows, 4 * n_threads)
    for chunk in prange(n_chunks):
        row_lo, row_hi = _row_chunk(chunk, n_chunks, n_box_rows)
        _centred_register_rows(data, weights, has_weights, pixmap, kernel, radius, row_lo,
                               row_hi, y_first, x_first, x_last, n_rows_out, n_cols_out, first,
                               last, missed_per_row)

    window_length = int(2.0 * radius) + 3
    n_workers = min(n_threads, n_bands)
    for worker in prange(n_workers):
        acc_w, acc_wv, extent = _new_band_buffers(n_cols_out)
        profile_x = np.empty(window_length)
        profile_y = np.empty(window_length)
        for band in range(worker, n_bands, n_workers):
            if kernel == _POINT:
                _point_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                            weight_scale, pixmap, n_rows_out, n_cols_out, acc_w, acc_wv, extent)
            elif kernel == _TURBO:
                _turbo_band(band, first, last, y_first, data, weights, has_weights, value_scale,
                            weight_scale, pixmap, radius, n_rows_out, n_cols_out, acc_w, acc_wv,
                            extent)
            elif kernel == _TOPHAT:
                _tophat_band(band, first, last, y_first, data, weights, has_weights,
                             value_scale, weight_scale, pixmap, radius, n_rows_out, n_cols_out,
                             acc_w, acc_wv, extent)
            else:
                _separable_band(band, first, last, y_first, data, weights, has_weights,
                                value_scale, weight_scale, pixmap, kernel, radius, shape,
                                n_rows_out, n_cols_out, acc_w, acc_wv, extent, profile_x,
                                profile_y)
            row0 = band * BAND_HEIGHT
            _write_back_band(row0, min(BAND_HEIGHT, n_rows_out - row0), out_sci, out_wht,
                             ctx_plane, has_ctx, bit, acc_w, acc_wv, extent)
    return _count_skips(missed_per_row, x_last - x_first + 1)


# --------------------------------------------------------------------------
# public wrappers
# --------------------------------------------------------------------------

def context_plane_and_bit(image_id: int) -> tuple[int, np.int32]:
    """Context plane and bit mask of input image ``image_id`` (0-based).

    Image ``k`` is bit ``k % 32`` of plane ``k // 32``; bit 31 is returned as
    the negative int32 with that bit pattern.

    Examples
    --------
    >>> context_plane_and_bit(32)
    (1, np.int32(1))
    """
    if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer)) or image_id < 0:
        raise ParameterError(f"image_id must be a non-negative integer, got {image_id!r}")
    plane, position = divmod(int(image_id), CONTEXT_PLANE_BITS)
    return plane, np.array(1 << position, dtype=np.uint32).view(np.int32)[()]


def new_context(n_inputs: int, shape: tuple[int, int]) -> np.ndarray:
    """Zeroed context image able to record ``n_inputs`` input images.

    Parameters
    ----------
    n_inputs : int
        Number of input images (at least 1).
    shape : (int, int)
        ``(ny_out, nx_out)`` of the output grid.

    Returns
    -------
    numpy.ndarray
        int32 array of shape ``((n_inputs - 1) // 32 + 1, ny_out, nx_out)``.
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)) or n_inputs < 1:
        raise ParameterError(f"n_inputs must be a positive integer, got {n_inputs!r}")
    n_rows, n_cols = (int(n) for n in shape)
    n_planes = (int(n_inputs) - 1) // CONTEXT_PLANE_BITS + 1
    return np.zeros((n_planes, n_rows, n_cols), dtype=np.int32)


def finalize_fill(out_sci: np.ndarray, out_wht: np.ndarray, fillval: float | None) -> None:
    """Set output pixels that have zero weight to ``fillval`` (in place).

    ``fillval=None`` leaves them as they are (AstroDrizzle's ``INDEF``).
    `drizzle_add_image` calls this after each image when given a number, as
    the reference does; call it once at the end instead to save a pass.
    """
    if fillval is None:
        return
    _check_outputs(out_sci, out_wht)
    out_sci[out_wht == 0] = float(fillval)


def drizzle_add_image(
    data: np.ndarray,
    pixmap: np.ndarray,
    out_sci: np.ndarray,
    out_wht: np.ndarray,
    out_ctx: np.ndarray | None = None,
    *,
    image_id: int = 0,
    weight_map: np.ndarray | None = None,
    kernel: str = "square",
    pixfrac: float = 1.0,
    wt_scl: float = 1.0,
    exptime: float = 1.0,
    in_units: str = "cps",
    iscale: float = 1.0,
    pixel_scale_ratio: float = 1.0,
    fillval: float | None = None,
    xmin: int | None = None,
    xmax: int | None = None,
    ymin: int | None = None,
    ymax: int | None = None,
) -> tuple[int, int]:
    """Drizzle one input image onto the output arrays (updated in place).

    Parameters
    ----------
    data : numpy.ndarray
        Input image, 2-D, shape ``(ny_in, nx_in)``.  float32 and float64 are
        used as they are, other real types are converted to float64.
    pixmap : numpy.ndarray
        Shape ``(ny_in, nx_in, 2)``: ``pixmap[y, x] = (x_out, y_out)``, the
        output position of the centre of input pixel ``(x, y)``, 0-based.
        Converted to float64.  Non-finite entries are allowed.
    out_sci, out_wht : numpy.ndarray
        Output science and weight images, 2-D, same shape and dtype (float32
        or float64), C-contiguous and writeable.  Start them at zero (or
        ``out_sci`` at a fill value such as NaN) and pass them again for the
        next image.
    out_ctx : numpy.ndarray, optional
        Context image, int32, shape ``(n_planes, ny_out, nx_out)`` (see
        `new_context`) or ``(ny_out, nx_out)`` for a single plane.  Bit
        ``image_id % 32`` of plane ``image_id // 32`` is set where this image
        adds a positive weight.  None: no context.
    image_id : int, optional
        0-based number of this input image in the context image.
    weight_map : numpy.ndarray, optional
        Per-pixel input weights, shape of ``data``.  None: all ones.
    kernel : {'square', 'point', 'turbo', 'gaussian', 'lanczos2', 'lanczos3', 'tophat'}
        How an input pixel's value is spread (case-insensitive):

        * ``square``: the input pixel shrunk by ``pixfrac`` about its centre,
          with corners mapped by bilinear interpolation of ``pixmap``; each
          output pixel gets the exact fraction of that quadrilateral it
          overlaps.
        * ``point``: everything to the output pixel holding the mapped centre.
        * ``turbo``: an axis-aligned square of side
          ``pixfrac / pixel_scale_ratio`` output pixels about the mapped
          centre, exact overlaps.
        * ``gaussian``: Gaussian of FWHM ``pixfrac / pixel_scale_ratio``
          output pixels sampled at output pixel centres within
          ``max(2.5 sigma, 1.2 / pixel_scale_ratio)``, normalised to unit sum.
        * ``lanczos2``, ``lanczos3``: separable Lanczos window of 2 or 3
          input pixels (``pixfrac`` is ignored), normalised to unit sum.
        * ``tophat``: equal shares to the output pixels whose centres lie
          within ``pixfrac / pixel_scale_ratio / 2`` of the mapped centre.
    pixfrac : float, optional
        Linear size of the drop relative to the input pixel, > 0.
    wt_scl : float, optional
        Factor applied to ``weight_map``, > 0 (the caller turns
        AstroDrizzle's ``'exptime'`` or ``'expsq'`` into a number).
    exptime : float, optional
        Exposure time of the input, > 0; used only when ``in_units='counts'``.
    in_units : {'cps', 'counts'}
        Units of ``data``.  Counts are divided by ``exptime`` so that the
        output is a count rate.
    iscale : float, optional
        Factor applied to the input values, > 0 (e.g. the square of the
        pixel scale ratio for data in counts).
    pixel_scale_ratio : float, optional
        Output pixel size relative to the input pixel size, > 0.  Sets the
        size of the ``turbo``, ``gaussian``, ``lanczos`` and ``tophat``
        kernels in output pixels.
    fillval : float or None, optional
        None leaves zero-weight output pixels untouched (AstroDrizzle's
        ``INDEF``).  A number (NaN allowed) is written into every output
        pixel whose weight is zero after this image was added.
    xmin, xmax, ymin, ymax : int, optional
        Inclusive 0-based bounds of the part of the input to drizzle; None
        means the image edge.

    Returns
    -------
    n_skipped_lines : int
        Rows of the input box in which no pixel reached the output.
    n_missed_pixels : int
        Pixels of the input box that did not reach the output: non-finite
        value, weight or mapped position, degenerate footprint, or kernel
        window entirely off the output image.  Zero-weight pixels that land
        on the output are not counted.

    Raises
    ------
    ValueError
        If an array has the wrong shape, dtype or layout.
    multidrizzle.errors.ParameterError
        If a parameter value is out of range or a name is unknown.

    Notes
    -----
    Output pixels receive ``sci = (sci * wht + sum(v * dow)) / (wht +
    sum(dow))`` and ``wht += sum(dow)`` where ``v = data * iscale`` (divided
    by ``exptime`` for counts) and ``dow = weight_map * wt_scl * fraction``;
    the sums run over this image's pixels and are formed in float64.  Where
    the old weight is zero the old science value is ignored.  Input pixels
    whose value, weight or mapped footprint is not finite are skipped.  The
    result does not depend on the number of numba threads.
    """
    data = _as_real_image(data, "data")
    n_rows_in, n_cols_in = data.shape
    pixmap = _as_pixmap(pixmap, data.shape)
    n_rows_out, n_cols_out = _check_outputs(out_sci, out_wht)
    ctx_plane, bit = _context_plane(out_ctx, image_id, (n_rows_out, n_cols_out))
    weights = _as_weights(weight_map, data.shape)
    kernel_code = _kernel_code(kernel)
    pixfrac = _positive_number("pixfrac", pixfrac)
    wt_scl = _positive_number("wt_scl", wt_scl)
    exptime = _positive_number("exptime", exptime)
    iscale = _positive_number("iscale", iscale)
    pixel_scale_ratio = _positive_number("pixel_scale_ratio", pixel_scale_ratio)
    value_scale = iscale / _exposure_divisor(in_units, exptime)
    x_first, x_last = _box_range("x", xmin, xmax, n_cols_in)
    y_first, y_last = _box_range("y", ymin, ymax, n_rows_in)
    if fillval is not None:
        fillval = float(fillval)

    has_weights = weight_map is not None
    has_ctx = out_ctx is not None
    if kernel_code == _SQUARE:
        if n_rows_in < 2 or n_cols_in < 2:
            raise ValueError("the square kernel interpolates the pixel map and needs an input "
                             f"of at least 2 x 2 pixels, got shape {data.shape}")
        n_skipped, n_missed = _drizzle_square(
            data, weights, has_weights, pixmap, out_sci, out_wht, ctx_plane, has_ctx, bit,
            value_scale, wt_scl, 0.5 * pixfrac, x_first, x_last, y_first, y_last,
            numba.get_num_threads())
    else:
        radius, shape = _centred_kernel_size(kernel_code, pixfrac, pixel_scale_ratio)
        n_skipped, n_missed = _drizzle_centred(
            data, weights, has_weights, pixmap, out_sci, out_wht, ctx_plane, has_ctx, bit,
            value_scale, wt_scl, kernel_code, radius, shape, x_first, x_last, y_first, y_last,
            numba.get_num_threads())
    finalize_fill(out_sci, out_wht, fillval)
    return int(n_skipped), int(n_missed)


def _centred_kernel_size(kernel_code: int, pixfrac: float,
                         pixel_scale_ratio: float) -> tuple[float, float]:
    """Window half-width in output pixels and shape parameter of a centred kernel."""
    if kernel_code == _POINT:
        return 0.0, 0.0
    if kernel_code in (_TURBO, _TOPHAT):
        return 0.5 * pixfrac / pixel_scale_ratio, 0.0
    if kernel_code == _GAUSSIAN:
        sigma = pixfrac / (_FWHM_PER_SIGMA * pixel_scale_ratio)
        radius = max(_GAUSSIAN_TRUNCATION_SIGMAS * sigma, _GAUSSIAN_MIN_RADIUS / pixel_scale_ratio)
        return radius, 0.5 / (sigma * sigma)
    order = 2.0 if kernel_code == _LANCZOS2 else 3.0
    # Offsets in output pixels times the ratio are offsets in input pixels.
    return order / pixel_scale_ratio, pixel_scale_ratio


def _kernel_code(kernel: str) -> int:
    if not isinstance(kernel, str) or kernel.lower() not in _KERNEL_CODES:
        raise ParameterError(f"kernel must be one of {', '.join(DRIZZLE_KERNELS)}; "
                             f"got {kernel!r}")
    return _KERNEL_CODES[kernel.lower()]


def _exposure_divisor(in_units: str, exptime: float) -> float:
    if not isinstance(in_units, str) or in_units.lower() not in ("cps", "counts"):
        raise ParameterError(f"in_units must be 'cps' or 'counts', got {in_units!r}")
    return exptime if in_units.lower() == "counts" else 1.0


def _positive_number(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a positive finite number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0.0):
        raise ParameterError(f"{name} must be a positive finite number, got {value!r}")
    return number


def _as_real_image(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {array.shape}")
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return np.ascontiguousarray(array)


def _as_pixmap(pixmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    pixmap = np.asarray(pixmap)
    if pixmap.shape != (*shape, 2):
        raise ValueError(f"pixmap must have shape {(*shape, 2)} (data shape plus 2), "
                         f"got {pixmap.shape}")
    if pixmap.dtype.kind not in "fiu":
        raise ValueError(f"pixmap must hold real numbers, got dtype {pixmap.dtype}")
    return np.ascontiguousarray(pixmap, dtype=np.float64)


def _as_weights(weight_map: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if weight_map is None:
        # The kernels read no weights when told so; a 1x1 array fills the slot.
        return np.ones((1, 1), dtype=np.float32)
    weights = _as_real_image(weight_map, "weight_map")
    if weights.shape != shape:
        raise ValueError(f"weight_map must have the shape of data {shape}, "
                         f"got {weights.shape}")
    return weights


def _check_outputs(out_sci: np.ndarray, out_wht: np.ndarray) -> tuple[int, int]:
    for name, array in (("out_sci", out_sci), ("out_wht", out_wht)):
        if not isinstance(array, np.ndarray) or array.ndim != 2 or array.size == 0:
            raise ValueError(f"{name} must be a non-empty 2-D numpy array")
        if array.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name} must be float32 or float64, got {array.dtype}")
        if not (array.flags.c_contiguous and array.flags.writeable):
            raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
    if out_sci.shape != out_wht.shape or out_sci.dtype != out_wht.dtype:
        raise ValueError("out_sci and out_wht must have the same shape and dtype, got "
                         f"{out_sci.shape} {out_sci.dtype} and {out_wht.shape} {out_wht.dtype}")
    return out_sci.shape


def _context_plane(out_ctx: np.ndarray | None, image_id: int,
                   shape: tuple[int, int]) -> tuple[np.ndarray, np.int32]:
    plane, bit = context_plane_and_bit(image_id)
    if out_ctx is None:
        return np.zeros((1, 1), dtype=np.int32), bit
    if not isinstance(out_ctx, np.ndarray) or out_ctx.dtype != np.int32:
        raise ValueError("out_ctx must be an int32 numpy array")
    if not (out_ctx.flags.c_contiguous and out_ctx.flags.writeable):
        raise ValueError("out_ctx must be C-contiguous and writeable (it is updated in place)")
    planes = out_ctx[np.newaxis] if out_ctx.ndim == 2 else out_ctx
    if planes.ndim != 3 or planes.shape[1:] != tuple(shape):
        raise ValueError(f"out_ctx must have shape (n_planes, {shape[0]}, {shape[1]}), "
                         f"got {out_ctx.shape}")
    if plane >= planes.shape[0]:
        raise ValueError(f"image_id {image_id} needs context plane {plane} but out_ctx has "
                         f"{planes.shape[0]} plane(s); see new_context()")
    return planes[plane], bit


def _box_range(axis: str, lo: int | None, hi: int | None, size: int) -> tuple[int, int]:
    """Inclusive input index range along one axis, clipped to the image."""
    first = 0 if lo is None else _box_bound(f"{axis}min", lo)
    last = size - 1 if hi is None else _box_bound(f"{axis}max", hi)
    first = max(first, 0)
    last = min(last, size - 1)
    if first > last:
        raise ParameterError(f"{axis}min..{axis}max = {lo}..{hi} selects no input pixel "
                             f"(axis length {size})")
    return first, last


def _box_bound(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name} must be an integer or None, got {value!r}")
    return int(value)
