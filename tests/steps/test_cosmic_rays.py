"""Step 6 (driz_cr): recovery of injected cosmic rays on a synthetic chip, masks, outputs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import ParameterError
from multidrizzle.steps.cosmic_rays import (
    cosmic_ray_clean,
    detect_cosmic_rays,
    electrons_per_unit,
    update_dq,
)
from multidrizzle.io.intermediates import write_crclean, write_crmask

SKY = 12.0            # e- per pixel
READ_NOISE = 3.1      # e-
PSF_SIGMA = 0.9       # pixels (FWHM ~2.1 px, an undersampled HST PSF)
MISREGISTRATION = 0.2  # pixels between the stars of the chip and of the median
CR_THRESHOLD = 30.0   # e-: cosmic-ray pixels above this must be recovered
STAR_PIXEL = 50.0     # e-: pixels brighter than this (sky excluded) are "on a star"

_erf = np.vectorize(math.erf)


# --------------------------------------------------------------- synthetic chip

@dataclass
class Chip:
    """A synthetic exposure in electrons with its blotted median and the truth."""

    science: np.ndarray        # Poisson(scene + sky) + read noise + cosmic rays
    blotted_median: np.ndarray  # noiseless scene with stars shifted, + sky
    cosmic_rays: np.ndarray    # injected charge (e-)
    scene: np.ndarray          # noiseless scene without sky

    def run(self, **overrides) -> np.ndarray:
        arguments = dict(good_mask=None, static_mask=None, gain=1.5, read_noise=READ_NOISE,
                         exptime=500.0, sky=SKY, units="electrons")
        arguments.update(overrides)
        return detect_cosmic_rays(self.science, self.blotted_median, **arguments)


def _pixel_fractions(n_pixels: int, centre: float, sigma: float) -> np.ndarray:
    """Fraction of a 1-D Gaussian falling in each pixel (pixel i spans i +/- 0.5)."""
    edges = (np.arange(n_pixels + 1) - 0.5 - centre) / (sigma * math.sqrt(2.0))
    return np.diff(0.5 * _erf(edges))


def _render_stars(shape, x, y, flux, half_width=8) -> np.ndarray:
    image = np.zeros(shape)
    for x_star, y_star, flux_star in zip(x, y, flux):
        rows = slice(max(int(round(y_star)) - half_width, 0), int(round(y_star)) + half_width + 1)
        cols = slice(max(int(round(x_star)) - half_width, 0), int(round(x_star)) + half_width + 1)
        image[rows, cols] += flux_star * np.outer(
            _pixel_fractions(shape[0], y_star, PSF_SIGMA)[rows],
            _pixel_fractions(shape[1], x_star, PSF_SIGMA)[cols])
    return image


def _render_galaxies(shape, rng, count) -> np.ndarray:
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    image = np.zeros(shape)
    for _ in range(count):
        x, y = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        sigma, flux = rng.uniform(2.0, 6.0), rng.uniform(2e3, 5e4)
        image += flux / (2 * np.pi * sigma ** 2) * np.exp(
            -((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma ** 2))
    return image


def _cosmic_ray_charge(shape, rng, count) -> np.ndarray:
    """Straight tracks of 1-8 pixels, 150-3000 e- per pixel, 8% diffusing to each side."""
    charge = np.zeros(shape)
    for _ in range(count):
        length = int(rng.integers(1, 9))
        angle = rng.uniform(0.0, np.pi)
        steps = np.arange(length)
        cols = np.clip(np.round(rng.uniform(0, shape[1]) + steps * np.cos(angle)).astype(int),
                       0, shape[1] - 1)
        rows = np.clip(np.round(rng.uniform(0, shape[0]) + steps * np.sin(angle)).astype(int),
                       0, shape[0] - 1)
        np.add.at(charge, (rows, cols), np.exp(rng.uniform(np.log(150), np.log(3000), length)))
    diffusion = 0.08
    padded = np.pad(charge, 1)
    return charge * (1 - 4 * diffusion) + diffusion * (
        padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:])


def make_chip(seed: int, shape=(512, 512), n_stars=80, n_cosmic_rays=450) -> Chip:
    rng = np.random.default_rng(seed)
    x = rng.uniform(5, shape[1] - 6, n_stars)
    y = rng.uniform(5, shape[0] - 6, n_stars)
    flux = np.exp(rng.uniform(np.log(500.0), np.log(3e5), n_stars))
    direction = rng.uniform(0.0, 2 * np.pi, n_stars)
    galaxies = _render_galaxies(shape, rng, 10)
    scene = _render_stars(shape, x, y, flux) + galaxies
    median_scene = _render_stars(shape, x + MISREGISTRATION * np.cos(direction),
                                 y + MISREGISTRATION * np.sin(direction), flux) + galaxies
    cosmic_rays = _cosmic_ray_charge(shape, rng, n_cosmic_rays)
    science = (rng.poisson(scene + SKY) + rng.normal(0.0, READ_NOISE, shape) + cosmic_rays)
    return Chip(science.astype(np.float32), (median_scene + SKY).astype(np.float32),
                cosmic_rays, scene)


@pytest.fixture(scope="module")
def chip() -> Chip:
    return make_chip(seed=11)


@pytest.fixture(scope="module")
def stars_only() -> Chip:
    return make_chip(seed=12, n_stars=150, n_cosmic_rays=0)


# --------------------------------------------------------------- detection quality

def test_recovers_injected_cosmic_rays(chip):
    found = chip.run()
    strong = chip.cosmic_rays > CR_THRESHOLD
    clean = chip.cosmic_rays == 0
    assert strong.sum() > 3000
    recall = found[strong].mean()
    false_positive_rate = found[clean].mean()
    assert recall >= 0.97, f"recall {recall:.4f}"
    assert false_positive_rate < 0.002, f"false positives {false_positive_rate:.5f}"


def test_misregistered_star_cores_are_not_flagged(stars_only):
    on_stars = stars_only.scene > STAR_PIXEL
    assert on_stars.sum() > 2000
    assert stars_only.run()[on_stars].mean() < 0.002


def test_without_the_derivative_term_star_cores_would_be_flagged(stars_only):
    # The control for the test above: the 0.2-pixel misregistration is large
    # enough to matter, and only the derivative term keeps it out of the mask.
    on_stars = stars_only.scene > STAR_PIXEL
    assert stars_only.run(driz_cr_scale=(0.0, 0.0))[on_stars].mean() > 0.05


def test_sharpness_finds_cosmic_rays_on_star_slopes():
    """driz_cr_sharpness (default 2.5): hits on a bright star's slope, hidden
    by the derivative allowance, are found; 0 gives AstroDrizzle's test."""
    shape = (31, 31)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    blotted = SKY + 60000.0 / (2 * np.pi * 1.5 ** 2) * np.exp(
        -((rows - 15.0) ** 2 + (cols - 15.0) ** 2) / (2 * 1.5 ** 2))
    science = blotted.copy()
    track = [(18, 14), (18, 15), (18, 16)]
    for hit in track:
        science[hit] += 800.0
    common = dict(good_mask=None, static_mask=None, gain=1.0, read_noise=READ_NOISE,
                  exptime=1.0, sky=0.0, blot_sky=SKY, units="electrons")
    found = detect_cosmic_rays(science, blotted, **common)
    assert sorted(zip(*np.nonzero(found))) == track
    assert not detect_cosmic_rays(science, blotted, driz_cr_sharpness=0.0, **common).any()


def test_sharpness_adds_no_flag_on_misregistered_stars(stars_only):
    on_stars = stars_only.scene > STAR_PIXEL
    np.testing.assert_array_equal(stars_only.run()[on_stars],
                                  stars_only.run(driz_cr_sharpness=0.0)[on_stars])


def _smooth_median_chip(seed: int) -> Chip:
    """Stars whose median is smoother than the data (sigma 1.25 against 0.9
    pixel), as a median of a few drizzled exposures is, and no cosmic rays."""
    rng = np.random.default_rng(seed)
    shape = (256, 256)
    x, y = rng.uniform(10, 246, 40), rng.uniform(10, 246, 40)
    flux = np.exp(rng.uniform(np.log(2e3), np.log(3e5), 40))
    scene = _render_stars(shape, x, y, flux)
    global PSF_SIGMA
    sharp_sigma, PSF_SIGMA = PSF_SIGMA, 1.25
    try:
        smooth = _render_stars(shape, x, y, flux)
    finally:
        PSF_SIGMA = sharp_sigma
    science = rng.poisson(scene + SKY) + rng.normal(0.0, READ_NOISE, shape)
    return Chip(science.astype(np.float32), (smooth + SKY).astype(np.float32),
                np.zeros(shape), scene)


def test_peak_ratio_spares_star_cores_of_a_smoother_median():
    stars = _smooth_median_chip(13)
    on_stars = stars.scene > STAR_PIXEL
    assert not stars.run()[on_stars].any()
    unprotected = stars.run(driz_cr_peak_ratio=0.0)
    assert unprotected[on_stars].sum() >= 5


def test_larger_thresholds_flag_fewer_pixels(chip):
    default = chip.run()
    strict = chip.run(driz_cr_snr=(5.0, 4.5))
    assert strict.sum() < default.sum()
    assert not (strict & ~default).any()


# --------------------------------------------------------------- masks and NaN

def test_statically_masked_pixels_are_not_reported(chip):
    static_mask = np.zeros(chip.science.shape, bool)   # True = rejected
    static_mask[100:200, 100:200] = True
    found = chip.run(static_mask=static_mask)
    assert not found[static_mask].any()
    assert chip.run()[static_mask].sum() > 50  # there were cosmic rays to hide
    far = np.ones(static_mask.shape, bool)
    far[97:203, 97:203] = False                # beyond the 3 x 3 second-pass reach
    np.testing.assert_array_equal(found[far], chip.run()[far])


def test_dq_bad_pixels_are_not_reported(chip):
    reference = chip.run()
    good_mask = np.random.default_rng(3).random(chip.science.shape) > 0.05
    given = good_mask.copy()
    found = chip.run(good_mask=good_mask)
    np.testing.assert_array_equal(good_mask, given)   # the caller's mask is untouched
    assert reference[~good_mask].sum() > 20
    assert not found[~good_mask].any()
    assert found[chip.cosmic_rays > CR_THRESHOLD].mean() > 0.9


def test_growth_does_not_reach_masked_pixels():
    science = np.full((9, 9), 20.0)
    science[4, 4] = 5000.0
    static_mask = np.zeros((9, 9), bool)
    static_mask[3, :] = True
    found = detect_cosmic_rays(science, np.full((9, 9), 20.0), good_mask=None,
                               static_mask=static_mask, gain=1.0, read_noise=3.0, exptime=1.0,
                               sky=0.0, units="electrons", driz_cr_grow=3, driz_cr_ctegrow=2,
                               cte_direction=1)
    expected = np.zeros((9, 9), bool)
    expected[4:6, 3:6] = True
    expected[2, 4] = True                      # tail beyond the masked row
    np.testing.assert_array_equal(found, expected)


def test_nan_pixels_do_not_spoil_others(chip):
    reference = chip.run()
    rng = np.random.default_rng(4)
    science = chip.science.copy()
    blotted = chip.blotted_median.copy()
    nan_science = rng.random(science.shape) < 0.002
    nan_blotted = rng.random(science.shape) < 0.002
    science[nan_science] = np.nan
    blotted[nan_blotted] = np.nan
    found = detect_cosmic_rays(science, blotted, good_mask=None, static_mask=None, gain=1.5,
                               read_noise=READ_NOISE, exptime=500.0, sky=SKY,
                               units="electrons")
    poisoned = nan_science | nan_blotted
    assert not found[poisoned].any()
    # Only the 5 x 5 neighbourhood of a NaN (derivative + second-pass reach)
    # can change; everything beyond it is exactly as before.
    near = np.zeros(poisoned.shape, bool)
    for d_row in range(-2, 3):
        for d_col in range(-2, 3):
            near |= np.roll(np.roll(poisoned, d_row, axis=0), d_col, axis=1)
    np.testing.assert_array_equal(found[~near], reference[~near])
    strong = chip.cosmic_rays > CR_THRESHOLD
    assert found[strong & ~poisoned].mean() >= 0.97


def test_cosmic_ray_next_to_a_nan_in_the_median_is_found():
    blotted = np.full((7, 7), 20.0)
    blotted[3, 4] = np.nan
    science = np.full((7, 7), 20.0)
    science[3, 3] = 600.0
    found = detect_cosmic_rays(science, blotted, good_mask=None, static_mask=None, gain=1.0,
                               read_noise=3.0, exptime=1.0, sky=0.0, units="electrons")
    assert found[3, 3] and found.sum() == 1


# --------------------------------------------------------------- growth through the step

def _one_hit(shape=(9, 9), at=(4, 4)):
    science = np.full(shape, 20.0)
    science[at] = 5000.0
    return science, np.full(shape, 20.0)


@pytest.mark.parametrize("grow, ctegrow, direction, rows, cols, tail", [
    (1, 0, 0, (4, 4), (4, 4), []),
    (3, 0, 1, (3, 5), (3, 5), []),
    (2, 0, 0, (4, 5), (4, 5), []),
    (1, 3, 1, (4, 4), (4, 4), [1, 2, 3]),
    (1, 3, -1, (4, 4), (4, 4), [5, 6, 7]),
    (3, 2, -1, (3, 5), (3, 5), [6]),
])
def test_grow_and_ctegrow_extend_exactly(grow, ctegrow, direction, rows, cols, tail):
    science, blotted = _one_hit()
    found = detect_cosmic_rays(science, blotted, good_mask=None, static_mask=None, gain=1.0,
                               read_noise=3.0, exptime=1.0, sky=0.0, units="electrons",
                               driz_cr_grow=grow, driz_cr_ctegrow=ctegrow,
                               cte_direction=direction)
    expected = np.zeros((9, 9), bool)
    expected[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = True
    expected[tail, 4] = True
    np.testing.assert_array_equal(found, expected)


# --------------------------------------------------------------- units

@pytest.mark.parametrize("units, gain, exptime", [
    ("counts", 2.0, 100.0), ("electrons/s", 1.7, 512.0), ("COUNTS/S", 4.0, 256.0),
    ("cps", 0.5, 64.0)])
def test_units_give_the_same_mask_as_electrons(chip, units, gain, exptime):
    # Powers of two make the rescaling exact, so the masks must agree bit for bit.
    factor = electrons_per_unit(units, gain=gain, exptime=exptime)
    science = chip.science.astype(np.float64)
    blotted = chip.blotted_median.astype(np.float64)
    in_electrons = detect_cosmic_rays(science, blotted, good_mask=None, static_mask=None,
                                      gain=gain, read_noise=READ_NOISE, exptime=exptime,
                                      sky=SKY, units="electrons")
    in_units = detect_cosmic_rays(science / factor, blotted / factor, good_mask=None,
                                  static_mask=None, gain=gain, read_noise=READ_NOISE,
                                  exptime=exptime, sky=SKY / factor, units=units)
    np.testing.assert_array_equal(in_units, in_electrons)


def test_electrons_per_unit():
    assert electrons_per_unit("electrons", gain=2.0, exptime=10.0) == 1.0
    assert electrons_per_unit("counts", gain=2.0, exptime=10.0) == 2.0
    assert electrons_per_unit("electrons/s", gain=2.0, exptime=10.0) == 10.0
    assert electrons_per_unit("counts/s", gain=2.0, exptime=10.0) == 20.0
    assert electrons_per_unit("electrons", gain=0.0, exptime=0.0) == 1.0


def _threshold(snr, poisson, read_noise, ratio=0.0):
    """snr sigma of a Poisson count plus read noise (electrons), skewness included."""
    variance = poisson + read_noise ** 2
    return snr * math.sqrt(variance * (1 + ratio)) + (snr ** 2 - 1) / 6 * poisson / variance


def test_sky_term_enters_the_noise():
    # With a flat median the threshold is snr1 sigma of a count of B + sky.
    blotted = np.full((5, 5), 40.0)
    science = blotted.copy()
    science[2, 2] += _threshold(3.5, 40.0, 3.0) + 0.5
    common = dict(good_mask=None, static_mask=None, gain=1.0, read_noise=3.0, exptime=1.0,
                  units="electrons")
    assert detect_cosmic_rays(science, blotted, sky=0.0, **common)[2, 2]
    assert not detect_cosmic_rays(science, blotted, sky=40.0, **common)[2, 2]
    # the sky the blot holds counts again in the first test
    assert not detect_cosmic_rays(science, blotted, sky=0.0, blot_sky=40.0, **common)[2, 2]


def test_pixels_without_median_data_are_not_tested():
    """blotted_counts 0: the blot interpolated pixels without data there."""
    blotted = np.full((5, 5), 40.0)
    science = blotted.copy()
    science[2, 2] += 500.0
    counts = np.full((5, 5), 4, dtype=np.uint8)
    common = dict(good_mask=None, static_mask=None, gain=1.0, read_noise=3.0, exptime=1.0,
                  sky=0.0, units="electrons")
    assert detect_cosmic_rays(science, blotted, blotted_counts=counts, **common)[2, 2]
    counts[2, 2] = 0
    assert not detect_cosmic_rays(science, blotted, blotted_counts=counts, **common).any()
    with pytest.raises(ValueError, match="blotted_counts"):
        detect_cosmic_rays(science, blotted, blotted_counts=counts[:4], **common)


# --------------------------------------------------------------- DQ and cleaned image

def test_update_dq_sets_the_bit_on_cosmic_rays_only():
    dq = np.array([[0, 4], [8, 4096]], dtype=np.int16)
    mask = np.array([[True, False], [True, True]])
    updated = update_dq(dq, mask, 4096)
    np.testing.assert_array_equal(updated, [[4096, 4], [4104, 4096]])
    assert updated.dtype == np.int16
    np.testing.assert_array_equal(dq, [[0, 4], [8, 4096]])  # input untouched
    np.testing.assert_array_equal(update_dq(dq, mask, 0), dq)
    assert update_dq(dq, mask, 0) is not dq


def test_update_dq_rejects_bits_that_do_not_fit():
    with pytest.raises(ParameterError, match="crbit"):
        update_dq(np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool), 4096)
    with pytest.raises(ParameterError, match="crbit"):
        update_dq(np.zeros((2, 2), np.int16), np.zeros((2, 2), bool), -1)


def test_clean_image_replaces_only_cosmic_ray_pixels(chip):
    mask = chip.run()
    clean = cosmic_ray_clean(chip.science, chip.blotted_median, mask)
    assert clean.dtype == chip.science.dtype
    np.testing.assert_array_equal(clean[mask], chip.blotted_median[mask])
    np.testing.assert_array_equal(clean[~mask], chip.science[~mask])
    residual = np.abs(clean - chip.science)
    assert residual[mask].min() > 0


# --------------------------------------------------------------- files

def test_crmask_file_is_one_for_good_zero_for_cosmic_rays(tmp_path):
    mask = np.zeros((4, 6), bool)
    mask[1, 2] = mask[3, 5] = True
    path = tmp_path / "j8cw03a1q_sci1_crmask.fits"
    path.write_bytes(b"an older file")
    stored = write_crmask(path, mask)
    assert stored.path == path
    np.testing.assert_array_equal(np.asarray(stored), mask)     # read back as the mask
    np.testing.assert_array_equal(stored[1:, 2:], mask[1:, 2:])
    with fits.open(path) as hdul:
        assert len(hdul) == 1
        data = hdul[0].data
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, np.where(mask, 0, 1))
    assert os.listdir(tmp_path) == [path.name]


def test_crclean_file_keeps_the_header_content(tmp_path):
    header = fits.ImageHDU(np.zeros((3, 3), np.float32), name="SCI", ver=2).header
    header["TARGNAME"] = "NGC 104"
    header["CRPIX1"] = 1.5
    clean = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = write_crclean(tmp_path / "j8cw03a1q_crclean.fits", clean, header)
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul[0].data, clean)
        written = hdul[0].header
    assert written["TARGNAME"] == "NGC 104" and written["CRPIX1"] == 1.5
    assert "EXTNAME" not in written and "XTENSION" not in written
    assert header["EXTNAME"] == "SCI"          # the caller's header is unchanged


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "crmask.fits"
    write_crmask(path, np.zeros((3, 3), bool))
    before = path.read_bytes()

    def refuse(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_crmask(path, np.ones((3, 3), bool))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


# --------------------------------------------------------------- parameter checks

@pytest.mark.parametrize("change, error", [
    (dict(units="photons"), ParameterError),
    (dict(units="counts", gain=0.0), ParameterError),
    (dict(units="electrons/s", exptime=-1.0), ParameterError),
    (dict(driz_cr_grow=0), ParameterError),
    (dict(cte_direction=3), ParameterError),
    (dict(driz_cr_snr=(3.5,)), ParameterError),
    (dict(static_mask=np.ones((4, 5), bool)), ValueError),
    (dict(good_mask=np.ones((5, 5), np.float32)), ValueError),
])
def test_bad_arguments(change, error):
    arguments = dict(good_mask=None, static_mask=None, gain=1.0, read_noise=3.0, exptime=1.0,
                     sky=0.0, units="electrons")
    arguments.update(change)
    with pytest.raises(error):
        detect_cosmic_rays(np.zeros((5, 5)), np.zeros((5, 5)), **arguments)


def test_blotted_median_must_match_the_science_shape():
    with pytest.raises(ValueError, match="shape of science"):
        detect_cosmic_rays(np.zeros((5, 5)), np.zeros((5, 4)), good_mask=None,
                           static_mask=None, gain=1.0, read_noise=3.0, exptime=1.0, sky=0.0,
                           units="electrons")


def test_pixels_far_below_the_median_are_not_cosmic_rays():
    """Cosmic rays only add charge: a deep negative pixel (bad dark) is left to
    the static mask, while the same excess above the median is flagged."""
    blotted = np.full((20, 20), 100.0)
    science = blotted.copy()
    science[5, 5] -= 500.0
    science[12, 12] += 500.0
    mask = detect_cosmic_rays(science, blotted, good_mask=None, static_mask=None,
                              gain=1.0, read_noise=3.0, exptime=1.0, sky=0.0,
                              units="electrons")
    assert not mask[5, 5]
    assert mask[12, 12]


# ------------------------------------------------------ the median's own noise


def test_median_variance_ratio_values():
    from multidrizzle.steps.cosmic_rays import median_variance_ratio

    counts = np.array([[0, 1, 2], [3, 4, 10]], dtype=np.int16)
    median = median_variance_ratio(counts, combine_is_mean=False)
    np.testing.assert_allclose(median, [[0, 1, 0.5], [np.pi / 6, np.pi / 8, np.pi / 20]],
                               rtol=1e-6)
    mean = median_variance_ratio(counts, combine_is_mean=True)
    np.testing.assert_allclose(mean, [[0, 1, 0.5], [1 / 3, 1 / 4, 1 / 10]], rtol=1e-6)
    assert median.dtype == np.float32


def test_median_variance_raises_the_threshold_of_detect_cosmic_rays():
    # electrons, sky already in the blot: sigma = sqrt((1 + v)(B + r^2))
    blotted = np.full((5, 5), 100.0)
    science = blotted.copy()
    science[2, 2] += 3.8 * np.sqrt(100.0 + 25.0)  # 3.8 sigma of the data alone
    common = dict(good_mask=None, static_mask=None, gain=1.0, read_noise=5.0, exptime=1.0,
                  sky=0.0, units="electrons")
    assert detect_cosmic_rays(science, blotted, **common)[2, 2]
    assert not detect_cosmic_rays(science, blotted, **common, model_variance=np.pi / 8)[2, 2]
