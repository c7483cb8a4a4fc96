"""Combine kernels: hand-computed cases, numcombine's rules, minmed, references."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from multidrizzle.errors import ParameterError
from multidrizzle.kernels.combine import mean_combine, median_combine, minmed_combine

from support.references.combine import reference_combine, reference_minmed


def column_stack(*pixel_stacks):
    """Stack ``(n_images, 1, n_pixels)`` from per-pixel value lists (one per column)."""
    return np.array(pixel_stacks, dtype=np.float32).T[:, None, :].copy()


def no_bad(images):
    return np.zeros(images.shape, dtype=bool)


# ---------------------------------------------------------------------------
# median / mean, hand-computed
# ---------------------------------------------------------------------------

def test_median_and_mean_of_known_columns():
    images = column_stack([1, 9, 3, 7, 0], [4, 2, 8, 6, 0], [5, 5, 5, 100, 0], [3, 1, 2, 5, 4])
    bad = no_bad(images)
    bad[4, 0, :3] = True  # the zeros never count
    median = median_combine(images, bad)
    mean = mean_combine(images, bad)
    # [1, 9, 3, 7] -> 5 (even: mean of 3 and 7); [4, 2, 8, 6] -> 5; [5, 5, 5, 100] -> 5;
    # [3, 1, 2, 5, 4] -> 3
    np.testing.assert_array_equal(median.image[0], [5.0, 5.0, 5.0, 3.0])
    np.testing.assert_allclose(mean.image[0], [5.0, 5.0, 28.75, 3.0])
    np.testing.assert_array_equal(median.good_counts[0], [4, 4, 4, 5])
    assert median.image.dtype == np.float32 and median.used_minimum is None


def test_mask_excludes_values():
    images = column_stack([1.0, 2.0, 30.0], [1.0, 2.0, 30.0])
    bad = no_bad(images)
    bad[2, 0, 1] = True
    result = median_combine(images, bad)
    np.testing.assert_array_equal(result.image[0], [2.0, 1.5])
    np.testing.assert_array_equal(result.good_counts[0], [3, 2])


def test_nlow_nhigh_reject_extremes():
    images = column_stack([1, 2, 3, 4, 100])
    bad = no_bad(images)
    assert median_combine(images, bad, nhigh=1).image[0, 0] == 2.5  # [1, 2, 3, 4]
    assert median_combine(images, bad, nlow=1, nhigh=1).image[0, 0] == 3.0  # [2, 3, 4]
    assert mean_combine(images, bad, nlow=1, nhigh=1).image[0, 0] == 3.0
    assert mean_combine(images, bad, nlow=2).image[0, 0] == pytest.approx(107 / 3)


def test_nlow_nhigh_reduced_when_few_good_values():
    # numcombine: while nlow + nhigh >= good, both drop by one (while positive).
    images = column_stack([1, 2, 3, 40, 50], [7, 8, 9, 10, 11], [6, 2, 4, 8, 9])
    bad = no_bad(images)
    bad[3:, 0, 0] = True            # 3 good: 1, 2, 3
    bad[1:, 0, 1] = True            # 1 good: 7
    bad[[0, 1, 2], 0, 2] = True     # 2 good: 8, 9
    median = median_combine(images, bad, nlow=1, nhigh=2).image[0]
    mean = mean_combine(images, bad, nlow=1, nhigh=2).image[0]
    # 3 good, (1, 2) -> (0, 1): keep [1, 2]; 1 good -> (0, 0); 2 good -> (0, 1): keep [8]
    np.testing.assert_array_equal(median, [1.5, 7.0, 8.0])
    np.testing.assert_array_equal(mean, [1.5, 7.0, 8.0])


def test_thresholds_low_inclusive_high_exclusive():
    images = column_stack([1.0, 5.0, 10.0, 20.0])
    bad = no_bad(images)
    # lthresh=5 keeps 5; hthresh=20 rejects 20 -> [5, 10]
    assert median_combine(images, bad, lthresh=5.0, hthresh=20.0).image[0, 0] == 7.5
    assert median_combine(images, bad, hthresh=20.0001).image[0, 0] == 7.5
    assert median_combine(images, bad, lthresh=25.0).good_counts[0, 0] == 0


def test_non_finite_values_are_bad():
    images = column_stack([np.nan, 3.0, np.inf, 5.0])
    result = mean_combine(images, no_bad(images))
    assert result.image[0, 0] == 4.0 and result.good_counts[0, 0] == 2


def test_all_bad_pixels_fill_or_take_last_value():
    images = column_stack([1.0, 2.0, 3.0], [4.0, 5.0, np.nan], [7.0, 8.0, 9.0])
    bad = np.ones(images.shape, dtype=bool)
    bad[:, 0, 2] = False
    for combine in (median_combine, mean_combine):
        plain = combine(images, bad).image[0]
        np.testing.assert_array_equal(plain, [0.0, 0.0, 8.0])
        as_nan = combine(images, bad, fillval=np.nan).image[0]
        assert np.isnan(as_nan[:2]).all() and as_nan[2] == 8.0
        # 'i' variants: the last image's value, unless it is not finite.
        last = combine(images, bad, fill_with_last=True, fillval=-1.0).image[0]
        np.testing.assert_array_equal(last, [3.0, -1.0, 8.0])
        assert combine(images, bad, fill_with_last=True).good_counts[0, 0] == 0


def test_uint8_mask_same_as_bool():
    rng = np.random.default_rng(3)
    images = rng.normal(5, 1, (5, 7, 9)).astype(np.float32)
    bad = rng.random(images.shape) < 0.3
    as_bool = median_combine(images, bad, nhigh=1).image
    as_uint8 = median_combine(images, bad.astype(np.uint8), nhigh=1).image
    np.testing.assert_array_equal(as_bool, as_uint8)


@pytest.mark.parametrize("use_mean", [False, True])
@pytest.mark.parametrize("n_images", [1, 2, 3, 4, 7])
def test_median_mean_agree_with_reference(use_mean, n_images):
    rng = np.random.default_rng(10 * n_images + use_mean)
    images = rng.normal(10, 3, (n_images, 9, 11)).astype(np.float32)
    images[rng.random(images.shape) < 0.05] = np.nan
    bad = rng.random(images.shape) < 0.3
    combine = mean_combine if use_mean else median_combine
    for nlow, nhigh in ((0, 0), (0, n_images - 1), (min(1, n_images - 1), 0),
                        (n_images // 3, n_images // 2)):
        if nlow + nhigh >= n_images:
            continue
        for lthresh, hthresh, last in ((None, None, False), (7.0, 13.0, True)):
            got = combine(images, bad, nlow=nlow, nhigh=nhigh, lthresh=lthresh,
                          hthresh=hthresh, fill_with_last=last, fillval=-5.0)
            expected, counts = reference_combine(
                images, bad, use_mean=use_mean, nlow=nlow, nhigh=nhigh, lthresh=lthresh,
                hthresh=hthresh, fill_with_last=last, fillval=-5.0)
            np.testing.assert_allclose(got.image, expected, rtol=1e-6, equal_nan=True)
            np.testing.assert_array_equal(got.good_counts, counts)


# ---------------------------------------------------------------------------
# minmed
# ---------------------------------------------------------------------------

def flat_stack(n_images, shape, level):
    return np.full((n_images,) + shape, level, dtype=np.float32)


def minmed_unit_noise(images, bad, *, grow=1, nsigma=(4.0, 3.0), **kwargs):
    """minmed with weight 1, exposure 1 s, no sky, no read noise: sigma = sqrt(M n)."""
    weights = np.ones(images.shape, dtype=np.float32)
    n = images.shape[0]
    return minmed_combine(images, bad, weights, exptimes=[1.0] * n, sky_electrons=[0.0] * n,
                          read_noises=[0.0] * n, nsigma=nsigma, grow=grow, **kwargs)


def test_minmed_takes_minimum_under_double_cosmic_ray():
    images = flat_stack(3, (5, 5), 100.0)
    images[1, 2, 2] = 5000.0
    images[2, 2, 2] = 4000.0   # two of three images hit: median of the lower two is high
    images[0, 0, 0] = 5000.0   # one hit: the median (without the highest) rejects it
    result = minmed_unit_noise(images, no_bad(images))
    assert result.image[2, 2] == 100.0 and result.used_minimum[2, 2]
    assert result.image[0, 0] == 100.0 and not result.used_minimum[0, 0]
    assert result.used_minimum.sum() == 1
    np.testing.assert_array_equal(result.image, 100.0)


def test_minmed_two_images_uses_mean_then_minimum():
    images = flat_stack(2, (3, 3), 100.0)
    images[0, 1, 1] = 3000.0
    images[1, 0, 0] = 110.0    # mean 105, sigma sqrt(210): 10 < 4 * 14.5, keep the mean
    result = minmed_unit_noise(images, no_bad(images))
    assert result.image[1, 1] == 100.0 and result.used_minimum[1, 1]
    assert result.image[0, 0] == 105.0 and not result.used_minimum[0, 0]


def test_minmed_grow_pass_flags_neighbours():
    # Two images of weight 1: mean M, minimum 100, deficit d = 2 (M - 100) electrons,
    # sigma = sqrt(200 + d).  d = 1000 is 29 sigma; d = 50 is 3.16 sigma: between
    # nsigma2 = 3 and nsigma1 = 4, so taken only near a first-pass pixel.
    images = flat_stack(2, (9, 9), 100.0)
    images[1, 4, 4] = 1100.0
    images[1, 4, 5] = 150.0    # distance 1
    images[1, 2, 4] = 150.0    # distance 2
    images[1, 8, 0] = 150.0    # far away
    bad = no_bad(images)
    grow0 = minmed_unit_noise(images, bad, grow=0)
    grow1 = minmed_unit_noise(images, bad, grow=1)
    grow2 = minmed_unit_noise(images, bad, grow=2)
    assert grow0.used_minimum.sum() == 1 and grow0.used_minimum[4, 4]
    assert grow1.used_minimum.sum() == 2 and grow1.used_minimum[4, 5]
    assert grow1.image[4, 5] == 100.0 and grow1.image[2, 4] == 125.0
    assert grow2.used_minimum.sum() == 3 and grow2.used_minimum[2, 4]
    assert not grow2.used_minimum[8, 0] and grow2.image[8, 0] == 125.0


def test_minmed_nsigma2_above_nsigma1_can_undo_first_pass():
    # drizzlepac tests first-pass pixels again with nsigma2 (the box includes them).
    images = flat_stack(2, (3, 3), 100.0)
    images[1, 1, 1] = 150.0    # 3.16 sigma
    bad = no_bad(images)
    assert minmed_unit_noise(images, bad, nsigma=(3.0, 5.0), grow=0).used_minimum[1, 1]
    assert not minmed_unit_noise(images, bad, nsigma=(3.0, 5.0), grow=1).used_minimum[1, 1]


def test_minmed_all_bad_pixels():
    images = flat_stack(3, (2, 2), 100.0)
    images[2, 0, 1] = 42.0
    bad = no_bad(images)
    bad[:, 0, 1] = True
    plain = minmed_unit_noise(images, bad)
    assert plain.image[0, 1] == 0.0 and plain.good_counts[0, 1] == 0
    assert minmed_unit_noise(images, bad, fill_with_last=True).image[0, 1] == 42.0
    assert np.isnan(minmed_unit_noise(images, bad, fillval=np.nan).image[0, 1])


def test_minmed_single_image_is_that_image():
    images = np.random.default_rng(0).normal(50, 5, (1, 6, 6)).astype(np.float32)
    result = minmed_unit_noise(images, no_bad(images))
    np.testing.assert_array_equal(result.image, images[0])
    assert not result.used_minimum.any()


def test_minmed_noise_terms_shift_the_decision():
    # Mean 120, minimum 100, E = 2: deficit 40 electrons, sigma = sqrt(240) = 15.5,
    # 2.58 sigma: above nsigma = 2.5, the minimum.
    images = flat_stack(2, (1, 1), 100.0)
    images[1] = 140.0
    weights = np.ones(images.shape, np.float32)
    quiet = dict(exptimes=[1.0, 1.0], read_noises=[0.0, 0.0], nsigma=2.5, grow=0)
    no_sky = minmed_combine(images, no_bad(images), weights, sky_electrons=[0, 0], **quiet)
    assert no_sky.used_minimum[0, 0]
    # A sky of 200 electrons per image adds 400 electrons of variance: 1.6 sigma.
    sky = minmed_combine(images, no_bad(images), weights, sky_electrons=[200, 200], **quiet)
    assert not sky.used_minimum[0, 0]
    noisy = dict(quiet, read_noises=[15.0, 15.0])   # + 450: 1.5 sigma
    read = minmed_combine(images, no_bad(images), weights, sky_electrons=[0, 0], **noisy)
    assert not read.used_minimum[0, 0]


def realistic_stack(rng, n_images, shape, exptimes, n_cosmic_rays):
    """Poisson-like electrons/s images with cosmic rays, weights = exposure time."""
    sky_rate, source_rate = 2.0, 20.0
    rate = sky_rate + source_rate * rng.random(shape)
    images = np.empty((n_images,) + shape, dtype=np.float32)
    weights = np.empty_like(images)
    for k, exptime in enumerate(exptimes):
        electrons = rng.poisson(rate * exptime) + rng.normal(0, 4.0, shape)
        images[k] = electrons / exptime - sky_rate
        weights[k] = exptime * rng.uniform(0.8, 1.0, shape)
        rows = rng.integers(0, shape[0], n_cosmic_rays)
        cols = rng.integers(0, shape[1], n_cosmic_rays)
        images[k, rows, cols] += rng.uniform(5, 500, n_cosmic_rays)
    skies = [sky_rate * t for t in exptimes]
    return images, weights, skies


@pytest.mark.parametrize("n_images", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("units", ["cps", "counts"])
def test_minmed_agrees_with_reference(n_images, units):
    rng = np.random.default_rng(100 + n_images)
    exptimes = list(rng.uniform(300, 600, n_images))
    images, weights, skies = realistic_stack(rng, n_images, (14, 13), exptimes, 12)
    if units == "counts":
        images *= np.asarray(exptimes, np.float32)[:, None, None]
    bad = rng.random(images.shape) < 0.15
    weights[bad & (rng.random(images.shape) < 0.5)] = 0.0
    read_noises = list(rng.uniform(3, 5, n_images))
    for grow, nsigma, thresholds, last in ((1, (4.0, 3.0), (None, None), False),
                                           (2, (3.0, 1.5), (-1.0, 1e5), True),
                                           (0, (2.0, 2.0), (None, None), True)):
        kwargs = dict(exptimes=exptimes, sky_electrons=skies, read_noises=read_noises,
                      units=units, nsigma=nsigma, grow=grow, lthresh=thresholds[0],
                      hthresh=thresholds[1], fill_with_last=last, fillval=-3.0)
        got = minmed_combine(images, bad, weights, **kwargs)
        expected, expected_minimum = reference_minmed(images, bad, weights, **kwargs)
        np.testing.assert_allclose(got.image, expected, rtol=1e-6)
        np.testing.assert_array_equal(got.used_minimum, expected_minimum)
        if n_images >= 2:
            assert got.used_minimum.any()


def test_minmed_counts_equal_exposures_match_cps():
    rng = np.random.default_rng(7)
    exptime = 400.0
    images, weights, skies = realistic_stack(rng, 4, (20, 20), [exptime] * 4, 15)
    common = dict(exptimes=[exptime] * 4, sky_electrons=skies, read_noises=[4.0] * 4)
    bad = no_bad(images)
    cps = minmed_combine(images, bad, weights, units="cps", **common)
    counts = minmed_combine(images * np.float32(exptime), bad, weights, units="counts",
                            **common)
    np.testing.assert_array_equal(cps.used_minimum, counts.used_minimum)
    np.testing.assert_allclose(counts.image, cps.image * exptime, rtol=1e-6)


# ---------------------------------------------------------------------------
# Threads, errors
# ---------------------------------------------------------------------------

def test_bit_identical_for_one_and_two_threads():
    rng = np.random.default_rng(11)
    images, weights, skies = realistic_stack(rng, 5, (120, 90), [500.0] * 5, 200)
    bad = rng.random(images.shape) < 0.1
    noise = dict(exptimes=[500.0] * 5, sky_electrons=skies, read_noises=[4.0] * 5)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append((median_combine(images, bad, nhigh=1).image,
                            mean_combine(images, bad, nlow=1).image,
                            minmed_combine(images, bad, weights, **noise).image))
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()


def test_parameter_errors():
    images = np.zeros((3, 4, 4), np.float32)
    bad = no_bad(images)
    weights = np.ones_like(images)
    noise = dict(exptimes=[1.0] * 3, sky_electrons=[0.0] * 3, read_noises=[1.0] * 3)
    with pytest.raises(ParameterError, match="float32"):
        median_combine(images.astype(np.float64), bad)
    with pytest.raises(ParameterError, match="shape"):
        median_combine(images, bad[:2])
    with pytest.raises(ParameterError, match="nhigh"):
        median_combine(images, bad, nlow=1, nhigh=2)
    with pytest.raises(ParameterError, match="read_noises"):
        minmed_combine(images, bad, weights, **dict(noise, read_noises=[1.0]))
    with pytest.raises(ParameterError, match="exptimes"):
        minmed_combine(images, bad, weights, **dict(noise, exptimes=[1.0, 0.0, 1.0]))
    with pytest.raises(ParameterError, match="units"):
        minmed_combine(images, bad, weights, units="DN", **noise)
    with pytest.raises(ParameterError, match="combine_nsigma"):
        minmed_combine(images, bad, weights, nsigma=(4.0, -1.0), **noise)
    with pytest.raises(ParameterError, match="grow"):
        minmed_combine(images, bad, weights, grow=-1, **noise)
