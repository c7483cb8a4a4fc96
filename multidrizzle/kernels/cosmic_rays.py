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
    ``r`` the read noise (e-), ``s`` a sky level that ``D`` holds and ``B``
    lacks (0 when the blot added the subtracted sky back), ``b`` the sky that
    ``B`` holds, and ``v`` the variance of ``B`` relative to that of ``D``::

        T(z, P) = [z * sqrt((P + r**2) * (1 + v)) + (z**2 - 1) / 6 * P / (P + r**2)] / f
        fails_1 = D - B > scale_1 * dB + T(snr_1, f |B + s| + f |b|)
        fails_2 = D - B > scale_2 * dB + T(snr_2, f |B + s|)

    a pixel is a cosmic ray when it fails the second (looser) test and at
    least one pixel of the 3 x 3 box centred on it, itself included, fails the
    first (stricter) test.  ``T(z, P)`` is ``z`` standard deviations of the
    residual ``D - B`` for a Poisson mean of ``P`` electrons: the data's
    Poisson and read noise and the blotted median's own variance (``v``),
    plus the Cornish-Fisher term that moves a Gaussian threshold to the same
    tail probability of a Poisson count plus Gaussian read noise (at 40 e- of
    sky and 3 e- of read noise, 3.5 Gaussian sigma is 3.72 sigma of the
    count).  The first test counts the sky a second time (``|b|``: the
    IRAF/MultiDrizzle ``snr * sqrt(gain*|B + back| + rn**2) / gain`` as
    AstroDrizzle evaluates it, whose ``back`` is the sky the blot already
    added back), see :mod:`multidrizzle.steps.cosmic_rays` for why.
    ``skew_correction=False`` drops the Cornish-Fisher term, and ``v = 0``,
    ``s = b``, ``b = 0`` then give AstroDrizzle's expression in both tests.
    Pixels marked invalid, or where ``D``, ``B`` or ``dB`` is not finite, are
    never tested: they neither fail a test nor lend their neighbours the
    looser threshold.

    The test is one-sided: a cosmic ray only adds charge, so a pixel far
    *below* the blotted median is not one (driz_cr tests ``|D - B|``; its
    low outliers are bad-dark pixels, which the static mask handles).  This
    halves the pure-noise false detections at no cost in recall.

Sharpness test (``sharpness = k > 0``)
    On the slopes of stars and galaxies the derivative allowance
    ``scale * dB`` reaches hundreds of electrons and hides bright cosmic rays
    that AstroDrizzle's test cannot see.  There a pixel's *contrast* tells
    them apart: with ``c(X) = X[y, x] - min(mean(X[y, x-1], X[y, x+1]),
    mean(X[y-1, x], X[y+1, x]))`` (the lower mean of the two opposite pairs of
    valid, finite neighbours, so that a track along one axis does not hide
    itself), a smooth slope has ``c = 0`` in the data as in the model, and a
    source's own structure (its peak, the ringing of an interpolated model)
    shows in ``c(B)`` as well.  Where the allowance exceeds the noise
    threshold (``scale_i * dB > T_i``, i.e. on a source's gradient, not in
    the sky) and ``D - B > T_i``, the pixel also fails test ``i`` when::

        c(D) - k * |c(B)| - s * dc(B) > T(snr_i, P_c)   (v = 0)

    with ``dc(B)`` the largest change of ``c(B)`` to a 4-neighbour and ``s``
    = :data:`SHARPNESS_SHIFT_PIXELS` (the contrast a slightly misregistered
    model has there), and ``P_c`` the Poisson mean of ``c(D)``: the pixel's
    plus a quarter of each pair pixel's (read variance ``1.5 r**2``).  The
    test is not made in a source's core: where a pixel of the 3 x 3 box is a
    local maximum of ``B`` (at least its finite in-image 4-neighbours)
    standing more than ``T_1`` above its local background ``L`` (the lowest
    ``B`` within :data:`BACKGROUND_RADIUS` pixels; a median of two or three
    exposures can be far smoother there than one exposure).

Core test (``peak_ratio = p > 0``)
    The median of drizzled images is smoother than one exposure and, from
    few exposures (minmed takes their minimum), lower at a sharp core: a
    star's core pixels exceed their blotted median by a fraction of the
    star, which the derivative allowance does not always cover.  In a
    source's core (the same 3 x 3 box about a local maximum of ``B`` standing
    ``T_1`` above its local background), a pixel that itself stands out of
    its local background (``B - L > T_1``) fails neither test unless
    ``D - B >= p * (B - L)``: a cosmic ray on a core must raise it by at
    least that fraction.  (The local background, not the subtracted sky,
    so that data whose sky was never subtracted are treated alike.)

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

Every pass writes each output pixel from its own neighbourhood only, over
blocks of rows run in parallel (`multidrizzle.kernels._parallel`), so results
are bit-identical for any number of threads.  The two tests are one pass
(each block keeps the test results of three rows and also tests the row on
either side of it), and so are the box growth and the CTE tails (each block
keeps the rows of one box dilated along x).  Arithmetic is in float64.
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
    "SHARPNESS_SHIFT_PIXELS",
    "BACKGROUND_RADIUS",
    "blot_derivative",
    "flag_cosmic_rays",
    "grow_cosmic_rays",
]

#: Half-width of the box in which a first-pass detection lets the looser
#: second-pass threshold apply: AstroDrizzle convolves the first-pass mask
#: with a 3 x 3 kernel of ones.
SECOND_PASS_RADIUS = 1

#: Misregistration (pixels) between an exposure and its blotted median that
#: the sharpness test allows for: the model's contrast may be off by this
#: fraction of its largest change to a 4-neighbour.  (A 0.2-pixel shift of a
#: bright, undersampled star makes its wings' contrast look sharp.)
SHARPNESS_SHIFT_PIXELS = 0.15

#: Radius (pixels) of the box whose lowest blotted-median value is a source's
#: local background for the core test: a star's wings 2 pixels out are a few
#: per cent of its peak.
BACKGROUND_RADIUS = 2

#: Accepted readout directions (drizzlepac ``cte_dir``).
CTE_DIRECTIONS: tuple[int, ...] = (-1, 0, 1)

# Bits of the per-pixel test result.
_FAILS_FIRST = np.uint8(1)
_FAILS_SECOND = np.uint8(2)


# ---------------------------------------------------------------------------
# Per-pixel building blocks
#
# Only the helpers every tested pixel calls are inlined in numba's IR
# (``inline="always"``).  The source-core and sharpness helpers run for the
# few pixels a derivative allowance hides, and the row test is called once a
# row: inlining them copied their IR into every call site (the core test
# alone twice, the pair contrast five times, the row test twice), which made
# the first compile of `flag_cosmic_rays` take minutes of CPU per dtype.  As
# separate functions the compile takes seconds (``python
# benchmarks/bench_cold_start.py --table-only``), and the cost of a call
# (reference counts of the arrays passed) falls on rare pixels or per row.
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
def _noise_threshold(snr: float, poisson: float, read_variance: float, to_electrons: float,
                     ratio: float, skew: bool) -> float:
    """``snr`` sigma of the residual, in the data units, corrected for Poisson skewness.

    ``poisson`` is the Poisson mean in electrons, ``read_variance`` the read
    noise squared; ``ratio`` the blotted median's variance relative to the
    data's.  The Cornish-Fisher term ``(snr**2 - 1) / 6 * skewness * sigma``
    moves the Gaussian threshold to the same tail probability of a Poisson
    count plus Gaussian read noise (skewness ``poisson / sigma**3``);
    ``skew=False`` leaves it out.
    """
    variance = poisson + read_variance
    if not variance > 0.0:
        return 0.0
    threshold = snr * math.sqrt(variance * (1.0 + ratio))
    if skew:
        threshold += (snr * snr - 1.0) / 6.0 * poisson / variance
    return threshold / to_electrons


# Margin under the smallest threshold, far above its rounding errors (the
# square root of read_noise**2 may come out an ulp under read_noise).
_QUIET_MARGIN = 0.999


@njit(cache=True, inline="always")
def _quiet_residual(to_electrons: float, read_noise: float, snr_first: float,
                    snr_second: float) -> float:
    """A residual at or below which a pixel fails no test, in the data units.

    Every threshold of `_pixel_tests` (`_noise_threshold` of a variance of at
    least the read noise squared, the model's variance ratio >= 0, plus a
    derivative allowance >= 0) is at least ``snr * read_noise``, and the
    sharpness test asks for a residual above the threshold too.  The skew
    term is >= 0 only for ``snr >= 1``: with a smaller ``snr`` every pixel
    is tested (-inf).
    """
    if snr_first < 1.0 or snr_second < 1.0:
        return -math.inf
    return _QUIET_MARGIN * min(snr_first, snr_second) * read_noise / to_electrons


@njit(cache=True, inline="always")
def _usable_neighbour(image, valid, row: int, col: int) -> bool:
    """In the image, valid and finite."""
    n_rows, n_cols = image.shape
    if row < 0 or col < 0 or row >= n_rows or col >= n_cols:
        return False
    return bool(valid[row, col]) and math.isfinite(np.float64(image[row, col]))


@njit(cache=True)
def _is_model_peak(blotted, row: int, col: int) -> bool:
    """True when the blotted median is at least its finite in-image 4-neighbours."""
    centre = np.float64(blotted[row, col])
    n_rows, n_cols = blotted.shape
    seen = False
    for d_row, d_col in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        near_row = row + d_row
        near_col = col + d_col
        if near_row < 0 or near_col < 0 or near_row >= n_rows or near_col >= n_cols:
            continue
        neighbour = np.float64(blotted[near_row, near_col])
        if not math.isfinite(neighbour):
            continue
        seen = True
        if neighbour > centre:
            return False
    return seen


@njit(cache=True)
def _local_background(blotted, row: int, col: int) -> float:
    """The lowest finite blotted-median value in the box of radius
    ``BACKGROUND_RADIUS`` (the pixel's own value if none other is finite)."""
    n_rows, n_cols = blotted.shape
    lowest = np.float64(blotted[row, col])
    for near_row in range(max(row - BACKGROUND_RADIUS, 0),
                          min(row + BACKGROUND_RADIUS + 1, n_rows)):
        for near_col in range(max(col - BACKGROUND_RADIUS, 0),
                              min(col + BACKGROUND_RADIUS + 1, n_cols)):
            value = np.float64(blotted[near_row, near_col])
            if value < lowest:  # False for NaN
                lowest = value
    return lowest


@njit(cache=True)
def _in_source_core(blotted, row: int, col: int, floor: float) -> bool:
    """A local maximum of the blotted median in the 3 x 3 box that stands more
    than ``floor`` above its local background: the pixel is in a source's core."""
    n_rows, n_cols = blotted.shape
    for near_row in range(max(row - 1, 0), min(row + 2, n_rows)):
        for near_col in range(max(col - 1, 0), min(col + 2, n_cols)):
            if (_is_model_peak(blotted, near_row, near_col)
                    and np.float64(blotted[near_row, near_col])
                    - _local_background(blotted, near_row, near_col) > floor):
                return True
    return False


@njit(cache=True)
def _pair_contrast(image, valid, row: int, col: int):
    """``image`` at the pixel minus the lower mean of its opposite 4-neighbour pairs.

    Pairs (left, right) and (below, above) whose two pixels are in the image,
    valid and finite are used; the pair with the lower mean is taken, so that
    a track crossing the pixel along one axis does not hide it.  Returns
    ``(contrast, d_row, d_col)`` with the offset of one pixel of the chosen
    pair, or NaN when no pair is usable.
    """
    centre = np.float64(image[row, col])
    best = math.inf
    best_row = 0
    best_col = 0
    for d_row, d_col in ((0, 1), (1, 0)):
        if (_usable_neighbour(image, valid, row + d_row, col + d_col)
                and _usable_neighbour(image, valid, row - d_row, col - d_col)):
            mean = 0.5 * (np.float64(image[row + d_row, col + d_col])
                          + np.float64(image[row - d_row, col - d_col]))
            if mean < best:
                best = mean
                best_row = d_row
                best_col = d_col
    if best == math.inf:
        return math.nan, 0, 0
    return centre - best, best_row, best_col


@njit(cache=True)
def _model_contrast_allowance(blotted, valid, row: int, col: int, sharpness: float,
                              shift: float) -> float:
    """``k |c(B)| + shift * (largest change of c(B) to a 4-neighbour)``; NaN if none."""
    centre, _, _ = _pair_contrast(blotted, valid, row, col)
    if not math.isfinite(centre):
        return math.nan
    n_rows, n_cols = blotted.shape
    change = 0.0
    for d_row, d_col in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        near_row = row + d_row
        near_col = col + d_col
        if near_row < 0 or near_col < 0 or near_row >= n_rows or near_col >= n_cols:
            continue
        contrast, _, _ = _pair_contrast(blotted, valid, near_row, near_col)
        if math.isfinite(contrast) and abs(contrast - centre) > change:
            change = abs(contrast - centre)
    return sharpness * abs(centre) + shift * change


@njit(cache=True, inline="always")
def _pixel_tests(science, blotted, valid, model_variance, variance_mask, row, col,
                 to_electrons, read_noise, sky, blot_sky, snr_first, snr_second,
                 scale_first, scale_second, sharpness, peak_ratio, skew, quiet_residual):
    """Bits ``_FAILS_FIRST`` / ``_FAILS_SECOND`` of the driz_cr tests at one pixel.

    ``model_variance[row & variance_mask, col & variance_mask]`` is ``v``: a
    mask of -1 reads a full image, 0 the single value of a 1 x 1 array.
    """
    if not valid[row, col]:
        return np.uint8(0)
    data = np.float64(science[row, col])
    model = np.float64(blotted[row, col])
    if not (math.isfinite(data) and math.isfinite(model)):
        return np.uint8(0)
    residual = data - model  # one-sided: cosmic rays add charge
    if residual <= quiet_residual:
        # Below both thresholds whatever the model, its slope and the
        # sharpness and core tests (see `_quiet_residual`): most pixels of a
        # chip; their derivative and square roots are not needed.
        return np.uint8(0)
    slope = _derivative_at(blotted, row, col)
    if not math.isfinite(slope):
        return np.uint8(0)
    ratio = np.float64(model_variance[row & variance_mask, col & variance_mask])
    read_variance = read_noise * read_noise
    poisson = to_electrons * abs(model + sky)
    seed_poisson = poisson + to_electrons * abs(blot_sky)
    first = _noise_threshold(snr_first, seed_poisson, read_variance, to_electrons, ratio, skew)
    second = _noise_threshold(snr_second, poisson, read_variance, to_electrons, ratio, skew)

    fails_first = residual > scale_first * slope + first
    fails_second = residual > scale_second * slope + second
    if sharpness > 0.0 and not (fails_first and fails_second):
        # Where the derivative allowance hides the pixel (source slopes): its
        # excess over its neighbours must be sharper than the model's.
        gated_first = scale_first * slope > first and residual > first
        gated_second = scale_second * slope > second and residual > second
        # not in a source's core, where a median of few exposures can be
        # much smoother than one exposure
        if (gated_first or gated_second) and not _in_source_core(blotted, row, col, first):
            data_contrast, d_row, d_col = _pair_contrast(science, valid, row, col)
            model_contrast = _model_contrast_allowance(blotted, valid, row, col, sharpness,
                                                       SHARPNESS_SHIFT_PIXELS)
            if math.isfinite(data_contrast) and math.isfinite(model_contrast):
                pair_poisson = 0.0
                for sign in (1, -1):
                    pair_poisson += to_electrons * abs(
                        np.float64(blotted[row + sign * d_row, col + sign * d_col]) + sky)
                # variance of the pixel minus its pair's mean, in electrons
                contrast_poisson = poisson + 0.25 * pair_poisson
                contrast_read = 1.5 * read_variance
                excess = data_contrast - model_contrast
                if gated_first and excess > _noise_threshold(
                        snr_first, contrast_poisson, contrast_read, to_electrons, 0.0, skew):
                    fails_first = True
                if gated_second and excess > _noise_threshold(
                        snr_second, contrast_poisson, contrast_read, to_electrons, 0.0, skew):
                    fails_second = True
    if not (fails_first or fails_second):
        return np.uint8(0)
    if peak_ratio > 0.0:
        # a source's core: the median's smoothing, not a cosmic ray
        source = model - _local_background(blotted, row, col)
        if (source > first and residual < peak_ratio * source
                and _in_source_core(blotted, row, col, first)):
            return np.uint8(0)
    result = np.uint8(0)
    if fails_first:
        result |= _FAILS_FIRST
    if fails_second:
        result |= _FAILS_SECOND
    return result


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


@njit(cache=True)
def _test_row(science, blotted, valid, model_variance, variance_mask, row, to_electrons,
              read_noise, sky, blot_sky, snr_first, snr_second, scale_first, scale_second,
              sharpness, peak_ratio, skew, out_row):
    """The per-pixel test bits of one row."""
    quiet_residual = _quiet_residual(to_electrons, read_noise, snr_first, snr_second)
    for col in range(science.shape[1]):
        out_row[col] = _pixel_tests(science, blotted, valid, model_variance, variance_mask,
                                    row, col, to_electrons, read_noise, sky, blot_sky,
                                    snr_first, snr_second, scale_first, scale_second,
                                    sharpness, peak_ratio, skew, quiet_residual)


@njit(cache=True, nogil=True)
def _detect_rows(part, n_parts, science, blotted, valid, model_variance, variance_mask,
                 to_electrons, read_noise, sky, blot_sky, snr_first, snr_second,
                 scale_first, scale_second, sharpness, peak_ratio, skew, cosmic_rays):
    """Both passes in one sweep over the rows of a part: the test bits of three
    rows at a time (row ``r`` in slot ``r % 3``), from which the row in the
    middle is decided.  A part tests the rows on either side of its own as
    well (each pixel's bits depend on its neighbourhood only, so they are
    the same bits the neighbouring part finds), so no chip-sized array of
    bits is written and read back."""
    n_rows, n_cols = science.shape
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    ring = np.zeros((3, n_cols), dtype=np.uint8)
    first_nearby = np.empty(n_cols, dtype=np.uint8)
    if row_lo >= row_hi:
        return
    for row in range(max(row_lo - 1, 0), row_lo + 1):
        _test_row(science, blotted, valid, model_variance, variance_mask, row,
                  to_electrons, read_noise, sky, blot_sky, snr_first, snr_second,
                  scale_first, scale_second, sharpness, peak_ratio, skew, ring[row % 3])
    for row in range(row_lo, row_hi):
        if row + 1 < n_rows:
            _test_row(science, blotted, valid, model_variance, variance_mask, row + 1,
                      to_electrons, read_noise, sky, blot_sky, snr_first, snr_second,
                      scale_first, scale_second, sharpness, peak_ratio, skew,
                      ring[(row + 1) % 3])
        # first-pass failures in the rows of the 3 x 3 box (SECOND_PASS_RADIUS = 1)
        for col in range(n_cols):
            first_nearby[col] = ring[row % 3, col] & _FAILS_FIRST
        if row > 0:
            _or_row_into(first_nearby, ring[(row - 1) % 3])
        if row + 1 < n_rows:
            _or_row_into(first_nearby, ring[(row + 1) % 3])
        current = ring[row % 3]
        for col in range(n_cols):
            near = first_nearby[col]
            if col > 0:
                near |= first_nearby[col - 1]
            if col + 1 < n_cols:
                near |= first_nearby[col + 1]
            cosmic_rays[row, col] = (current[col] & _FAILS_SECOND) != 0 and \
                (near & _FAILS_FIRST) != 0


# The growth kernels work on uint8 views of boolean masks and OR whole
# shifted rows together: branch-free loops that vectorise, where testing
# pixel by pixel would be dominated by mispredicted branches.

@njit(cache=True, inline="always")
def _dilate_row(mask_row, before: int, after: int, out_row):
    """``out_row[x]``: any of ``mask_row[x-before .. x+after]`` (uint8 0/1)."""
    n_cols = mask_row.shape[0]
    for col in range(n_cols):
        out_row[col] = 0
    for offset in range(-before, after + 1):
        # Columns whose neighbour at ``offset`` lies inside the row.
        first = max(-offset, 0)
        last = min(n_cols, n_cols - offset)
        if first < last:
            _or_row_into(out_row[first:last], mask_row[first + offset:last + offset])


@njit(cache=True, inline="always")
def _or_tail_rows(cosmic_rays, row: int, length: int, direction: int, out_row):
    """OR into ``out_row`` the cosmic rays of whose CTE tail row ``row`` is part."""
    n_rows = cosmic_rays.shape[0]
    # A pixel is in the tail of a cosmic ray lying on its amplifier side:
    # larger row indices for direction +1, smaller ones for direction -1.
    if direction > 0:
        first = row + 1
        last = min(row + length, n_rows - 1)
    else:
        first = max(row - length, 0)
        last = row - 1
    for near_row in range(first, last + 1):
        _or_row_into(out_row, cosmic_rays[near_row])


@njit(cache=True, nogil=True)
def _grow_box(part, n_parts, cosmic_rays, before: int, after: int, length: int,
              direction: int, out):
    """``out``: ``cosmic_rays`` dilated by a box reaching ``before`` pixels back and
    ``after`` forward on both axes, with CTE tails of ``length`` rows (0: none) on
    the side set by ``direction``; one sweep over the rows of a part.

    The rows dilated along x are kept for the rows of one box (row ``r`` in
    slot ``r % box``), each made once per part.
    """
    n_rows, n_cols = cosmic_rays.shape
    row_lo, row_hi = part_range(part, n_parts, n_rows)
    if row_lo >= row_hi:
        return
    box = before + after + 1
    across = np.empty((box, n_cols), dtype=np.uint8)
    next_row = max(row_lo - before, 0)  # the next row to dilate along x
    for row in range(row_lo, row_hi):
        newest = min(row + after, n_rows - 1)
        while next_row <= newest:
            _dilate_row(cosmic_rays[next_row], before, after, across[next_row % box])
            next_row += 1
        out_row = out[row]
        for col in range(n_cols):
            out_row[col] = 0
        for near_row in range(max(row - before, 0), newest + 1):
            _or_row_into(out_row, across[near_row % box])
        if length > 0:
            _or_tail_rows(cosmic_rays, row, length, direction, out_row)


@njit(cache=True, nogil=True)
def _add_tails(part, n_parts, cosmic_rays, length: int, direction: int, out):
    """``out = cosmic_rays | tail``, the tail of ``length`` rows on the side set by
    ``direction`` (no box growth)."""
    row_lo, row_hi = part_range(part, n_parts, cosmic_rays.shape[0])
    for row in range(row_lo, row_hi):
        # Element by element: an array-to-array slice assignment would compile
        # numba's shape-mismatch error formatting (seconds of compile time).
        for col in range(out.shape[1]):
            out[row, col] = cosmic_rays[row, col]
        _or_tail_rows(cosmic_rays, row, length, direction, out[row])


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
    blot_sky: float = 0.0,
    sharpness: float = 0.0,
    peak_ratio: float = 0.0,
    skew_correction: bool = True,
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
        Sky level in ``u`` that ``B`` lacks but ``D`` holds (0 when the
        blotted median has the sky added back); added to ``B`` in the
        Poisson term of both tests.
    snr, scale : pair of float
        ``(first, second)`` signal-to-noise thresholds (> 0) and derivative
        scale factors (>= 0): AstroDrizzle's ``driz_cr_snr`` and
        ``driz_cr_scale``.
    model_variance : numpy.ndarray or float, optional
        ``v``: variance of the blotted median relative to the data's, per
        pixel (same shape) or for all pixels, >= 0, counted in both tests.
        0 treats the median as noise-free, as driz_cr does.
    blot_sky : float, optional
        Sky level in ``u`` that ``B`` holds (added back by the blot):
        counted a second time in the first test's Poisson term (AstroDrizzle's
        ``backg``).
    sharpness : float, optional
        ``k`` of the sharpness test (>= 0; 0 switches it off).
    peak_ratio : float, optional
        ``p`` of the core test (>= 0; 0 switches it off).
    skew_correction : bool, optional
        Move the thresholds for the skewness of Poisson counts (the
        default); False gives the plain Gaussian ``snr * sigma`` of driz_cr.

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
    blot_sky_level = _number(blot_sky, "blot_sky", minimum=-math.inf, exclusive=False)
    snr_first, snr_second = _pair(snr, "driz_cr_snr", exclusive=True)
    scale_first, scale_second = _pair(scale, "driz_cr_scale", exclusive=False)
    sharp = _number(sharpness, "driz_cr_sharpness", minimum=0.0, exclusive=False)
    peak = _number(peak_ratio, "driz_cr_peak_ratio", minimum=0.0, exclusive=False)
    variance, variance_mask = _model_variance(model_variance, data.shape)

    cosmic_rays = np.empty(data.shape, dtype=np.bool_)
    run_parts(_detect_rows, _n_parts(data.shape[0]), data, model, testable, variance,
              variance_mask, factor, noise, sky_level, blot_sky_level, snr_first, snr_second,
              scale_first, scale_second, sharp, peak, bool(skew_correction), cosmic_rays)
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
    n_parts = _n_parts(flags.shape[0])
    tail_length = tail if cte_direction != 0 else 0
    if box > 1:
        # A cosmic ray at p flags p - (box-1)//2 .. p + box//2, so a pixel is
        # flagged when a cosmic ray lies box//2 before to (box-1)//2 after it.
        grown = np.empty_like(flags)
        run_parts(_grow_box, n_parts, flags, box // 2, (box - 1) // 2, tail_length,
                  int(cte_direction), grown)
    elif tail_length > 0:
        grown = np.empty_like(flags)
        run_parts(_add_tails, n_parts, flags, tail_length, int(cte_direction), grown)
    else:
        grown = flags.copy()
    return grown.view(np.bool_)
