"""Blot interpolants: resample a drizzled image back onto an input chip.

For every pixel ``(x, y)`` of the input chip, ``pixmap[y, x] = (x_out, y_out)``
says where that pixel's centre lands in the drizzled image (0-based pixel
centres, the convention of ``drizzle.resample.blot_image``).  The drizzled
image is interpolated there and the result multiplied by ``scale``.

The interpolants are those of MultiDrizzle/AstroDrizzle blot:

``nearest``
    The value of the drizzled pixel that contains the point.
``linear``
    Bilinear interpolation between the four surrounding pixel centres.
``poly3`` / ``poly5``
    "Interior polynomial" interpolation: the separable Lagrange polynomial
    through the 4 x 4 (cubic) or 6 x 6 (quintic) pixel centres around the
    point.  The reference code writes these with Everett's central-difference
    formula, which is algebraically the same polynomial; here the Lagrange
    weights are computed once per axis and applied as a tensor product.
``sinc``
    A cos**2-tapered sinc, ``sinc(u / sinscl)``, over pixels with
    ``|u| < 7 * sinscl`` (the reference's 15-point kernel at ``sinscl=1``),
    normalised so that the weights sum to one in each axis.

Edges, for a drizzled image of ``n`` pixels along an axis:

* A point is on the image when ``-0.5 <= coordinate < n - 0.5``, i.e. inside
  the footprint of the pixels.  Anything else gets ``fillval``.
* Beyond the outermost pixel centres, ``linear`` and ``sinc`` repeat the edge
  pixel, while ``poly3`` and ``poly5`` extend the image by point reflection
  about the edge pixel (``d[-k] = 2 d[0] - d[k]``), which keeps straight
  lines straight.  These are the reference's rules, applied on all four
  sides.
* If any pixel of the interpolation footprint (the 1, 2 x 2, 4 x 4, 6 x 6 or
  sinc-support block, reflected pixels included) is NaN, or the pixel map
  itself is NaN, the result is ``fillval``.

Every input pixel is independent, so the kernels run in parallel over blocks
of input rows (`multidrizzle.kernels._parallel`) and give bit-identical
results for any number of threads.  Sums are
accumulated in float64; the output is float32.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from multidrizzle.errors import ParameterError, UnsupportedError
from multidrizzle.kernels._parallel import part_range, run_parts, thread_count
from multidrizzle.kernels.pixmap import NO_COARSE_MAP, CoarsePixelMap, fill_pixel_map_block

__all__ = ["BLOT_INTERPOLANTS", "SINC_HALF_WIDTH", "blot_image"]

#: Interpolant names accepted by :func:`blot_image` (AstroDrizzle ``blot_interp``).
BLOT_INTERPOLANTS: tuple[str, ...] = ("nearest", "linear", "poly3", "poly5", "sinc")

#: Half-width of the sinc kernel, in drizzled pixels, at ``sinscl=1``: the
#: reference uses 15 points, 7 on each side of the central pixel.
SINC_HALF_WIDTH = 7.0

_NEAREST, _LINEAR, _POLY3, _POLY5, _SINC = range(len(BLOT_INTERPOLANTS))
_INTERP_CODES = {name: code for code, name in enumerate(BLOT_INTERPOLANTS)}

# Point reflection about the edge pixel reads pixels up to 2 (poly3) or 3
# (poly5) away from the edge, so those interpolants need images at least this
# large along each axis.
_MINIMUM_SIZE = {"nearest": 1, "linear": 1, "poly3": 3, "poly5": 4, "sinc": 1}

# The nearest and linear kernels convert positions to int32 pixel indices
# (AVX2 converts doubles to int32 four at a time, not to int64).
_LARGEST_SIDE = np.iinfo(np.int32).max

# Below this |angle| the sinc is evaluated by its Taylor series: the rotation
# recurrence used for sin() has an absolute error near 1e-16 which, divided by
# a tiny angle, would otherwise dominate.
_SINC_SERIES_LIMIT = 1.0e-6


# ---------------------------------------------------------------------------
# Per-pixel building blocks
# ---------------------------------------------------------------------------

@njit(cache=True)
def _on_image(x: float, y: float, n_cols: int, n_rows: int) -> bool:
    """True when (x, y) lies inside the pixel footprint of the image.

    Written so that NaN coordinates compare False and fall outside.
    """
    return (x >= -0.5) and (x < n_cols - 0.5) and (y >= -0.5) and (y < n_rows - 0.5)


@njit(cache=True)
def _linear_at(data: np.ndarray, x: float, y: float) -> float:
    """Bilinear interpolation; beyond the outermost centres the edge pixel repeats."""
    n_rows, n_cols = data.shape
    left = int(math.floor(x))
    below = int(math.floor(y))
    fx = x - left
    fy = y - below
    # Clamping the indices (not the fractions) makes the value constant
    # between the outermost pixel centre and the image border, as the
    # reference does at its far edges.
    col0 = max(left, 0)
    col1 = min(left + 1, n_cols - 1)
    row0 = max(below, 0)
    row1 = min(below + 1, n_rows - 1)
    lower = (1.0 - fx) * data[row0, col0] + fx * data[row0, col1]
    upper = (1.0 - fx) * data[row1, col0] + fx * data[row1, col1]
    return (1.0 - fy) * lower + fy * upper


@njit(cache=True)
def _cubic_weights(f: float) -> tuple[float, float, float, float]:
    """Lagrange weights of the nodes -1, 0, 1, 2 at fraction ``f`` in [0, 1).

    Everett's form: second central differences enter through
    ``u (u**2 - 1) / 6`` evaluated at ``f`` and at ``1 - f``.
    """
    g = 1.0 - f
    a_f = f * (f * f - 1.0) / 6.0
    a_g = g * (g * g - 1.0) / 6.0
    return (a_g, g - 2.0 * a_g + a_f, f + a_g - 2.0 * a_f, a_f)


@njit(cache=True)
def _quintic_weights(f: float) -> tuple[float, float, float, float, float, float]:
    """Lagrange weights of the nodes -2 .. 3 at fraction ``f`` in [0, 1).

    Everett's form to fourth central differences, expanded into one weight
    per node: ``u (u**2 - 1) / 6`` and ``u (u**2 - 1) (u**2 - 4) / 120``
    evaluated at ``f`` and at ``1 - f``.
    """
    g = 1.0 - f
    f2 = f * f
    g2 = g * g
    a_f = f * (f2 - 1.0) / 6.0
    a_g = g * (g2 - 1.0) / 6.0
    b_f = a_f * (f2 - 4.0) / 20.0
    b_g = a_g * (g2 - 4.0) / 20.0
    return (
        b_g,
        a_g - 4.0 * b_g + b_f,
        g - 2.0 * a_g + a_f + 6.0 * b_g - 4.0 * b_f,
        f + a_g - 2.0 * a_f - 4.0 * b_g + 6.0 * b_f,
        a_f + b_g - 4.0 * b_f,
        b_f,
    )


@njit(cache=True)
def _row_dot4(data: np.ndarray, row: int, first_col: int, col_weights) -> float:
    """Weighted sum of 4 consecutive pixels of one row, all inside the image."""
    return (col_weights[0] * data[row, first_col] + col_weights[1] * data[row, first_col + 1]
            + col_weights[2] * data[row, first_col + 2] + col_weights[3] * data[row, first_col + 3])


@njit(cache=True)
def _row_dot6(data: np.ndarray, row: int, first_col: int, col_weights) -> float:
    """Weighted sum of 6 consecutive pixels of one row, all inside the image."""
    return (col_weights[0] * data[row, first_col] + col_weights[1] * data[row, first_col + 1]
            + col_weights[2] * data[row, first_col + 2] + col_weights[3] * data[row, first_col + 3]
            + col_weights[4] * data[row, first_col + 4] + col_weights[5] * data[row, first_col + 5])


@njit(cache=True)
def _block_inside(data: np.ndarray, first_row: int, first_col: int, size: int) -> bool:
    """True when the size x size block starting at (first_row, first_col) is on the image."""
    n_rows, n_cols = data.shape
    return (first_row >= 0 and first_row + size <= n_rows
            and first_col >= 0 and first_col + size <= n_cols)


@njit(cache=True)
def _reflected_row_dot(data: np.ndarray, row: int, first_col: int, col_weights) -> float:
    """Weighted sum along a row, with columns off the image point-reflected."""
    last = data.shape[1] - 1
    total = 0.0
    for k in range(len(col_weights)):
        col = first_col + k
        if col < 0:
            value = 2.0 * data[row, 0] - data[row, -col]
        elif col > last:
            value = 2.0 * data[row, last] - data[row, 2 * last - col]
        else:
            value = data[row, col]
        total += col_weights[k] * value
    return total


@njit(cache=True)
def _reflected_sum(data: np.ndarray, first_row: int, first_col: int,
                   row_weights, col_weights) -> float:
    """Separable weighted sum over a block that may stick out of the image.

    Reflection is linear, so reflecting a whole row's weighted sum about the
    edge row equals reflecting each of its pixels.
    """
    last = data.shape[0] - 1
    total = 0.0
    for k in range(len(row_weights)):
        row = first_row + k
        if row < 0:
            # np.int64: a literal 0 would compile `_reflected_row_dot` once more.
            row_sum = (2.0 * _reflected_row_dot(data, np.int64(0), first_col, col_weights)
                       - _reflected_row_dot(data, -row, first_col, col_weights))
        elif row > last:
            row_sum = (2.0 * _reflected_row_dot(data, last, first_col, col_weights)
                       - _reflected_row_dot(data, 2 * last - row, first_col, col_weights))
        else:
            row_sum = _reflected_row_dot(data, row, first_col, col_weights)
        total += row_weights[k] * row_sum
    return total


@njit(cache=True)
def _poly3_at(data: np.ndarray, x: float, y: float) -> float:
    """Bicubic interior-polynomial interpolation on the 4 x 4 surrounding centres."""
    left = int(math.floor(x))
    below = int(math.floor(y))
    col_weights = _cubic_weights(x - left)
    row_weights = _cubic_weights(y - below)
    first_row = below - 1
    first_col = left - 1
    if not _block_inside(data, first_row, first_col, 4):
        return _reflected_sum(data, first_row, first_col, row_weights, col_weights)
    # Written out term by term: a loop over the weight tuple compiles to
    # code about twice as slow.
    return (row_weights[0] * _row_dot4(data, first_row, first_col, col_weights)
            + row_weights[1] * _row_dot4(data, first_row + 1, first_col, col_weights)
            + row_weights[2] * _row_dot4(data, first_row + 2, first_col, col_weights)
            + row_weights[3] * _row_dot4(data, first_row + 3, first_col, col_weights))


@njit(cache=True)
def _poly5_at(data: np.ndarray, x: float, y: float) -> float:
    """Biquintic interior-polynomial interpolation on the 6 x 6 surrounding centres."""
    left = int(math.floor(x))
    below = int(math.floor(y))
    col_weights = _quintic_weights(x - left)
    row_weights = _quintic_weights(y - below)
    first_row = below - 2
    first_col = left - 2
    if not _block_inside(data, first_row, first_col, 6):
        return _reflected_sum(data, first_row, first_col, row_weights, col_weights)
    return (row_weights[0] * _row_dot6(data, first_row, first_col, col_weights)
            + row_weights[1] * _row_dot6(data, first_row + 1, first_col, col_weights)
            + row_weights[2] * _row_dot6(data, first_row + 2, first_col, col_weights)
            + row_weights[3] * _row_dot6(data, first_row + 3, first_col, col_weights)
            + row_weights[4] * _row_dot6(data, first_row + 4, first_col, col_weights)
            + row_weights[5] * _row_dot6(data, first_row + 5, first_col, col_weights))


@njit(cache=True)
def _sinc_kernel(sinscl: float) -> tuple[float, float, float, float, float, float, float]:
    """Constants of the tapered sinc for one ``sinscl``, computed once per call.

    Returns the half-width and, for the sinc and the taper, the change in
    angle from one pixel to the next with its sine and cosine.
    """
    half_width = SINC_HALF_WIDTH * sinscl
    sinc_step = math.pi / sinscl
    taper_step = 0.5 * math.pi / half_width
    return (half_width, sinc_step, math.sin(sinc_step), math.cos(sinc_step),
            taper_step, math.sin(taper_step), math.cos(taper_step))


# error_model="numpy": divisions follow IEEE rules instead of testing for a
# zero divisor and raising, which costs a branch per weight.
@njit(cache=True, error_model="numpy")
def _sinc_weights(position: float, kernel, weights: np.ndarray) -> tuple[int, int, float]:
    """Tapered-sinc weights of the pixels closer than the half-width to ``position``.

    Fills ``weights[:count]`` for pixels ``first .. first + count - 1`` and
    returns ``(first, count, sum of the weights)``.  The weight of a pixel at
    distance ``u`` is ``sinc(u / sinscl) * cos(pi u / (2 half_width))**2``.
    Successive pixels differ in angle by a constant step, so sine and cosine
    are advanced by rotation: four calls to sin/cos per axis instead of four
    per pixel, which would dominate the run time.
    """
    half_width, sinc_step, sin_step, cos_step, taper_step, sin_tstep, cos_tstep = kernel
    first = int(math.floor(position - half_width)) + 1
    count = int(math.ceil(position + half_width)) - first
    offset = position - first  # distance u of the first pixel

    sinc_angle = sinc_step * offset
    sin_a, cos_a = math.sin(sinc_angle), math.cos(sinc_angle)
    taper_angle = taper_step * offset
    sin_t, cos_t = math.sin(taper_angle), math.cos(taper_angle)

    total = 0.0
    for k in range(count):
        angle = sinc_angle - k * sinc_step
        if abs(angle) < _SINC_SERIES_LIMIT:
            sinc = 1.0 - angle * angle / 6.0
        else:
            sinc = sin_a / angle
        weights[k] = sinc * cos_t * cos_t
        total += weights[k]
        # Moving one pixel further decreases both angles by one step.
        sin_a, cos_a = sin_a * cos_step - cos_a * sin_step, cos_a * cos_step + sin_a * sin_step
        sin_t, cos_t = sin_t * cos_tstep - cos_t * sin_tstep, cos_t * cos_tstep + sin_t * sin_tstep
    return first, count, total


@njit(cache=True, error_model="numpy")
def _sinc_at(data: np.ndarray, x: float, y: float, kernel,
             col_weights: np.ndarray, row_weights: np.ndarray) -> float:
    """Tapered-sinc interpolation; pixels beyond the edges repeat the edge pixel.

    ``kernel`` comes from :func:`_sinc_kernel`; ``col_weights`` and
    ``row_weights`` are scratch arrays long enough for the kernel support
    (see :func:`_sinc_scratch_size`).
    """
    n_rows, n_cols = data.shape
    first_col, n_taps_x, norm_x = _sinc_weights(x, kernel, col_weights)
    first_row, n_taps_y, norm_y = _sinc_weights(y, kernel, row_weights)
    inside = (first_row >= 0 and first_row + n_taps_y <= n_rows
              and first_col >= 0 and first_col + n_taps_x <= n_cols)
    total = 0.0
    if inside:
        # Without index clamping the inner loop vectorises.
        for k in range(n_taps_y):
            row_sum = 0.0
            for m in range(n_taps_x):
                row_sum += col_weights[m] * data[first_row + k, first_col + m]
            total += row_weights[k] * row_sum
    else:
        for k in range(n_taps_y):
            row = min(max(first_row + k, 0), n_rows - 1)
            row_sum = 0.0
            for m in range(n_taps_x):
                row_sum += col_weights[m] * data[row, min(max(first_col + m, 0), n_cols - 1)]
            total += row_weights[k] * row_sum
    # Normalising makes a constant image stay constant for any sinscl.
    return total / (norm_x * norm_y)


@njit(cache=True)
def _sinc_scratch_size(sinscl: float) -> int:
    """Largest number of pixels a sinc kernel can touch along one axis."""
    return 2 * int(math.ceil(SINC_HALF_WIDTH * sinscl)) + 1


# ---------------------------------------------------------------------------
# Drivers, one per interpolant, each over part ``part`` of ``n_parts`` of the rows
# ---------------------------------------------------------------------------
# Separate loops (rather than one loop branching on the interpolant) let each
# inner loop be compiled for its interpolant alone; the fast interpolants are
# limited by memory traffic and gain measurably from it.

@njit(cache=True)
def _finished(value: float, scale: float, fillval: float) -> float:
    """Scaled value, or ``fillval`` when the footprint held a NaN."""
    if math.isnan(value):
        return fillval
    return value * scale


# The polynomial and sinc kernels go through their rows in blocks of this
# many columns: a block of a rotated map reads image rows that stay in the
# cache for the next row of the block.
_COLUMN_BLOCK = 1024


# The nearest and linear kernels load image pixels in blocks of this many
# columns, down all the rows of a block before the next: a block of a rotated
# map reads image rows that stay in the cache for the next row of the block.
# Measured on a 63-degree map of a full WFC3/UVIS chip on AMD EPYC (Zen 3,
# 32 KiB L1d, 512 KiB L2 per core), blocks of 256, 384, 512, 640, 1024:
# nearest 41.4, 32.5, 25.7, 26.7, 41.1 ms; linear 49.5, 47.8, 45.0, 57.8,
# 55.3 ms.
_FAST_COLUMN_BLOCK = 512


@njit(cache=True, inline="always")
def _position_block(map_values, coarse, out_row: int, col_start: int, col_stop: int, scratch,
                    node_rows, node_row_held: int):
    """Positions of columns ``col_start .. col_stop - 1`` of row ``out_row`` of the map,
    flat (``x0, y0, x1, y1, ...``), and the node row ``node_rows`` holds afterwards
    (`fill_pixel_map_block`).

    ``map_values`` is the dense map raveled (empty when a coarse map was
    given); ``scratch`` (nx, 2) receives the coarse map's positions.  Flat
    views: in a 1-D view, ``[2 * k]`` and ``[2 * k + 1]`` have a stride known
    when compiling and the loops over them vectorise; in an (n, 2) view the
    row stride is read at run time and LLVM vectorised only a version for a
    stride of one element, never taken: the scalar version ran (nearest's
    index pass 17 -> 11 ms over the benchmark's map).  The view starts at the
    block's first column: loops from 0 vectorise, loops from a variable start
    did not.
    """
    if map_values.shape[0] > 0:
        n_map_cols = 2 * scratch.shape[0]
        return (map_values[out_row * n_map_cols + 2 * col_start:
                           out_row * n_map_cols + 2 * col_stop], node_row_held)
    node_row_held = fill_pixel_map_block(coarse, out_row, col_start, col_stop, scratch,
                                         node_rows, node_row_held)
    return scratch.reshape(scratch.size)[2 * col_start:2 * col_stop], node_row_held


# The nearest kernel finds the flat indices of a band of whole rows first,
# then loads the band's values in blocks of columns: this many indices per
# band (4 MiB of int64, 128 rows of a 4096-column chip).  Reading the map in
# whole rows, apart from the loads, measured 28.9 ms against 31.4 ms for both
# passes in each block of one row (same run).  Bands of 2**17, 2**18, 2**19,
# 2**20 pixels: 37.8, 26.7, 25.3, 25.8 ms.
_NEAREST_BAND_PIXELS = 1 << 19


@njit(cache=True, nogil=True)
def _blot_nearest(part, n_parts, data, pixmap, coarse, scale, fillval, out):
    """Nearest-pixel blot of ``data`` at every ``pixmap`` position into ``out``."""
    n_rows, n_cols = data.shape
    flat_data = data.ravel()
    map_values = pixmap.ravel()
    n_out_cols = out.shape[1]
    band_rows = max(1, _NEAREST_BAND_PIXELS // max(n_out_cols, 1))
    band_index = np.empty((band_rows, n_out_cols), dtype=np.int64)
    scratch = np.empty((n_out_cols, 2))
    node_rows = np.empty((4, n_out_cols))
    node_row_held = -1
    # int32 pixel indices: doubles convert to int32 four at a time (AVX2 has
    # no vector conversion to int64), which vectorises the first pass.  Image
    # sides fit (_LARGEST_SIDE); the flat index is formed in int64.
    last_col = np.int32(n_cols - 1)
    last_row = np.int32(n_rows - 1)
    row_stride = np.int64(np.int32(n_cols))
    x_end = n_cols - 0.5
    y_end = n_rows - 0.5
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for band_start in range(row_lo, row_hi, band_rows):
        band_stop = min(band_start + band_rows, row_hi)
        # First pass, branch-free so that it vectorises: the flat index of
        # every pixel of the band, -1 off the image.
        for out_row in range(band_start, band_stop):
            positions, node_row_held = _position_block(map_values, coarse, out_row, 0,
                                                       n_out_cols, scratch, node_rows,
                                                       node_row_held)
            index_row = band_index[out_row - band_start]
            for k in range(n_out_cols):
                x = positions[2 * k]
                y = positions[2 * k + 1]
                # _on_image without short-circuits; NaN compares False and falls outside
                inside = (x >= -0.5) & (x < x_end) & (y >= -0.5) & (y < y_end)
                # x + 0.5 >= 0 when inside, where truncation is floor: no call
                # to floor.  Outside, the conversion's value is not used.
                col = min(np.int32(x + 0.5), last_col)
                row = min(np.int32(y + 0.5), last_row)
                index_row[k] = np.int64(row) * row_stride + col if inside else -1
        # Second pass, the loads, in blocks of columns (see _FAST_COLUMN_BLOCK).
        # A loop of loads alone lets the CPU keep many of its scattered loads
        # in flight; fused with the first pass it measured twice as slow on a
        # rotated map (AMD Zen 4).
        for col_start in range(0, n_out_cols, _FAST_COLUMN_BLOCK):
            col_stop = min(col_start + _FAST_COLUMN_BLOCK, n_out_cols)
            for out_row in range(band_start, band_stop):
                index_block = band_index[out_row - band_start, col_start:col_stop]
                out_block = out[out_row, col_start:col_stop]
                for k in range(index_block.shape[0]):
                    index = index_block[k]
                    if index < 0:
                        out_block[k] = fillval
                    else:
                        value = np.float64(flat_data[np.uint64(index)])
                        out_block[k] = fillval if math.isnan(value) else value * scale


@njit(cache=True, nogil=True)
def _blot_linear(part, n_parts, data, pixmap, coarse, scale, fillval, out):
    """Bilinear blot of ``data`` at every ``pixmap`` position into ``out``."""
    n_rows, n_cols = data.shape
    flat_data = data.ravel()
    map_values = pixmap.ravel()
    n_out_cols = out.shape[1]
    scratch = np.empty((n_out_cols, 2))
    node_rows = np.empty((4, _FAST_COLUMN_BLOCK))
    # Per block of one row: what the first pass finds for each pixel, the
    # four pixels the second loads, whether the pixel is in the interior.
    flat_index = np.empty(_FAST_COLUMN_BLOCK, dtype=np.int64)
    fractions = np.empty((2, _FAST_COLUMN_BLOCK))
    corners = np.empty((4, _FAST_COLUMN_BLOCK), dtype=data.dtype)
    interior = np.empty(_FAST_COLUMN_BLOCK, dtype=np.bool_)
    # Interior: all four neighbours on the image, no index clamping.  The
    # interpolant of `_linear_at` is written out for them, in the same order
    # of operations, so the result is the same to the last bit.
    x_inner = n_cols - 1.0
    y_inner = n_rows - 1.0
    row_stride = np.int64(np.int32(n_cols))
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for col_start in range(0, n_out_cols, _FAST_COLUMN_BLOCK):
        col_stop = min(col_start + _FAST_COLUMN_BLOCK, n_out_cols)
        n = col_stop - col_start
        index_block = flat_index[:n]
        fx_block = fractions[0, :n]
        fy_block = fractions[1, :n]
        c00 = corners[0, :n]
        c01 = corners[1, :n]
        c10 = corners[2, :n]
        c11 = corners[3, :n]
        interior_block = interior[:n]
        node_row_held = -1
        for out_row in range(row_lo, row_hi):
            positions, node_row_held = _position_block(map_values, coarse, out_row, col_start,
                                                       col_stop, scratch, node_rows,
                                                       node_row_held)
            out_block = out[out_row, col_start:col_stop]
            # Three passes per row, the first and last branch-free so that
            # they vectorise, the loads alone in the second so that many are
            # in flight: 41 ms on the benchmark's chip, against 45 ms for two
            # passes (loads and arithmetic together) and 54 ms for one (copies
            # of this kernel, same run).
            n_not_interior = 0
            for k in range(n):
                x = positions[2 * k]
                y = positions[2 * k + 1]
                inside = (x >= 0.0) & (x < x_inner) & (y >= 0.0) & (y < y_inner)
                # x, y >= 0 when inside: truncation is floor.  int32, which
                # vectorises (see _blot_nearest); outside, the converted
                # value is not used, and pixel 0 is loaded in its place.
                left = np.int32(x)
                below = np.int32(y)
                fx_block[k] = x - left if inside else 0.0
                fy_block[k] = y - below if inside else 0.0
                index_block[k] = np.int64(below) * row_stride + left if inside else 0
                interior_block[k] = inside
                n_not_interior += not inside
            # Some pixel is interior only if the image is at least 2 x 2: then
            # the four pixels from pixel 0 exist.
            if n_not_interior < n:
                for k in range(n):
                    # unsigned: no wraparound test of negative indices
                    index = np.uint64(index_block[k])
                    c00[k] = flat_data[index]
                    c01[k] = flat_data[index + np.uint64(1)]
                    c10[k] = flat_data[index + np.uint64(n_cols)]
                    c11[k] = flat_data[index + np.uint64(n_cols + 1)]
                for k in range(n):
                    fx = fx_block[k]
                    fy = fy_block[k]
                    lower = (1.0 - fx) * np.float64(c00[k]) + fx * np.float64(c01[k])
                    upper = (1.0 - fx) * np.float64(c10[k]) + fx * np.float64(c11[k])
                    value = (1.0 - fy) * lower + fy * upper
                    out_block[k] = (value * scale if interior_block[k] and not math.isnan(value)
                                    else fillval)
            if n_not_interior > 0:
                # Near the edges and off the image (rare): the general interpolant.
                for k in range(n):
                    if not interior_block[k]:
                        x = positions[2 * k]
                        y = positions[2 * k + 1]
                        if _on_image(x, y, n_cols, n_rows):
                            out_block[k] = _finished(_linear_at(data, x, y), scale, fillval)
                        else:
                            out_block[k] = fillval


@njit(cache=True, nogil=True)
def _blot_poly3(part, n_parts, data, pixmap, coarse, scale, fillval, out):
    """Bicubic interior-polynomial blot of ``data`` into ``out``."""
    n_rows, n_cols = data.shape
    n_out_cols = out.shape[1]
    map_values = pixmap.ravel()
    scratch = np.empty((n_out_cols, 2))
    node_rows = np.empty((4, _COLUMN_BLOCK))
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for col_start in range(0, n_out_cols, _COLUMN_BLOCK):
        col_stop = min(col_start + _COLUMN_BLOCK, n_out_cols)
        node_row_held = -1
        for out_row in range(row_lo, row_hi):
            positions, node_row_held = _position_block(map_values, coarse, out_row, col_start,
                                                       col_stop, scratch, node_rows,
                                                       node_row_held)
            for out_col in range(col_start, col_stop):
                x = positions[2 * (out_col - col_start)]
                y = positions[2 * (out_col - col_start) + 1]
                if _on_image(x, y, n_cols, n_rows):
                    out[out_row, out_col] = _finished(_poly3_at(data, x, y), scale, fillval)
                else:
                    out[out_row, out_col] = fillval


@njit(cache=True, nogil=True)
def _blot_poly5(part, n_parts, data, pixmap, coarse, scale, fillval, out):
    """Biquintic interior-polynomial blot of ``data`` into ``out``."""
    n_rows, n_cols = data.shape
    n_out_cols = out.shape[1]
    map_values = pixmap.ravel()
    scratch = np.empty((n_out_cols, 2))
    node_rows = np.empty((4, _COLUMN_BLOCK))
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for col_start in range(0, n_out_cols, _COLUMN_BLOCK):
        col_stop = min(col_start + _COLUMN_BLOCK, n_out_cols)
        node_row_held = -1
        for out_row in range(row_lo, row_hi):
            positions, node_row_held = _position_block(map_values, coarse, out_row, col_start,
                                                       col_stop, scratch, node_rows,
                                                       node_row_held)
            for out_col in range(col_start, col_stop):
                x = positions[2 * (out_col - col_start)]
                y = positions[2 * (out_col - col_start) + 1]
                if _on_image(x, y, n_cols, n_rows):
                    out[out_row, out_col] = _finished(_poly5_at(data, x, y), scale, fillval)
                else:
                    out[out_row, out_col] = fillval


@njit(cache=True, nogil=True)
def _blot_sinc(part, n_parts, data, pixmap, coarse, sinscl, scale, fillval, out):
    """Tapered-sinc blot of ``data`` into ``out``."""
    n_rows, n_cols = data.shape
    scratch_size = _sinc_scratch_size(sinscl)
    kernel = _sinc_kernel(sinscl)
    # Scratch of this part's own: parts run on separate threads.
    col_weights = np.empty(scratch_size)
    row_weights = np.empty(scratch_size)
    n_out_cols = out.shape[1]
    map_values = pixmap.ravel()
    scratch = np.empty((n_out_cols, 2))
    node_rows = np.empty((4, _COLUMN_BLOCK))
    row_lo, row_hi = part_range(part, n_parts, out.shape[0])
    for col_start in range(0, n_out_cols, _COLUMN_BLOCK):
        col_stop = min(col_start + _COLUMN_BLOCK, n_out_cols)
        node_row_held = -1
        for out_row in range(row_lo, row_hi):
            positions, node_row_held = _position_block(map_values, coarse, out_row, col_start,
                                                       col_stop, scratch, node_rows,
                                                       node_row_held)
            for out_col in range(col_start, col_stop):
                x = positions[2 * (out_col - col_start)]
                y = positions[2 * (out_col - col_start) + 1]
                if _on_image(x, y, n_cols, n_rows):
                    value = _sinc_at(data, x, y, kernel, col_weights, row_weights)
                    out[out_row, out_col] = _finished(value, scale, fillval)
                else:
                    out[out_row, out_col] = fillval


# ---------------------------------------------------------------------------
# Public wrapper
# ---------------------------------------------------------------------------

#: What the drivers receive as the dense map when they are given a coarse one.
_NO_DENSE_MAP = np.zeros((0, 0, 2), dtype=np.float64)

_DRIVERS = {_NEAREST: _blot_nearest, _LINEAR: _blot_linear,
            _POLY3: _blot_poly3, _POLY5: _blot_poly5}


def _interp_code(interp: str) -> int:
    """Code of a known interpolant name; ParameterError naming ``blot_interp`` otherwise."""
    name = interp.strip().lower() if isinstance(interp, str) else None
    if name not in _INTERP_CODES:
        raise ParameterError(
            f"blot_interp must be one of {', '.join(repr(n) for n in BLOT_INTERPOLANTS)}; "
            f"got {interp!r}."
        )
    return _INTERP_CODES[name]


def _as_image(data: np.ndarray, interp: str) -> np.ndarray:
    """The drizzled image as a C-contiguous float32/float64 2-D array."""
    image = np.asarray(data)
    if image.ndim != 2:
        raise ValueError(f"data must be a 2-D image; got an array of shape {image.shape}.")
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)
            or image.dtype == np.bool_):
        raise ValueError(f"data must hold real numbers; got dtype {image.dtype}.")
    minimum = _MINIMUM_SIZE[interp]
    if min(image.shape) < minimum:
        raise ValueError(
            f"data must be at least {minimum} x {minimum} pixels for '{interp}' "
            f"interpolation; got shape {image.shape}."
        )
    if max(image.shape) > _LARGEST_SIDE:
        raise UnsupportedError(
            f"data has a side of {max(image.shape)} pixels; blot supports images of up to "
            f"{_LARGEST_SIDE} pixels along each axis (pixel indices are int32)."
        )
    # float32 and float64 are used as they are (one compiled version each);
    # anything else is promoted to float64 without loss.
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    return np.ascontiguousarray(image)


def _as_pixel_map(pixmap: np.ndarray) -> np.ndarray:
    """The pixel map as a C-contiguous float64 array of shape (ny, nx, 2)."""
    pixel_map = np.asarray(pixmap)
    if pixel_map.ndim != 3 or pixel_map.shape[2] != 2:
        raise ValueError(
            f"pixmap must have shape (ny, nx, 2) holding (x, y) positions in the "
            f"drizzled image; got shape {pixel_map.shape}."
        )
    if not (np.issubdtype(pixel_map.dtype, np.floating)
            or np.issubdtype(pixel_map.dtype, np.integer)):
        raise ValueError(f"pixmap must hold real numbers; got dtype {pixel_map.dtype}.")
    return np.ascontiguousarray(pixel_map, dtype=np.float64)


def _positive_finite(value: float, name: str) -> float:
    """``value`` as a float, or ParameterError if it is not positive and finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a positive number; got {value!r}.") from None
    if not (math.isfinite(number) and number > 0.0):
        raise ParameterError(f"{name} must be positive and finite; got {value!r}.")
    return number


def blot_image(
    data: np.ndarray,
    pixmap: np.ndarray,
    *,
    interp: str = "poly5",
    sinscl: float = 1.0,
    scale: float = 1.0,
    fillval: float = 0.0,
) -> np.ndarray:
    """Resample a drizzled image onto the pixels of an input chip.

    Parameters
    ----------
    data : numpy.ndarray
        The drizzled image, 2-D, real.  float32 and float64 are used as they
        are; other real types are promoted to float64.
    pixmap : numpy.ndarray
        Shape ``(ny, nx, 2)``: ``pixmap[y, x] = (x_out, y_out)`` is the
        position of input-chip pixel ``(x, y)`` in ``data``, 0-based, pixel
        centres at integers (as for ``drizzle.resample.blot_image``).  NaN
        entries are allowed and give ``fillval``.  Or a
        :class:`~multidrizzle.kernels.pixmap.CoarsePixelMap`: the map's
        nodes, evaluated row by row as the kernel goes (the same positions
        to the last bit, without the dense array).
    interp : {'nearest', 'linear', 'poly3', 'poly5', 'sinc'}, optional
        The interpolant (AstroDrizzle ``blot_interp``); case-insensitive.
    sinscl : float, optional
        Width of the sinc in drizzled pixels: the kernel is
        ``sinc(u / sinscl)`` tapered to zero at ``|u| = 7 * sinscl``.  Used
        only by ``'sinc'``; cost grows as ``sinscl**2``.
    scale : float, optional
        Factor applied to every interpolated value (not to ``fillval``).
        drizzle's ``blot_image`` multiplies by ``iscale`` (3.x), i.e. by
        ``exptime / pix_ratio**2`` in the older ``(pix_ratio, exptime)``
        signature; pass that product here.  Must be positive and finite.
    fillval : float, optional
        Value of pixels that land outside ``data`` (beyond
        ``-0.5 <= coordinate < size - 0.5``), whose pixel-map entry is NaN, or
        whose interpolation footprint holds a NaN.  NaN is allowed.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``pixmap.shape[:2]`` (``pixmap.shape`` for a
        coarse map).

    Raises
    ------
    multidrizzle.errors.ParameterError
        If ``interp`` is not a known interpolant (reported as
        ``blot_interp``), or ``sinscl`` or ``scale`` is not positive and
        finite.
    ValueError
        If ``data`` is not a real 2-D image large enough for the interpolant
        (3 x 3 for poly3, 4 x 4 for poly5), or ``pixmap`` does not have shape
        ``(ny, nx, 2)``.
    multidrizzle.errors.UnsupportedError
        If ``data`` has a side of more than 2**31 - 1 pixels.
    """
    interp_code = _interp_code(interp)
    interp_name = BLOT_INTERPOLANTS[interp_code]
    image = _as_image(data, interp_name)
    sinc_scale = _positive_finite(sinscl, "sinscl")
    value_scale = _positive_finite(scale, "scale")
    try:
        fill_value = float(fillval)
    except (TypeError, ValueError):
        raise ParameterError(f"fillval must be a number (NaN allowed); got {fillval!r}.") from None

    if isinstance(pixmap, CoarsePixelMap):
        pixel_map, coarse, shape = _NO_DENSE_MAP, pixmap.packed, pixmap.shape
    else:
        pixel_map = _as_pixel_map(pixmap)
        coarse, shape = NO_COARSE_MAP, pixel_map.shape[:2]
    blotted = np.empty(shape, dtype=np.float32)
    n_parts = max(1, min(thread_count(), blotted.shape[0]))
    if blotted.shape[0] == 0:
        return blotted
    if interp_code == _SINC:
        run_parts(_blot_sinc, n_parts, image, pixel_map, coarse, sinc_scale, value_scale,
                  fill_value, blotted)
    else:
        run_parts(_DRIVERS[interp_code], n_parts, image, pixel_map, coarse, value_scale,
                  fill_value, blotted)
    return blotted
