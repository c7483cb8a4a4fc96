"""Cosmic-ray kernels: hand-made cases, slow references, threads, parameters."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from multidrizzle.errors import ParameterError
from multidrizzle.kernels.cosmic_rays import (
    blot_derivative,
    flag_cosmic_rays,
    grow_cosmic_rays,
)

from support.references.cosmic_rays import (
    astrodrizzle_style_mask,
    derivative_reference,
    flag_reference,
    grow_reference,
)

DEFAULTS = dict(to_electrons=1.0, read_noise=3.0, sky=0.0, snr=(3.5, 3.0), scale=(1.2, 0.7))


def _random_case(seed: int, shape=(61, 47), dtype=np.float32, peak=300.0):
    """A smooth-ish model with Poisson-like noise, outliers, NaNs and invalid pixels."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    model = 40 + peak * np.exp(-((rows - 20.3) ** 2 + (cols - 30.7) ** 2) / 8.0)
    science = model + rng.normal(0.0, np.sqrt(model + 9.0))
    hits = rng.random(shape) < 0.03
    science[hits] += rng.uniform(5.0, 400.0, hits.sum())
    science[rng.random(shape) < 0.01] = np.nan
    model = model.astype(dtype)
    model[rng.random(shape) < 0.005] = np.nan
    valid = rng.random(shape) > 0.02
    return science.astype(dtype), model, valid


# --------------------------------------------------------------- derivative

def test_derivative_is_largest_difference_to_four_neighbours():
    image = np.array([[1.0, 2.0, 4.0],
                      [7.0, 5.0, 5.5],
                      [0.0, 9.0, 3.0]])
    expected = np.array([[6.0, 3.0, 2.0],
                         [7.0, 4.0, 2.5],
                         [9.0, 9.0, 6.0]])
    np.testing.assert_array_equal(blot_derivative(image), expected)


def test_derivative_ignores_diagonals():
    image = np.zeros((3, 3))
    image[0, 0] = image[0, 2] = image[2, 0] = image[2, 2] = 100.0
    assert blot_derivative(image)[1, 1] == 0.0


def test_derivative_skips_nan_neighbours_and_is_nan_on_nan():
    image = np.array([[1.0, np.nan, 1.0],
                      [1.0, 4.0, 1.0],
                      [1.0, 1.0, 1.0]])
    derivative = blot_derivative(image)
    assert np.isnan(derivative[0, 1])
    assert derivative[1, 1] == 3.0
    assert derivative[0, 0] == 0.0  # its only finite neighbour is equal


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_derivative_matches_reference(dtype):
    _, model, _ = _random_case(1, dtype=np.float64)
    if dtype is np.int32:
        model = np.nan_to_num(model).astype(np.int32)
    else:
        model = model.astype(dtype)
    np.testing.assert_array_equal(blot_derivative(model), derivative_reference(model))


# --------------------------------------------------------------- two-pass test

def _skewed_threshold(snr, poisson, read_noise, factor, ratio=0.0):
    """snr sigma of a Poisson count (mean ``poisson`` e-) plus read noise, in data units."""
    variance = poisson + read_noise ** 2
    return (snr * np.sqrt(variance * (1 + ratio))
            + (snr ** 2 - 1) / 6 * poisson / variance) / factor


@pytest.mark.parametrize("skew", [True, False])
def test_threshold_is_snr_times_noise_in_the_data_units(skew):
    # Flat model: derivative 0, so the threshold is snr * sqrt(f|B+s| + r^2) / f,
    # plus the Poisson skewness term (snr^2 - 1)/6 * f|B+s| / (f|B+s| + r^2) / f.
    factor, sky, read_noise, level = 2.0, 30.0, 5.0, 70.0
    poisson = factor * (level + sky)
    threshold = (_skewed_threshold(3.5, poisson, read_noise, factor) if skew
                 else 3.5 * np.sqrt(poisson + read_noise ** 2) / factor)
    model = np.full((5, 5), level)
    for excess, flagged in ((threshold * (1 + 1e-9), True), (threshold * (1 - 1e-9), False)):
        science = model.copy()
        science[2, 2] += excess
        result = flag_cosmic_rays(science, model, np.ones((5, 5), bool), to_electrons=factor,
                                  read_noise=read_noise, sky=sky, snr=(3.5, 3.0), scale=(1.2, 0.7),
                                  skew_correction=skew)
        assert result[2, 2] == flagged
        assert result.sum() == flagged


@pytest.mark.parametrize("snr", [3.5, 1.0])
def test_read_noise_alone_sets_the_lowest_threshold(snr):
    """With no signal at all (model and sky 0) the threshold is snr * read_noise / f
    exactly: the kernel's early exit for small residuals must let a pixel just
    above it through."""
    factor, read_noise = 2.0, 5.0
    threshold = snr * read_noise / factor
    model = np.zeros((5, 5))
    for excess, flagged in ((threshold * (1 + 1e-9), True), (threshold * (1 - 1e-9), False)):
        science = model.copy()
        science[2, 2] += excess
        result = flag_cosmic_rays(science, model, np.ones((5, 5), bool), to_electrons=factor,
                                  read_noise=read_noise, sky=0.0, snr=(snr, snr),
                                  scale=(1.2, 0.7))
        assert result[2, 2] == flagged
        assert result.sum() == flagged


def test_skewness_term_matches_the_poisson_tail():
    """The corrected threshold has the Gaussian tail probability of snr for a
    Poisson count plus read noise (checked against the exact distribution)."""
    from math import erfc, sqrt

    from numpy.random import default_rng

    rng = default_rng(11)
    mean, read_noise = 40.0, 3.0
    counts = rng.poisson(mean, 4_000_000) + rng.normal(0.0, read_noise, 4_000_000) - mean
    for snr in (3.0, 3.5):
        gaussian_tail = 0.5 * erfc(snr / sqrt(2))
        corrected = _skewed_threshold(snr, mean, read_noise, 1.0)
        plain = snr * sqrt(mean + read_noise ** 2)
        assert (counts > corrected).mean() == pytest.approx(gaussian_tail, rel=0.1)
        assert (counts > plain).mean() > 1.5 * gaussian_tail


def test_blot_sky_enters_the_first_test_only():
    """b (the sky the blot holds) is counted again in the first test only."""
    level, read_noise, blot_sky = 50.0, 3.0, 40.0
    model = np.full((9, 9), level)
    first_plain = _skewed_threshold(3.5, level, read_noise, 1.0)
    first_with_sky = _skewed_threshold(3.5, level + blot_sky, read_noise, 1.0)
    science = model.copy()
    science[4, 4] += 0.5 * (first_plain + first_with_sky)   # between the two
    settings = dict(to_electrons=1.0, read_noise=read_noise, sky=0.0, snr=(3.5, 3.0),
                    scale=(1.2, 0.7))
    assert flag_cosmic_rays(science, model, np.ones((9, 9), bool), **settings)[4, 4]
    assert not flag_cosmic_rays(science, model, np.ones((9, 9), bool), **settings,
                                blot_sky=blot_sky).any()
    # the second test keeps the data's own noise: a neighbour of a clear seed
    science[4, 4] = level + 1000.0
    science[4, 5] += 1.02 * _skewed_threshold(3.0, level, read_noise, 1.0)
    found = flag_cosmic_rays(science, model, np.ones((9, 9), bool), **settings,
                             blot_sky=blot_sky)
    assert sorted(zip(*np.nonzero(found))) == [(4, 4), (4, 5)]


def test_derivative_term_raises_the_threshold():
    model = np.full((5, 5), 10.0)
    model[2, 3] = 110.0  # derivative at (2, 2) is 100
    science = model.copy()
    science[2, 2] += _skewed_threshold(3.5, 10.0, 3.0, 1.0) + 1.2 * 100.0 - 0.01
    result = flag_cosmic_rays(science, model, np.ones((5, 5), bool), **DEFAULTS)
    assert not result.any()
    science[2, 2] += 0.02
    assert flag_cosmic_rays(science, model, np.ones((5, 5), bool), **DEFAULTS)[2, 2]


def test_second_pass_applies_only_within_the_3x3_box_of_a_first_pass_pixel():
    model = np.full((9, 9), 16.0)          # sigma = sqrt(16 + 9) = 5
    science = model.copy()
    science[4, 4] += 100.0                 # fails the first test
    second_only = 3.2 * 5.0                # between 3.0 and 3.5 sigma
    science[3, 3] += second_only           # diagonal neighbour: flagged
    science[4, 5] += second_only           # side neighbour: flagged
    science[4, 6] += second_only           # two pixels away: not flagged
    science[0, 0] += second_only           # isolated: not flagged
    result = flag_cosmic_rays(science, model, np.ones((9, 9), bool), **DEFAULTS)
    assert sorted(zip(*np.nonzero(result))) == [(3, 3), (4, 4), (4, 5)]


def test_invalid_pixel_is_neither_flagged_nor_a_seed():
    model = np.full((5, 5), 16.0)
    science = model.copy()
    science[2, 2] += 1000.0
    science[2, 3] += 16.0                  # second-pass level next to the hit
    valid = np.ones((5, 5), bool)
    valid[2, 2] = False
    assert not flag_cosmic_rays(science, model, valid, **DEFAULTS).any()


def test_nan_touches_only_its_own_pixel():
    model = np.full((7, 7), 16.0)
    science = model.copy()
    science[3, 3] += 100.0
    reference = flag_cosmic_rays(science, model, np.ones((7, 7), bool), **DEFAULTS)
    for nan_in_model in (False, True):
        poisoned_science, poisoned_model = science.copy(), model.copy()
        (poisoned_model if nan_in_model else poisoned_science)[3, 4] = np.nan
        result = flag_cosmic_rays(poisoned_science, poisoned_model, np.ones((7, 7), bool),
                                  **DEFAULTS)
        assert not result[3, 4]
        np.testing.assert_array_equal(np.delete(result.ravel(), 3 * 7 + 4),
                                      np.delete(reference.ravel(), 3 * 7 + 4))


@pytest.mark.parametrize("seed", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flags_match_reference(seed, dtype):
    science, model, valid = _random_case(seed, dtype=dtype)
    settings = dict(to_electrons=1.7, read_noise=4.2, sky=12.5, snr=(3.5, 3.0), scale=(1.2, 0.7))
    result = flag_cosmic_rays(science, model, valid, **settings)
    expected = flag_reference(science, model, valid, **settings)
    assert expected.sum() > 20  # the case does exercise both passes
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("seed", [5, 6])
def test_flags_with_model_variance_match_reference(seed):
    science, model, valid = _random_case(seed, dtype=np.float32)
    ratio = np.random.default_rng(seed).choice([0.0, 0.39, 0.5, 1.0], size=science.shape)
    settings = dict(to_electrons=1.7, read_noise=4.2, sky=12.5, snr=(3.5, 3.0),
                    scale=(1.2, 0.7), model_variance=ratio)
    result = flag_cosmic_rays(science, model, valid, **settings)
    expected = flag_reference(science, model, valid, **settings)
    assert expected.sum() > 20
    np.testing.assert_array_equal(result, expected)
    # a scalar acts like the same value everywhere
    uniform = flag_cosmic_rays(science, model, valid, **(settings | {"model_variance": 0.5}))
    np.testing.assert_array_equal(
        uniform, flag_reference(science, model, valid,
                                **(settings | {"model_variance": np.full(model.shape, 0.5)})))


def test_model_variance_scales_the_first_pass_noise():
    # sigma * sqrt(1 + v); v = 3 doubles the Gaussian part of a lone pixel's threshold
    factor, sky, read_noise, level = 2.0, 30.0, 5.0, 70.0
    threshold = _skewed_threshold(3.5, factor * (level + sky), read_noise, factor, ratio=3.0)
    model = np.full((5, 5), level)
    for excess, flagged in ((threshold * (1 + 1e-9), True), (threshold * (1 - 1e-9), False)):
        science = model.copy()
        science[2, 2] += excess
        result = flag_cosmic_rays(science, model, np.ones((5, 5), bool), to_electrons=factor,
                                  read_noise=read_noise, sky=sky, snr=(3.5, 3.0),
                                  scale=(1.2, 0.7), model_variance=3.0)
        assert result[2, 2] == flagged


def test_model_variance_raises_the_second_pass_too():
    model = np.full((9, 9), 16.0)          # sigma = sqrt(16 + 9) = 5
    science = model.copy()
    science[4, 4] += 100.0                 # fails the first test even with v = 3
    science[4, 5] += 1.02 * _skewed_threshold(3.0, 16.0, 3.0, 1.0)   # second pass, v = 0
    result = flag_cosmic_rays(science, model, np.ones((9, 9), bool), **DEFAULTS)
    assert sorted(zip(*np.nonzero(result))) == [(4, 4), (4, 5)]
    with_variance = flag_cosmic_rays(science, model, np.ones((9, 9), bool), **DEFAULTS,
                                     model_variance=3.0)
    assert sorted(zip(*np.nonzero(with_variance))) == [(4, 4)]


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_sharpness_and_core_tests_match_reference(seed):
    science, model, valid = _random_case(seed, dtype=np.float32, peak=20000.0)
    settings = dict(to_electrons=1.3, read_noise=3.5, sky=0.0, blot_sky=40.0,
                    snr=(3.5, 3.0), scale=(1.2, 0.7), model_variance=0.39, sharpness=2.5,
                    peak_ratio=1.0)
    result = flag_cosmic_rays(science, model, valid, **settings)
    expected = flag_reference(science, model, valid, **settings)
    np.testing.assert_array_equal(result, expected)
    without = flag_reference(science, model, valid, **(settings | {"sharpness": 0.0}))
    assert (expected & ~without).any()      # the case does exercise the sharpness test


def _star(shape=(15, 15), centre=(7.0, 7.0), flux=20000.0, sigma=1.0, sky=40.0):
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    return sky + flux / (2 * np.pi * sigma ** 2) * np.exp(
        -((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma ** 2))


STAR_SETTINGS = dict(to_electrons=1.0, read_noise=3.0, sky=0.0, blot_sky=40.0,
                     snr=(3.5, 3.0), scale=(1.2, 0.7), model_variance=0.39)


def test_sharpness_finds_a_cosmic_ray_on_a_star_slope():
    """A 600 e- hit two pixels from a bright star's centre: the derivative
    allowance (1.2 x ~1400 e-/px) hides it from driz_cr's test; its contrast
    with its neighbours does not."""
    model = _star()
    science = model.copy()
    science[7, 9] += 600.0
    hidden = flag_cosmic_rays(science, model, np.ones(model.shape, bool), **STAR_SETTINGS)
    assert not hidden.any()
    found = flag_cosmic_rays(science, model, np.ones(model.shape, bool), **STAR_SETTINGS,
                             sharpness=2.5)
    assert found[7, 9] and found.sum() == 1
    # a bit sharper than the model, not a cosmic ray: a data profile 5% narrower
    narrower = _star(sigma=0.95)
    assert not flag_cosmic_rays(narrower, model, np.ones(model.shape, bool), **STAR_SETTINGS,
                                sharpness=2.5).any()


def test_contrast_uses_the_pair_the_track_does_not_cross():
    """A track on a star slope: its middle pixel's neighbours along the track
    are hit too, the pair across it is not.  Horizontal or vertical, all
    three pixels are found (driz_cr's test alone finds none)."""
    model = _star(sigma=1.5, flux=60000.0)
    for track in ((10, slice(6, 9)), (slice(6, 9), 10)):
        science = model.copy()
        science[track] += 800.0
        assert not flag_cosmic_rays(science, model, np.ones(model.shape, bool),
                                    **STAR_SETTINGS).any()
        found = flag_cosmic_rays(science, model, np.ones(model.shape, bool), **STAR_SETTINGS,
                                 sharpness=2.5)
        assert found[track].all() and found.sum() == 3


def test_core_test_spares_a_sharper_star_core():
    """The data's core 60% above the blotted median's (a smooth, low median
    of few exposures): flagged by driz_cr's test, spared by the core test
    unless the excess reaches peak_ratio times the source level."""
    model = _star(sigma=1.4)
    science = _star(sigma=1.1)              # same flux, sharper: core ~1.6 x higher
    excess = science[7, 7] - model[7, 7]
    source = model[7, 7] - 40.0
    assert 0.4 * source < excess < source
    plain = flag_cosmic_rays(science, model, np.ones(model.shape, bool), **STAR_SETTINGS)
    assert plain[7, 7]
    spared = flag_cosmic_rays(science, model, np.ones(model.shape, bool), **STAR_SETTINGS,
                              peak_ratio=1.0)
    assert not spared.any()
    science[7, 7] += source                 # a cosmic ray on the core
    assert flag_cosmic_rays(science, model, np.ones(model.shape, bool), **STAR_SETTINGS,
                            peak_ratio=1.0)[7, 7]


def test_core_test_reads_the_local_background_not_the_subtracted_sky():
    """Data whose sky was never subtracted (b = 0, B holds 40 e- of sky): a
    hit in the sky is still found, the sharper core still spared."""
    model = _star(sigma=1.4)
    science = _star(sigma=1.1)
    science[2, 2] += 60.0                   # a hit in the sky, not on the star
    settings = STAR_SETTINGS | dict(blot_sky=0.0, peak_ratio=1.0, sharpness=2.5)
    found = flag_cosmic_rays(science, model, np.ones(model.shape, bool), **settings)
    assert sorted(zip(*np.nonzero(found))) == [(2, 2)]


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.full((3, 3), 0.5)])
def test_bad_model_variance_is_refused(bad):
    model = np.full((5, 5), 10.0)
    with pytest.raises((ValueError, ParameterError)):
        flag_cosmic_rays(model, model, np.ones((5, 5), bool), to_electrons=1.0, read_noise=1.0,
                         sky=0.0, snr=(3.5, 3.0), scale=(1.2, 0.7), model_variance=bad)


# --------------------------------------------------------------- growth

def _single(shape=(7, 7), at=(3, 3)):
    mask = np.zeros(shape, bool)
    mask[at] = True
    return mask


def _flagged(mask):
    return sorted((int(r), int(c)) for r, c in zip(*np.nonzero(mask)))


def test_grow_one_changes_nothing():
    mask = _single()
    np.testing.assert_array_equal(grow_cosmic_rays(mask, grow=1), mask)


@pytest.mark.parametrize("grow, first, last", [(2, 3, 4), (3, 2, 4), (4, 2, 5), (5, 1, 5)])
def test_grow_box_extent(grow, first, last):
    result = grow_cosmic_rays(_single(), grow=grow)
    expected = np.zeros((7, 7), bool)
    expected[first:last + 1, first:last + 1] = True
    np.testing.assert_array_equal(result, expected)


def test_cte_tail_direction_and_length():
    plus = grow_cosmic_rays(_single(), ctegrow=2, cte_direction=1)
    minus = grow_cosmic_rays(_single(), ctegrow=2, cte_direction=-1)
    none = grow_cosmic_rays(_single(), ctegrow=2, cte_direction=0)
    assert _flagged(plus) == [(1, 3), (2, 3), (3, 3)]
    assert _flagged(minus) == [(3, 3), (4, 3), (5, 3)]
    assert _flagged(none) == [(3, 3)]


def test_cte_tail_starts_from_the_cosmic_ray_not_the_grown_box():
    result = grow_cosmic_rays(_single((9, 9), (4, 4)), grow=3, ctegrow=3, cte_direction=-1)
    expected = np.zeros((9, 9), bool)
    expected[3:6, 3:6] = True
    expected[5:8, 4] = True
    np.testing.assert_array_equal(result, expected)


def test_growth_stops_at_the_edges():
    corner = grow_cosmic_rays(_single(at=(0, 0)), grow=3, ctegrow=4, cte_direction=1)
    assert _flagged(corner) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    bottom = grow_cosmic_rays(_single(at=(1, 3)), ctegrow=4, cte_direction=-1)
    assert _flagged(bottom) == [(1, 3), (2, 3), (3, 3), (4, 3), (5, 3)]


@pytest.mark.parametrize("grow, ctegrow, direction", [(1, 0, 0), (2, 3, 1), (3, 2, -1), (4, 5, 1)])
def test_growth_matches_reference(grow, ctegrow, direction):
    mask = np.random.default_rng(grow * 10 + ctegrow).random((40, 33)) < 0.02
    np.testing.assert_array_equal(
        grow_cosmic_rays(mask, grow=grow, ctegrow=ctegrow, cte_direction=direction),
        grow_reference(mask, grow=grow, ctegrow=ctegrow, cte_direction=direction))


# --------------------------------------------------------------- against AstroDrizzle's form

@pytest.mark.parametrize("grow, ctegrow, direction", [(1, 0, 0), (3, 2, 1), (2, 3, -1)])
def test_agrees_with_astrodrizzle_convolutions_away_from_edges(grow, ctegrow, direction):
    pytest.importorskip("scipy")
    science, model, _ = _random_case(5, shape=(80, 70), dtype=np.float64)
    science = np.nan_to_num(science, nan=40.0)
    model = np.nan_to_num(model, nan=40.0)
    settings = dict(snr=(3.5, 3.0), scale=(1.2, 0.7), read_noise=3.0, sky=20.0)
    # AstroDrizzle's expression: the same sky in both tests, no skewness term
    detected = flag_cosmic_rays(science, model, np.ones(model.shape, bool), to_electrons=1.0,
                                skew_correction=False, **settings)
    ours = grow_cosmic_rays(detected, grow=grow, ctegrow=ctegrow, cte_direction=direction)
    theirs = astrodrizzle_style_mask(science, model, grow=grow, ctegrow=ctegrow,
                                     cte_direction=direction, **settings)
    margin = 2 + max(grow, ctegrow) + 1
    inner = (slice(margin, -margin), slice(margin, -margin))
    assert theirs[inner].sum() > 20
    np.testing.assert_array_equal(ours[inner], theirs[inner])


# --------------------------------------------------------------- threads

def test_results_do_not_depend_on_the_number_of_threads():
    science, model, valid = _random_case(6, shape=(300, 211))
    settings = dict(to_electrons=1.0, read_noise=3.0, sky=5.0, snr=(3.5, 3.0), scale=(1.2, 0.7))
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS),
                               numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            detected = flag_cosmic_rays(science, model, valid, **settings)
            results.append((blot_derivative(model), detected,
                            grow_cosmic_rays(detected, grow=3, ctegrow=4, cte_direction=-1)))
    finally:
        numba.set_num_threads(before)
    for derivative, detected, grown in results[1:]:
        np.testing.assert_array_equal(derivative, results[0][0])
        np.testing.assert_array_equal(detected, results[0][1])
        np.testing.assert_array_equal(grown, results[0][2])


@pytest.mark.parametrize("n_parts", [2, 3, 7, 13])
def test_row_blocks_match_the_references_at_their_seams(n_parts, monkeypatch):
    """The tests and the growth are one pass per block of rows, each block testing
    (or dilating) the rows beyond its own: any cut into blocks, down to blocks of
    a few rows, gives the slow references' masks."""
    from multidrizzle.kernels import cosmic_rays

    science, model, valid = _random_case(7, shape=(40, 53))
    settings = dict(to_electrons=1.3, read_noise=3.0, sky=5.0, snr=(3.5, 3.0), scale=(1.2, 0.7))
    monkeypatch.setattr(cosmic_rays, "_n_parts", lambda n_rows: n_parts)
    detected = flag_cosmic_rays(science, model, valid, **settings)
    np.testing.assert_array_equal(detected, flag_reference(science, model, valid, **settings))
    for grow, ctegrow, direction in [(3, 0, 0), (4, 3, 1), (2, 5, -1), (1, 4, 1)]:
        np.testing.assert_array_equal(
            grow_cosmic_rays(detected, grow=grow, ctegrow=ctegrow, cte_direction=direction),
            grow_reference(detected, grow=grow, ctegrow=ctegrow, cte_direction=direction))


def test_thresholds_below_one_sigma_match_the_reference():
    """snr < 1 makes the skewness term negative, so a pixel below the model may
    fail a test: the shortcut for such pixels must then not be taken."""
    rng = np.random.default_rng(8)
    # 0.01 e- of model: T = 0.5 * 0.1 - 0.75 / 6 < 0, so data a little below fails
    model = np.full((30, 40), 0.01)
    science = model - np.where(rng.random(model.shape) < 0.3, 0.01, -0.2)
    valid = np.ones(model.shape, dtype=bool)
    settings = dict(to_electrons=1.0, read_noise=0.0, sky=0.0, snr=(0.5, 0.5), scale=(0.0, 0.0))
    result = flag_cosmic_rays(science, model, valid, **settings)
    np.testing.assert_array_equal(result, flag_reference(science, model, valid, **settings))
    assert result[science < model].any()


# --------------------------------------------------------------- checks

def test_shape_and_dtype_checks():
    image = np.zeros((4, 4))
    with pytest.raises(ValueError, match="2-D"):
        blot_derivative(np.zeros(4))
    with pytest.raises(ValueError, match="real numbers"):
        blot_derivative(np.zeros((4, 4), complex))
    with pytest.raises(ValueError, match="shape of science"):
        flag_cosmic_rays(image, np.zeros((4, 5)), np.ones((4, 4), bool), **DEFAULTS)
    with pytest.raises(ValueError, match="valid must have shape"):
        flag_cosmic_rays(image, image, np.ones((3, 4), bool), **DEFAULTS)


@pytest.mark.parametrize("change", [
    dict(to_electrons=0.0), dict(read_noise=-1.0), dict(sky=np.nan), dict(snr=(3.5,)),
    dict(snr=(0.0, 3.0)), dict(scale=(-1.0, 0.7)), dict(snr="3.5 3.0")])
def test_bad_detection_parameters(change):
    image = np.zeros((4, 4))
    with pytest.raises(ParameterError):
        flag_cosmic_rays(image, image, np.ones((4, 4), bool), **{**DEFAULTS, **change})


@pytest.mark.parametrize("change", [dict(grow=0), dict(ctegrow=-1), dict(cte_direction=2),
                                    dict(grow=1.5)])
def test_bad_growth_parameters(change):
    with pytest.raises(ParameterError):
        grow_cosmic_rays(np.zeros((4, 4), bool), **change)
