"""Slow, obvious numpy versions of the cosmic-ray kernels, for comparison.

They follow the definitions in :mod:`multidrizzle.kernels.cosmic_rays`
literally: whole-array shifts for the derivative and the tests, and a loop
that *pushes* each cosmic ray's box and tail (the kernels *pull* them).
:func:`astrodrizzle_style_mask` restates drizzlepac's convolution-based
formulation with ``scipy.signal`` so that the sign conventions can be checked
away from the image edges.
"""

from __future__ import annotations

import numpy as np

from multidrizzle.kernels.cosmic_rays import BACKGROUND_RADIUS, SHARPNESS_SHIFT_PIXELS

_NEIGHBOUR_OFFSETS = ((0, -1), (0, 1), (-1, 0), (1, 0))


def shifted(image: np.ndarray, d_row: int, d_col: int, fill) -> np.ndarray:
    """``out[y, x] = image[y + d_row, x + d_col]``, ``fill`` outside the image."""
    n_rows, n_cols = image.shape
    out = np.full(image.shape, fill, dtype=image.dtype)
    rows_out = slice(max(-d_row, 0), n_rows - max(d_row, 0))
    cols_out = slice(max(-d_col, 0), n_cols - max(d_col, 0))
    rows_in = slice(max(d_row, 0), n_rows - max(-d_row, 0))
    cols_in = slice(max(d_col, 0), n_cols - max(-d_col, 0))
    out[rows_out, cols_out] = image[rows_in, cols_in]
    return out


def derivative_reference(image: np.ndarray) -> np.ndarray:
    """Largest |difference| to the finite 4-neighbours inside the image."""
    values = np.asarray(image, dtype=np.float64)
    largest = np.zeros(values.shape)
    with np.errstate(invalid="ignore"):
        for d_row, d_col in _NEIGHBOUR_OFFSETS:
            neighbour = shifted(values, d_row, d_col, np.nan)
            difference = np.abs(values - neighbour)
            usable = np.isfinite(neighbour) & np.isfinite(difference)
            largest = np.where(usable & (difference > largest), difference, largest)
    largest[~np.isfinite(values)] = np.nan
    return largest


def _threshold(snr, poisson, read_variance, to_electrons, ratio, skew):
    """``T(z, P)`` of the module notes, whole arrays."""
    variance = poisson + read_variance
    with np.errstate(invalid="ignore", divide="ignore"):
        threshold = snr * np.sqrt(variance * (1.0 + ratio))
        if skew:
            threshold = threshold + (snr * snr - 1.0) / 6.0 * poisson / variance
    return np.where(variance > 0, threshold, 0.0) / to_electrons


def contrast_reference(image, valid):
    """``c(X)`` and the offset of the chosen pair: pixel minus the lower pair mean."""
    values = np.asarray(image, dtype=np.float64)
    usable = np.asarray(valid, dtype=bool) & np.isfinite(values)
    best = np.full(values.shape, np.inf)
    offset = np.zeros(values.shape + (2,), dtype=int)
    for d_row, d_col in ((0, 1), (1, 0)):
        ahead = shifted(values, d_row, d_col, np.nan)
        behind = shifted(values, -d_row, -d_col, np.nan)
        both = shifted(usable, d_row, d_col, False) & shifted(usable, -d_row, -d_col, False)
        mean = np.where(both, 0.5 * (np.nan_to_num(ahead) + np.nan_to_num(behind)), np.inf)
        lower = mean < best
        best = np.where(lower, mean, best)
        offset[lower] = (d_row, d_col)
    contrast = np.where(np.isfinite(best), values - best, np.nan)
    return contrast, offset


def local_background_reference(model):
    """The lowest finite B within BACKGROUND_RADIUS pixels (a square box, in the image)."""
    values = np.asarray(model, dtype=np.float64)
    lowest = values.copy()
    reach = BACKGROUND_RADIUS
    with np.errstate(invalid="ignore"):
        for d_row in range(-reach, reach + 1):
            for d_col in range(-reach, reach + 1):
                near = shifted(values, d_row, d_col, np.nan)
                lowest = np.where(near < lowest, near, lowest)
    return lowest


def model_peak_reference(model):
    """B at least its finite in-image 4-neighbours, with at least one of them."""
    values = np.asarray(model, dtype=np.float64)
    peak = np.ones(values.shape, dtype=bool)
    seen = np.zeros(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for d_row, d_col in _NEIGHBOUR_OFFSETS:
            neighbour = shifted(values, d_row, d_col, np.nan)
            finite = np.isfinite(neighbour)
            seen |= finite
            peak &= ~(finite & (neighbour > values))
    return peak & seen


def flag_reference(science, blotted, valid, *, to_electrons, read_noise, sky, snr, scale,
                   model_variance=0.0, blot_sky=0.0, sharpness=0.0, peak_ratio=0.0,
                   skew_correction=True):
    """Two-pass driz_cr test with the sharpness and core tests, whole-array arithmetic."""
    data = np.asarray(science, dtype=np.float64)
    model = np.asarray(blotted, dtype=np.float64)
    slope = derivative_reference(blotted)
    ratio = np.broadcast_to(np.asarray(model_variance, dtype=np.float64), data.shape)
    read_variance = read_noise * read_noise
    with np.errstate(invalid="ignore"):
        testable = (np.asarray(valid, dtype=bool) & np.isfinite(data) & np.isfinite(model)
                    & np.isfinite(slope))
        residual = data - model
        poisson = to_electrons * np.abs(model + sky)
        first = _threshold(snr[0], poisson + to_electrons * abs(blot_sky), read_variance,
                           to_electrons, ratio, skew_correction)
        second = _threshold(snr[1], poisson, read_variance, to_electrons, ratio,
                            skew_correction)
        fails_first = residual > scale[0] * slope + first
        fails_second = residual > scale[1] * slope + second
        peak = model_peak_reference(model)
        background = local_background_reference(model)
        # 3 x 3 boxes about local maxima of B standing ``first`` above their background
        core = np.zeros(data.shape, dtype=bool)
        for d_row in (-1, 0, 1):
            for d_col in (-1, 0, 1):
                height = shifted(model - background, d_row, d_col, np.nan)
                core |= shifted(peak, d_row, d_col, False) & (height > first)
        if sharpness > 0:
            data_contrast, offset = contrast_reference(data, valid)
            model_contrast, _ = contrast_reference(model, valid)
            change = np.zeros(data.shape)
            for d_row, d_col in _NEIGHBOUR_OFFSETS:
                near = shifted(model_contrast, d_row, d_col, np.nan)
                step = np.abs(near - model_contrast)
                change = np.where(np.isfinite(near) & (step > change), step, change)
            pair_poisson = np.zeros(data.shape)
            for sign in (1, -1):
                for d_row, d_col in ((0, 1), (1, 0)):
                    chosen = (offset[..., 0] == d_row) & (offset[..., 1] == d_col)
                    neighbour = shifted(model, sign * d_row, sign * d_col, np.nan)
                    pair_poisson += np.where(chosen, to_electrons * np.abs(neighbour + sky), 0.0)
            contrast_poisson = poisson + 0.25 * pair_poisson
            excess = (data_contrast - sharpness * np.abs(model_contrast)
                      - SHARPNESS_SHIFT_PIXELS * change)
            for threshold, test_snr, test_scale, fails in ((first, snr[0], scale[0], fails_first),
                                                          (second, snr[1], scale[1], fails_second)):
                gated = (test_scale * slope > threshold) & (residual > threshold) & ~core
                sharp = excess > _threshold(test_snr, contrast_poisson, 1.5 * read_variance,
                                            to_electrons, 0.0, skew_correction)
                fails |= gated & np.isfinite(excess) & sharp
        if peak_ratio > 0:
            source = model - background
            spared = core & (source > first) & (residual < peak_ratio * source)
            fails_first &= ~spared
            fails_second &= ~spared
        fails_first &= testable
        fails_second &= testable
    first_nearby = np.zeros(data.shape, dtype=bool)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):
            first_nearby |= shifted(fails_first, d_row, d_col, False)
    return fails_second & first_nearby


def grow_reference(cr_mask, *, grow, ctegrow, cte_direction):
    """Push a box of side ``grow`` and a tail of ``ctegrow`` rows from each cosmic ray."""
    mask = np.asarray(cr_mask, dtype=bool)
    n_rows, n_cols = mask.shape
    grown = mask.copy()
    for row, col in zip(*np.nonzero(mask)):
        grown[max(row - (grow - 1) // 2, 0):row + grow // 2 + 1,
              max(col - (grow - 1) // 2, 0):col + grow // 2 + 1] = True
        for step in range(1, ctegrow + 1):
            tail_row = row - cte_direction * step
            if cte_direction != 0 and 0 <= tail_row < n_rows:
                grown[tail_row, col] = True
    return grown


def astrodrizzle_style_mask(science, blotted, *, snr, scale, read_noise, sky,
                            grow, ctegrow, cte_direction, one_sided=True):
    """drizzlepac's driz_cr restated with scipy convolutions (True = cosmic ray).

    Data in electrons (effective gain 1).  The edges differ from the kernels
    (zero-padded derivative frame, reflected convolutions), so compare away
    from them.  drizzlepac tests ``|D - B|``; ``one_sided=True`` tests
    ``D - B`` as multidrizzle does (cosmic rays only add charge).
    """
    from scipy import signal

    data = np.asarray(science, dtype=np.float64)
    model = np.asarray(blotted, dtype=np.float64)
    slope = derivative_reference(model)
    residual = data - model if one_sided else np.abs(data - model)
    sigma = np.sqrt(np.abs(model + sky) + read_noise ** 2)
    passes_first = residual <= scale[0] * slope + snr[0] * sigma
    good_count = signal.convolve2d(passes_first, np.ones((3, 3), dtype=np.uint16),
                                   boundary="symm", mode="same")
    good = (residual <= scale[1] * slope + snr[1] * sigma) | (good_count >= 9)

    box_count = signal.convolve2d(good, np.ones((grow, grow), dtype=np.uint16),
                                  boundary="symm", mode="same")
    tail_kernel = np.zeros((2 * ctegrow + 1, 2 * ctegrow + 1))
    if cte_direction == 1:
        tail_kernel[:ctegrow, ctegrow] = 1
    elif cte_direction == -1:
        tail_kernel[ctegrow + 1:, ctegrow] = 1
    tail_count = signal.convolve2d(good, tail_kernel, boundary="symm", mode="same")
    good = (box_count >= grow ** 2) & (tail_count >= ctegrow)
    return ~good
