"""Variance propagation of the drizzle kernels against a slow reference and invariants."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from multidrizzle.errors import ParameterError
from multidrizzle.kernels.drizzle import (
    DRIZZLE_KERNELS,
    drizzle_add_image,
    error_from_variance,
    mean_sum_of_squared_fractions,
    new_context,
    noise_correlation_ratio,
)

from support.geometry import affine_map, frame_map
from support.references.drizzle import reference_variance_sum

CASES = [(k, 1.0) for k in DRIZZLE_KERNELS] + [("square", 0.55), ("square", 1.3),
                                               ("turbo", 0.5), ("gaussian", 0.7),
                                               ("tophat", 1.8)]


def _inputs(shape, seed):
    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, 2.0, shape).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    weights[rng.random(shape) < 0.05] = 0.0
    variance = rng.uniform(0.5, 3.0, shape).astype(np.float32)
    return data, weights, variance


def _drizzled(data, pixmap, out_shape, variance=None, **options):
    sci = np.zeros(out_shape, np.float32)
    wht = np.zeros(out_shape, np.float32)
    ctx = new_context(1, out_shape)
    out_var = None if variance is None else np.zeros(out_shape, np.float32)
    counts = drizzle_add_image(data, pixmap, sci, wht, ctx, variance=variance, out_var=out_var,
                               **options)
    return sci, wht, ctx, out_var, counts


@pytest.mark.parametrize("kernel,pixfrac", CASES)
def test_variance_sums_match_slow_reference(uvis_sip_map, kernel, pixfrac):
    """sum(dow^2 var) of every kernel against the obvious implementation (SIP map,
    zero weights, counts units and every scale factor)."""
    pixmap, out_shape = frame_map(uvis_sip_map((18, 22), origin=(4070, 2030)))
    data, weights, variance = _inputs(pixmap.shape[:2], seed=5)
    options = dict(kernel=kernel, weight_map=weights, pixfrac=pixfrac, wt_scl=2.5,
                   exptime=7.0, in_units="counts", iscale=0.3, pixel_scale_ratio=1.15)
    _, _, _, out_var, _ = _drizzled(data, pixmap, out_shape, variance, **options)
    expected = reference_variance_sum(data, pixmap, out_shape, variance, **options)
    np.testing.assert_allclose(out_var, expected, rtol=0, atol=1e-6 * expected.max())


@pytest.mark.parametrize("pixfrac", [1.0, 0.8])
def test_variance_of_large_drops_over_output_edges(pixfrac):
    """Drops of 2.6 output pixels (the clipped edge path), partly off every edge."""
    data, weights, variance = _inputs((14, 16), seed=6)
    pixmap = affine_map(data.shape, angle_deg=37.0, scale=2.6, shift=(12.0, -9.0))
    out_shape = (38, 33)
    _, _, _, out_var, _ = _drizzled(data, pixmap, out_shape, variance, weight_map=weights,
                                    pixfrac=pixfrac)
    expected = reference_variance_sum(data, pixmap, out_shape, variance, weight_map=weights,
                                      pixfrac=pixfrac)
    np.testing.assert_allclose(out_var, expected, rtol=0, atol=1e-6 * expected.max())


@pytest.mark.parametrize("kernel,pixfrac", CASES)
def test_science_weight_and_context_do_not_change_with_variance(kernel, pixfrac):
    data, weights, variance = _inputs((60, 70), seed=3)
    data[5, 7] = np.nan
    pixmap, out_shape = frame_map(affine_map(data.shape, angle_deg=11.0, scale=0.9,
                                             quadratic=1e-4))
    options = dict(kernel=kernel, weight_map=weights, pixfrac=pixfrac, pixel_scale_ratio=1.1)
    without = _drizzled(data, pixmap, out_shape, **options)
    with_variance = _drizzled(data, pixmap, out_shape, variance, **options)
    for plain, other in zip(without[:3], with_variance[:3]):
        assert plain.tobytes() == other.tobytes()
    assert without[4] == with_variance[4]


@pytest.mark.parametrize("kernel,pixfrac", [("square", 1.0), ("square", 0.7), ("turbo", 1.0),
                                            ("lanczos3", 1.0), ("point", 1.0)])
def test_thread_count_does_not_change_variance(kernel, pixfrac):
    data, weights, variance = _inputs((260, 240), seed=8)
    pixmap, out_shape = frame_map(affine_map(data.shape, angle_deg=-37.0, quadratic=1e-4))
    assert out_shape[0] > 2 * 128
    results = []
    threads_before = numba.get_num_threads()
    try:
        for n_threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n_threads)
            out_var = _drizzled(data, pixmap, out_shape, variance, kernel=kernel,
                                weight_map=weights, pixfrac=pixfrac)[3]
            results.append(out_var.tobytes())
    finally:
        numba.set_num_threads(threads_before)
    assert results[0] == results[1]


def test_error_of_a_weighted_mean_worked_by_hand():
    """Two images on an identity map with the point kernel: each output pixel is
    the weighted mean of two values, whose error is sqrt(w1^2 v1 + w2^2 v2) / (w1 + w2)."""
    shape = (4, 5)
    y, x = np.indices(shape, dtype=np.float64)
    pixmap = np.dstack([x, y])
    sci = np.zeros(shape, np.float32)
    wht = np.zeros(shape, np.float32)
    out_var = np.zeros(shape, np.float32)
    weights = (np.full(shape, 2.0, np.float32), np.full(shape, 3.0, np.float32))
    weights[1][1, 1] = 0.0
    variances = (np.full(shape, 4.0, np.float32), np.full(shape, 9.0, np.float32))
    for w, v in zip(weights, variances):
        drizzle_add_image(np.ones(shape, np.float32), pixmap, sci, wht, kernel="point",
                          weight_map=w, wt_scl=10.0, exptime=2.0, in_units="counts",
                          variance=v, out_var=out_var)
    # counts / exptime: the variance is divided by exptime^2 = 4
    expected = np.full(shape, math.sqrt(20.0 ** 2 * 1.0 + 30.0 ** 2 * 2.25) / 50.0)
    expected[1, 1] = math.sqrt(20.0 ** 2 * 1.0) / 20.0
    np.testing.assert_allclose(error_from_variance(out_var, wht), expected, rtol=1e-6)


def test_error_is_nan_without_weight():
    error = error_from_variance(np.array([[4.0, 0.0]], np.float32),
                                np.array([[2.0, 0.0]], np.float32))
    assert error[0, 0] == 1.0 and np.isnan(error[0, 1])
    assert error.dtype == np.float32


def test_variance_arguments_are_checked():
    data = np.ones((4, 4), np.float32)
    pixmap = np.dstack(np.indices((4, 4), dtype=np.float64)[::-1])
    sci = np.zeros((4, 4), np.float32)
    wht = np.zeros_like(sci)
    with pytest.raises(ValueError, match="give both or neither"):
        drizzle_add_image(data, pixmap, sci, wht, variance=data)
    with pytest.raises(ValueError, match="variance must have the shape"):
        drizzle_add_image(data, pixmap, sci, wht, variance=np.ones((3, 4)),
                          out_var=np.zeros_like(sci))
    with pytest.raises(ValueError, match="out_var must be"):
        drizzle_add_image(data, pixmap, sci, wht, variance=data,
                          out_var=np.zeros((4, 4), np.float64))


# ---------------------------------------------------------------- the R factor

@pytest.mark.parametrize("pixfrac, ratio, expected", [
    (1.0, 1.0, 1.5),            # r = 1: both forms give 3/2
    (0.6, 1.0, 1.0 / 0.8),      # r = 0.6: 1 / (1 - 0.2)
    (1.0, 0.5, 2.0 / (1.0 - 1.0 / 6.0)),  # r = 2: r / (1 - 1 / (3 r))
    (1.0, 2.0, 1.0 / (1.0 - 1.0 / 6.0)),  # r = 0.5
])
def test_fruchter_hook_ratio(pixfrac, ratio, expected):
    for kernel in ("square", "turbo"):
        assert noise_correlation_ratio(kernel, pixfrac, ratio) == pytest.approx(expected)
    # the closed form is the mean over positions of the turbo drop's squared fractions
    numerical = 1.0 / math.sqrt(mean_sum_of_squared_fractions("turbo", pixfrac, ratio))
    assert numerical == pytest.approx(expected, rel=1e-3)
    assert noise_correlation_ratio("point", pixfrac, ratio) == 1.0


# Input pixels are 1 / ratio = whole + step / 128 output pixels apart, so that
# the 128 drops of a row (and of a column) fall at 128 evenly spread sub-pixel
# positions.
@pytest.mark.parametrize("kernel, pixfrac, whole, step", [
    ("square", 1.0, 1, -5), ("square", 1.0, 2, 37), ("square", 0.7, 1, 37),
    ("turbo", 0.8, 1, 83), ("point", 1.0, 1, 37), ("gaussian", 1.0, 1, -5),
    ("gaussian", 0.8, 1, 83), ("lanczos3", 1.0, 1, -5), ("lanczos3", 1.0, 1, 53),
    ("tophat", 1.5, 2, 37)])
def test_ratio_is_that_of_the_kernels_own_weights(kernel, pixfrac, whole, step):
    """With unit weights and variances, sum(wht) / sum(out_var) over the output is
    1 / <sum_k f_k^2> over the drops: R^2 of the weights the kernel really uses."""
    shape = (128, 128)
    ratio = 1.0 / (whole + step / 128.0)
    y, x = np.indices(shape, dtype=np.float64)
    pixmap = np.dstack([x / ratio + 6.3, y / ratio + 6.1])
    out_shape = (int(pixmap[..., 1].max()) + 12, int(pixmap[..., 0].max()) + 12)
    ones = np.ones(shape, np.float32)
    _, wht, _, out_var, _ = _drizzled(ones, pixmap, out_shape, ones, kernel=kernel,
                                      pixfrac=pixfrac, pixel_scale_ratio=ratio)
    measured = math.sqrt(wht.sum(dtype=np.float64) / out_var.sum(dtype=np.float64))
    assert measured == pytest.approx(noise_correlation_ratio(kernel, pixfrac, ratio),
                                     rel=0.01)


def test_ratio_parameters_are_checked():
    with pytest.raises(ParameterError):
        noise_correlation_ratio("boxcar", 1.0, 1.0)
    with pytest.raises(ParameterError):
        noise_correlation_ratio("square", 0.0, 1.0)
