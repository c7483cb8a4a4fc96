"""Cosmic-ray kernels: the derivative of the blotted median and driz_cr's tests.

These re-implement, on arrays, the two tasks that AstroDrizzle's step 6
("REMOVE COSMIC RAYS WITH DERIV, DRIZ_CR") chains together.

Derivative (``deriv``, drizzlepac ``quickDeriv.qderiv``)
    For every pixel, the largest absolute difference between the pixel and
    its four nearest neighbours (left, right, below, above)::

        dB[y, x] = max(|B[y, x] - B[y, x-1]|, |B[y, x] - B[y, x+1]|,
                       |B[y, x] - B[y-1, x]|, |B[y, x] - B[y+1, x]|)

    Only neighbours inside the image and finite take part; a pixel with no
    such neighbour has derivative 0, a non-finite pixel has derivative NaN.
    (qderiv treats missing neighbours as 0, and through an off-by-one in its
    slices the second-to-last row and column as well, so that ``dB = |B|`` on
    a two-pixel frame where detection is then practically switched off.  That
    frame is not reproduced.)

Two-pass test (``driz_cr``)
    With the input data ``D``, the blotted median ``B`` (sky included), both in
    the same units, ``f`` the factor that turns those units into electrons,
    ``r`` the read noise (e-) and ``s`` the sky level (same units as ``D``)::

        sigma = sqrt(f * |B + s| + r**2) / f
        fails_1 = D - B > scale_1 * dB + snr_1 * sigma * sqrt(1 + v)
        fails_2 = D - B > scale_2 * dB + snr_2 * sigma

    a pixel is a cosmic ray when it fails the second (looser) test and at
    least one pixel of the 3 x 3 box centred on it, itself included, fails the
    first (stricter) test.  This is the IRAF/MultiDrizzle driz_cr expression
    ``snr * sqrt(gain*|B + back| + rn**2) / gain`` with ``gain`` the factor to
    electrons, as drizzlepac evaluates it after scaling ``D`` and ``B`` to
    electrons (effective gain 1), and the per-pixel ``v`` the variance of
    the blotted median relative to that of one exposure, which the first
    test (does a cosmic ray start here?) counts and the second (how far does
    it reach?) does not (0 in driz_cr: the model taken as noise-free; see
    :mod:`multidrizzle.steps.cosmic_rays` for the values multidrizzle uses).
    Pixels marked invalid, or where ``D``,
    ``B`` or ``dB`` is not finite, are never tested: they neither fail a test
    nor lend their neighbours the looser threshold.

    The test is one-sided: a cosmic ray only adds charge, so a pixel far
    *below* the blotted median is not one (driz_cr tests ``|D - B|``; its
    low outliers are bad-dark pixels, which the static mask handles).  This
    halves the pure-noise false detections at no cost in recall.

Growth (driz_cr_grow, driz_cr_ctegrow)
    The cosmic-ray mask is then dilated by a ``grow`` x ``grow`` box (as
    drizzlepac's ``ones((grow, grow))`` convolution: ``grow=1`` changes
    nothing; an even box reaches one pixel further towards larger indices),
    and each cosmic ray is extended by a CTE tail of ``ctegrow`` pixels along
    the y axis (rows), on the side given by the readout direction
    ``cte_direction`` (drizzlepac's per-chip ``cte_dir``):

    * ``+1``: charge is clocked towards larger y (amplifier at the top of the
      array); the tail lies below, rows ``y-ctegrow .. y-1``.
      ACS/WFC and WFC3/UVIS ``SCI,2``; ACS/HRC amplifiers A, B; STIS CCD.
    * ``-1``: charge is clocked towards smaller y; the tail lies above, rows
      ``y+1 .. y+ctegrow``.  ACS/WFC and WFC3/UVIS ``SCI,1``; HRC C, D; WFPC2.
    * ``0``: no tail (IR detectors, MAMAs).

    Boxes and tails stop at the image edge.  (drizzlepac's convolutions
    reflect the image at its edges, which for the one-sided tail kernel can
    also flag a few pixels on the wrong side of a cosmic ray lying within
    ``ctegrow`` rows of the edge; that is not reproduced.)

Every pass writes each output pixel from its own neighbourhood only, in
separate passes over blocks of rows run in parallel
(`multidrizzle.kernels._parallel`), so results are bit-identical for any
number of threads.  Arithmetic is in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from multidrizzle.errors import ParameterError
from multidrizzle.kernels._parallel import part_range, run_parts, thread_count

__all__ = [
    "CTE_DIRECTIONS",
    "SECOND_PASS_RADIUS",
    "blot_derivative",
    "flag_cosmic_rays",
    "grow_cosmic_rays",
]

#: Half-width of the box in which a first-pass detection lets the looser
#: second-pass threshold apply: AstroDrizzle convolves the first-pass mask
#: with a 3 x 3 kernel of ones.
SECOND_PASS_RADIUS = 1

#: Accepted readout directions (drizzlepac ``cte_dir``).
CTE_DIRECTIONS: tuple[int, ...] = (-1, 0, 1)

# Bits of the per-pixel test result.
_FAILS_FIRST = np.uint8(1)
_FAILS_SECOND = np.uint8(2)


# ---------------------------------------------------------------------------
# Per-pixel building blocks
# ---------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _larger_difference(centre: float, neighbour: float, largest: float) -> float:
    """``max(largest, |centre - neighbour|)``, ignoring a non-finite neighbour."""
    if math.isfinite(neighbour):
        difference = abs(centre - neighbour)
        if difference > largest:
            return difference
    return largest


@njit(cache=True, inline="always")
def _derivative_at(image, row: int, col: int) -> float:
    """Largest absolute difference between a pixel and its 4 in-image neighbours."""
    centre = np.float64(image[row, col])
    if not math.isfinite(centre):
        return math.nan
    n_rows, n_cols = image.shape
    largest = 0.0
    if col > 0:
        largest = _larger_difference(centre, np.float64(image[row, col - 1]), largest)
    if col < n_cols - 1:
        largest = _larger_difference(centre, np.float64(image[row, col + 1]), largest)
    if row > 0:
        largest = _larger_difference(centre, np.float64(image[row - 1, col]), largest)
    if row < n_rows - 1:
        largest = _larger_difference(centre, np.float64(image[row + 1, col]), largest)
    return largest


@njit(cache=True, inline="always")
def _pixel_tests(science, blotted, valid, model_variance, variance_mask, row, col,
                 to_electrons, read_noise, sky, snr_first, snr_second, scale_first,
                 scale_second):
    """Bits ``_FAILS_FIRST`` / ``_FAILS_SECOND`` of the driz_cr tests at one pixel.

    ``model_variance[row & variance_mask, col & variance_mask]`` is ``v``: a
    mask of -1 reads a full image, 0 the single value of a 1 x 1 array.
    """
    if not valid[row, col]:
        return np.uint8(0)
    data = np.float64(science[row, col])
    model = np.float64(blotted[row, col])
    slope = _derivative_at(blotted, row, col)
    if not (math.isfinite(data) and math.isfinite(model) and math.isfinite(slope)):
        return np.uint8(0)
    residual = data - model  # one-sided: cosmic rays add charge
    ratio = np.float64(model_variance[row & variance_mask, col & variance_mask])
    sigma = math.sqrt(to_electrons * abs(model + sky) + read_noise * read_noise) / to_electrons
    result = np.uint8(0)
    if residual > scale_first * slope + snr_first * sigma * math.sqrt(1.0 + ratio):
        result |= _FAILS_FIRST
    if residual > scale_second * slope + snr_second * sigma:
        result |= _FAILS_SECOND
    return result


@njit(cache=True, inline="always")
def _first_pass_nearby(tests, row: int, col: int) -> bool:
    """True when a pixel of the 3 x 3 box around (row, col) fails the first test."""
    n_rows, n_cols = tests.shape
    for near_row in range(max(row - SECOND_PASS_RADIUS, 0),
                          min(row + SECOND_PASS_RADIUS + 1, n_rows)):
        for near_col in range(max(col - SECOND_PASS_RADIUS, 0),
                              min(col + SECOND_PASS_RADIUS + 1, n_cols)):
            if tests[near_row, near_col] & _FAILS_FIRST:
                return True
    return False


@njit(cache=True, inline="always")
def _or_row_into(target, source):
    """``target |= source`` for two equal-length uint8 rows (a loop LLVM vectorises)."""
    for col in range(target.shape[0]):
        target[col] |= source[col]


# ---------------------------------------------------------------------------
# Drivers, each over part ``part`` of ``n_parts`` of the rows
# ---------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _derivative_image(part, n_parts, image, out):
    """Fill ``out`` with the derivative of ``image``."""
    row_lo, row_hi = part_range(part, n_parts, image.shape[0])
    for row in range(row_lo, row_hi):
        for col in range(image.shape[1]):
            out[row, col] = _derivative_at(image, row, col)


@njit(cache=True, nogil=True)
def _test_all_pixels(part, n_parts, science, blotted, valid, model_variance, variance_mask,
                     to_electrons, read_noise, sky, snr_first, snr_second, scale_first,
                     scale_second, tests):
    """Fill ``tests`` with the per-pixel test bits."""
    row_lo, row_hi = part_range(part, n_parts, science.shape[0])
    for row in range(row_lo, row_hi):
        for col in range(science.shape[1]):
            tests[row, col] = _pixel_tests(science, blotted, valid, model_variance,
                                           variance_mask, row, col, to_electrons, read_noise,
                                           sky, snr_first, snr_second, scale_first,
                                           scale_second)


@njit(cache=True, nogil=True)
def _second_pass(part, n_parts, tests, cosmic_rays):
    """Cosmic rays: pixels failing the second test next to a first-test failure."""
    row_lo, row_hi = part_range(part, n_parts, tests.shape[0])
    for row in range(row_lo, row_hi):
        for col in range(tests.shape[1]):
            cosmic_rays[row, col] = bool(tests[row, col] & _FAILS_SECOND) and \
                _first_pass_nearby(tests, row, col)


# The growth kernels work on uint8 views of boolean masks and OR whole
# shifted rows together: branch-free loops that vectorise, where testing
# pixel by pixel would be dominated by mispredicted branches.

@njit(cache=True, nogil=True)
def _dilate_rows(part, n_parts, mask, before: int, after: int, out):
    """``out[y, x]``: any of ``mask[y, x-before .. x+after]`` (uint8 0/1)."""
    n_cols = mask.shape[1]
    row_lo, row_hi = part_range(part, n_parts, mask.shape[0])
    for row in range(row_lo, row_hi):
        out[row, :] = 0
        for offset in range(-before, after + 1):
            # Columns whose neighbour at ``offset`` lies inside the row.
            first = max(-offset, 0)
            last = min(n_cols, n_cols - offset)
            if first < last:
                _or_row_into(out[row, first:last], mask[row, first + offset:last + offset])


@njit(cache=True, nogil=True)
def _dilate_columns(part, n_parts, mask, before: int, after: int, out):
    """``out[y, x]``: any of ``mask[y-before .. y+after, x]`` (uint8 0/1)."""
    n_rows = mask.shape[0]
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    for row in range(row_lo, row_hi):
        out[row, :] = 0
        for near_row in range(max(row - before, 0), min(row + after, n_rows - 1) + 1):
            _or_row_into(out[row], mask[near_row])


@njit(cache=True, nogil=True)
def _add_tails(part, n_parts, cosmic_rays, grown, length: int, direction: int, out):
    """``out = grown | tail``, the tail of ``length`` rows on the side set by ``direction``."""
    n_rows = cosmic_rays.shape[0]
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    for row in range(row_lo, row_hi):
        # A pixel is in the tail of a cosmic ray lying on its amplifier side:
        # larger row indices for direction +1, smaller ones for direction -1.
        if direction > 0:
            first = row + 1
            last = min(row + length, n_rows - 1)
        else:
            first = max(row - length, 0)
            last = row - 1
        # Element by element: an array-to-array slice assignment would compile
        # numba's shape-mismatch error formatting (seconds of compile time).
        for col in range(out.shape[1]):
            out[row, col] = grown[row, col]
        for near_row in range(first, last + 1):
            _or_row_into(out[row], cosmic_rays[near_row])


# ---------------------------------------------------------------------------
# Public wrappers
# ---------------------------------------------------------------------------

def _n_parts(n_rows: int) -> int:
    """Parts to cut ``n_rows`` rows into: one per thread, at least one."""
    return max(1, min(thread_count(), n_rows))


def _as_real_image(array: np.ndarray, name: str) -> np.ndarray:
    """A C-contiguous float32/float64 2-D view (or copy) of ``array``."""
    image = np.asarray(array)
    if image.ndim != 2:
        raise ValueError(f"{name} must be a 2-D image; got an array of shape {image.shape}.")
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers; got dtype {image.dtype}.")
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(np.float64)
    return np.ascontiguousarray(image)


def _as_mask(array: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A C-contiguous boolean array of the given shape."""
    mask = np.asarray(array)
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {mask.shape}.")
    if not (mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer)):
        raise ValueError(f"{name} must be boolean (or integer 0/1); got dtype {mask.dtype}.")
    return np.ascontiguousarray(mask, dtype=np.bool_)


def _number(value: float, name: str, *, minimum: float, exclusive: bool) -> float:
    """``value`` as a finite float above ``minimum``; ParameterError otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number; got {value!r}.") from None
    too_small = number <= minimum if exclusive else number < minimum
    if not math.isfinite(number) or too_small:
        relation = ">" if exclusive else ">="
        raise ParameterError(f"{name} must be finite and {relation} {minimum}; got {value!r}.")
    return number


def _pair(values: Sequence[float], name: str, *, exclusive: bool) -> tuple[float, float]:
    """Two finite numbers (first pass, second pass) that are positive (or >= 0)."""
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError
        first, second = values
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a pair of numbers (first pass, second pass); "
                             f"got {values!r}.") from None
    return (_number(first, name, minimum=0.0, exclusive=exclusive),
            _number(second, name, minimum=0.0, exclusive=exclusive))


def _count(value: int, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; ParameterError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _model_variance(value: np.ndarray | float, shape: tuple[int, ...]):
    """The relative model variance as ``(array, index mask)`` for `_pixel_tests`."""
    if np.ndim(value) == 0:
        number = _number(value, "model_variance", minimum=0.0, exclusive=False)
        return np.full((1, 1), number), 0
    variance = _as_real_image(value, "model_variance")
    if variance.shape != shape:
        raise ValueError(f"model_variance must have the shape of science {shape}; "
                         f"got {variance.shape}.")
    with np.errstate(invalid="ignore"):
        if not (variance >= 0).all():
            raise ValueError("model_variance must be finite and >= 0 everywhere.")
    return variance, -1


def blot_derivative(blotted_median: np.ndarray) -> np.ndarray:
    """Absolute derivative of an image, as AstroDrizzle's ``deriv``/``qderiv``.

    Parameters
    ----------
    blotted_median : numpy.ndarray
        2-D real image (normally the median blotted back onto an input chip).

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape: per pixel the largest absolute
        difference to its finite in-image 4-neighbours (0 if it has none),
        NaN where the pixel itself is not finite.

    Raises
    ------
    ValueError
        If the input is not a real 2-D array.
    """
    image = _as_real_image(blotted_median, "blotted_median")
    derivative = np.empty(image.shape, dtype=np.float64)
    run_parts(_derivative_image, _n_parts(image.shape[0]), image, derivative)
    return derivative


def flag_cosmic_rays(
    science: np.ndarray,
    blotted_median: np.ndarray,
    valid: np.ndarray,
    *,
    to_electrons: float,
    read_noise: float,
    sky: float,
    snr: Sequence[float],
    scale: Sequence[float],
    model_variance: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Two-pass driz_cr comparison of an input chip with its blotted median.

    Parameters
    ----------
    science : numpy.ndarray
        The input chip ``D``, 2-D, in some units ``u``.
    blotted_median : numpy.ndarray
        The blotted median ``B`` in the same units and with the sky included,
        same shape.
    valid : numpy.ndarray
        Boolean, same shape: False for pixels that must not be tested (bad in
        DQ, rejected by the static mask).  Pixels where ``D``, ``B`` or the
        derivative of ``B`` is not finite are skipped as well.
    to_electrons : float
        Factor ``f`` turning a value in ``u`` into electrons (1 for electrons,
        the gain for counts, times the exposure time for rates).  Positive.
    read_noise : float
        Read noise in electrons, >= 0.
    sky : float
        Sky level in ``u`` added to ``B`` in the Poisson term (AstroDrizzle's
        ``backg``).
    snr, scale : pair of float
        ``(first, second)`` signal-to-noise thresholds (> 0) and derivative
        scale factors (>= 0): AstroDrizzle's ``driz_cr_snr`` and
        ``driz_cr_scale``.
    model_variance : numpy.ndarray or float, optional
        ``v``: variance of the blotted median relative to the data's, per
        pixel (same shape) or for all pixels, >= 0, counted in the first
        test only.  0 treats the median as noise-free, as driz_cr does.

    Returns
    -------
    numpy.ndarray
        Boolean array, True where a cosmic ray is detected (before growth).

    Raises
    ------
    ValueError
        If arrays are not 2-D real images of one shape.
    multidrizzle.errors.ParameterError
        If a number is out of range.
    """
    data = _as_real_image(science, "science")
    model = _as_real_image(blotted_median, "blotted_median")
    if model.shape != data.shape:
        raise ValueError(f"blotted_median must have the shape of science {data.shape}; "
                         f"got {model.shape}.")
    testable = _as_mask(valid, "valid", data.shape)
    factor = _number(to_electrons, "to_electrons", minimum=0.0, exclusive=True)
    noise = _number(read_noise, "read_noise", minimum=0.0, exclusive=False)
    sky_level = _number(sky, "sky", minimum=-math.inf, exclusive=False)
    snr_first, snr_second = _pair(snr, "driz_cr_snr", exclusive=True)
    scale_first, scale_second = _pair(scale, "driz_cr_scale", exclusive=False)
    variance, variance_mask = _model_variance(model_variance, data.shape)

    tests = np.empty(data.shape, dtype=np.uint8)
    n_parts = _n_parts(data.shape[0])
    run_parts(_test_all_pixels, n_parts, data, model, testable, variance, variance_mask, factor,
              noise, sky_level, snr_first, snr_second, scale_first, scale_second, tests)
    cosmic_rays = np.empty(data.shape, dtype=np.bool_)
    run_parts(_second_pass, n_parts, tests, cosmic_rays)
    return cosmic_rays


def grow_cosmic_rays(
    cr_mask: np.ndarray,
    *,
    grow: int = 1,
    ctegrow: int = 0,
    cte_direction: int = 0,
) -> np.ndarray:
    """Dilate a cosmic-ray mask by a box and add CTE tails along y.

    Parameters
    ----------
    cr_mask : numpy.ndarray
        2-D boolean mask, True = cosmic ray.
    grow : int, optional
        Side of the square box (AstroDrizzle ``driz_cr_grow``, >= 1).  A
        cosmic ray at ``(y, x)`` flags rows and columns from
        ``-(grow - 1) // 2`` to ``+grow // 2`` around it; 1 adds nothing.
    ctegrow : int, optional
        Length of the CTE tail in pixels (``driz_cr_ctegrow``, >= 0).
    cte_direction : {-1, 0, 1}, optional
        Readout direction along y: +1 puts the tail at rows
        ``y-ctegrow .. y-1``, -1 at ``y+1 .. y+ctegrow``, 0 adds no tail.

    Returns
    -------
    numpy.ndarray
        New boolean mask, True = cosmic ray or grown pixel.

    Raises
    ------
    ValueError
        If ``cr_mask`` is not 2-D boolean.
    multidrizzle.errors.ParameterError
        If ``grow``, ``ctegrow`` or ``cte_direction`` is out of range.
    """
    mask = np.asarray(cr_mask)
    if mask.ndim != 2:
        raise ValueError(f"cr_mask must be a 2-D mask; got an array of shape {mask.shape}.")
    mask = _as_mask(mask, "cr_mask", mask.shape)
    box = _count(grow, "driz_cr_grow", 1)
    tail = _count(ctegrow, "driz_cr_ctegrow", 0)
    if isinstance(cte_direction, bool) or cte_direction not in CTE_DIRECTIONS:
        raise ParameterError(f"cte_direction must be one of {CTE_DIRECTIONS}; "
                             f"got {cte_direction!r}.")

    flags = mask.view(np.uint8)
    grown = flags.copy()
    n_parts = _n_parts(flags.shape[0])
    if box > 1:
        # A cosmic ray at p flags p - (box-1)//2 .. p + box//2, so a pixel is
        # flagged when a cosmic ray lies box//2 before to (box-1)//2 after it.
        across = np.empty_like(flags)
        run_parts(_dilate_rows, n_parts, flags, box // 2, (box - 1) // 2, across)
        run_parts(_dilate_columns, n_parts, across, box // 2, (box - 1) // 2, grown)
    if tail > 0 and cte_direction != 0:
        with_tails = np.empty_like(flags)
        run_parts(_add_tails, n_parts, flags, grown, tail, int(cte_direction), with_tails)
        grown = with_tails
    return grown.view(np.bool_)
