"""The final drizzle's error plane: the inputs' variance, and a Monte-Carlo check.

The Monte-Carlo test drizzles many noise realisations of one blank-sky
geometry (see :mod:`support.error_plane`; ``cd tests && python -m
support.error_plane`` prints its figures) and asks that the variance the
step propagates equals the variance measured across realisations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError
from multidrizzle.model import Chip
from multidrizzle.steps.drizzle import (
    DrizzleSettings, FinalDrizzleSettings, input_variance, noise_model_variance,
)
from multidrizzle.steps.sky import SkyResult

from support.error_plane import CASES, monte_carlo_error_plane
from support.geometry import tan_wcs

SHAPE = (5, 6)


@pytest.mark.parametrize("kernel, pixfrac, wht_type", CASES)
def test_propagated_variance_matches_the_scatter_of_realisations(kernel, pixfrac, wht_type):
    check = monte_carlo_error_plane(kernel, pixfrac, wht_type)
    assert check.n_pixels > 2000
    assert check.ratio == pytest.approx(1.0, abs=0.05)
    # pixel by pixel, not only on average: the thirds of lowest to highest
    # propagated variance (which differ by a third or more) each agree
    assert check.spread > 1.3
    for ratio in check.ratio_by_tercile:
        assert ratio == pytest.approx(1.0, abs=0.05)


def _chip(tmp_path: Path, *, error: np.ndarray | None, bunit: str = "COUNTS",
          exptime: float = 200.0, gain: float = 2.0, read_noise: float = 4.0,
          proc_unit: str = "native") -> Chip:
    path = tmp_path / "v_flt.fits"
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(np.zeros(SHAPE, np.float32), name="SCI", ver=1)]
    if error is not None:
        hdus.append(fits.ImageHDU(error.astype(np.float32), name="ERR", ver=1))
    fits.HDUList(hdus).writeto(path)
    counts = bunit.startswith("COUNTS")
    rate = bunit.endswith("/S")
    to_electrons = (gain if counts else 1.0) * (exptime if rate else 1.0)
    return Chip(filename=path, extver=1, shape=SHAPE, wcs=tan_wcs(0.04), exptime=exptime,
                gain=gain, read_noise=read_noise, bunit=bunit, to_electrons=to_electrons,
                proc_scale=1.0 if proc_unit == "native" else to_electrons,
                signature=("WFC3/UVIS", SHAPE[::-1], 1), header=fits.Header(),
                has_error=error is not None, has_dq=False)


def test_noise_model_is_poisson_plus_read_noise_in_the_data_units():
    # 2 e-/DN: 50 DN are 100 e-, variance (100 + 16) e-^2 = 29 DN^2; negative
    # signal counts as none
    variance = noise_model_variance(np.array([50.0, -3.0]), 2.0, 4.0)
    np.testing.assert_allclose(variance, [29.0, 4.0], rtol=1e-6)


@pytest.mark.parametrize("subtract", [True, False])
def test_noise_model_counts_the_sky_whoever_removed_it(tmp_path, subtract):
    # subtract=True: multidrizzle removed 30 DN of sky from the data; False: the
    # user did (skyuser); either way the pixels collected signal + 30 DN
    chip = _chip(tmp_path, error=None)
    science = np.full(SHAPE, 20.0, np.float32)
    sky = SkyResult(values={chip.name: 30.0}, subtract=subtract, method="test")
    np.testing.assert_allclose(input_variance(chip, science, sky),
                               (50.0 * 2.0 + 16.0) / 4.0, rtol=1e-6)
    np.testing.assert_allclose(input_variance(chip, science, None),
                               (20.0 * 2.0 + 16.0) / 4.0, rtol=1e-6)


def test_err_is_used_where_positive_and_the_model_elsewhere(tmp_path):
    error = np.full(SHAPE, 3.0)
    error[1, 2] = 0.0
    error[3, 4] = np.nan
    chip = _chip(tmp_path, error=error)
    science = np.full(SHAPE, 10.0, np.float32)
    variance = input_variance(chip, science, None)
    modelled = (10.0 * 2.0 + 16.0) / 4.0
    expected = np.full(SHAPE, 9.0)
    expected[1, 2] = expected[3, 4] = modelled
    np.testing.assert_allclose(variance, expected, rtol=1e-6)


def test_variance_is_in_processing_units(tmp_path):
    # proc_unit='electrons': ERR (DN) times the gain, squared
    chip = _chip(tmp_path, error=np.full(SHAPE, 3.0), proc_unit="electrons")
    np.testing.assert_allclose(input_variance(chip, np.zeros(SHAPE, np.float32), None),
                               36.0, rtol=1e-6)


def test_a_chip_without_a_usable_gain_is_named(tmp_path):
    chip = _chip(tmp_path, error=None, gain=0.0)
    with pytest.raises(InputError, match="v_flt.fits"):
        input_variance(chip, np.zeros(SHAPE, np.float32), None)


def test_final_err_switches_the_error_image():
    base = dict(final_kernel="square", final_pixfrac=1.0, final_wt_scl="exptime",
                final_fillval=None, final_maskval=None, final_bits=0, final_wht_type="EXP",
                context=True)
    assert FinalDrizzleSettings(**base).drizzle().error
    assert not FinalDrizzleSettings(**base, final_err=False).drizzle().error
    assert not DrizzleSettings().error  # the separate drizzle makes none


def test_the_error_made_in_bands_equals_the_error_made_at_once(monkeypatch):
    from multidrizzle.kernels.drizzle import error_from_variance
    from multidrizzle.steps import drizzle as drizzle_step

    generator = np.random.default_rng(5)
    variance = generator.gamma(2.0, 3.0, size=(37, 29)).astype(np.float32)
    weight = generator.uniform(0.0, 4.0, size=(37, 29)).astype(np.float32)
    weight[::5, ::3] = 0.0
    monkeypatch.setattr(drizzle_step, "_ERROR_BAND_PIXELS", 29 * 4)   # bands of 4 rows
    banded = drizzle_step._error_in_bands(variance, weight)
    whole = error_from_variance(variance, weight)
    assert banded.dtype == whole.dtype == np.float32
    assert np.array_equal(banded, whole, equal_nan=True)
    assert np.isnan(banded[::5, ::3]).all()
