"""Slow, obvious numpy versions of the kernels in multidrizzle.kernels.statistics.

They follow the ``stsci.imagestats`` rules literally: every iteration
selects the pixels inside the window from all pixels, computes the mean and
the ddof=1 standard deviation with numpy, and the histogram is built with
``np.bincount``.
"""

from __future__ import annotations

import numpy as np


def finite_float64(values):
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def reference_clipped_moments(values, lower=None, upper=None, nclip=0, lsigma=3.0,
                              usigma=3.0):
    """(npix, mean, stddev, min, max, low, high) after ``nclip`` window updates."""
    values = finite_float64(values)
    first_low = -np.inf if lower is None else float(lower)
    first_high = np.inf if upper is None else float(upper)
    low, high = first_low, first_high
    inside = values[(values >= low) & (values <= high)]
    for _ in range(nclip):
        if inside.size == 0:
            break
        mean = inside.mean()
        std = inside.std(ddof=1) if inside.size > 1 else 0.0
        low = max(first_low, mean - lsigma * std)
        high = min(first_high, mean + usigma * std)
        inside = values[(values >= low) & (values <= high)]
    if inside.size == 0:
        return 0, np.nan, np.nan, np.nan, np.nan, low, high
    std = inside.std(ddof=1) if inside.size > 1 else 0.0
    return inside.size, inside.mean(), std, inside.min(), inside.max(), low, high


def reference_median(values, low, high):
    values = finite_float64(values)
    inside = values[(values >= low) & (values <= high)]
    return np.median(inside) if inside.size else np.nan


def reference_histogram_mode(values, low, high, bin_width):
    """Peak of a histogram with bins of ``bin_width`` from ``low``, refined by a parabola."""
    values = finite_float64(values)
    inside = values[(values >= low) & (values <= high)]
    if inside.size == 0:
        return np.nan
    if bin_width <= 0 or high - low < bin_width:
        return 0.5 * (low + high)
    n_bins = int((high - low) / bin_width) + 1
    index = np.minimum(((inside - low) / bin_width).astype(np.int64), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    peak = int(np.argmax(counts))  # first maximum, as imagestats
    offset = 0.0
    if 0 < peak < n_bins - 1:
        rise = counts[peak] - counts[peak - 1]
        fall = counts[peak] - counts[peak + 1]
        if rise + fall > 0:
            offset = 0.5 * (rise - fall) / (rise + fall)
    return low + (peak + 0.5 + offset) * bin_width
