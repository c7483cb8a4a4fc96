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
  computed for each drop (to a few ulps) rather than read from a table.
* A context bit is set where the image's total weight on the pixel is
  positive (the reference sets it where any single contribution is
  positive; this differs only for Lanczos negative lobes).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from multidrizzle.errors import ParameterError, UnsupportedError
from multidrizzle.kernels._geometry import (
    CLIPPED_EDGE,
    EDGE_ROW_LENGTH,
    FAST_EDGE,
    FUSED_MULTIPLY_ADD,
    WEIGHT_NOISE_FRACTION,
    add_edge_cover,
    add_edge_weight,
    c_round,
    corner_reach,
    deposit_edge_clipped,
    edge_cover,
    edge_covers,
    edge_route,
    fill_corners,
    lanczos_from_sines,
    lanczos_step_table,
    nearest_cell,
    pixel_corners,
    pixmap_steps,
    quadrilateral_area,
    sin_cos_pi,
)
from multidrizzle.kernels._parallel import part_range, run_parts, thread_count

__all__ = [
    "DRIZZLE_KERNELS",
    "CONTEXT_PLANE_BITS",
    "drizzle_add_image",
    "new_context",
    "finalize_fill",
    "context_plane_and_bit",
    "error_from_variance",
    "noise_correlation_ratio",
    "mean_sum_of_squared_fractions",
]

#: Kernels understood by `drizzle_add_image`.
DRIZZLE_KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3", "tophat")

#: Input images per context plane (bits of an int32).
CONTEXT_PLANE_BITS = 32

#: Output rows per band owned by one thread.  Small enough that a band's
#: float64 accumulators stay in cache, large enough that few input pixels
#: straddle two bands (measured with benchmarks/bench_kernels.py).
BAND_HEIGHT = 128


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
#
# Per-pixel loops are written out by hand: numba adds atomic reference-count
# updates around calls to helpers that take arrays and branch, which would
# cost more than the work itself (see _geometry).  Helpers called per pixel
# take scalars only.
# --------------------------------------------------------------------------

@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _band_rows(band: int, n_rows_out: int):
    """First and last output row of ``band``."""
    row0 = band * BAND_HEIGHT
    return row0, min(row0 + BAND_HEIGHT, n_rows_out) - 1


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _merged(old_sci: float, old_w: float, added_w: float, added_wv: float):
    """Weighted-mean update of one output pixel: ``(new_sci, new_w)``.

    The old science value is ignored where the old weight is zero (it holds
    a fill value) and kept where the new weight is zero.  Written with
    selects, so that loops calling it vectorise (`_write_back_band`).
    """
    new_w = old_w + added_w
    old_sum = old_sci * old_w if old_w != 0.0 else 0.0
    new_sci = (old_sum + added_wv) / new_w
    return (old_sci if new_w == 0.0 else new_sci), new_w


def _count_skips(missed_per_row: np.ndarray, idle_per_row: np.ndarray,
                 row_width: int) -> tuple[int, int]:
    """Number of box rows in which no pixel contributed, and total missed pixels.

    ``idle_per_row`` counts the zero-weight pixels, which are not misses.
    """
    skipped = int(np.count_nonzero(missed_per_row + idle_per_row == row_width))
    return skipped, int(missed_per_row.sum())


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _deposit(acc, band_row: int, col: int, dow: float, value: float) -> None:
    """Add weight ``dow`` of a drop of ``value`` to a band's sums (`_band_accumulators`)."""
    acc[band_row, col, 0] += dow
    acc[band_row, col, 1] += dow * value


# The centred kernels track the columns a band received as two numbers held in
# registers, and merge the band's whole rectangle of those columns: a
# minimum and maximum per band row, kept in memory, cost the point kernel 20%
# (benchmarks/bench_kernels.py), while the rectangle adds few empty cells.
@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _no_columns(n_cols_out: int):
    """An empty column range ``(col_lo, col_hi)`` (typed int64 from the start)."""
    return np.int64(n_cols_out), np.int64(-1)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _set_extent(extent, col_lo: int, col_hi: int) -> None:
    """Every row of a band's extent set to columns ``col_lo..col_hi``."""
    for band_row in range(extent.shape[0]):
        extent[band_row, 0] = col_lo
        extent[band_row, 1] = col_hi


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _write_back_band(row0: int, n_rows: int, out_sci, out_wht, ctx_plane, has_ctx: bool,
                     bit: np.int32, acc, extent) -> None:
    """Merge a band's float64 sums (`_band_accumulators`) into the outputs and reset them.

    Pixels that received nothing keep their exact bits (they are written
    back as they were), so a NaN fill value or a previous science value
    survives exactly.
    """
    n_cols = out_sci.shape[1]
    for band_row in range(n_rows):
        row = row0 + band_row
        col_lo = extent[band_row, 0]
        n_touched = extent[band_row, 1] + 1 - col_lo
        if n_touched > 0:
            # Slices, a loop from 0 and selects, with the sums reset after the
            # loop: LLVM vectorises this form only (a start that may be
            # negative, or stores into the sums inside the loop, keep it
            # scalar), 3x faster on a band (benchmarks/bench_kernels.py).
            sums = acc[band_row, col_lo:col_lo + n_touched].reshape(-1)
            sci = out_sci[row, col_lo:col_lo + n_touched]
            wht = out_wht[row, col_lo:col_lo + n_touched]
            ctx = ctx_plane[row if has_ctx else 0, col_lo:col_lo + n_touched]
            for i in range(n_touched):
                added_w = sums[2 * i]
                added_wv = sums[2 * i + 1]
                old_sci = float(sci[i])
                old_w = float(wht[i])
                new_sci, new_w = _merged(old_sci, old_w, added_w, added_wv)
                # An untouched pixel is written back with its own bits.
                touched = (added_w != 0.0) | (added_wv != 0.0)
                sci[i] = new_sci if touched else old_sci
                wht[i] = new_w if touched else old_w
                if has_ctx:
                    ctx[i] |= bit if added_w > 0.0 else np.int32(0)
            sums[:] = 0.0
        extent[band_row, 0] = n_cols
        extent[band_row, 1] = -1


# --------------------------------------------------------------------------
# square kernel
# --------------------------------------------------------------------------

@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _outside(x_lo, x_hi, y_lo, y_hi, n_rows_out, n_cols_out) -> bool:
    """Whether the box ``[x_lo, x_hi] x [y_lo, y_hi]`` has no area on the output."""
    return (y_hi <= -0.5 or y_lo >= n_rows_out - 0.5 or x_hi <= -0.5
            or x_lo >= n_cols_out - 0.5)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _inside(x_lo, x_hi, y_lo, y_hi, n_rows_out, n_cols_out) -> bool:
    """Whether the box ``[x_lo, x_hi] x [y_lo, y_hi]`` lies strictly inside the output."""
    return (y_lo > -0.5 and y_hi < n_rows_out - 0.5 and x_lo > -0.5
            and x_hi < n_cols_out - 0.5)


# inline: the square and the centred families share no compiled function
# (multidrizzle.kernels.warmup)
@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _switch_bands(first, last, box_row, open_lo, open_hi, last_col, band_lo, band_hi, col):
    """Registration of consecutive pixels reaching the same bands, done at changes only.

    Closes bands ``open_lo..open_hi`` at ``last_col`` and opens
    ``band_lo..band_hi`` at ``col``; returns the new open range.  Columns
    only grow along a row, so the first opening and the last closing of a
    band give its first and last pixel.
    """
    for band in range(open_lo, open_hi + 1):
        last[band, box_row] = last_col
    for band in range(band_lo, band_hi + 1):
        if first[band, box_row] < 0:
            first[band, box_row] = col
    return band_lo, band_hi


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _square_register_rows(part, n_parts, data, weights, weight_mask, pixmap, half_side,
                          reach_x, reach_y, y_first, x_first, x_last, n_rows_out, n_cols_out,
                          first, last, missed_per_row, idle_per_row, band_first,
                          band_last) -> None:
    """First pass of the square kernel over part ``part`` of ``n_parts`` of the box rows.

    Records, per band, the first and last pixel of each row whose drop may
    reach it, and counts the pixels that cannot reach the output.  The rows
    of a drop are bounded from its centre (`corner_reach`), which is much
    cheaper than its corners; only drops near the edge of the output are
    decided from their exact corners (and values).  Drops registered from
    their centre alone are not checked here: a non-finite value or weight,
    or a degenerate drop (next to an undefined centre), is counted by the
    second pass (`_run_coefficients`), which reads them anyway.  Only bands
    ``band_first..band_last`` are registered (`drizzle_add_image`'s ``out_rows``).
    """
    row_lo, row_hi = part_range(part, n_parts, first.shape[1])
    for box_row in range(row_lo, row_hi):
        row = y_first + box_row
        missed = 0
        idle = 0
        # Bands reached by the latest registered pixel, and that pixel.  (Typed
        # int64 from the start: a literal would make numba compile
        # `_switch_bands` once more for it.)
        open_lo = np.int64(1)
        open_hi = np.int64(0)
        last_col = np.int64(-1)
        for col in range(x_first, x_last + 1):
            weight = float(weights[row & weight_mask, col & weight_mask])
            if weight == 0.0:
                idle += 1
                continue
            x_out = pixmap[row, col, 0]
            y_out = pixmap[row, col, 1]
            if not (math.isfinite(x_out) and math.isfinite(y_out)):
                missed += 1
                continue
            y_lo = y_out - reach_y
            y_hi = y_out + reach_y
            x_lo = x_out - reach_x
            x_hi = x_out + reach_x
            if _outside(x_lo, x_hi, y_lo, y_hi, n_rows_out, n_cols_out):
                missed += 1
                continue
            if not _inside(x_lo, x_hi, y_lo, y_hi, n_rows_out, n_cols_out):
                # Near the output edge: decide from the exact drop.
                x0, y0, x1, y1, x2, y2, x3, y3 = pixel_corners(pixmap, row, col, half_side)
                area = quadrilateral_area(x0, y0, x1, y1, x2, y2, x3, y3)
                y_lo = min(min(y0, y1), min(y2, y3))
                y_hi = max(max(y0, y1), max(y2, y3))
                x_lo = min(min(x0, x1), min(x2, x3))
                x_hi = max(max(x0, x1), max(x2, x3))
                if not (math.isfinite(area) and area != 0.0 and math.isfinite(weight)
                        and math.isfinite(data[row, col])) or _outside(
                        x_lo, x_hi, y_lo, y_hi, n_rows_out, n_cols_out):
                    missed += 1
                    continue
            band_lo = max(int(max(nearest_cell(y_lo), 0.0)) // BAND_HEIGHT, band_first)
            band_hi = min(int(min(nearest_cell(y_hi), n_rows_out - 1.0)) // BAND_HEIGHT,
                          band_last)
            if band_lo > band_hi:
                continue   # it reaches only rows not asked for
            if band_lo != open_lo or band_hi != open_hi:
                open_lo, open_hi = _switch_bands(first, last, box_row, open_lo, open_hi,
                                                 last_col, band_lo, band_hi, col)
            last_col = col
        _switch_bands(first, last, box_row, open_lo, open_hi, last_col, np.int64(1),
                      np.int64(0), np.int64(0))
        missed_per_row[box_row] = missed
        idle_per_row[box_row] = idle


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _stored_edge(edges, i: int):
    """The `edge_cover` values of edge ``i`` of a run, as `edge_covers` stored them."""
    values = edges[i]
    return (values[0] != 0.0, values[1], values[2], values[3], values[4], values[5], values[6],
            values[7], values[8], values[9], values[10])


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _run_coefficients(corners, data, weights, weight_mask, pixmap, row, col_first, col_last,
                      value_scale, weight_scale, reach_x, reach_y, band, n_rows_out, n_cols_out,
                      alpha, beta, extent):
    """``alpha = weight / area`` and ``beta = alpha * value`` of the drops of a run.

    The area is signed like the coverage the edges deposit, so ``alpha``
    times the coverage of an output pixel is the weight it receives.  Drops
    to skip (non-finite value, weight or corners, zero weight, degenerate
    shape) get 0.  The band rows the run's drops reach are widened to the
    run's columns: a cheap superset of the cells written, enough for the
    final pass over the band.

    Returns
    -------
    largest_weight : float
        Largest |weight| of the valid drops.
    n_missed : int
        Drops that `_square_register_rows` registered from their centre alone
        but that have a non-finite value or weight or are degenerate, counted
        in the first band they were registered in only.
    """
    row0 = band * BAND_HEIGHT
    row1 = min(row0 + BAND_HEIGHT, n_rows_out) - 1
    largest_weight = 0.0
    n_missed = 0
    x_min = math.inf
    x_max = -math.inf
    y_min = math.inf
    y_max = -math.inf
    for col in range(col_first, col_last + 1):
        x0, y0 = corners[0, col], corners[1, col]
        x1, y1 = corners[2, col], corners[3, col]
        x2, y2 = corners[4, col], corners[5, col]
        x3, y3 = corners[6, col], corners[7, col]
        weight = float(weights[row & weight_mask, col & weight_mask]) * weight_scale
        value = float(data[row, col])
        a = weight / quadrilateral_area(x0, y0, x1, y1, x2, y2, x3, y3)
        b = a * (value * value_scale)
        # Not finite for a NaN value, weight or corner, or a zero area; a
        # zero weight gives 0 (or NaN on a zero area): skipped either way.
        if math.isfinite(a) and math.isfinite(b) and a != 0.0:
            alpha[col] = a
            beta[col] = b
            largest_weight = max(largest_weight, abs(weight))
            x_min = min(x_min, min(min(x0, x1), min(x2, x3)))
            x_max = max(x_max, max(max(x0, x1), max(x2, x3)))
            y_min = min(y_min, min(min(y0, y1), min(y2, y3)))
            y_max = max(y_max, max(max(y0, y1), max(y2, y3)))
            continue
        alpha[col] = 0.0
        beta[col] = 0.0
        x_out = pixmap[row, col, 0]
        y_out = pixmap[row, col, 1]
        if weight != 0.0 and math.isfinite(x_out) and math.isfinite(y_out):
            # Registered from its centre alone (not decided exactly near the
            # output edge): count it in its first band.
            y_lo = y_out - reach_y
            if _inside(x_out - reach_x, x_out + reach_x, y_lo, y_out + reach_y, n_rows_out,
                       n_cols_out) and int(nearest_cell(y_lo)) // BAND_HEIGHT == band:
                n_missed += 1
    bottom = max(nearest_cell(y_min), float(row0))
    top = min(nearest_cell(y_max), float(row1))
    if top >= bottom:
        left = int(min(max(nearest_cell(x_min), 0.0), float(n_cols_out)))
        right = int(min(max(nearest_cell(x_max) + 1.0, 0.0), float(n_cols_out)))
        for band_row in range(int(bottom) - row0, int(top) - row0 + 1):
            extent[band_row, 0] = min(extent[band_row, 0], left)
            extent[band_row, 1] = max(extent[band_row, 1], right)
    return largest_weight, n_missed


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _square_band_separate(band, first, last, y_first, data, weights, weight_mask, value_scale,
                          weight_scale, pixmap, half_side, reach_x, reach_y, n_rows_out,
                          n_cols_out, cover, extent, rows, corners, alpha, beta,
                          missed_in_band) -> float:
    """Deposit the four edges of every drop reaching one band (``pixfrac != 1``).

    Returns the largest |weight| of the drops, the scale of the band's sums;
    ``missed_in_band[band, box_row]`` receives the drops found degenerate.
    """
    row0, row1 = _band_rows(band, n_rows_out)
    largest_weight = 0.0
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        col_last = last[band, box_row]
        row = y_first + box_row
        fill_corners(pixmap, row, col_first, col_last, half_side, rows, corners)
        run_weight, missed_in_band[band, box_row] = _run_coefficients(
            corners, data, weights, weight_mask, pixmap, row, col_first, col_last, value_scale,
            weight_scale, reach_x, reach_y, band, n_rows_out, n_cols_out, alpha, beta, extent)
        largest_weight = max(largest_weight, run_weight)
        for col in range(col_first, col_last + 1):
            a = alpha[col]
            if a == 0.0:
                continue
            b = beta[col]
            for k in range(4):
                # Edge from corner k to corner k + 1, counter-clockwise.
                x_a = corners[2 * k, col]
                y_a = corners[2 * k + 1, col]
                x_b = corners[(2 * k + 2) % 8, col]
                y_b = corners[(2 * k + 3) % 8, col]
                fits, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2 = edge_cover(x_a, y_a, x_b,
                                                                                y_b)
                route = edge_route(fits, e_row, e_col, row0, row1, n_cols_out)
                if route == FAST_EDGE:
                    add_edge_cover(cover, row0, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2,
                                   a, b)
                elif route == CLIPPED_EDGE:
                    deposit_edge_clipped(x_a, y_a, x_b, y_b, a, b, row0, row1, n_cols_out,
                                         cover)
    return largest_weight


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _deposit_top_edges(col_lo, col_hi, corners, top_alpha, top_beta, row0, row1, n_cols_out,
                       cover) -> None:
    """Deposit, alone, the top edges of drops ``col_lo..col_hi`` of the previous row."""
    for col in range(col_lo, col_hi + 1):
        a = top_alpha[col]
        if a == 0.0:
            continue
        b = top_beta[col]
        x_a = corners[4, col]
        y_a = corners[5, col]
        x_b = corners[6, col]
        y_b = corners[7, col]
        fits, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2 = edge_cover(x_a, y_a, x_b, y_b)
        route = edge_route(fits, e_row, e_col, row0, row1, n_cols_out)
        if route == FAST_EDGE:
            add_edge_cover(cover, row0, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2, a, b)
        elif route == CLIPPED_EDGE:
            deposit_edge_clipped(x_a, y_a, x_b, y_b, a, b, row0, row1, n_cols_out, cover)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _square_band_shared(band, first, last, y_first, data, weights, weight_mask, value_scale,
                        weight_scale, pixmap, reach_x, reach_y, n_rows_out, n_cols_out, cover,
                        extent, rows, corners, alpha, beta, top_alpha, top_beta, edges,
                        missed_in_band) -> float:
    """Deposit the edges of every drop reaching one band when ``pixfrac = 1``.

    Whole input pixels tile the output: the right edge of a drop is the left
    edge of the next one in the row, and its top edge the bottom edge of the
    drop above (`fill_corners` computes them bit-identically).  Each shared
    edge is deposited once, with the difference of the two drops'
    coefficients, so a drop costs two edges instead of four.  ``top_alpha``
    and ``top_beta`` keep the previous row's coefficients for its top edges;
    ``edges`` (2, n_cols_in, `EDGE_ROW_LENGTH`) is scratch for `edge_covers`.

    Returns the largest |weight| of the drops, the scale of the band's sums;
    ``missed_in_band[band, box_row]`` receives the drops found degenerate.
    """
    row0, row1 = _band_rows(band, n_rows_out)
    largest_weight = 0.0
    # Columns of the previous row whose top edges are still pending (typed
    # int64 from the start: literals would make numba compile the callees
    # once more for them).
    top_lo = np.int64(1)
    top_hi = np.int64(0)
    previous_box_row = -2
    for box_row in range(first.shape[1]):
        col_first = first[band, box_row]
        if col_first < 0:
            continue
        col_last = last[band, box_row]
        # Top edges of the previous row without a drop above them in this
        # run go alone, while the previous row's corners are still at hand.
        if previous_box_row != box_row - 1:
            _deposit_top_edges(top_lo, top_hi, corners, top_alpha, top_beta, row0, row1,
                               n_cols_out, cover)
            top_lo = np.int64(1)
            top_hi = np.int64(0)
        else:
            _deposit_top_edges(top_lo, min(top_hi, col_first - 1), corners, top_alpha,
                               top_beta, row0, row1, n_cols_out, cover)
            _deposit_top_edges(max(top_lo, col_last + 1), top_hi, corners, top_alpha,
                               top_beta, row0, row1, n_cols_out, cover)
        row = y_first + box_row
        # The previous row's top corners (if it was the row below) serve as
        # this row's bottom corners.
        fill_corners(pixmap, row, col_first, col_last, 0.5, rows, corners, top_lo, top_hi)
        run_weight, missed_in_band[band, box_row] = _run_coefficients(
            corners, data, weights, weight_mask, pixmap, row, col_first, col_last, value_scale,
            weight_scale, reach_x, reach_y, band, n_rows_out, n_cols_out, alpha, beta, extent)
        largest_weight = max(largest_weight, run_weight)
        # The run's bottom edges (corner 0 to 1) and left edges (corner 0 to 3),
        # computed ahead in vectorised loops.
        bottom_edges = edges[0]
        left_edges = edges[1]
        edge_covers(corners[0, col_first:col_last + 1], corners[1, col_first:col_last + 1],
                    corners[2, col_first:col_last + 1], corners[3, col_first:col_last + 1],
                    bottom_edges)
        edge_covers(corners[0, col_first:col_last + 1], corners[1, col_first:col_last + 1],
                    corners[6, col_first:col_last + 1], corners[7, col_first:col_last + 1],
                    left_edges)
        left_alpha = 0.0
        left_beta = 0.0
        for col in range(col_first, col_last + 1):
            a = alpha[col]
            b = beta[col]
            x0 = corners[0, col]
            y0 = corners[1, col]
            # Bottom edge, left to right: this drop's, minus the top edge of
            # the drop below.
            coef_a = a
            coef_b = b
            if top_lo <= col <= top_hi:
                coef_a -= top_alpha[col]
                coef_b -= top_beta[col]
            if coef_a != 0.0 or coef_b != 0.0:
                x1 = corners[2, col]
                y1 = corners[3, col]
                fits, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2 = _stored_edge(
                    bottom_edges, col - col_first)
                route = edge_route(fits, e_row, e_col, row0, row1, n_cols_out)
                if route == FAST_EDGE:
                    add_edge_cover(cover, row0, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2,
                                   coef_a, coef_b)
                elif route == CLIPPED_EDGE:
                    deposit_edge_clipped(x0, y0, x1, y1, coef_a, coef_b, row0, row1,
                                         n_cols_out, cover)
            # Left edge, upwards: the previous drop's right edge minus this
            # drop's left edge.
            coef_a = left_alpha - a
            coef_b = left_beta - b
            if coef_a != 0.0 or coef_b != 0.0:
                x3 = corners[6, col]
                y3 = corners[7, col]
                fits, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2 = _stored_edge(
                    left_edges, col - col_first)
                route = edge_route(fits, e_row, e_col, row0, row1, n_cols_out)
                if route == FAST_EDGE:
                    add_edge_cover(cover, row0, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2,
                                   coef_a, coef_b)
                elif route == CLIPPED_EDGE:
                    deposit_edge_clipped(x0, y0, x3, y3, coef_a, coef_b, row0, row1,
                                         n_cols_out, cover)
            top_alpha[col] = a
            top_beta[col] = b
            left_alpha = a
            left_beta = b
        if left_alpha != 0.0:
            # The last drop's right edge goes alone (once per run: the
            # general routine is fine).
            deposit_edge_clipped(corners[2, col_last], corners[3, col_last],
                                 corners[4, col_last], corners[5, col_last], left_alpha,
                                 left_beta, row0, row1, n_cols_out, cover)
        top_lo = col_first
        top_hi = col_last
        previous_box_row = box_row
    _deposit_top_edges(top_lo, top_hi, corners, top_alpha, top_beta, row0, row1, n_cols_out,
                       cover)
    return largest_weight


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _finish_square_band(row0: int, n_rows: int, cover, extent, noise: float, out_sci, out_wht,
                        ctx_plane, has_ctx: bool, bit: np.int32) -> None:
    """Running sums of the band's deposits, merged into the outputs; resets the buffer.

    Cells whose weight is within ``noise`` of zero received nothing but
    rounding residue and are left untouched.
    """
    n_cols = out_sci.shape[1]
    for band_row in range(n_rows):
        row = row0 + band_row
        r = band_row + 1
        added_w = 0.0
        added_wv = 0.0
        for col in range(extent[band_row, 0], extent[band_row, 1] + 1):
            added_w += cover[r, col, 0]
            added_wv += cover[r, col, 1]
            cover[r, col, 0] = 0.0
            cover[r, col, 1] = 0.0
            if col < n_cols and abs(added_w) > noise:
                new_sci, new_w = _merged(float(out_sci[row, col]), float(out_wht[row, col]),
                                         added_w, added_wv)
                out_sci[row, col] = new_sci
                out_wht[row, col] = new_w
                if has_ctx and added_w > 0.0:
                    ctx_plane[row, col] |= bit
        extent[band_row, 0] = n_cols
        extent[band_row, 1] = -1


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _square_reach_part(part, n_parts, pixmap, x_first, x_last, y_first, y_last, steps) -> None:
    """`pixmap_steps` over part ``part`` of ``n_parts`` of the rows, into ``steps[part]``.

    The corners of the box's drops use the centres one pixel around it.
    Parts overlap by one row so that every vertical pair is seen.
    """
    n_rows_in, n_cols_in = pixmap.shape[:2]
    row_lo = max(y_first - 1, 0)
    n_rows = min(y_last + 1, n_rows_in - 1) - row_lo + 1
    lo, hi = part_range(part, n_parts, n_rows)
    x_along_x, y_along_x, x_along_y, y_along_y = pixmap_steps(
        pixmap, row_lo + lo, min(row_lo + hi, row_lo + n_rows - 1), max(x_first - 1, 0),
        min(x_last + 1, n_cols_in - 1))
    # Element by element: assigning the tuple to a row would compile numba's
    # shape-mismatch error formatting (a second or two of compile time).
    steps[part, 0] = x_along_x
    steps[part, 1] = y_along_x
    steps[part, 2] = x_along_y
    steps[part, 3] = y_along_y


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _square_reach(steps, half_side):
    """`corner_reach` in x and y from the largest steps of all parts."""
    largest = np.zeros(4)
    for part in range(steps.shape[0]):
        for k in range(4):
            largest[k] = max(largest[k], steps[part, k])
    return (corner_reach(half_side, largest[0], largest[2]),
            corner_reach(half_side, largest[1], largest[3]))


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _square_bands_shared(part, n_parts, first, last, y_first, data, weights, weight_mask,
                         value_scale, weight_scale, pixmap, reach_x, reach_y, out_sci, out_wht,
                         ctx_plane, has_ctx, bit, missed_in_band, covers) -> None:
    """Second pass of the square kernel with whole pixels, bands ``part::n_parts``;
    ``covers[part]`` is its zeroed band buffer (`_band_covers`)."""
    n_rows_out, n_cols_out = out_sci.shape
    n_cols_in = data.shape[1]
    cover = covers[part]
    extent = np.empty((BAND_HEIGHT, 2), dtype=np.int64)
    extent[:, 0] = n_cols_out
    extent[:, 1] = -1
    rows = np.empty((4, n_cols_in))
    corners = np.empty((8, n_cols_in))
    alpha = np.empty(n_cols_in)
    beta = np.empty(n_cols_in)
    top_alpha = np.empty(n_cols_in)
    top_beta = np.empty(n_cols_in)
    edges = np.empty((2, n_cols_in, EDGE_ROW_LENGTH))
    # Bands are dealt round-robin: neighbouring bands carry similar loads.
    for band in range(part, first.shape[0], n_parts):
        largest_weight = _square_band_shared(
            band, first, last, y_first, data, weights, weight_mask, value_scale, weight_scale,
            pixmap, reach_x, reach_y, n_rows_out, n_cols_out, cover, extent, rows, corners,
            alpha, beta, top_alpha, top_beta, edges, missed_in_band)
        row0 = band * BAND_HEIGHT
        _finish_square_band(row0, min(BAND_HEIGHT, n_rows_out - row0), cover, extent,
                            WEIGHT_NOISE_FRACTION * largest_weight, out_sci, out_wht, ctx_plane,
                            has_ctx, bit)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _square_bands_separate(part, n_parts, first, last, y_first, data, weights, weight_mask,
                           value_scale, weight_scale, pixmap, half_side, reach_x, reach_y,
                           out_sci, out_wht, ctx_plane, has_ctx, bit, missed_in_band,
                           covers) -> None:
    """Second pass of the square kernel with shrunken drops, bands ``part::n_parts``;
    ``covers[part]`` is its zeroed band buffer (`_band_covers`)."""
    n_rows_out, n_cols_out = out_sci.shape
    n_cols_in = data.shape[1]
    cover = covers[part]
    extent = np.empty((BAND_HEIGHT, 2), dtype=np.int64)
    extent[:, 0] = n_cols_out
    extent[:, 1] = -1
    rows = np.empty((4, n_cols_in))
    corners = np.empty((8, n_cols_in))
    alpha = np.empty(n_cols_in)
    beta = np.empty(n_cols_in)
    for band in range(part, first.shape[0], n_parts):
        largest_weight = _square_band_separate(
            band, first, last, y_first, data, weights, weight_mask, value_scale, weight_scale,
            pixmap, half_side, reach_x, reach_y, n_rows_out, n_cols_out, cover, extent, rows,
            corners, alpha, beta, missed_in_band)
        row0 = band * BAND_HEIGHT
        _finish_square_band(row0, min(BAND_HEIGHT, n_rows_out - row0), cover, extent,
                            WEIGHT_NOISE_FRACTION * largest_weight, out_sci, out_wht, ctx_plane,
                            has_ctx, bit)


# The kernels' band buffers are allocated here rather than in the kernels: numpy
# asks the C library for zeroed memory (calloc), whose pages the system zeroes
# when they are first touched, while numba's np.zeros writes every byte.  A
# band buffer spans the whole output width and a chip touches a fraction of
# it; with large allocations mapped fresh for every call (the local executor's
# malloc settings), zeroing whole buffers cost more than drizzling a mosaic's
# strip of a chip.

def _band_covers(n_parts: int, n_cols_out: int) -> np.ndarray:
    """Zeroed edge-deposit buffers of the square kernel, one per part: a spare row on
    each side of the band and spare columns on the right catch the deposits
    of short edges that leave the band or the grid."""
    return np.zeros((n_parts, BAND_HEIGHT + 2, n_cols_out + 4, 2))


def _band_sums(n_parts: int, n_sums: int, n_cols_out: int) -> np.ndarray:
    """Zeroed float64 band sums (``n_sums`` per output pixel of a band), one set per part."""
    return np.zeros((n_parts, n_sums, BAND_HEIGHT, n_cols_out))


def _band_pairs(n_parts: int, n_cols_out: int) -> np.ndarray:
    """Zeroed float64 band sums of weight and weighted value, side by side (a drop's
    two sums on a pixel share a cache line: the centred kernels' deposits
    wait on memory), one set per part."""
    return np.zeros((n_parts, BAND_HEIGHT, n_cols_out, 2))


def _drizzle_square(data, weights, weight_mask, pixmap, out_sci, out_wht, ctx_plane, has_ctx,
                    bit, value_scale, weight_scale, half_side, x_first, x_last, y_first,
                    y_last, band_first, band_last, variance=None,
                    out_var=None) -> tuple[int, int]:
    """Square kernel driver; returns ``(n_skipped_lines, n_missed_pixels)``.

    With ``variance`` and ``out_var``, the variance pass follows the science pass.
    """
    n_rows_out, n_cols_out = out_sci.shape
    n_bands = (n_rows_out + BAND_HEIGHT - 1) // BAND_HEIGHT
    n_box_rows = y_last - y_first + 1
    n_threads = thread_count()
    n_parts = min(n_box_rows, n_threads)
    steps = np.zeros((n_parts, 4))
    run_parts(_square_reach_part, n_parts, pixmap, x_first, x_last, y_first, y_last, steps)
    reach_x, reach_y = _square_reach(steps, half_side)
    first = np.full((n_bands, n_box_rows), -1, dtype=np.int64)
    last = np.full((n_bands, n_box_rows), -1, dtype=np.int64)
    missed_per_row = np.zeros(n_box_rows, dtype=np.int64)
    idle_per_row = np.zeros(n_box_rows, dtype=np.int64)
    missed_in_band = np.zeros((n_bands, n_box_rows), dtype=np.int64)
    run_parts(_square_register_rows, n_parts, data, weights, weight_mask, pixmap, half_side,
              reach_x, reach_y, y_first, x_first, x_last, n_rows_out, n_cols_out, first, last,
              missed_per_row, idle_per_row, band_first, band_last)
    n_workers = min(n_threads, n_bands)
    if half_side == 0.5:
        run_parts(_square_bands_shared, n_workers, first, last, y_first, data, weights,
                  weight_mask, value_scale, weight_scale, pixmap, reach_x, reach_y, out_sci,
                  out_wht, ctx_plane, has_ctx, bit, missed_in_band,
                  _band_covers(n_workers, n_cols_out))
    else:
        run_parts(_square_bands_separate, n_workers, first, last, y_first, data, weights,
                  weight_mask, value_scale, weight_scale, pixmap, half_side, reach_x, reach_y,
                  out_sci, out_wht, ctx_plane, has_ctx, bit, missed_in_band,
                  _band_covers(n_workers, n_cols_out))
    if out_var is not None:
        run_parts(_square_variance_bands, n_workers, first, last, y_first, data, weights,
                  weight_mask, value_scale, weight_scale, variance, value_scale * value_scale,
                  pixmap, half_side, reach_x, reach_y, out_var,
                  _band_covers(n_workers, n_cols_out), _band_sums(n_workers, 1, n_cols_out))
    missed_per_row += missed_in_band.sum(axis=0)
    return _count_skips(missed_per_row, idle_per_row, x_last - x_first + 1)


# --------------------------------------------------------------------------
# kernels centred on the mapped pixel centre
# --------------------------------------------------------------------------

@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
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


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _clipped_window(lo: float, hi: float, limit_lo: int, limit_hi: int):
    """``[lo, hi]`` clipped to ``[limit_lo, limit_hi]`` as ints; empty if ``first > last``."""
    first = max(lo, float(limit_lo))
    last = min(hi, float(limit_hi))
    if last < first:
        return 1, 0
    return int(first), int(last)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _centred_register_rows(part, n_parts, data, weights, weight_mask, pixmap, kernel, radius,
                           y_first, x_first, x_last, n_rows_out, n_cols_out, first, last,
                           missed_per_row, idle_per_row, band_first, band_last) -> None:
    """First pass of a centred kernel over part ``part`` of ``n_parts`` of the box rows,
    registering bands ``band_first..band_last`` only."""
    row_lo, row_hi = part_range(part, n_parts, first.shape[1])
    for box_row in range(row_lo, row_hi):
        row = y_first + box_row
        missed = 0
        idle = 0
        # as in _square_register_rows
        open_lo = np.int64(1)
        open_hi = np.int64(0)
        last_col = np.int64(-1)
        for col in range(x_first, x_last + 1):
            weight = float(weights[row & weight_mask, col & weight_mask])
            if weight == 0.0:
                idle += 1
                continue
            value = float(data[row, col])
            x_out = pixmap[row, col, 0]
            y_out = pixmap[row, col, 1]
            if not (math.isfinite(value) and math.isfinite(weight) and math.isfinite(x_out)
                    and math.isfinite(y_out)):
                missed += 1
                continue
            bottom, top = _window(kernel, y_out, radius)
            left, right = _window(kernel, x_out, radius)
            if top < 0.0 or bottom > n_rows_out - 1.0 or right < 0.0 or left > n_cols_out - 1.0:
                missed += 1
                continue
            band_lo = max(int(max(bottom, 0.0)) // BAND_HEIGHT, band_first)
            band_hi = min(int(min(top, n_rows_out - 1.0)) // BAND_HEIGHT, band_last)
            if band_lo > band_hi:
                continue   # it reaches only rows not asked for
            # Registered at changes only: a store per pixel cost more than the
            # test (benchmarks/bench_kernels.py, point kernel).
            if band_lo != open_lo or band_hi != open_hi:
                open_lo, open_hi = _switch_bands(first, last, box_row, open_lo, open_hi,
                                                 last_col, band_lo, band_hi, col)
            last_col = col
        _switch_bands(first, last, box_row, open_lo, open_hi, last_col, np.int64(1),
                      np.int64(0), np.int64(0))
        missed_per_row[box_row] = missed
        idle_per_row[box_row] = idle


# The point kernel's first pass stores each pixel's destination (a flat
# index into the output, 4 bytes a pixel), so that its band pass reads those
# instead of the pixel map (16 bytes) and does no tests: 1.4x -> 2x drizzle's
# C code on one thread (benchmarks/bench_kernels.py).  The destinations are
# computed a row at a time in a loop LLVM vectorises, and the bands
# registered from them after.
@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _widen_columns(band_cols, band: int, col_lo: int, col_hi: int) -> None:
    """Band ``band``'s column range (``band_cols[band]``) widened to hold ``col_lo..col_hi``."""
    band_cols[band, 0] = min(band_cols[band, 0], col_lo)
    band_cols[band, 1] = max(band_cols[band, 1], col_hi)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _point_register_rows(part, n_parts, data, weights, weight_mask, pixmap, y_first, x_first,
                         x_last, n_rows_out, n_cols_out, band_first, band_last, dest, first,
                         last, band_cols, missed_per_row, idle_per_row) -> None:
    """First pass of the point kernel over part ``part`` of ``n_parts`` of the box rows.

    Sets ``dest[box_row, i]`` to the flat output index (``row * n_cols_out
    + col``) of pixel ``x_first + i``, or -1 where it drops nothing on bands
    ``band_first..band_last``; registers per band the first and last pixel
    of each row reaching it (``first``, ``last``), and widens the band's
    columns in ``band_cols[part]``.  Both output sides must be below 2**31.
    """
    row_lo, row_hi = part_range(part, n_parts, first.shape[1])
    n_cols = x_last - x_first + 1
    cell_bands = np.empty(n_cols, dtype=np.int32)
    cell_cols = np.empty(n_cols, dtype=np.int32)
    # A row of the weight that stands in for a missing map: an index that
    # is the loop counter itself keeps the loop vectorised.
    unit_weights = np.full(n_cols, weights[0, 0])
    rows_end = float(n_rows_out)
    cols_end = float(n_cols_out)
    asked_lo = np.int32(band_first * BAND_HEIGHT)
    asked_hi = np.int32(min(band_last * BAND_HEIGHT + BAND_HEIGHT - 1, n_rows_out - 1))
    n_cols_typed = np.int32(n_cols_out)
    part_cols = band_cols[part]
    for box_row in range(row_lo, row_hi):
        row = y_first + box_row
        positions = pixmap[row].reshape(-1)[2 * x_first:2 * (x_last + 1)]
        values = data[row][x_first:x_last + 1]
        row_weights = weights[row][x_first:x_last + 1] if weight_mask else unit_weights
        cells = dest[box_row]
        missed = 0
        idle = 0
        for i in range(n_cols):
            weight = float(row_weights[i])
            value = float(values[i])
            x_out = positions[2 * i]
            y_out = positions[2 * i + 1]
            # np.floor, a float: math.floor converts to an int, which is
            # undefined for NaN, inf and huge values; here those fail the
            # float tests below, and only the selected conversions are used.
            out_row = np.floor(y_out + 0.5)
            out_col = np.floor(x_out + 0.5)
            # c_round(y) is out_row where y > -0.5 and negative below: the
            # same cells as _window without its branch; NaN fails every test.
            lands = (y_out > -0.5) & (out_row < rows_end) & (x_out > -0.5) & (out_col < cols_end)
            finite = (value - value == 0.0) & (weight - weight == 0.0)
            is_idle = weight == 0.0
            drops = lands & finite & (not is_idle)
            idle += is_idle
            missed += (not drops) & (not is_idle)
            cell_row = np.int32(out_row) if drops else np.int32(-1)
            cell_col = np.int32(out_col) if drops else np.int32(0)
            asked = drops & (cell_row >= asked_lo) & (cell_row <= asked_hi)
            cell_bands[i] = cell_row // BAND_HEIGHT if asked else np.int32(-1)
            cell_cols[i] = cell_col
            cells[i] = cell_row * n_cols_typed + cell_col if asked else np.int32(-1)
        missed_per_row[box_row] = missed
        idle_per_row[box_row] = idle
        # as in _centred_register_rows, with each band's columns kept in registers
        open_band = np.int64(-1)
        last_col = np.int64(-1)
        col_lo, col_hi = _no_columns(n_cols_out)
        for i in range(n_cols):
            band = np.int64(cell_bands[i])
            if band < 0:
                continue
            col = x_first + i
            if band != open_band:
                if open_band >= 0:
                    _widen_columns(part_cols, open_band, col_lo, col_hi)
                _switch_bands(first, last, box_row, open_band, open_band, last_col, band, band,
                              col)
                open_band = band
                col_lo, col_hi = _no_columns(n_cols_out)
            cell_col = np.int64(cell_cols[i])
            col_lo = min(col_lo, cell_col)
            col_hi = max(col_hi, cell_col)
            last_col = col
        if open_band >= 0:
            _widen_columns(part_cols, open_band, col_lo, col_hi)
            last[open_band, box_row] = last_col


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _point_bands(part, n_parts, first, last, y_first, x_first, data, weights, weight_mask,
                 value_scale, weight_scale, dest, band_cols, out_sci, out_wht, ctx_plane,
                 has_ctx, bit, sums) -> None:
    """Point kernel over bands ``part::n_parts``: all weight to the pixel holding the centre,
    found in ``dest`` (`_point_register_rows`)."""
    n_rows_out, n_cols_out = out_sci.shape
    acc, extent = _band_accumulators(sums, part)
    flat_acc = acc.reshape(-1)
    # Bands are dealt round-robin: neighbouring bands carry similar loads.
    for band in range(part, first.shape[0], n_parts):
        row0, row1 = _band_rows(band, n_rows_out)
        band_start = row0 * n_cols_out
        n_band_cells = (row1 - row0 + 1) * n_cols_out
        for box_row in range(first.shape[1]):
            col_first = first[band, box_row]
            if col_first < 0:
                continue
            row = y_first + box_row
            for col in range(col_first, last[band, box_row] + 1):
                cell = np.int64(dest[box_row, col - x_first]) - band_start
                if 0 <= cell < n_band_cells:
                    dow = float(weights[row & weight_mask, col & weight_mask]) * weight_scale
                    # as _deposit does, on the flat sums
                    flat_acc[2 * cell] += dow
                    flat_acc[2 * cell + 1] += dow * (float(data[row, col]) * value_scale)
        _set_extent(extent, band_cols[band, 0], band_cols[band, 1])
        _write_back_band(row0, row1 - row0 + 1, out_sci, out_wht, ctx_plane, has_ctx, bit,
                         acc, extent)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _turbo_bands(part, n_parts, first, last, y_first, data, weights, weight_mask, value_scale,
                 weight_scale, pixmap, radius, out_sci, out_wht, ctx_plane, has_ctx, bit,
                 sums) -> None:
    """Turbo kernel over bands ``part::n_parts``: an axis-aligned square drop, exact overlaps."""
    n_rows_out, n_cols_out = out_sci.shape
    acc, extent = _band_accumulators(sums, part)
    # Bands are dealt round-robin: neighbouring bands carry similar loads.
    for band in range(part, first.shape[0], n_parts):
        row0, row1 = _band_rows(band, n_rows_out)
        col_lo, col_hi = _no_columns(n_cols_out)
        per_area = 1.0 / (4.0 * radius * radius)
        for box_row in range(first.shape[1]):
            col_first = first[band, box_row]
            if col_first < 0:
                continue
            row = y_first + box_row
            for col in range(col_first, last[band, box_row] + 1):
                value = float(data[row, col])
                weight = float(weights[row & weight_mask, col & weight_mask])
                x_out = pixmap[row, col, 0]
                y_out = pixmap[row, col, 1]
                if not (math.isfinite(value) and math.isfinite(weight) and weight != 0.0
                        and math.isfinite(x_out) and math.isfinite(y_out)):
                    continue
                x_lo = x_out - radius
                x_hi = x_out + radius
                y_lo = y_out - radius
                y_hi = y_out + radius
                r_first, r_last = _clipped_window(c_round(y_lo), c_round(y_hi), row0, row1)
                c_first, c_last = _clipped_window(c_round(x_lo), c_round(x_hi), 0, n_cols_out - 1)
                if r_first > r_last or c_first > c_last:
                    continue
                scale = weight * weight_scale * per_area
                value *= value_scale
                col_lo = min(col_lo, c_first)
                col_hi = max(col_hi, c_last)
                if r_last == r_first + 1 and c_last == c_first + 1 and math.isfinite(scale * value):
                    # The usual drop, no larger than an output pixel, on 2 x 2
                    # cells: the loop below written out, same arithmetic, a
                    # zero share where a cell is missed, no branch per cell
                    # (benchmarks/bench_kernels.py: turbo 15% faster).  A zero
                    # share adds nothing only while value and scale are finite.
                    height0 = max(min(y_hi, r_first + 0.5) - max(y_lo, r_first - 0.5), 0.0)
                    height1 = max(min(y_hi, r_last + 0.5) - max(y_lo, r_last - 0.5), 0.0)
                    width0 = max(min(x_hi, c_first + 0.5) - max(x_lo, c_first - 0.5), 0.0)
                    width1 = max(min(x_hi, c_last + 0.5) - max(x_lo, c_last - 0.5), 0.0)
                    band_row = r_first - row0
                    _deposit(acc, band_row, c_first, width0 * height0 * scale, value)
                    _deposit(acc, band_row, c_last, width1 * height0 * scale, value)
                    _deposit(acc, band_row + 1, c_first, width0 * height1 * scale, value)
                    _deposit(acc, band_row + 1, c_last, width1 * height1 * scale, value)
                    continue
                for out_row in range(r_first, r_last + 1):
                    height = min(y_hi, out_row + 0.5) - max(y_lo, out_row - 0.5)
                    if height <= 0.0:
                        continue
                    band_row = out_row - row0
                    for out_col in range(c_first, c_last + 1):
                        width = min(x_hi, out_col + 0.5) - max(x_lo, out_col - 0.5)
                        if width > 0.0:
                            _deposit(acc, band_row, out_col, width * height * scale, value)
        _set_extent(extent, col_lo, col_hi)
        _write_back_band(row0, row1 - row0 + 1, out_sci, out_wht, ctx_plane, has_ctx, bit,
                         acc, extent)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _separable_bands(part, n_parts, first, last, y_first, data, weights, weight_mask,
                     value_scale, weight_scale, pixmap, kernel, radius, shape, out_sci,
                     out_wht, ctx_plane, has_ctx, bit, sums) -> None:
    """Gaussian or Lanczos kernel over bands ``part::n_parts``, normalised per window.

    ``shape`` is the Gaussian's ``1 / (2 sigma^2)`` or the Lanczos sample
    spacing in input pixels (the sines of the samples come from
    `lanczos_step_table`).
    """
    n_rows_out, n_cols_out = out_sci.shape
    acc, extent = _band_accumulators(sums, part)
    window_length = int(2.0 * radius) + 3
    profile_x = np.empty(window_length)
    profile_y = np.empty(window_length)
    steps = _profile_steps(kernel, shape, radius, window_length)
    n_fixed = _fixed_window(radius)
    # Bands are dealt round-robin: neighbouring bands carry similar loads.
    for band in range(part, first.shape[0], n_parts):
        row0, row1 = _band_rows(band, n_rows_out)
        col_lo, col_hi = _no_columns(n_cols_out)
        for box_row in range(first.shape[1]):
            col_first = first[band, box_row]
            if col_first < 0:
                continue
            row = y_first + box_row
            for col in range(col_first, last[band, box_row] + 1):
                value = float(data[row, col])
                weight = float(weights[row & weight_mask, col & weight_mask])
                x_out = pixmap[row, col, 0]
                y_out = pixmap[row, col, 1]
                if not (math.isfinite(value) and math.isfinite(weight) and weight != 0.0
                        and math.isfinite(x_out) and math.isfinite(y_out)):
                    continue
                bottom, top = _window(kernel, y_out, radius)
                left, right = _window(kernel, x_out, radius)
                r_first, r_last = _clipped_window(bottom, top, row0, row1)
                c_first, c_last = _clipped_window(left, right, 0, n_cols_out - 1)
                if r_first > r_last or c_first > c_last:
                    continue
                # Normalised over the whole window, including any part off the
                # output, so that each drop carries exactly its weight.
                sum_x, sum_y = _separable_profiles(kernel, x_out, y_out, left, right, bottom,
                                                   top, shape, steps, n_fixed, profile_x,
                                                   profile_y)
                norm = sum_x * sum_y
                if not (norm > 0.0 and math.isfinite(norm)):
                    continue
                scale = weight * weight_scale / norm
                value *= value_scale
                x_base = int(left)
                y_base = int(bottom)
                if (r_first == y_base and r_first + n_fixed - 1 <= row1 and c_first == x_base
                        and c_first + n_fixed - 1 < n_cols_out and r_last - r_first < n_fixed
                        and c_last - c_first < n_fixed and math.isfinite(scale * value)):
                    # The whole window, padded with zero samples, in loops of
                    # one length (see _separable_profiles): zeros add nothing
                    # (while value and scale are finite).
                    r_last = r_first + n_fixed - 1
                    c_last = c_first + n_fixed - 1
                col_lo = min(col_lo, c_first)
                col_hi = max(col_hi, c_last)
                for out_row in range(r_first, r_last + 1):
                    py = profile_y[out_row - y_base] * scale
                    band_row = out_row - row0
                    for out_col in range(c_first, c_last + 1):
                        _deposit(acc, band_row, out_col, profile_x[out_col - x_base] * py, value)
        _set_extent(extent, col_lo, col_hi)
        _write_back_band(row0, row1 - row0 + 1, out_sci, out_wht, ctx_plane, has_ctx, bit,
                         acc, extent)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _tophat_bands(part, n_parts, first, last, y_first, data, weights, weight_mask,
                  value_scale, weight_scale, pixmap, radius, out_sci, out_wht, ctx_plane,
                  has_ctx, bit, sums) -> None:
    """Top-hat kernel over bands ``part::n_parts``.

    Equal shares to the output pixels whose centres lie within ``radius`` of
    the mapped centre.
    """
    n_rows_out, n_cols_out = out_sci.shape
    acc, extent = _band_accumulators(sums, part)
    # Bands are dealt round-robin: neighbouring bands carry similar loads.
    for band in range(part, first.shape[0], n_parts):
        row0, row1 = _band_rows(band, n_rows_out)
        col_lo, col_hi = _no_columns(n_cols_out)
        radius2 = radius * radius
        for box_row in range(first.shape[1]):
            col_first = first[band, box_row]
            if col_first < 0:
                continue
            row = y_first + box_row
            for col in range(col_first, last[band, box_row] + 1):
                value = float(data[row, col])
                weight = float(weights[row & weight_mask, col & weight_mask])
                x_out = pixmap[row, col, 0]
                y_out = pixmap[row, col, 1]
                if not (math.isfinite(value) and math.isfinite(weight) and weight != 0.0
                        and math.isfinite(x_out) and math.isfinite(y_out)):
                    continue
                bottom, top = _window(_TOPHAT, y_out, radius)
                left, right = _window(_TOPHAT, x_out, radius)
                r_first, r_last = _clipped_window(bottom, top, row0, row1)
                c_first, c_last = _clipped_window(left, right, 0, n_cols_out - 1)
                if r_first > r_last or c_first > c_last:
                    continue
                # Shares are counted over the whole window, including any part
                # off the output, so that each drop carries exactly its weight.
                n_inside = 0
                for k in range(int(top - bottom) + 1):
                    dy = bottom + k - y_out
                    for m in range(int(right - left) + 1):
                        dx = left + m - x_out
                        if dx * dx + dy * dy <= radius2:
                            n_inside += 1
                if n_inside == 0:
                    continue
                share = weight * weight_scale / n_inside
                value *= value_scale
                col_lo = min(col_lo, c_first)
                col_hi = max(col_hi, c_last)
                for out_row in range(r_first, r_last + 1):
                    dy = out_row - y_out
                    band_row = out_row - row0
                    for out_col in range(c_first, c_last + 1):
                        dx = out_col - x_out
                        if dx * dx + dy * dy <= radius2:
                            _deposit(acc, band_row, out_col, share, value)
        _set_extent(extent, col_lo, col_hi)
        _write_back_band(row0, row1 - row0 + 1, out_sci, out_wht, ctx_plane, has_ctx, bit,
                         acc, extent)


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _band_accumulators(sums, part):
    """Part ``part``'s zeroed float64 sums of weight (``[..., 0]``) and weighted value
    (``[..., 1]``) for one band (``sums[part]``, `_band_pairs`), and its empty extent."""
    n_cols_out = sums.shape[2]
    extent = np.empty((BAND_HEIGHT, 2), dtype=np.int64)
    extent[:, 0] = n_cols_out
    extent[:, 1] = -1
    return sums[part], extent


# Outputs of fewer pixels than this keep the point kernel's destinations in
# int32; its cell rows and columns are int32 whatever the output's size.
_POINT_INT32_CELLS = 2**31
_POINT_LARGEST_SIDE = np.iinfo(np.int32).max


def _check_point_frame(n_rows_out: int, n_cols_out: int) -> None:
    """Raise `UnsupportedError` for an output side the point kernel's int32 cells cannot hold."""
    if max(n_rows_out, n_cols_out) > _POINT_LARGEST_SIDE:
        raise UnsupportedError(
            f"the point kernel handles output sides up to {_POINT_LARGEST_SIDE} pixels, got "
            f"an output of {n_rows_out} x {n_cols_out}; drizzle onto smaller output tiles")


def _drizzle_centred(data, weights, weight_mask, pixmap, out_sci, out_wht, ctx_plane, has_ctx,
                     bit, value_scale, weight_scale, kernel, radius, shape, x_first, x_last,
                     y_first, y_last, band_first, band_last, variance=None,
                     out_var=None) -> tuple[int, int]:
    """Driver of the kernels centred on the mapped pixel centre.

    Each kernel has its own second pass, so a run compiles only the kernel
    it uses; the first pass is common to all but the point kernel, whose
    own first pass keeps each pixel's destination (4 bytes per input pixel
    of scratch; 8 when the output has 2**31 pixels or more).  With
    ``variance`` and ``out_var``, the variance pass follows the science pass.
    """
    n_rows_out, n_cols_out = out_sci.shape
    n_bands = (n_rows_out + BAND_HEIGHT - 1) // BAND_HEIGHT
    n_box_rows = y_last - y_first + 1
    first = np.full((n_bands, n_box_rows), -1, dtype=np.int64)
    last = np.full((n_bands, n_box_rows), -1, dtype=np.int64)
    missed_per_row = np.zeros(n_box_rows, dtype=np.int64)
    idle_per_row = np.zeros(n_box_rows, dtype=np.int64)
    n_threads = thread_count()
    n_parts = min(n_box_rows, n_threads)
    n_workers = min(n_threads, n_bands)
    outputs = (out_sci, out_wht, ctx_plane, has_ctx, bit, _band_pairs(n_workers, n_cols_out))
    if kernel == _POINT:
        _check_point_frame(n_rows_out, n_cols_out)
        dest = np.empty((n_box_rows, x_last - x_first + 1),
                        dtype=np.int32 if n_rows_out * n_cols_out < _POINT_INT32_CELLS
                        else np.int64)
        band_cols = np.empty((n_parts, n_bands, 2), dtype=np.int64)
        band_cols[..., 0] = n_cols_out
        band_cols[..., 1] = -1
        run_parts(_point_register_rows, n_parts, data, weights, weight_mask, pixmap, y_first,
                  x_first, x_last, n_rows_out, n_cols_out, band_first, band_last, dest, first,
                  last, band_cols, missed_per_row, idle_per_row)
        band_cols = np.stack([band_cols[..., 0].min(axis=0), band_cols[..., 1].max(axis=0)],
                             axis=1)
        run_parts(_point_bands, n_workers, first, last, y_first, x_first, data, weights,
                  weight_mask, value_scale, weight_scale, dest, band_cols, *outputs)
    else:
        run_parts(_centred_register_rows, n_parts, data, weights, weight_mask, pixmap, kernel,
                  radius, y_first, x_first, x_last, n_rows_out, n_cols_out, first, last,
                  missed_per_row, idle_per_row, band_first, band_last)
        band_pass = (first, last, y_first, data, weights, weight_mask, value_scale,
                     weight_scale, pixmap)
        if kernel == _TURBO:
            run_parts(_turbo_bands, n_workers, *band_pass, radius, *outputs)
        elif kernel == _TOPHAT:
            run_parts(_tophat_bands, n_workers, *band_pass, radius, *outputs)
        else:
            run_parts(_separable_bands, n_workers, *band_pass, kernel, radius, shape, *outputs)
    if out_var is not None:
        run_parts(_centred_variance_bands, n_workers, first, last, y_first, data, weights,
                  weight_mask, weight_scale, variance, value_scale * value_scale, pixmap, kernel,
                  radius, shape, out_var, _band_sums(n_workers, 1, n_cols_out))
    return _count_skips(missed_per_row, idle_per_row, x_last - x_first + 1)


# --------------------------------------------------------------------------
# variance propagation
#
# A separate pass after the science pass, over the same drops and the same
# bands, when asked for: the science, weight and context arithmetic above is
# untouched, and a drizzle without variance costs nothing more.  Each output
# pixel receives sum(dow^2 * variance) over the drops reaching it, where
# ``dow`` is the drop's weight on that pixel as the science pass gives it.
# --------------------------------------------------------------------------

# The two helpers below serve the square and the centred families, which must
# share no separately compiled function (see kernels.warmup): inlined.
@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _variance_accumulator(sums, part):
    """Part ``part``'s zeroed float64 sums of squared weight times variance for one band
    (``sums[part, 0]``, `_band_sums`), and its empty extent."""
    n_cols_out = sums.shape[3]
    extent = np.empty((BAND_HEIGHT, 2), dtype=np.int64)
    extent[:, 0] = n_cols_out
    extent[:, 1] = -1
    return sums[part, 0], extent


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _write_back_variance(row0: int, n_rows: int, out_var, acc, extent) -> None:
    """Add a band's float64 sums to ``out_var`` (one rounding per call) and reset them."""
    n_cols = out_var.shape[1]
    for band_row in range(n_rows):
        row = row0 + band_row
        for col in range(max(extent[band_row, 0], 0), min(extent[band_row, 1], n_cols - 1) + 1):
            added = acc[band_row, col]
            if added != 0.0:
                acc[band_row, col] = 0.0
                out_var[row, col] = float(out_var[row, col]) + added
        extent[band_row, 0] = n_cols
        extent[band_row, 1] = -1


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _square_variance_bands(part, n_parts, first, last, y_first, data, weights, weight_mask,
                           value_scale, weight_scale, variance, variance_scale, pixmap,
                           half_side, reach_x, reach_y, out_var, covers, sums) -> None:
    """Square kernel variance over bands ``part::n_parts``.

    The science pass sums the edge deposits of all drops before taking the
    running sums, which gives each output pixel the sum of the drops'
    weights but not each drop's own share.  Here each drop's four edges are
    deposited alone and its cells read (and the buffer cleared) at once, so
    every cell gets the drop's exact weight ``dow`` and adds ``dow^2 *
    variance``.  Drops are chosen and weighted by `_run_coefficients`, as in
    the science pass.
    """
    n_rows_out, n_cols_out = out_var.shape
    n_cols_in = data.shape[1]
    cover = covers[part]
    acc, extent = _variance_accumulator(sums, part)
    rows = np.empty((4, n_cols_in))
    corners = np.empty((8, n_cols_in))
    alpha = np.empty(n_cols_in)
    beta = np.empty(n_cols_in)
    for band in range(part, first.shape[0], n_parts):
        row0, row1 = _band_rows(band, n_rows_out)
        for box_row in range(first.shape[1]):
            col_first = first[band, box_row]
            if col_first < 0:
                continue
            col_last = last[band, box_row]
            row = y_first + box_row
            fill_corners(pixmap, row, col_first, col_last, half_side, rows, corners)
            _run_coefficients(corners, data, weights, weight_mask, pixmap, row, col_first,
                              col_last, value_scale, weight_scale, reach_x, reach_y, band,
                              n_rows_out, n_cols_out, alpha, beta, extent)
            for col in range(col_first, col_last + 1):
                a = alpha[col]
                if a == 0.0:
                    continue
                for k in range(4):
                    x_a = corners[2 * k, col]
                    y_a = corners[2 * k + 1, col]
                    x_b = corners[(2 * k + 2) % 8, col]
                    y_b = corners[(2 * k + 3) % 8, col]
                    fits, e_row, e_col, c0, d0, d1, d2, c1, e0, e1, e2 = edge_cover(
                        x_a, y_a, x_b, y_b)
                    route = edge_route(fits, e_row, e_col, row0, row1, n_cols_out)
                    if route == FAST_EDGE:
                        add_edge_weight(cover, row0, e_row, e_col, c0, d0, d1, d2, c1, e0, e1,
                                        e2, a)
                    elif route == CLIPPED_EDGE:
                        deposit_edge_clipped(x_a, y_a, x_b, y_b, a, 0.0, row0, row1,
                                             n_cols_out, cover)
                x0, y0, x1, y1 = corners[0, col], corners[1, col], corners[2, col], corners[3, col]
                x2, y2, x3, y3 = corners[4, col], corners[5, col], corners[6, col], corners[7, col]
                # Cells the drop only touches get rounding residue, as in the
                # science pass (WEIGHT_NOISE_FRACTION of the drop's weight).
                noise = WEIGHT_NOISE_FRACTION * abs(a * quadrilateral_area(x0, y0, x1, y1, x2,
                                                                           y2, x3, y3))
                drop_variance = float(variance[row, col]) * variance_scale
                bottom = max(nearest_cell(min(min(y0, y1), min(y2, y3))), float(row0))
                top = min(nearest_cell(max(max(y0, y1), max(y2, y3))), float(row1))
                left = int(min(max(nearest_cell(min(min(x0, x1), min(x2, x3))), 0.0),
                               float(n_cols_out)))
                right = int(min(max(nearest_cell(max(max(x0, x1), max(x2, x3))) + 1.0, 0.0),
                                float(n_cols_out)))
                for out_row in range(int(bottom), int(top) + 1):
                    r = out_row - row0 + 1
                    dow = 0.0
                    # (cover[..., 1] is not read here and only ever gets zeros)
                    for out_col in range(left, right + 1):
                        dow += cover[r, out_col, 0]
                        cover[r, out_col, 0] = 0.0
                        if out_col < n_cols_out and abs(dow) > noise:
                            acc[out_row - row0, out_col] += dow * dow * drop_variance
        _write_back_variance(row0, row1 - row0 + 1, out_var, acc, extent)


# Above this exponent the Gaussian's powers of one exponential
# (`_gaussian_profile`) could overflow: the profile is then made from one
# exponential per sample.
_GAUSSIAN_RECURRENCE_LIMIT = 600.0


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _fixed_window(radius: float) -> int:
    """Samples per axis of the windows `_separable_bands` deposits with loops of a fixed
    length: every Lanczos window but for rounding accidents, and the usual
    Gaussian window (``ceil(2 radius)`` samples; one more where the centre
    falls near a half-integer, for which the general loops are cheaper than
    padding every window: 8% on benchmarks/bench_kernels.py)."""
    return int(math.ceil(2.0 * radius - 1e-9))


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy")
def _profile_steps(kernel: int, shape: float, radius: float, window_length: int) -> np.ndarray:
    """Per-call table of the separable kernels' profiles (4 x ``window_length``).

    Lanczos: `lanczos_step_table`.  Gaussian: row 0 holds ``exp(-k^2 shape)``
    for ``k < window_length`` when `_gaussian_profile` may use it, and the
    table has no columns when it may not.
    """
    if kernel != _GAUSSIAN:
        return lanczos_step_table(shape, 2.0 if kernel == _LANCZOS2 else 3.0, window_length)
    if 2.0 * (radius + 1.0) * shape * window_length > _GAUSSIAN_RECURRENCE_LIMIT:
        return np.empty((4, 0))
    steps = np.zeros((4, window_length))
    for k in range(window_length):
        steps[0, k] = math.exp(-k * k * shape)
    return steps


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _gaussian_profile(first_offset: float, n: int, n_fixed: int, shape: float, steps,
                      profile) -> float:
    """``profile[k]`` proportional to ``exp(-(first_offset + k)^2 shape)`` for ``k < n``,
    zero for ``n <= k < n_fixed``; returns the sum.

    The profile is normalised by its caller, so it is taken relative to the
    first sample: ``exp(-(d + k)^2 s) / exp(-d^2 s) = a^k exp(-k^2 s)`` with
    ``a = exp(-2 d s)``, one exponential per axis instead of one per sample
    (benchmarks/bench_kernels.py: they limited the kernel).  ``steps[0]``
    exists only where the powers of ``a`` cannot overflow.
    """
    total = 0.0
    if steps.shape[1] == 0:
        # One exponential per sample, relative to the sample nearest the
        # centre (offset e): exp(-(d^2 - e^2) s) <= 1, and that sample is 1.
        # Absolute samples of a narrow Gaussian could all underflow, and a
        # drop then lost its weight or spread NaN (a zero or subnormal sum).
        nearest = first_offset + min(max(c_round(-first_offset), 0.0), n - 1.0)
        for k in range(max(n, n_fixed)):
            offset = first_offset + k
            sample = math.exp((nearest - offset) * (nearest + offset) * shape)
            profile[k] = sample if k < n else 0.0
            total += profile[k]
        return total
    ratio = math.exp(-2.0 * first_offset * shape)
    power = 1.0
    for k in range(max(n, n_fixed)):
        sample = power * steps[0, k]
        profile[k] = sample if k < n else 0.0
        total += profile[k]
        power *= ratio
    return total


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _lanczos_profile(first_offset: float, n: int, n_fixed: int, shape: float, order: float,
                     steps, profile) -> float:
    """``profile[k]`` the Lanczos window at ``(first_offset + k) * shape`` for ``k < n``,
    zero for ``n <= k < n_fixed``; returns the sum.

    ``sin(pi u0)`` and ``cos(pi u0)`` come from ``sin(pi u0 / order)`` and
    ``cos(pi u0 / order)`` (`sin_cos_pi`) by the double- or triple-angle
    formulas.
    """
    u0 = first_offset * shape
    s_v, c_v = sin_cos_pi(u0 / order)
    if order == 2.0:
        s_u = 2.0 * s_v * c_v
        c_u = 2.0 * c_v * c_v - 1.0
    else:
        s_u = s_v * (3.0 - 4.0 * s_v * s_v)
        c_u = c_v * (4.0 * c_v * c_v - 3.0)
    total = 0.0
    for k in range(max(n, n_fixed)):
        sample = lanczos_from_sines(u0 + k * shape, s_u * steps[0, k] + c_u * steps[1, k],
                                    s_v * steps[2, k] + c_v * steps[3, k], order)
        profile[k] = sample if k < n else 0.0
        total += profile[k]
    return total


# inline: a call with array arguments costs reference counting per drop
@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, inline="always", error_model="numpy")
def _separable_profiles(kernel, x_out, y_out, left, right, bottom, top, shape, steps,
                        n_fixed, profile_x, profile_y):
    """Gaussian or Lanczos profiles of one drop's window (science and variance passes),
    padded with zeros to ``n_fixed`` samples (`_fixed_window`).

    Loops of the same length for most drops: windows of varying length
    (3 or 4 samples for the default Gaussian) made every loop exit a
    mispredicted branch, which cost more than the arithmetic.  Returns the
    sums of ``profile_x`` and ``profile_y``.
    """
    n_x = int(right - left) + 1
    n_y = int(top - bottom) + 1
    if kernel == _GAUSSIAN:
        return (_gaussian_profile(left - x_out, n_x, n_fixed, shape, steps, profile_x),
                _gaussian_profile(bottom - y_out, n_y, n_fixed, shape, steps, profile_y))
    order = 2.0 if kernel == _LANCZOS2 else 3.0
    return (_lanczos_profile(left - x_out, n_x, n_fixed, shape, order, steps, profile_x),
            _lanczos_profile(bottom - y_out, n_y, n_fixed, shape, order, steps, profile_y))


@njit(cache=True, fastmath=FUSED_MULTIPLY_ADD, error_model="numpy", nogil=True)
def _centred_variance_bands(part, n_parts, first, last, y_first, data, weights, weight_mask,
                            weight_scale, variance, variance_scale, pixmap, kernel, radius,
                            shape, out_var, sums) -> None:
    """Variance of the kernels centred on the mapped pixel centre, bands ``part::n_parts``.

    Each drop's weights on its cells are those of `_point_bands`,
    `_turbo_bands`, `_tophat_bands` or `_separable_bands`, computed the same
    way; each cell adds ``dow^2 * variance``.
    """
    n_rows_out, n_cols_out = out_var.shape
    acc, extent = _variance_accumulator(sums, part)
    window_length = int(2.0 * radius) + 3
    profile_x = np.empty(window_length)
    profile_y = np.empty(window_length)
    steps = _profile_steps(kernel, shape, radius, window_length)
    n_fixed = _fixed_window(radius)
    radius2 = radius * radius
    for band in range(part, first.shape[0], n_parts):
        row0, row1 = _band_rows(band, n_rows_out)
        for box_row in range(first.shape[1]):
            col_first = first[band, box_row]
            if col_first < 0:
                continue
            row = y_first + box_row
            for col in range(col_first, last[band, box_row] + 1):
                value = float(data[row, col])
                weight = float(weights[row & weight_mask, col & weight_mask])
                x_out = pixmap[row, col, 0]
                y_out = pixmap[row, col, 1]
                if not (math.isfinite(value) and math.isfinite(weight) and weight != 0.0
                        and math.isfinite(x_out) and math.isfinite(y_out)):
                    continue
                drop_variance = float(variance[row, col]) * variance_scale
                dow = weight * weight_scale
                if kernel == _POINT:
                    out_row = c_round(y_out)
                    out_col = c_round(x_out)
                    if row0 <= out_row <= row1 and 0.0 <= out_col < n_cols_out:
                        band_row = int(out_row) - row0
                        cell = int(out_col)
                        acc[band_row, cell] += dow * dow * drop_variance
                        extent[band_row, 0] = min(extent[band_row, 0], cell)
                        extent[band_row, 1] = max(extent[band_row, 1], cell)
                    continue
                bottom, top = _window(kernel, y_out, radius)
                left, right = _window(kernel, x_out, radius)
                r_first, r_last = _clipped_window(bottom, top, row0, row1)
                c_first, c_last = _clipped_window(left, right, 0, n_cols_out - 1)
                if r_first > r_last or c_first > c_last:
                    continue
                if kernel == _TURBO:
                    x_lo = x_out - radius
                    x_hi = x_out + radius
                    y_lo = y_out - radius
                    y_hi = y_out + radius
                    scale = dow * (1.0 / (4.0 * radius * radius))
                    for out_row in range(r_first, r_last + 1):
                        height = min(y_hi, out_row + 0.5) - max(y_lo, out_row - 0.5)
                        if height <= 0.0:
                            continue
                        band_row = out_row - row0
                        for out_col in range(c_first, c_last + 1):
                            width = min(x_hi, out_col + 0.5) - max(x_lo, out_col - 0.5)
                            if width > 0.0:
                                share = width * height * scale
                                acc[band_row, out_col] += share * share * drop_variance
                elif kernel == _TOPHAT:
                    n_inside = 0
                    for k in range(int(top - bottom) + 1):
                        dy = bottom + k - y_out
                        for m in range(int(right - left) + 1):
                            dx = left + m - x_out
                            if dx * dx + dy * dy <= radius2:
                                n_inside += 1
                    if n_inside == 0:
                        continue
                    share = dow / n_inside
                    for out_row in range(r_first, r_last + 1):
                        dy = out_row - y_out
                        band_row = out_row - row0
                        for out_col in range(c_first, c_last + 1):
                            dx = out_col - x_out
                            if dx * dx + dy * dy <= radius2:
                                acc[band_row, out_col] += share * share * drop_variance
                else:
                    sum_x, sum_y = _separable_profiles(kernel, x_out, y_out, left, right,
                                                       bottom, top, shape, steps, n_fixed,
                                                       profile_x, profile_y)
                    norm = sum_x * sum_y
                    if not (norm > 0.0 and math.isfinite(norm)):
                        continue
                    scale = dow / norm
                    x_base = int(left)
                    y_base = int(bottom)
                    for out_row in range(r_first, r_last + 1):
                        py = profile_y[out_row - y_base] * scale
                        if py == 0.0:
                            continue
                        band_row = out_row - row0
                        for out_col in range(c_first, c_last + 1):
                            share = profile_x[out_col - x_base] * py
                            acc[band_row, out_col] += share * share * drop_variance
                for out_row in range(r_first, r_last + 1):
                    band_row = out_row - row0
                    extent[band_row, 0] = min(extent[band_row, 0], c_first)
                    extent[band_row, 1] = max(extent[band_row, 1], c_last)
        _write_back_variance(row0, row1 - row0 + 1, out_var, acc, extent)


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
    variance: np.ndarray | None = None,
    out_var: np.ndarray | None = None,
    out_rows: tuple[int, int] | None = None,
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
    variance : numpy.ndarray, optional
        Variance of each input pixel, shape of ``data``, in the square of
        ``data``'s units.  Give it with ``out_var`` to propagate it.
    out_var : numpy.ndarray, optional
        Output array (shape and dtype of ``out_sci``, C-contiguous,
        writeable; start it at zero) to which each output pixel adds
        ``sum(dow**2 * variance * s**2)`` over this image's pixels, with ``s``
        the factor from ``data`` to ``v`` below.  After the last image,
        `error_from_variance` turns it and ``out_wht`` into the standard
        deviation of ``out_sci``.
    out_rows : (int, int), optional
        Inclusive first and last output row the caller will read (a strip
        of a larger image).  Those rows get exactly what a call without
        ``out_rows`` gives them; input pixels whose drop reaches none of the
        bands of ``BAND_HEIGHT`` output rows holding them are not drizzled,
        so other rows of those bands may be changed and the rest are left
        as they are.  Such pixels count as neither skipped nor missed.
        None: every row.

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

    With ``variance``, a second pass over the same pixels adds ``dow**2``
    times their variance to ``out_var``, ``dow`` being each pixel's weight
    on each output pixel as the science pass computes it (the overlap area
    of the drop for ``square`` and ``turbo``, the kernel's normalised
    weights for the others).  The science, weight and context outputs are
    the same, to the last bit, with or without it.
    """
    data = _as_real_image(data, "data")
    n_rows_in, n_cols_in = data.shape
    pixmap = _as_pixmap(pixmap, data.shape)
    n_rows_out, n_cols_out = _check_outputs(out_sci, out_wht)
    ctx_plane, bit = _context_plane(out_ctx, image_id, (n_rows_out, n_cols_out))
    weights = _as_weights(weight_map, data.shape)
    variance, out_var = _variance_arrays(variance, out_var, data.shape, out_sci)
    kernel_code = _kernel_code(kernel)
    # the point kernel drops each value at one point and never reads pixfrac:
    # pixfrac 0 is how a user asks for it (AstroDrizzle switches below 0.001)
    pixfrac = (_non_negative_number if kernel_code == _POINT else _positive_number)(
        "pixfrac", pixfrac)
    wt_scl = _positive_number("wt_scl", wt_scl)
    exptime = _positive_number("exptime", exptime)
    iscale = _positive_number("iscale", iscale)
    pixel_scale_ratio = _positive_number("pixel_scale_ratio", pixel_scale_ratio)
    value_scale = iscale / _exposure_divisor(in_units, exptime)
    x_first, x_last = _box_range("x", xmin, xmax, n_cols_in)
    y_first, y_last = _box_range("y", ymin, ymax, n_rows_in)
    band_first, band_last = _bands_of_rows(out_rows, n_rows_out)
    if fillval is not None:
        fillval = float(fillval)

    # Index mask for the weights: 0 reads the 1 x 1 array of ones that stands
    # in for a missing map, -1 reads the map (no branch in the pixel loops).
    weight_mask = -1 if weight_map is not None else 0
    has_ctx = out_ctx is not None
    if kernel_code == _SQUARE:
        if n_rows_in < 2 or n_cols_in < 2:
            raise ValueError("the square kernel interpolates the pixel map and needs an input "
                             f"of at least 2 x 2 pixels, got shape {data.shape}")
        n_skipped, n_missed = _drizzle_square(
            data, weights, weight_mask, pixmap, out_sci, out_wht, ctx_plane, has_ctx, bit,
            value_scale, wt_scl, 0.5 * pixfrac, x_first, x_last, y_first, y_last,
            band_first, band_last, variance, out_var)
    else:
        radius, shape = _centred_kernel_size(kernel_code, pixfrac, pixel_scale_ratio)
        n_skipped, n_missed = _drizzle_centred(
            data, weights, weight_mask, pixmap, out_sci, out_wht, ctx_plane, has_ctx, bit,
            value_scale, wt_scl, kernel_code, radius, shape, x_first, x_last, y_first, y_last,
            band_first, band_last, variance, out_var)
    finalize_fill(out_sci, out_wht, fillval)
    return int(n_skipped), int(n_missed)


def error_from_variance(out_var: np.ndarray, out_wht: np.ndarray) -> np.ndarray:
    """Standard deviation of a drizzled science image from its variance sums.

    Parameters
    ----------
    out_var : numpy.ndarray
        ``sum(dow**2 * variance)`` per output pixel, as `drizzle_add_image`
        accumulates it.
    out_wht : numpy.ndarray
        The weight image of the same drizzle, ``sum(dow)``.

    Returns
    -------
    numpy.ndarray
        float32 ``sqrt(out_var) / |out_wht|``: the science image is
        ``sum(dow * v) / sum(dow)``, so for independent input pixels its
        variance is ``sum(dow**2 var) / sum(dow)**2``.  NaN where the weight
        is zero (no data).
    """
    if np.shape(out_var) != np.shape(out_wht):
        raise ValueError(f"out_var and out_wht must have the same shape, got "
                         f"{np.shape(out_var)} and {np.shape(out_wht)}")
    weight = np.abs(np.asarray(out_wht, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.sqrt(np.maximum(np.asarray(out_var, dtype=np.float64), 0.0)) / weight
    error[weight == 0] = np.nan
    return error.astype(np.float32)


def noise_correlation_ratio(kernel: str, pixfrac: float, pixel_scale_ratio: float) -> float:
    """Fruchter & Hook's noise-correlation ratio ``R`` of a drizzle kernel.

    Drizzling spreads each input pixel over several output pixels, so the
    noise of neighbouring output pixels is correlated and the per-pixel error
    under-states the error of a sum over many pixels.  For an aperture much
    larger than the kernel, ``sigma_aperture = R * sqrt(sum of ERR**2)``
    (equal weights, uniform dithers).  ``R = 1 / sqrt(<sum_k f_k**2>)``, where
    ``f_k`` are the fractions of one input pixel landing in output pixel
    ``k`` and ``<>`` averages over its sub-pixel position.

    Parameters
    ----------
    kernel : str
        One of `DRIZZLE_KERNELS`.
    pixfrac : float
        The drop size, > 0.
    pixel_scale_ratio : float
        Output pixel size over input pixel size, > 0.

    Returns
    -------
    float
        ``R >= 1``.  For ``square`` and ``turbo`` Fruchter & Hook (2002, PASP
        114, 144) give it in closed form with ``r = pixfrac /
        pixel_scale_ratio``: ``R = 1 / (1 - r / 3)`` for ``r <= 1`` and
        ``R = r / (1 - 1 / (3 r))`` for ``r >= 1`` (exact for axis-aligned
        drops; rotated or distorted ``square`` drops differ slightly);
        ``point`` gives 1.  For ``gaussian``, ``lanczos2``, ``lanczos3`` and
        ``tophat`` the average is taken numerically over a 64 x 64 grid of
        sub-pixel positions, with the kernel's own normalised weights.
    """
    kernel_code = _kernel_code(kernel)
    # as in drizzle_add_image: the point kernel takes pixfrac 0 (it never reads it)
    pixfrac = (_non_negative_number if kernel_code == _POINT else _positive_number)(
        "pixfrac", pixfrac)
    pixel_scale_ratio = _positive_number("pixel_scale_ratio", pixel_scale_ratio)
    if kernel_code == _POINT:
        return 1.0
    if kernel_code in (_SQUARE, _TURBO):
        r = pixfrac / pixel_scale_ratio
        return 1.0 / (1.0 - r / 3.0) if r <= 1.0 else r / (1.0 - 1.0 / (3.0 * r))
    return float(1.0 / math.sqrt(mean_sum_of_squared_fractions(kernel, pixfrac,
                                                                pixel_scale_ratio)))


def mean_sum_of_squared_fractions(kernel: str, pixfrac: float, pixel_scale_ratio: float,
                                  n_phases: int = 64) -> float:
    """``<sum_k f_k**2>`` of a centred kernel over ``n_phases**2`` sub-pixel positions.

    ``f_k`` are the normalised weights the kernel gives output pixel ``k``
    for an input pixel centred at ``(x, y)``, with ``x`` and ``y`` on a
    regular grid across one output pixel.  See `noise_correlation_ratio`.
    """
    kernel_code = _kernel_code(kernel)
    radius, shape = _centred_kernel_size(kernel_code, pixfrac, pixel_scale_ratio)
    phases = (np.arange(n_phases) + 0.5) / n_phases - 0.5
    reach = int(math.ceil(radius)) + 2
    cells = np.arange(-reach, reach + 1, dtype=np.float64)
    # offsets[phase, cell] = cell - position
    offsets = cells[np.newaxis, :] - phases[:, np.newaxis]
    positions = phases[:, np.newaxis]
    if kernel_code == _TURBO:
        profile = np.clip(np.minimum(positions + radius, cells + 0.5)
                          - np.maximum(positions - radius, cells - 0.5), 0.0, None)
    elif kernel_code == _GAUSSIAN:
        inside = (cells >= _c_round_array(positions - radius)) & (
            cells <= _c_round_array(positions + radius))
        profile = np.where(inside, np.exp(-offsets ** 2 * shape), 0.0)
    elif kernel_code in (_LANCZOS2, _LANCZOS3):
        order = 2.0 if kernel_code == _LANCZOS2 else 3.0
        u = offsets * shape
        profile = np.where(np.abs(u) < order, np.sinc(u) * np.sinc(u / order), 0.0)
    elif kernel_code == _TOPHAT:
        # Not separable: every pair of x and y positions.
        inside = (offsets[:, np.newaxis, np.newaxis, :] ** 2
                  + offsets[np.newaxis, :, :, np.newaxis] ** 2) <= radius * radius
        counts = inside.sum(axis=(2, 3)).astype(np.float64)
        counts = counts[counts > 0]
        return float(np.mean(1.0 / counts)) if counts.size else 1.0
    else:
        raise ParameterError(f"mean_sum_of_squared_fractions: kernel {kernel!r} has no "
                             "centred profile")
    # Separable: the 2-D mean is the product of the 1-D means.
    sums = profile.sum(axis=1)
    fractions = profile / sums[:, np.newaxis]
    one_axis = float(np.mean(np.sum(fractions ** 2, axis=1)))
    return one_axis * one_axis


def _c_round_array(x: np.ndarray) -> np.ndarray:
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _variance_arrays(variance: np.ndarray | None, out_var: np.ndarray | None,
                     shape: tuple[int, int], out_sci: np.ndarray):
    """``variance`` and ``out_var`` checked: both None, or both valid."""
    if variance is None and out_var is None:
        return None, None
    if variance is None or out_var is None:
        raise ValueError("variance and out_var go together: give both or neither")
    variance = _as_real_image(variance, "variance")
    if variance.shape != shape:
        raise ValueError(f"variance must have the shape of data {shape}, got {variance.shape}")
    if not isinstance(out_var, np.ndarray) or out_var.shape != out_sci.shape \
            or out_var.dtype != out_sci.dtype:
        raise ValueError(f"out_var must be a numpy array of the shape and dtype of out_sci "
                         f"({out_sci.shape} {out_sci.dtype})")
    if not (out_var.flags.c_contiguous and out_var.flags.writeable):
        raise ValueError("out_var must be C-contiguous and writeable (it is updated in place)")
    return variance, out_var


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


def _non_negative_number(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not (math.isfinite(number) and number >= 0.0):
        raise ParameterError(f"{name} must be a finite number >= 0, got {value!r}")
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


def _bands_of_rows(out_rows: tuple[int, int] | None, n_rows_out: int) -> tuple[int, int]:
    """First and last band holding the output rows ``out_rows`` (None: all rows)."""
    if out_rows is None:
        return 0, (n_rows_out - 1) // BAND_HEIGHT
    try:
        first, last = (int(row) for row in out_rows)
    except (TypeError, ValueError):
        raise ValueError(f"out_rows must be two row numbers (first, last), got "
                         f"{out_rows!r}") from None
    if not 0 <= first <= last < n_rows_out:
        raise ValueError(f"out_rows must satisfy 0 <= first <= last < {n_rows_out} (the "
                         f"output's rows), got {out_rows!r}")
    return first // BAND_HEIGHT, last // BAND_HEIGHT


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
