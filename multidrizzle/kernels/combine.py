"""Combine kernels: median, mean and minmed of a stack of aligned images.

The stack is ``images[n, ny, nx]`` (float32, the separate drizzles in one
output frame) with a mask ``bad[n, ny, nx]`` (bool or uint8, non-zero = bad).
At each pixel the *good values* are those not flagged in ``bad``, finite, and
inside the thresholds: a value ``v`` is rejected when ``v < lthresh`` or
``v >= hthresh`` (the rule of ``stsci.image.threshold`` used by
``numcombine``).  Every output pixel depends only on its own column of the
stack (and, for minmed's grow pass, on the first-pass flags of its
neighbours), so the kernels run in parallel over blocks of rows
(`multidrizzle.kernels._parallel`) and give bit-identical results for any
number of threads.  Sums are accumulated in float64, the
combined image is float32.

Rejection of extremes (``nlow``, ``nhigh``) follows ``numcombine``'s C code
(``stsci.image`` ``_inner_median``): the good values are sorted and the
``nlow`` lowest and ``nhigh`` highest dropped.  When that would drop them all
(``nlow + nhigh >= good``), ``nlow`` and ``nhigh`` are *both* decreased by one
(each only while positive) until something is left; e.g. 3 good values with
``nlow=1, nhigh=2`` keep the two lowest.  ``numcombine`` applies this only to
the median; its average then returns 0 instead, which punches holes wherever
few images overlap.  Here the mean uses the same reduction as the median.

Pixels without any good value get ``fillval``.  AstroDrizzle's answer there is
0 (``numcombine`` returns its zeroed scratch value and minmed sets those pixels
to 0 explicitly), hence the default ``fillval=0.0``.  With ``fill_with_last``
(the ``imedian``, ``imean`` and ``iminmed`` combine types) such a pixel instead
takes the value of the *last* image of the stack, as if it were good, as the
AstroDrizzle documentation says ("this will prevent saturated pixels in the
image from leaving holes in the middle of the stars"); if that value is itself
not finite the pixel gets ``fillval``.  (The C code of ``numcombine`` actually
takes the first non-zero value, and only in the first column of each row, and
``drizzlepac.minmed`` zeroes those pixels again afterwards; the documented
intent is implemented here.)

minmed
------
``drizzlepac/minmed.py`` (Hanley, after Koekemoer), done per pixel:

1. ``median``: with 2 images the mean of the good values; with 3 or more the
   median of the good values after rejecting the highest one (``nhigh=1``
   with the reduction above, so 1 good value gives that value and 2 give the
   lower one).  With 1 image, its value.  The ``nlow``/``nhigh`` parameters
   of the other combine types do not apply to minmed (as in AstroDrizzle).
2. ``minimum``: the lowest good value.
3. Noise, in electrons, of the *whole stack*: with ``w_i`` the separate-drizzle
   weight of image ``i`` at this pixel (EXP weighting: about its exposure
   time), the electron scale is ``E = sum_i w_i c_i`` with ``c_i = 1`` for
   rates (electrons/s) and ``c_i = 1 / t_i`` for per-exposure electron counts;
   the sky term ``B = sum_i w_i S_i / t_i`` (``S_i`` the subtracted sky of
   image ``i`` in electrons, ``t_i`` its exposure time); the read-noise term
   ``R = sum_i r_i**2`` over the images with a good value here.  Then
   ``sigma = sqrt(max(median E + B + R, 0))``, the "sqrt(M + S + R**2)" of the
   documentation.  As in drizzlepac, ``E`` and ``B`` sum the weights of all
   images, good or not, and only ``R`` is restricted to good images.  For
   rates this is exactly drizzlepac's ``median * sum(w)``; for counts it is
   the same whenever the exposure times are equal.
4. First pass: the minimum is wanted where ``minimum E < median E -
   nsigma1 sigma``.
5. Grow pass (``grow > 0``): every pixel within ``grow`` pixels (a square box
   of side ``2 grow + 1``, drizzlepac's boxcar smoothing of the first-pass
   flags, with zeros beyond the image edges) of a first-pass pixel, the pixel
   itself included, is tested again with ``nsigma2``; the other pixels keep
   ``nsigma1``.  With ``grow = 0`` only the first pass is made.
6. The output is the minimum where ``minimum E < median E - nsigma sigma``
   with the ``nsigma`` chosen above, the median elsewhere.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from numba import njit

from multidrizzle.errors import ParameterError
from multidrizzle.kernels._parallel import part_range, run_parts, thread_count

__all__ = [
    "COMBINE_UNITS",
    "Combination",
    "mean_combine",
    "median_combine",
    "minmed_combine",
]

#: Units of the separate drizzles accepted by :func:`minmed_combine`:
#: ``'cps'`` is electrons per second, ``'counts'`` electrons per exposure.
COMBINE_UNITS: tuple[str, ...] = ("cps", "counts")


class Combination(NamedTuple):
    """Result of a combine kernel.

    Attributes
    ----------
    image : numpy.ndarray
        The combined image, float32, shape ``(ny, nx)``.
    good_counts : numpy.ndarray
        Number of good values at each pixel (after the mask, the thresholds
        and the finiteness test, before ``nlow``/``nhigh``), int32.
    used_minimum : numpy.ndarray or None
        minmed only: True where the minimum was taken instead of the median.
    """

    image: np.ndarray
    good_counts: np.ndarray
    used_minimum: np.ndarray | None


# ---------------------------------------------------------------------------
# Per-pixel building blocks
# ---------------------------------------------------------------------------

@njit(cache=True)
def _is_good(value: float, flagged, lthresh: float, hthresh: float) -> bool:
    """A value enters the combination: not flagged, finite, inside the thresholds."""
    if flagged:
        return False
    if not math.isfinite(value):
        return False
    return value >= lthresh and value < hthresh


@njit(cache=True)
def _sorted_good_values(images, bad, row, col, lthresh, hthresh, values) -> int:
    """Copy the good values of one pixel into ``values`` in ascending order.

    Insertion sort: stacks hold a handful of images, where it beats anything
    cleverer.  Returns the number of good values.
    """
    count = 0
    for k in range(images.shape[0]):
        value = images[k, row, col]
        if not _is_good(value, bad[k, row, col], lthresh, hthresh):
            continue
        slot = count
        while slot > 0 and values[slot - 1] > value:
            values[slot] = values[slot - 1]
            slot -= 1
        values[slot] = value
        count += 1
    return count


@njit(cache=True)
def _kept_range(count: int, nlow: int, nhigh: int) -> tuple[int, int]:
    """``(start, stop)`` of the sorted good values kept after nlow/nhigh rejection.

    numcombine's rule: while the rejections would remove every value, both
    ``nlow`` and ``nhigh`` drop by one (each only while positive).
    """
    if count == 0:
        return 0, 0
    while nlow + nhigh >= count:
        if nhigh > 0:
            nhigh -= 1
        if nlow > 0:
            nlow -= 1
    return nlow, count - nhigh


@njit(cache=True)
def _median_of(values, start: int, stop: int) -> float:
    """Median of the sorted ``values[start:stop]`` (mean of the middle two if even)."""
    size = stop - start
    middle = start + size // 2
    if size % 2 == 1:
        return float(values[middle])
    return (float(values[middle - 1]) + float(values[middle])) / 2.0


@njit(cache=True)
def _mean_of(values, start: int, stop: int) -> float:
    """Mean of ``values[start:stop]``, accumulated in float64."""
    total = 0.0
    for k in range(start, stop):
        total += values[k]
    return total / (stop - start)


@njit(cache=True)
def _no_data_value(images, row: int, col: int, fill_with_last: bool, fillval: float) -> float:
    """Output of a pixel without good values: last image's value or ``fillval``."""
    if fill_with_last:
        last = images[images.shape[0] - 1, row, col]
        if math.isfinite(last):
            return float(last)
    return fillval


# ---------------------------------------------------------------------------
# Median and mean
# ---------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _combine_rows(part, n_parts, images, bad, nlow, nhigh, lthresh, hthresh, use_mean,
                  fill_with_last, fillval, out, good_counts):
    """Median (or mean) of the good values, after nlow/nhigh rejection, per pixel.

    Rows of part ``part`` of ``n_parts``.
    """
    n_images, n_rows, n_cols = images.shape
    values = np.empty(n_images, dtype=np.float64)
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    for row in range(row_lo, row_hi):
        for col in range(n_cols):
            count = _sorted_good_values(images, bad, row, col, lthresh, hthresh, values)
            good_counts[row, col] = count
            if count == 0:
                out[row, col] = _no_data_value(images, row, col, fill_with_last, fillval)
                continue
            start, stop = _kept_range(count, nlow, nhigh)
            if use_mean:
                out[row, col] = _mean_of(values, start, stop)
            else:
                out[row, col] = _median_of(values, start, stop)


# ---------------------------------------------------------------------------
# minmed
# ---------------------------------------------------------------------------

@njit(cache=True)
def _minmed_median(values, count: int, n_images: int) -> float:
    """minmed's "median": mean of 2 images, else median without the highest value."""
    if n_images == 2:
        return _mean_of(values, 0, count)
    start, stop = _kept_range(count, 0, 1)
    return _median_of(values, start, stop)


@njit(cache=True)
def _sorted_good_values_and_noise(images, bad, weights, row, col, lthresh, hthresh,
                                  electrons_per_weight, sky_per_weight, read_noise_squared,
                                  values):
    """Sorted good values of one pixel, and its ``(count, E, B, R)`` noise terms.

    ``E`` (electron scale) and ``B`` (sky electrons) sum over every image
    with a positive weight (drizzlepac sums whole weight images); ``R``
    (read-noise variance) only over images whose value is good.
    """
    count = 0
    scale = 0.0
    sky = 0.0
    read = 0.0
    for k in range(images.shape[0]):
        weight = weights[k, row, col]
        if weight > 0.0 and math.isfinite(weight):
            scale += weight * electrons_per_weight[k]
            sky += weight * sky_per_weight[k]
        value = images[k, row, col]
        if not _is_good(value, bad[k, row, col], lthresh, hthresh):
            continue
        read += read_noise_squared[k]
        slot = count
        while slot > 0 and values[slot - 1] > value:
            values[slot] = values[slot - 1]
            slot -= 1
        values[slot] = value
        count += 1
    return count, scale, sky, read


@njit(cache=True, nogil=True)
def _minmed_first_pass(part, n_parts, images, bad, weights, electrons_per_weight,
                       sky_per_weight, read_noise_squared, nsigma1, lthresh, hthresh,
                       fill_with_last, fillval, n_total, median, minimum, deficit, sigma,
                       first_flag, good_counts):
    """Median, minimum, ``(minimum - median) E``, sigma and first-pass flag per pixel.

    Rows of part ``part`` of ``n_parts``.
    """
    n_images, n_rows, n_cols = images.shape
    values = np.empty(n_images, dtype=np.float64)
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    for row in range(row_lo, row_hi):
        for col in range(n_cols):
            count, scale, sky, read = _sorted_good_values_and_noise(
                images, bad, weights, row, col, lthresh, hthresh, electrons_per_weight,
                sky_per_weight, read_noise_squared, values)
            good_counts[row, col] = count
            if count == 0:
                # Never replaced by the minimum: deficit 0 is not below -nsigma * 0.
                value = _no_data_value(images, row, col, fill_with_last, fillval)
                median[row, col] = value
                minimum[row, col] = value
                deficit[row, col] = 0.0
                sigma[row, col] = 0.0
                first_flag[row, col] = False
                continue
            middle = _minmed_median(values, count, n_total)
            lowest = values[0]
            noise = math.sqrt(max(middle * scale + sky + read, 0.0))
            median[row, col] = middle
            minimum[row, col] = lowest
            deficit[row, col] = (lowest - middle) * scale
            sigma[row, col] = noise
            first_flag[row, col] = deficit[row, col] < -nsigma1 * noise


@njit(cache=True)
def _near_flag(first_flag, row: int, col: int, grow: int) -> bool:
    """Any first-pass flag within ``grow`` pixels (square box, clipped at edges)."""
    n_rows, n_cols = first_flag.shape
    for r in range(max(row - grow, 0), min(row + grow + 1, n_rows)):
        for c in range(max(col - grow, 0), min(col + grow + 1, n_cols)):
            if first_flag[r, c]:
                return True
    return False


@njit(cache=True, nogil=True)
def _minmed_choose(part, n_parts, median, minimum, deficit, sigma, first_flag, grow, nsigma1,
                   nsigma2, out, used_minimum):
    """Minimum where it is nsigma below the median (nsigma2 near first-pass flags).

    Rows of part ``part`` of ``n_parts``.
    """
    n_rows, n_cols = median.shape
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    for row in range(row_lo, row_hi):
        for col in range(n_cols):
            nsigma = nsigma1
            if grow > 0 and _near_flag(first_flag, row, col, grow):
                nsigma = nsigma2
            take_minimum = deficit[row, col] < -nsigma * sigma[row, col]
            used_minimum[row, col] = take_minimum
            out[row, col] = minimum[row, col] if take_minimum else median[row, col]


# ---------------------------------------------------------------------------
# Public wrappers
# ---------------------------------------------------------------------------

def _as_stack(images: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and return the image stack and its mask, C-contiguous."""
    stack = np.asarray(images)
    mask = np.asarray(bad)
    if stack.ndim != 3 or stack.shape[0] < 1:
        raise ParameterError(
            f"images must be a 3-D stack (n_images, ny, nx) with n_images >= 1; "
            f"got shape {stack.shape}.")
    if stack.dtype != np.float32:
        raise ParameterError(f"images must be float32; got {stack.dtype}.")
    if mask.shape != stack.shape:
        raise ParameterError(
            f"bad must have the shape of images {stack.shape}; got {mask.shape}.")
    if mask.dtype not in (np.bool_, np.uint8):
        raise ParameterError(f"bad must be bool or uint8; got {mask.dtype}.")
    return np.ascontiguousarray(stack), np.ascontiguousarray(mask)


def _thresholds(lthresh: float | None, hthresh: float | None) -> tuple[float, float]:
    """Thresholds as floats, None meaning no limit; ParameterError if not numbers."""
    limits = []
    for name, value, default in (("lthresh", lthresh, -np.inf), ("hthresh", hthresh, np.inf)):
        if value is None:
            limits.append(default)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be a number or None; got {value!r}.") from None
        if math.isnan(number):
            raise ParameterError(f"{name} must not be NaN; use None for no threshold.")
        limits.append(number)
    return limits[0], limits[1]


def _rejection_counts(n_images: int, nlow: int, nhigh: int) -> tuple[int, int]:
    """Validated nlow/nhigh: non-negative, leaving at least one of ``n_images``."""
    if int(nlow) != nlow or int(nhigh) != nhigh or nlow < 0 or nhigh < 0:
        raise ParameterError(
            f"nlow and nhigh must be non-negative integers; got {nlow!r}, {nhigh!r}.")
    if n_images - nlow - nhigh < 1:
        raise ParameterError(
            f"nlow={nlow} plus nhigh={nhigh} reject all {n_images} images; "
            f"at least one must remain.")
    return int(nlow), int(nhigh)


def _fill_value(fillval: float) -> float:
    """``fillval`` as a float (NaN allowed)."""
    try:
        return float(fillval)
    except (TypeError, ValueError):
        raise ParameterError(f"fillval must be a number (NaN allowed); got {fillval!r}.") from None


def _n_parts(n_rows: int) -> int:
    """Parts to cut ``n_rows`` rows into: one per thread, at least one."""
    return max(1, min(thread_count(), n_rows))


def _combine(images, bad, nlow, nhigh, lthresh, hthresh, fill_with_last, fillval,
             use_mean) -> Combination:
    stack, mask = _as_stack(images, bad)
    nlow, nhigh = _rejection_counts(stack.shape[0], nlow, nhigh)
    low, high = _thresholds(lthresh, hthresh)
    out = np.empty(stack.shape[1:], dtype=np.float32)
    good_counts = np.empty(stack.shape[1:], dtype=np.int32)
    run_parts(_combine_rows, _n_parts(out.shape[0]), stack, mask, nlow, nhigh, low, high,
              use_mean, bool(fill_with_last), _fill_value(fillval), out, good_counts)
    return Combination(out, good_counts, None)


def median_combine(
    images: np.ndarray,
    bad: np.ndarray,
    *,
    nlow: int = 0,
    nhigh: int = 0,
    lthresh: float | None = None,
    hthresh: float | None = None,
    fill_with_last: bool = False,
    fillval: float = 0.0,
) -> Combination:
    """Median of the good values of a stack, after rejecting extremes.

    Parameters
    ----------
    images : numpy.ndarray
        float32 stack ``(n_images, ny, nx)``.
    bad : numpy.ndarray
        bool or uint8 mask of the same shape; non-zero excludes the value.
    nlow, nhigh : int
        Number of lowest / highest good values rejected at each pixel
        (reduced as in ``numcombine`` where fewer good values exist).
    lthresh, hthresh : float or None
        Values ``< lthresh`` or ``>= hthresh`` are excluded; None: no limit.
    fill_with_last : bool
        Where no value is good, use the last image's value (``imedian``).
    fillval : float
        Value of pixels without good values otherwise.

    Returns
    -------
    Combination
        ``image`` (float32), ``good_counts``; ``used_minimum`` is None.
        Medians of an even number of values average the middle two.

    Raises
    ------
    multidrizzle.errors.ParameterError
        Bad shapes or dtypes, or ``nlow + nhigh >= n_images``.
    """
    return _combine(images, bad, nlow, nhigh, lthresh, hthresh, fill_with_last,
                    fillval, use_mean=False)


def mean_combine(
    images: np.ndarray,
    bad: np.ndarray,
    *,
    nlow: int = 0,
    nhigh: int = 0,
    lthresh: float | None = None,
    hthresh: float | None = None,
    fill_with_last: bool = False,
    fillval: float = 0.0,
) -> Combination:
    """Mean of the good values of a stack, after rejecting extremes.

    Same parameters, rules and result as :func:`median_combine`, with the
    mean of the kept values (``imean`` when ``fill_with_last``).
    """
    return _combine(images, bad, nlow, nhigh, lthresh, hthresh, fill_with_last,
                    fillval, use_mean=True)


def _per_image(values: Sequence[float], n_images: int, name: str) -> np.ndarray:
    """One finite float per image, as a float64 array."""
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be numbers, one per image; got {values!r}.") from None
    if array.shape != (n_images,):
        raise ParameterError(
            f"{name} needs one value per image ({n_images}); got {array.size}.")
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} must be finite; got {array.tolist()}.")
    return array


def _nsigma_pair(nsigma: float | Sequence[float]) -> tuple[float, float]:
    """``combine_nsigma`` as two positive floats; a single value is used twice."""
    try:
        pair = np.atleast_1d(np.asarray(nsigma, dtype=np.float64))
    except (TypeError, ValueError):
        raise ParameterError(
            f"combine_nsigma must be one or two positive numbers; got {nsigma!r}.") from None
    if pair.size == 1:
        pair = np.repeat(pair, 2)
    if pair.shape != (2,) or not np.all(np.isfinite(pair)) or np.any(pair <= 0):
        raise ParameterError(
            f"combine_nsigma must be one or two positive numbers; got {nsigma!r}.")
    return float(pair[0]), float(pair[1])


def checked_gains(gains: Sequence[float] | None, n_images: int) -> np.ndarray:
    """Electrons per unit of each image: ``gains`` checked (one positive number
    per image), or ones when None."""
    if gains is None:
        return np.ones(n_images)
    array = _per_image(gains, n_images, "gains")
    if np.any(array <= 0):
        raise ParameterError(f"gains must be positive (electrons per unit of each image); "
                             f"got {array.tolist()}.")
    return array


def _electron_conversions(exptimes: np.ndarray, sky_electrons: np.ndarray, units: str,
                          gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image electrons per (value x weight) and sky electrons per weight."""
    if units not in COMBINE_UNITS:
        raise ParameterError(f"units must be one of {COMBINE_UNITS}; got {units!r}.")
    if np.any(exptimes <= 0):
        raise ParameterError(
            f"exptimes must be positive for minmed's noise model; got {exptimes.tolist()}.")
    if units == "cps":
        electrons_per_weight = gains.copy()
    else:
        electrons_per_weight = gains / exptimes
    return electrons_per_weight, sky_electrons / exptimes


def minmed_combine(
    images: np.ndarray,
    bad: np.ndarray,
    weights: np.ndarray,
    *,
    exptimes: Sequence[float],
    sky_electrons: Sequence[float],
    read_noises: Sequence[float],
    units: str = "cps",
    gains: Sequence[float] | None = None,
    nsigma: float | Sequence[float] = (4.0, 3.0),
    grow: int = 1,
    lthresh: float | None = None,
    hthresh: float | None = None,
    fill_with_last: bool = False,
    fillval: float = 0.0,
    n_total: int | None = None,
) -> Combination:
    """AstroDrizzle's minmed: the median, or the minimum where it is significantly lower.

    See the module docstring for the algorithm.  Pixels beyond the stack's
    first and last rows count as unflagged in the grow pass, so a band of
    rows cut from a larger image is exact only ``grow`` rows away from its
    cut edges.

    Parameters
    ----------
    images : numpy.ndarray
        float32 stack ``(n_images, ny, nx)`` of separate drizzles, per second
        (``units='cps'``) or per exposure (``units='counts'``), in electrons
        or in units of ``gains`` electrons.
    bad : numpy.ndarray
        bool or uint8 mask of the same shape; non-zero excludes the value.
    weights : numpy.ndarray
        float32 separate-drizzle weights, same shape (EXP weighting: about
        the exposure time where an image covers the pixel fully).
    exptimes : sequence of float
        Exposure time of each image, seconds (> 0).
    sky_electrons : sequence of float
        Sky subtracted from each image, electrons per drizzled pixel.
    read_noises : sequence of float
        Read noise of each image, electrons.
    units : {'cps', 'counts'}
        Units of ``images``.
    gains : sequence of float, optional
        Electrons per unit of each image's values (the gain for DN); None:
        every image in electrons.  Only the noise model uses them: the
        combined image keeps the images' units.
    nsigma : float or (float, float)
        Significance for taking the minimum: first pass and grow pass.
    grow : int
        Radius, in pixels, of the grow pass; 0 skips it.
    lthresh, hthresh : float or None
        Values ``< lthresh`` or ``>= hthresh`` are excluded; None: no limit.
    fill_with_last : bool
        Where no value is good, use the last image's value (``iminmed``).
    fillval : float
        Value of pixels without good values otherwise.
    n_total : int, optional
        How many images the whole combination has, when ``images`` holds only
        those that can cover this part of the grid (a tile): minmed's median
        is the mean of two images only when there are two in all.  None: the
        stack's.

    Returns
    -------
    Combination
        ``image`` (float32), ``good_counts`` and ``used_minimum``.

    Raises
    ------
    multidrizzle.errors.ParameterError
        Bad shapes, dtypes or per-image values, non-positive exposure times.
    """
    stack, mask = _as_stack(images, bad)
    weight_stack = np.ascontiguousarray(np.asarray(weights))
    if weight_stack.shape != stack.shape or weight_stack.dtype != np.float32:
        raise ParameterError(
            f"weights must be float32 with the shape of images {stack.shape}; "
            f"got {weight_stack.dtype} {weight_stack.shape}.")
    if int(grow) != grow or grow < 0:
        raise ParameterError(f"grow must be a non-negative integer; got {grow!r}.")
    n_images = stack.shape[0]
    exptime_array = _per_image(exptimes, n_images, "exptimes")
    sky_array = _per_image(sky_electrons, n_images, "sky_electrons")
    read_noise_array = _per_image(read_noises, n_images, "read_noises")
    gain_array = checked_gains(gains, n_images)
    electrons_per_weight, sky_per_weight = _electron_conversions(exptime_array, sky_array, units,
                                                                 gain_array)
    nsigma1, nsigma2 = _nsigma_pair(nsigma)
    low, high = _thresholds(lthresh, hthresh)

    shape = stack.shape[1:]
    median = np.empty(shape, dtype=np.float64)
    minimum = np.empty(shape, dtype=np.float64)
    deficit = np.empty(shape, dtype=np.float64)
    sigma = np.empty(shape, dtype=np.float64)
    first_flag = np.empty(shape, dtype=np.bool_)
    good_counts = np.empty(shape, dtype=np.int32)
    n_parts = _n_parts(shape[0])
    run_parts(_minmed_first_pass, n_parts, stack, mask, weight_stack, electrons_per_weight,
              sky_per_weight, read_noise_array ** 2, nsigma1, low, high, bool(fill_with_last),
              _fill_value(fillval), int(n_images if n_total is None else n_total), median,
              minimum, deficit, sigma, first_flag, good_counts)
    out = np.empty(shape, dtype=np.float32)
    used_minimum = np.empty(shape, dtype=np.bool_)
    run_parts(_minmed_choose, n_parts, median, minimum, deficit, sigma, first_flag, int(grow),
              nsigma1, nsigma2, out, used_minimum)
    return Combination(out, good_counts, used_minimum)
