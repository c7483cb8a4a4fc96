"""Processing units: native and electron processing of rate and DN data agree.

The same exposures written in electrons/s or in DN must give the same
drizzled count rates (scaled by the gain for DN), the same median and the
same cosmic rays whether they are processed in their native units or
converted to electrons (``proc_unit``).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.errors import InputError, ParameterError
from multidrizzle.io.products import processing_bunit, product_bunit
from multidrizzle.steps.median import create_median

from support.sessions import build_demo_session

SMALL_CHIP = (96, 192)
GAIN = 2.0  # e-/DN of the DN copies (given as the 'gain' parameter)


def _converted_copy(source, destination, *, bunit, divide_by_exptime=False, gain=1.0):
    """Copy the demo exposures, SCI and ERR rescaled to ``bunit``."""
    destination.mkdir()
    names = []
    for path in sorted(source.glob("*_flc.fits")):
        with fits.open(path) as hdul:
            exptime = hdul[0].header["EXPTIME"]
            for hdu in hdul:
                if hdu.name in ("SCI", "ERR"):
                    scale = gain * (exptime if divide_by_exptime else 1.0)
                    hdu.data = (hdu.data / np.float32(scale)).astype(np.float32)
                    hdu.header["BUNIT"] = bunit
            hdul.writeto(destination / path.name)
        names.append(str(destination / path.name))
    (destination / "inputs.lst").write_text("\n".join(names) + "\n")
    return destination


@pytest.fixture(scope="module")
def demo_electrons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("electrons")
    make_demo_dataset(folder, n_exposures=3, chip_shape=SMALL_CHIP, seed=5)
    return folder


def _run(folder, output, **params):
    md = build_demo_session(folder, output, **params)
    md.run()
    return md


def _assert_same_rates(scaled, reference, factor=1.0):
    """Two count-rate images equal to float32 precision, one scaled by ``factor``.

    NaN (final_maskval, where no input adds weight) must be NaN in both."""
    scale = float(np.nanmax(np.abs(reference)))
    np.testing.assert_allclose(scaled, reference * np.float32(factor), rtol=1e-5,
                               atol=1e-5 * scale * factor)


def _assert_same_cosmic_rays(one, other):
    assert set(one.cr_masks) == set(other.cr_masks)
    for name, mask in one.cr_masks.items():
        assert mask.any(), name
        assert np.array_equal(mask, other.cr_masks[name]), name


@pytest.fixture(scope="module")
def rate_runs(demo_electrons, tmp_path_factory):
    folder = _converted_copy(demo_electrons, tmp_path_factory.mktemp("rate") / "in",
                             bunit="ELECTRONS/S", divide_by_exptime=True)
    output = tmp_path_factory.mktemp("rate_out")
    return (_run(folder, output / "native", proc_unit="native"),
            _run(folder, output / "electrons", proc_unit="electrons"))


def test_rate_data_processing_units(rate_runs):
    native, electrons = rate_runs
    for chip in native._all_chips():
        assert chip.is_rate and chip.processing_is_rate
        assert processing_bunit(chip) == "ELECTRONS/S"
    for chip in electrons._all_chips():
        assert chip.is_rate and not chip.processing_is_rate
        assert processing_bunit(chip) == "ELECTRONS"


def test_rate_data_native_and_electrons_give_the_same_product(rate_runs):
    native, electrons = rate_runs
    for one, other in zip(native.singles_on_grid("sci"), electrons.singles_on_grid("sci")):
        _assert_same_rates(other, one)
    _assert_same_rates(electrons.median_image, native.median_image)
    for chip in native._all_chips():  # blotted medians in each run's processing units
        _assert_same_rates(electrons.blotted_images[chip.name],
                           native.blotted_images[chip.name], chip.exptime)
    _assert_same_rates(electrons.final_sci, native.final_sci)
    _assert_same_cosmic_rays(native, electrons)


def test_rate_data_matches_the_electron_files(rate_runs, demo_electrons, tmp_path):
    """Electrons/s files give the count rates of the electron files they came from."""
    native, _ = rate_runs
    original = _run(demo_electrons, tmp_path / "original")
    _assert_same_rates(native.final_sci, original.final_sci)
    _assert_same_cosmic_rays(native, original)


@pytest.fixture(scope="module")
def counts_runs(demo_electrons, tmp_path_factory):
    folder = _converted_copy(demo_electrons, tmp_path_factory.mktemp("counts") / "in",
                             bunit="COUNTS", gain=GAIN)
    output = tmp_path_factory.mktemp("counts_out")
    return (_run(folder, output / "native", proc_unit="native", gain=GAIN),
            _run(folder, output / "electrons", proc_unit="electrons", gain=GAIN))


def test_counts_data_native_is_dn_per_second(counts_runs):
    native, electrons = counts_runs
    chips = native._all_chips()
    assert {processing_bunit(c) for c in chips} == {"COUNTS"}
    assert product_bunit(chips, "cps") == "COUNTS/S"
    assert product_bunit(chips, "counts") == "COUNTS"
    assert product_bunit(electrons._all_chips(), "cps") == "ELECTRONS/S"
    _assert_same_rates(electrons.final_sci, native.final_sci, GAIN)


def test_counts_data_minmed_noise_model_uses_the_gain(counts_runs):
    """minmed in DN/s with the gain picks the same pixels as minmed in electrons/s."""
    native, electrons = counts_runs
    assert native.combine_type == "minmed"
    _assert_same_rates(electrons.median_image, native.median_image, GAIN)
    _assert_same_cosmic_rays(native, electrons)


def test_product_bunit_refuses_mixed_units(rate_runs, counts_runs):
    with pytest.raises(InputError, match="proc_unit"):
        product_bunit(rate_runs[0]._all_chips() + counts_runs[0]._all_chips())
    with pytest.raises(ParameterError, match="final_units"):
        product_bunit(rate_runs[0]._all_chips(), "electrons")


# ---------------------------------------------------------------------------
# create_median with gains
# ---------------------------------------------------------------------------

def _stack(seed, n_images=3, shape=(40, 30), exptime=400.0):
    """Electrons/s images with cosmic rays, and their weights."""
    rng = np.random.default_rng(seed)
    scene = 20.0 * rng.random(shape)
    images, weights = [], []
    for _ in range(n_images):
        electrons = rng.poisson((scene + 1.0) * exptime) + rng.normal(0, 3.0, shape)
        image = (electrons / exptime - 1.0).astype(np.float32)
        hit = rng.random(shape) < 0.3  # two of three hit: the minimum is wanted
        image[hit] += rng.uniform(0.05, 2.0, hit.sum()).astype(np.float32)
        images.append(image)
        weights.append(np.full(shape, exptime, np.float32))
    noise = dict(exptimes=[exptime] * n_images, sky_values_electrons=[exptime] * n_images,
                 read_noises=[3.0] * n_images)
    return images, weights, noise


@pytest.mark.parametrize("units", ["cps", "counts"])
def test_minmed_with_the_gain_combines_dn_like_electrons(units):
    images, weights, noise = _stack(3)
    if units == "counts":
        images = [image * np.float32(400.0) for image in images]
    in_dn = [image / np.float32(GAIN) for image in images]
    electrons = create_median(images, weights, units=units, **noise)
    dn = create_median(in_dn, weights, units=units, gains=[GAIN] * 3, **noise)
    dn_as_electrons = create_median(in_dn, weights, units=units, **noise)
    assert electrons.minimum_pixels > 20
    np.testing.assert_allclose(dn.median * np.float32(GAIN), electrons.median, rtol=1e-6,
                               atol=1e-6 * float(np.abs(electrons.median).max()))
    assert dn.minimum_pixels == electrons.minimum_pixels
    # DN taken for electrons: signal, sky and read noise out of proportion
    assert dn_as_electrons.minimum_pixels != electrons.minimum_pixels


def _minmed_reference(images, weights, gains, exptimes, skies, read_noises, nsigma):
    """minmed's first pass in numpy, from its documented noise model (rates in DN/s)."""
    stack = np.stack(images).astype(np.float64)
    weight = np.stack(weights).astype(np.float64)
    gain = np.asarray(gains)[:, None, None]
    ordered = np.sort(stack, axis=0)
    median = np.median(ordered[:-1], axis=0)          # the highest value rejected
    minimum = ordered[0]
    scale = (weight * gain).sum(axis=0)
    sky = (weight * (np.asarray(skies) / np.asarray(exptimes))[:, None, None]).sum(axis=0)
    sigma = np.sqrt(np.maximum(median * scale + sky + np.sum(np.square(read_noises)), 0))
    take_minimum = (minimum - median) * scale < -nsigma * sigma
    return np.where(take_minimum, minimum, median), take_minimum


def test_minmed_noise_model_with_different_gains():
    images, weights, noise = _stack(7)
    gains = [1.5, 2.0, 4.0]
    in_dn = [image / np.float32(g) for image, g in zip(images, gains)]
    result = create_median(in_dn, weights, gains=gains, combine_grow=0,
                           combine_nsigma=(4.0, 3.0), **noise)
    expected, minima = _minmed_reference(in_dn, weights, gains, noise["exptimes"],
                                         noise["sky_values_electrons"],
                                         noise["read_noises"], 4.0)
    assert 0 < minima.sum() == result.minimum_pixels
    np.testing.assert_allclose(result.median, expected, rtol=1e-6, atol=1e-6)


def test_gains_of_one_change_nothing():
    images, weights, noise = _stack(4)
    plain = create_median(images, weights, **noise)
    with_gains = create_median(images, weights, gains=[1.0] * 3, **noise)
    assert np.array_equal(plain.median, with_gains.median)


@pytest.mark.parametrize("gains", [[2.0, 2.0], [2.0, 0.0, 2.0], [2.0, float("nan"), 2.0],
                                   ["two", 2.0, 2.0]])
def test_bad_gains_are_refused(gains):
    images, weights, noise = _stack(5)
    for combine_type in ("minmed", "median"):
        with pytest.raises(ParameterError, match="gains"):
            create_median(images, weights, combine_type=combine_type, gains=gains, **noise)
