"""Clipped image statistics: the ``imagestats`` semantics used by AstroDrizzle.

AstroDrizzle computes the static-mask threshold and the sky with
``stsci.imagestats.ImageStats``.  Its statistics are defined by a *window*
of accepted pixel values:

1. The first window is ``[lower, upper]`` (no limit where None).
2. ``nclip`` times, the mean and standard deviation (``ddof=1``) of the
   pixels inside the window are computed and the window becomes
   ``[max(lower, mean - lsigma * std), min(upper, mean + usigma * std)]``.
   The window is recomputed from *all* pixels each time, so a pixel
   rejected once can come back when the window widens (unlike the
   cumulative masks of :func:`astropy.stats.sigma_clip`, which agrees
   whenever the windows only shrink).
3. The statistics reported are those of the pixels inside the last window:
   mean, standard deviation, median, and a histogram mode with bins of
   ``binwidth`` standard deviations whose peak is refined by a parabola
   through the peak bin and its two neighbours.

Non-finite values never enter a window.  The kernels work on 1-D arrays of
candidate pixels; callers select the pixels (masks) with numpy first.

The passes over the values run in parallel (`multidrizzle.kernels._parallel`)
over a fixed number of chunks (``_N_CHUNKS``, whatever the number of threads)
whose partial results are combined in chunk order, so results do not depend
on the thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from multidrizzle.kernels._parallel import run_parts, thread_count

__all__ = [
    "SKY_STATISTICS",
    "ClippedMoments",
    "clipped_moments",
    "histogram_mode",
    "window_median",
    "clipped_statistic",
]

#: Statistics accepted by :func:`clipped_statistic` (AstroDrizzle ``skystat``).
SKY_STATISTICS: tuple[str, ...] = ("median", "mode", "mean")

# With bins of a fraction of the clipped stddev, N values never need more
# than about sqrt(N) / fraction bins; this bound (80 MB of counts) only stops
# a caller's mistaken bin width from exhausting memory.
_MAX_HISTOGRAM_BINS = 10_000_000

# Bins of the histogram that locates the median: enough that the bins
# holding the middle values are a tiny part of a chip, few enough to stay
# in cache.
_MEDIAN_BINS = 65536

# Chunks of a pass over the values: a fixed number, so that partial sums
# are added in the same order for any number of threads.
_N_CHUNKS = 64


@dataclass(frozen=True)
class ClippedMoments:
    """Moments of the pixels inside the final clipping window.

    Attributes
    ----------
    npix : int
        Pixels inside the window (0 when none is left).
    mean, stddev : float
        Mean and standard deviation (``ddof=1``; 0 for a single pixel).
    minimum, maximum : float
        Extreme pixel values inside the window.
    low, high : float
        The window itself (``-inf``/``inf`` where unbounded).
    """

    npix: int
    mean: float
    stddev: float
    minimum: float
    maximum: float
    low: float
    high: float


# ---------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _first_inside(values, low, high):
    """A value inside [low, high] (the first one), or NaN when there is none."""
    for v in values:
        if v >= low and v <= high and math.isfinite(v):
            return v
    return np.nan


@njit(cache=True, inline="always")
def _chunk_bounds(chunk: int, n_values: int):
    """First and one-past-last index of ``chunk`` of ``_N_CHUNKS`` equal parts."""
    return chunk * n_values // _N_CHUNKS, (chunk + 1) * n_values // _N_CHUNKS


@njit(cache=True, nogil=True)
def _chunk_moments(part, n_parts, values, low, high, shift, counts, totals, squares_of,
                   smallest_of, largest_of):
    """Partial sums of chunks ``part, part + n_parts, ...`` for `_window_moments`."""
    for chunk in range(part, _N_CHUNKS, n_parts):
        start, stop = _chunk_bounds(chunk, values.size)
        count = 0
        total = 0.0
        squares = 0.0
        smallest = np.inf
        largest = -np.inf
        # Branch-free (selects instead of an if): the loop vectorises.
        for index in range(start, stop):
            v = np.float64(values[index])
            inside = (v >= low) & (v <= high) & (abs(v) < np.inf)  # NaN compares False
            d = (v - shift) if inside else 0.0
            count += inside
            total += d
            squares += d * d
            smallest = min(smallest, v if inside else np.inf)
            largest = max(largest, v if inside else -np.inf)
        counts[chunk] = count
        totals[chunk] = total
        squares_of[chunk] = squares
        smallest_of[chunk] = smallest
        largest_of[chunk] = largest


@njit(cache=True, nogil=True)
def _combined_moments(counts, totals, squares_of, smallest_of, largest_of, shift):
    """The chunks' partial sums added in chunk order: count, mean, stddev, min, max."""
    count = 0
    total = 0.0
    squares = 0.0
    smallest = np.inf
    largest = -np.inf
    for chunk in range(_N_CHUNKS):
        count += counts[chunk]
        total += totals[chunk]
        squares += squares_of[chunk]
        smallest = min(smallest, smallest_of[chunk])
        largest = max(largest, largest_of[chunk])
    if count == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean_offset = total / count
    stddev = 0.0
    if count > 1:
        stddev = math.sqrt(max(squares - total * mean_offset, 0.0) / (count - 1))
    return count, shift + mean_offset, stddev, smallest, largest


def _window_moments(values, low, high, shift):
    """Count, mean, stddev (ddof=1), min and max of finite values in [low, high].

    Sums are of ``v - shift`` with ``shift`` close to the mean, so that one
    pass keeps the precision of a two-pass variance even when the sky is
    large compared with its noise.
    """
    counts = np.zeros(_N_CHUNKS, dtype=np.int64)
    totals = np.zeros(_N_CHUNKS)
    squares_of = np.zeros(_N_CHUNKS)
    smallest_of = np.full(_N_CHUNKS, np.inf)
    largest_of = np.full(_N_CHUNKS, -np.inf)
    low, high, shift = float(low), float(high), float(shift)
    run_parts(_chunk_moments, min(thread_count(), _N_CHUNKS), values, low, high, shift, counts,
              totals, squares_of, smallest_of, largest_of)
    return _combined_moments(counts, totals, squares_of, smallest_of, largest_of, shift)


def _clip(values, lower, upper, nclip, lsigma, usigma):
    """The clipping iterations (a Python loop over the parallel passes)."""
    low = lower
    high = upper
    shift = _first_inside(values, low, high)
    count, mean, stddev, smallest, largest = _window_moments(values, low, high, shift)
    for _ in range(nclip):
        if count == 0:
            break
        new_low = max(lower, mean - lsigma * stddev)
        new_high = min(upper, mean + usigma * stddev)
        if new_low == low and new_high == high:
            break  # the same window gives the same moments: converged
        low = new_low
        high = new_high
        count, mean, stddev, smallest, largest = _window_moments(values, low, high, mean)
    return count, mean, stddev, smallest, largest, low, high


@njit(cache=True, nogil=True)
def _histogram_peak(values, low, high, bin_width, n_bins):
    """Mode of the finite values in [low, high] from a histogram with a parabolic peak."""
    counts = np.zeros(n_bins, dtype=np.int64)
    for v in values:
        if v >= low and v <= high and math.isfinite(v):
            index = int((v - low) / bin_width)
            if index >= n_bins:  # rounding at the top edge
                index = n_bins - 1
            counts[index] += 1
    peak = 0
    for index in range(1, n_bins):
        if counts[index] > counts[peak]:
            peak = index
    if counts[peak] == 0:
        return np.nan
    offset = 0.0
    if peak > 0 and peak < n_bins - 1:
        rise = counts[peak] - counts[peak - 1]
        fall = counts[peak] - counts[peak + 1]
        if rise + fall > 0:
            # vertex of the parabola through the peak bin and its neighbours
            offset = 0.5 * (rise - fall) / (rise + fall)
    return low + (peak + 0.5 + offset) * bin_width


@njit(cache=True, nogil=True)
def _select_window(values, low, high):
    count = 0
    for v in values:
        if v >= low and v <= high and math.isfinite(v):
            count += 1
    selected = np.empty(count, dtype=values.dtype)
    count = 0
    for v in values:
        if v >= low and v <= high and math.isfinite(v):
            selected[count] = v
            count += 1
    return selected


@njit(cache=True)
def _median_bin(value, low, scale, n_bins):
    index = int((value - low) * scale)
    return min(max(index, 0), n_bins - 1)


@njit(cache=True, nogil=True)
def _window_middle(values, low, high, n_bins):
    """The values around the median of the finite values in [low, high].

    A histogram over [low, high] finds the bins holding the middle order
    statistics.  Returns the values in those bins (unsorted) and the ranks,
    among them, of the two middle order statistics; ``(empty, -1, -1)``
    when no value is in the window.  The caller sorts them with numpy:
    numba's sort would add a second to the first run's compile time.
    """
    counts = np.zeros(n_bins, dtype=np.int64)
    scale = n_bins / (high - low) if high > low else 0.0
    total = 0
    for v in values:
        if v >= low and v <= high and math.isfinite(v):
            counts[_median_bin(v, low, scale, n_bins)] += 1
            total += 1
    if total == 0:
        return np.empty(0, dtype=np.float64), -1, -1
    below_rank = (total - 1) // 2
    above_rank = total // 2
    first_bin = -1
    last_bin = -1
    before = 0
    running = 0
    for index in range(n_bins):
        if first_bin < 0 and running + counts[index] > below_rank:
            first_bin = index
            before = running
        if running + counts[index] > above_rank:
            last_bin = index
            break
        running += counts[index]
    size = 0
    for index in range(first_bin, last_bin + 1):
        size += counts[index]
    middle = np.empty(size, dtype=np.float64)
    size = 0
    for v in values:
        if v >= low and v <= high and math.isfinite(v):
            index = _median_bin(v, low, scale, n_bins)
            # explicit 'and': numba compiles a chained comparison much slower here
            if index >= first_bin and index <= last_bin:
                middle[size] = v
                size += 1
    return middle, below_rank - before, above_rank - before


# ---------------------------------------------------------------------------
# public wrappers
# ---------------------------------------------------------------------------

def _as_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    return np.ascontiguousarray(values).reshape(-1)


def _limit(value: float | None, unbounded: float) -> float:
    return unbounded if value is None else float(value)


def clipped_moments(values: np.ndarray, *, lower: float | None = None,
                    upper: float | None = None, nclip: int = 0, lsigma: float = 3.0,
                    usigma: float = 3.0) -> ClippedMoments:
    """Iteratively clipped mean and standard deviation, as ``imagestats`` does.

    Parameters
    ----------
    values : ndarray
        Pixel values (any shape, flattened); NaN and inf are ignored.
    lower, upper : float or None
        Limits of usable values; None for no limit.
    nclip : int
        Clipping iterations (the window may stop changing earlier).
    lsigma, usigma : float
        Lower and upper clipping limits in standard deviations.

    Returns
    -------
    ClippedMoments
        ``npix`` is 0 when no value is inside the window.
    """
    if int(nclip) < 0:
        raise ValueError(f"nclip must be >= 0, got {nclip}")
    if not (lsigma > 0 and usigma > 0):
        raise ValueError(f"lsigma and usigma must be positive, got {lsigma}, {usigma}")
    low = _limit(lower, -np.inf)
    high = _limit(upper, np.inf)
    if low > high:
        raise ValueError(f"lower limit {low} is above upper limit {high}")
    count, mean, stddev, smallest, largest, low, high = _clip(
        _as_values(values), low, high, int(nclip), float(lsigma), float(usigma))
    return ClippedMoments(int(count), float(mean), float(stddev), float(smallest),
                          float(largest), float(low), float(high))


def histogram_mode(values: np.ndarray, low: float, high: float, bin_width: float) -> float:
    """Mode of the values in ``[low, high]``: histogram peak refined by a parabola.

    Bins of ``bin_width`` start at ``low``; the last one holds ``high``.  The
    mode is the centre of the fullest bin (the first, on ties) moved to the
    vertex of the parabola through it and its two neighbours; a peak in an
    edge bin gives that bin's centre.  When all values are equal, or the
    range is narrower than one bin, the middle of ``[low, high]`` is returned.

    Parameters
    ----------
    values : ndarray
        Pixel values; NaN and inf are ignored.
    low, high : float
        Range of the histogram, normally the window's minimum and maximum.
    bin_width : float
        Width of the bins (AstroDrizzle: ``skywidth`` x stddev).

    Returns
    -------
    float
        NaN when no finite value lies in the range.
    """
    low, high, bin_width = float(low), float(high), float(bin_width)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"histogram range [{low}, {high}] must be finite and ordered")
    values = _as_values(values)
    if not bin_width > 0 or high - low < bin_width:
        inside = _select_window(values, low, high)
        return float("nan") if inside.size == 0 else 0.5 * (low + high)
    n_bins = int((high - low) / bin_width) + 1
    if n_bins > _MAX_HISTOGRAM_BINS:
        raise ValueError(f"bin width {bin_width} over [{low}, {high}] needs {n_bins} bins, "
                         f"more than {_MAX_HISTOGRAM_BINS}")
    return float(_histogram_peak(values, low, high, bin_width, n_bins))


def window_median(values: np.ndarray, low: float, high: float) -> float:
    """Median of the finite values in ``[low, high]`` (NaN when there are none).

    Exact, as :func:`numpy.median` of those values in float64 gives it, but
    without sorting or partitioning them all.
    """
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"median window [{low}, {high}] must be finite and ordered")
    middle, below, above = _window_middle(_as_values(values), low, high, _MEDIAN_BINS)
    if below < 0:
        return float("nan")
    middle.sort()
    return 0.5 * (float(middle[below]) + float(middle[above]))


def clipped_statistic(values: np.ndarray, statistic: str, *, lower: float | None = None,
                      upper: float | None = None, nclip: int = 0, lsigma: float = 3.0,
                      usigma: float = 3.0, binwidth: float = 0.1
                      ) -> tuple[float, ClippedMoments]:
    """One clipped statistic of a set of pixels, AstroDrizzle's sky estimator.

    Parameters
    ----------
    values : ndarray
        Pixel values; NaN and inf are ignored.
    statistic : {'median', 'mode', 'mean'}
        Which statistic of the clipped distribution to return.
    lower, upper, nclip, lsigma, usigma
        As for :func:`clipped_moments`.
    binwidth : float
        Histogram bin width in standard deviations (used by 'mode').

    Returns
    -------
    value : float
        The statistic; NaN when no pixel survives the limits and clipping.
    moments : ClippedMoments
        The final window and its moments.
    """
    if statistic not in SKY_STATISTICS:
        raise ValueError(f"statistic must be one of {SKY_STATISTICS}, got {statistic!r}")
    values = _as_values(values)
    moments = clipped_moments(values, lower=lower, upper=upper, nclip=nclip,
                              lsigma=lsigma, usigma=usigma)
    if moments.npix == 0:
        return float("nan"), moments
    if statistic == "mean":
        return moments.mean, moments
    if statistic == "median":
        return window_median(values, moments.minimum, moments.maximum), moments
    if not binwidth > 0:
        raise ValueError(f"binwidth must be positive, got {binwidth}")
    mode = histogram_mode(values, moments.minimum, moments.maximum,
                          binwidth * moments.stddev)
    return mode, moments
