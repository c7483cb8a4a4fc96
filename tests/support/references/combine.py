"""Slow, obvious numpy/Python versions of the combine kernels, for comparison.

One Python loop per pixel, written straight from the rules stated in
``multidrizzle.kernels.combine`` (which follow numcombine and drizzlepac's
minmed); nothing is shared with the numba code.
"""

from __future__ import annotations

import numpy as np


def is_good(images, bad, k, row, col, lthresh=None, hthresh=None):
    """Not flagged, finite, not below lthresh and below hthresh."""
    value = float(images[k, row, col])
    if bad[k, row, col] or not np.isfinite(value):
        return False
    if lthresh is not None and value < lthresh:
        return False
    if hthresh is not None and value >= hthresh:
        return False
    return True


def good_values(images, bad, row, col, lthresh=None, hthresh=None):
    """Sorted list of the good values of one pixel."""
    return sorted(float(images[k, row, col]) for k in range(images.shape[0])
                  if is_good(images, bad, k, row, col, lthresh, hthresh))


def trim(values, nlow, nhigh):
    """numcombine's nlow/nhigh rejection with its reduction rule."""
    while nlow + nhigh >= len(values):
        nhigh = max(nhigh - 1, 0)
        nlow = max(nlow - 1, 0)
    return values[nlow:len(values) - nhigh]


def plain_median(values):
    values = sorted(values)
    n = len(values)
    if n % 2:
        return values[n // 2]
    return 0.5 * (values[n // 2 - 1] + values[n // 2])


def no_data(images, row, col, fill_with_last, fillval):
    last = float(images[-1, row, col])
    if fill_with_last and np.isfinite(last):
        return last
    return fillval


def reference_combine(images, bad, *, use_mean, nlow=0, nhigh=0, lthresh=None,
                      hthresh=None, fill_with_last=False, fillval=0.0):
    """Median or mean of the good values, one pixel at a time."""
    _, n_rows, n_cols = images.shape
    out = np.empty((n_rows, n_cols), dtype=np.float64)
    counts = np.empty((n_rows, n_cols), dtype=int)
    for row in range(n_rows):
        for col in range(n_cols):
            values = good_values(images, bad, row, col, lthresh, hthresh)
            counts[row, col] = len(values)
            if not values:
                out[row, col] = no_data(images, row, col, fill_with_last, fillval)
                continue
            kept = trim(values, nlow, nhigh)
            out[row, col] = (sum(kept) / len(kept)) if use_mean else plain_median(kept)
    return out.astype(np.float32), counts


def reference_minmed(images, bad, weights, *, exptimes, sky_electrons, read_noises,
                     units="cps", nsigma=(4.0, 3.0), grow=1, lthresh=None, hthresh=None,
                     fill_with_last=False, fillval=0.0):
    """drizzlepac's minmed written as whole-image numpy steps plus per-pixel loops."""
    n_images, n_rows, n_cols = images.shape
    exptimes = np.asarray(exptimes, dtype=float)
    sky_electrons = np.asarray(sky_electrons, dtype=float)
    read_noises = np.asarray(read_noises, dtype=float)
    per_weight = np.ones(n_images) if units == "cps" else 1.0 / exptimes

    median = np.zeros((n_rows, n_cols))
    minimum = np.zeros((n_rows, n_cols))
    read_variance = np.zeros((n_rows, n_cols))
    empty = np.zeros((n_rows, n_cols), dtype=bool)
    for row in range(n_rows):
        for col in range(n_cols):
            values = good_values(images, bad, row, col, lthresh, hthresh)
            if not values:
                empty[row, col] = True
                continue
            if n_images == 2:
                median[row, col] = sum(values) / len(values)
            else:
                median[row, col] = plain_median(trim(values, 0, 1))
            minimum[row, col] = values[0]
            for k in range(n_images):
                if is_good(images, bad, k, row, col, lthresh, hthresh):
                    read_variance[row, col] += read_noises[k] ** 2

    usable_weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    electrons = np.sum(usable_weights * per_weight[:, None, None], axis=0)
    sky = np.sum(usable_weights * (sky_electrons / exptimes)[:, None, None], axis=0)
    sigma = np.sqrt(np.maximum(median * electrons + sky + read_variance, 0.0))
    first = minimum * electrons < median * electrons - nsigma[0] * sigma
    first &= ~empty

    if grow > 0:
        padded = np.pad(first, grow)
        near = np.zeros_like(first)
        for dy in range(2 * grow + 1):
            for dx in range(2 * grow + 1):
                near |= padded[dy:dy + n_rows, dx:dx + n_cols]
        threshold = np.where(near, nsigma[1], nsigma[0])
    else:
        threshold = np.full((n_rows, n_cols), nsigma[0])
    use_minimum = (minimum * electrons < median * electrons - threshold * sigma) & ~empty
    out = np.where(use_minimum, minimum, median)
    for row, col in zip(*np.nonzero(empty)):
        out[row, col] = no_data(images, row, col, fill_with_last, fillval)
    return out.astype(np.float32), use_minimum
