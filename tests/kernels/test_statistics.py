"""Clipped statistics kernels against slow references, numpy and astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import sigma_clip

from multidrizzle.kernels.statistics import (
    clipped_moments,
    clipped_statistic,
    histogram_mode,
    window_median,
)

from support.references.statistics import (
    reference_clipped_moments,
    reference_histogram_mode,
    reference_median,
)


def _sky_with_outliers(seed: int, size: int = 20000, dtype=np.float32) -> np.ndarray:
    """Gaussian sky, a tail of faint sources, hot pixels and a few bad values."""
    rng = np.random.default_rng(seed)
    values = rng.normal(250.0, 7.0, size)
    tail = rng.choice(size, size // 10, replace=False)
    values[tail] += rng.exponential(30.0, tail.size)
    hot = rng.choice(size, 40, replace=False)
    values[hot] = rng.uniform(2000.0, 60000.0, hot.size)
    values = values.astype(dtype)
    values[rng.choice(size, 5, replace=False)] = np.nan
    values[rng.choice(size, 2, replace=False)] = np.inf
    return values


CASES = [
    dict(),
    dict(nclip=3, lsigma=3.0, usigma=3.0),
    dict(nclip=5, lsigma=4.0, usigma=2.0),
    dict(nclip=5, lsigma=1.5, usigma=6.0, lower=200.0),
    dict(nclip=2, upper=300.0),
    dict(nclip=10, lower=240.0, upper=265.0),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_moments_match_reference(case, dtype):
    values = _sky_with_outliers(seed=len(str(case)), dtype=dtype)
    result = clipped_moments(values, **case)
    npix, mean, std, low_value, high_value, low, high = reference_clipped_moments(values, **case)
    assert result.npix == npix
    assert result.mean == pytest.approx(mean, rel=1e-10)
    assert result.stddev == pytest.approx(std, rel=1e-8)
    assert (result.minimum, result.maximum) == (low_value, high_value)
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_median_and_mode_match_reference(case):
    values = _sky_with_outliers(seed=7 + len(str(case)))
    moments = clipped_moments(values, **case)
    median, _ = clipped_statistic(values, "median", binwidth=0.1, **case)
    assert median == reference_median(values, moments.minimum, moments.maximum)
    for binwidth in (0.05, 0.1, 0.3):
        mode, _ = clipped_statistic(values, "mode", binwidth=binwidth, **case)
        expected = reference_histogram_mode(values, moments.minimum, moments.maximum,
                                            binwidth * moments.stddev)
        assert mode == pytest.approx(expected, rel=1e-12)


def test_agrees_with_astropy_sigma_clip_when_windows_only_shrink():
    # Gaussian sky plus high outliers: each window lies inside the previous
    # one, where imagestats' recomputed windows and astropy's cumulative
    # masks select the same pixels.
    rng = np.random.default_rng(11)
    values = rng.normal(1000.0, 12.0, 50000)
    values[rng.choice(values.size, 500, replace=False)] += rng.uniform(100, 5000, 500)
    clipped = sigma_clip(values, sigma_lower=3.0, sigma_upper=2.5, maxiters=None,
                         cenfunc="mean", stdfunc=lambda x, axis=None: np.std(x, axis=axis,
                                                                             ddof=1))
    kept = clipped.compressed()
    ours = clipped_moments(values, nclip=50, lsigma=3.0, usigma=2.5)
    assert ours.npix == kept.size
    assert ours.mean == pytest.approx(kept.mean(), rel=1e-12)
    assert ours.stddev == pytest.approx(kept.std(ddof=1), rel=1e-9)
    median, _ = clipped_statistic(values, "median", nclip=50, lsigma=3.0, usigma=2.5)
    assert median == np.median(kept)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 101, 1000])
def test_window_median_is_numpy_median(size):
    rng = np.random.default_rng(size)
    values = rng.normal(0.0, 1.0, size).astype(np.float32)
    assert window_median(values, values.min(), values.max()) == np.median(
        values.astype(np.float64))


def test_window_median_with_ties_constant_data_and_window():
    rng = np.random.default_rng(5)
    integers = np.round(rng.normal(10.0, 2.0, 100001))  # many equal values
    assert window_median(integers, integers.min(), integers.max()) == np.median(integers)
    assert window_median(np.full(9, 3.5), 3.5, 3.5) == 3.5
    values = np.arange(100.0)
    assert window_median(values, 10.0, 19.0) == 14.5
    assert np.isnan(window_median(values, 200.0, 300.0))
    with pytest.raises(ValueError):
        window_median(values, 5.0, 1.0)


def test_histogram_mode_finds_peak_of_skewed_distribution():
    # the peak of a skewed distribution is below its median and mean
    rng = np.random.default_rng(3)
    sky = rng.normal(100.0, 4.0, 400000)
    sources = 100.0 + rng.exponential(25.0, 200000)
    values = np.concatenate([sky, sources])
    mode, moments = clipped_statistic(values, "mode", nclip=3, lsigma=3.0, usigma=3.0,
                                      binwidth=0.1)
    median, _ = clipped_statistic(values, "median", nclip=3, lsigma=3.0, usigma=3.0)
    assert mode < median < moments.mean
    assert mode == pytest.approx(101.0, abs=1.5)


def test_histogram_mode_parabola_and_edge_bins():
    # counts 1, 3, 2 in bins of width 1 from 0: vertex at 1.5 + 0.5*(2-1)/(2+1)
    values = np.array([0.5, 1.2, 1.5, 1.7, 2.1, 2.9])
    assert histogram_mode(values, 0.0, 2.9, 1.0) == pytest.approx(1.5 + 0.5 / 3)
    # peak in the first bin: its centre
    assert histogram_mode(np.array([0.1, 0.2, 0.3, 2.5]), 0.0, 2.5, 1.0) == 0.5
    # range narrower than a bin: middle of the range
    assert histogram_mode(np.array([1.0, 1.1]), 1.0, 1.1, 1.0) == pytest.approx(1.05)
    assert np.isnan(histogram_mode(np.array([np.nan]), 0.0, 1.0, 0.1))


def test_statistics_of_empty_and_constant_data():
    nothing = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)
    value, moments = clipped_statistic(nothing, "median", nclip=3)
    assert np.isnan(value) and moments.npix == 0
    value, moments = clipped_statistic(np.arange(10.0), "mean", lower=20.0)
    assert np.isnan(value) and moments.npix == 0
    constant = np.full(50, 7.0, dtype=np.float32)
    for statistic in ("mean", "median", "mode"):
        value, moments = clipped_statistic(constant, statistic, nclip=5)
        assert value == 7.0 and moments.stddev == 0.0 and moments.npix == 50


def test_rejects_bad_arguments():
    values = np.arange(10.0)
    with pytest.raises(ValueError):
        clipped_statistic(values, "midpt")
    with pytest.raises(ValueError):
        clipped_moments(values, lower=5.0, upper=1.0)
    with pytest.raises(ValueError):
        clipped_moments(values, nclip=-1)
    with pytest.raises(ValueError):
        clipped_moments(values, nclip=1, lsigma=0.0)
    with pytest.raises(ValueError):
        histogram_mode(values, 0.0, 1e9, 1e-6)  # would need 1e15 bins
