"""Slow, obvious versions of the drizzle kernels, to check the numba ones.

Plain numpy and Python loops, written from the definitions rather than for
speed, and deliberately by other means than the kernels:

* drop corners: bilinear interpolation of the pixel map evaluated one point
  at a time (the kernels interpolate whole rows);
* overlaps of a drop with output pixels: Sutherland-Hodgman clipping of the
  quadrilateral to each output pixel and the shoelace area (the kernels
  accumulate signed edge coverage);
* Lanczos values from ``numpy.sinc`` (the kernels use angle-addition
  recurrences).

`reference_contributions` returns this image's summed weights and weighted
values per output pixel; `merge` applies them to previous outputs with the
drizzle weighted-mean rule.  Use small images: every input pixel is a Python
loop iteration.
"""

from __future__ import annotations

import numpy as np


def c_round(x: float) -> int:
    """Round half away from zero, like C ``round``."""
    return int(np.copysign(np.floor(abs(x) + 0.5), x))


def interpolate_map(pixmap: np.ndarray, x: float, y: float) -> np.ndarray:
    """Bilinear interpolation of ``pixmap`` at input position ``(x, y)``.

    Positions beyond the outermost pixel centres are extrapolated from the
    outermost interpolation cell.
    """
    n_rows, n_cols = pixmap.shape[:2]
    i = min(max(int(np.floor(x)), 0), n_cols - 2)
    j = min(max(int(np.floor(y)), 0), n_rows - 2)
    fx = x - i
    fy = y - j
    lower = (1 - fx) * pixmap[j, i] + fx * pixmap[j, i + 1]
    upper = (1 - fx) * pixmap[j + 1, i] + fx * pixmap[j + 1, i + 1]
    return (1 - fy) * lower + fy * upper


def drop_corners(pixmap: np.ndarray, row: int, col: int, pixfrac: float) -> np.ndarray:
    """Output positions (4 x 2) of the corners of the shrunken input pixel, counter-clockwise."""
    h = 0.5 * pixfrac
    offsets = [(-h, -h), (h, -h), (h, h), (-h, h)]
    return np.array([interpolate_map(pixmap, col + dx, row + dy) for dx, dy in offsets])


def polygon_area(polygon: np.ndarray) -> float:
    """Signed shoelace area of a polygon given as an (n, 2) array."""
    if len(polygon) < 3:
        return 0.0
    x = polygon[:, 0]
    y = polygon[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _clip_half_plane(points: list, axis: int, bound: float, keep_below: bool) -> list:
    """Sutherland-Hodgman: keep the part of a polygon on one side of ``coord[axis] = bound``."""
    def inside(p):
        return p[axis] <= bound if keep_below else p[axis] >= bound

    clipped = []
    for k, current in enumerate(points):
        previous = points[k - 1]
        if inside(current):
            if not inside(previous):
                clipped.append(_crossing(previous, current, axis, bound))
            clipped.append(current)
        elif inside(previous):
            clipped.append(_crossing(previous, current, axis, bound))
    return clipped


def _crossing(a, b, axis: int, bound: float):
    t = (bound - a[axis]) / (b[axis] - a[axis])
    return a + t * (b - a)


def overlap_area(polygon: np.ndarray, col: int, row: int) -> float:
    """Signed area of ``polygon`` inside output pixel ``(row, col)``."""
    points = list(polygon)
    for axis, centre in ((0, col), (1, row)):
        points = _clip_half_plane(points, axis, centre - 0.5, keep_below=False)
        points = _clip_half_plane(points, axis, centre + 0.5, keep_below=True)
        if not points:
            return 0.0
    return polygon_area(np.array(points))


def _square_weights(pixmap, row, col, pixfrac, out_shape):
    """{(out_row, out_col): fraction of the drop} for the square kernel."""
    corners = drop_corners(pixmap, row, col, pixfrac)
    if not np.all(np.isfinite(corners)):
        return {}
    area = polygon_area(corners)
    if area == 0:
        return {}
    lo = np.floor(corners.min(axis=0) + 0.5).astype(int)
    hi = np.floor(corners.max(axis=0) + 0.5).astype(int)
    fractions = {}
    for out_row in range(max(lo[1], 0), min(hi[1], out_shape[0] - 1) + 1):
        for out_col in range(max(lo[0], 0), min(hi[0], out_shape[1] - 1) + 1):
            fraction = overlap_area(corners, out_col, out_row) / area
            if fraction != 0.0:
                fractions[out_row, out_col] = fraction
    return fractions


def _turbo_weights(x, y, radius, out_shape):
    fractions = {}
    for out_row in range(c_round(y - radius), c_round(y + radius) + 1):
        height = min(y + radius, out_row + 0.5) - max(y - radius, out_row - 0.5)
        for out_col in range(c_round(x - radius), c_round(x + radius) + 1):
            width = min(x + radius, out_col + 0.5) - max(x - radius, out_col - 0.5)
            if height > 0 and width > 0:
                fractions[out_row, out_col] = width * height / (2 * radius) ** 2
    return _on_grid(fractions, out_shape)


def _normalised(window_rows, window_cols, profile):
    """Fractions proportional to ``profile(row, col)`` summing to one over the window."""
    values = {(r, c): profile(r, c) for r in window_rows for c in window_cols}
    total = sum(values.values())
    if not total > 0:
        return {}
    return {key: value / total for key, value in values.items() if value != 0}


def _on_grid(fractions, out_shape):
    return {(r, c): f for (r, c), f in fractions.items()
            if 0 <= r < out_shape[0] and 0 <= c < out_shape[1]}


def _centred_weights(kernel, x, y, pixfrac, ratio, out_shape):
    """{(out_row, out_col): fraction} for the kernels centred on the mapped pixel centre."""
    if kernel == "point":
        return _on_grid({(c_round(y), c_round(x)): 1.0}, out_shape)
    if kernel == "turbo":
        return _turbo_weights(x, y, 0.5 * pixfrac / ratio, out_shape)
    if kernel == "gaussian":
        sigma = pixfrac / (2.3548 * ratio)
        radius = max(2.5 * sigma, 1.2 / ratio)
        rows = range(c_round(y - radius), c_round(y + radius) + 1)
        cols = range(c_round(x - radius), c_round(x + radius) + 1)
        fractions = _normalised(rows, cols, lambda r, c: np.exp(
            -((c - x) ** 2 + (r - y) ** 2) / (2 * sigma ** 2)))
    elif kernel in ("lanczos2", "lanczos3"):
        order = int(kernel[-1])
        radius = order / ratio
        rows = range(int(np.floor(y - radius)) + 1, int(np.floor(y + radius)) + 1)
        cols = range(int(np.floor(x - radius)) + 1, int(np.floor(x + radius)) + 1)

        def lanczos(u):
            return np.sinc(u) * np.sinc(u / order) if abs(u) < order else 0.0

        fractions = _normalised(rows, cols, lambda r, c: lanczos((c - x) * ratio)
                                * lanczos((r - y) * ratio))
    elif kernel == "tophat":
        radius = 0.5 * pixfrac / ratio
        rows = range(c_round(y - radius), c_round(y + radius) + 1)
        cols = range(c_round(x - radius), c_round(x + radius) + 1)
        fractions = _normalised(rows, cols, lambda r, c: float(
            (c - x) ** 2 + (r - y) ** 2 <= radius ** 2))
    else:
        raise ValueError(kernel)
    return _on_grid(fractions, out_shape)


def reference_contributions(data, pixmap, out_shape, *, kernel="square", weight_map=None,
                            pixfrac=1.0, wt_scl=1.0, exptime=1.0, in_units="cps", iscale=1.0,
                            pixel_scale_ratio=1.0):
    """This image's summed weights and weighted values on the output grid.

    Returns
    -------
    added_w, added_wv : numpy.ndarray
        float64 arrays of ``out_shape``: sum of ``w * fraction`` and of
        ``v * w * fraction`` over the input pixels, with ``v = data * iscale``
        (divided by ``exptime`` for counts) and ``w = weight_map * wt_scl``.
    """
    added_w = np.zeros(out_shape)
    added_wv = np.zeros(out_shape)
    scale = iscale / (exptime if in_units == "counts" else 1.0)
    n_rows, n_cols = data.shape
    for row in range(n_rows):
        for col in range(n_cols):
            value = float(data[row, col]) * scale
            weight = (1.0 if weight_map is None else float(weight_map[row, col])) * wt_scl
            x, y = pixmap[row, col]
            if not (np.isfinite(value) and np.isfinite(weight) and np.isfinite(x)
                    and np.isfinite(y)) or weight == 0:
                continue
            if kernel == "square":
                fractions = _square_weights(pixmap, row, col, pixfrac, out_shape)
            else:
                fractions = _centred_weights(kernel, x, y, pixfrac, pixel_scale_ratio,
                                             out_shape)
            for (out_row, out_col), fraction in fractions.items():
                added_w[out_row, out_col] += weight * fraction
                added_wv[out_row, out_col] += weight * fraction * value
    return added_w, added_wv


def merge(out_sci, out_wht, added_w, added_wv, noise=1e-9):
    """Drizzle weighted-mean update of float64 copies of the outputs.

    Pixels whose added weight is within ``noise`` (relative to the largest)
    of zero are left alone, as the kernels leave rounding residue alone.
    """
    sci = np.array(out_sci, dtype=np.float64)
    wht = np.array(out_wht, dtype=np.float64)
    touched = np.abs(added_w) > noise * np.max(np.abs(added_w), initial=0.0)
    new_w = wht + added_w
    old_sum = np.where(wht != 0, sci * np.where(wht != 0, wht, 1.0), 0.0)
    update = touched & (new_w != 0)
    sci[update] = (old_sum[update] + added_wv[update]) / new_w[update]
    wht[touched] = new_w[touched]
    return sci, wht


def reference_variance_sum(data, pixmap, out_shape, variance, *, kernel="square",
                           weight_map=None, pixfrac=1.0, wt_scl=1.0, exptime=1.0,
                           in_units="cps", iscale=1.0, pixel_scale_ratio=1.0):
    """``sum((w * fraction)**2 * variance * scale**2)`` per output pixel, float64.

    The drops and fractions of `reference_contributions`, each squared, times
    the pixel's variance in the units of the drizzled values.
    """
    total = np.zeros(out_shape)
    scale = iscale / (exptime if in_units == "counts" else 1.0)
    n_rows, n_cols = data.shape
    for row in range(n_rows):
        for col in range(n_cols):
            weight = (1.0 if weight_map is None else float(weight_map[row, col])) * wt_scl
            x, y = pixmap[row, col]
            if not (np.isfinite(float(data[row, col])) and np.isfinite(weight)
                    and np.isfinite(x) and np.isfinite(y)) or weight == 0:
                continue
            if kernel == "square":
                fractions = _square_weights(pixmap, row, col, pixfrac, out_shape)
            else:
                fractions = _centred_weights(kernel, x, y, pixfrac, pixel_scale_ratio,
                                             out_shape)
            for (out_row, out_col), fraction in fractions.items():
                total[out_row, out_col] += ((weight * fraction) ** 2
                                            * float(variance[row, col]) * scale ** 2)
    return total
