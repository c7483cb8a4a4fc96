"""Steps 3 and 7, the drizzle step functions, with answers worked out by hand.

Chips, grids and pixel maps are built in memory.  With an identity pixel map
and equal pixel scales each input pixel lands exactly on one output pixel,
so the drizzled values and weights can be written down directly; shifted and
scaled maps split or merge pixels in known proportions.  The final weights of
each weighting scheme are also worked out by hand through a whole session.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle import Multidrizzle
from multidrizzle.errors import InputError
from multidrizzle.model.geometry import OutputGrid, PixelMap
from multidrizzle.model import Chip, Exposure
from multidrizzle.steps.drizzle import (
    DrizzleSettings, background_ivm, chip_weight_map, drizzle_exposures, good_pixel_mask,
    weight_scale,
)

from support.geometry import tan_wcs
from support.sessions import chips_of, run_only

SHAPE = (6, 8)
SCALE = 0.04


def make_chip(name: str = "a_flt.fits", *, exptime: float = 400.0,
              bunit: str = "ELECTRONS", gain: float = 1.0, read_noise: float = 3.0,
              proc_unit: str = "native", shape=SHAPE) -> Chip:
    counts = bunit.startswith("COUNTS")
    rate = bunit.endswith("/S")
    to_electrons = (gain if counts else 1.0) * (exptime if rate else 1.0)
    header = fits.Header()
    header["IDCSCALE"] = SCALE
    return Chip(filename=Path(name), extver=1, shape=shape, wcs=tan_wcs(SCALE),
                exptime=exptime, gain=gain, read_noise=read_noise, bunit=bunit,
                to_electrons=to_electrons,
                proc_scale=1.0 if proc_unit == "native" else to_electrons,
                signature=("WFC3/UVIS", (shape[1], shape[0]), 1), header=header)


def make_exposure(chip: Chip) -> Exposure:
    return Exposure(filename=chip.filename, rootname=chip.filename.stem, instrument="WFC3",
                    detector="UVIS", filter_name="F606W", exptime=chip.exptime,
                    chips=[chip], primary_header=fits.Header())


def make_grid(shape=SHAPE, scale: float = SCALE) -> OutputGrid:
    return OutputGrid(wcs=tan_wcs(scale), shape=shape, scale=scale, rotation=0.0)


def make_map(positions: np.ndarray, name: str) -> PixelMap:
    return PixelMap(chip_name=name, shape=positions.shape[:2], stepsize=1,
                    node_values=np.ascontiguousarray(positions, np.float64), origin=(0.0, 0.0))


def shifted_positions(shape=SHAPE, *, dx: float = 0.0, dy: float = 0.0,
                      factor: float = 1.0) -> np.ndarray:
    y, x = np.indices(shape, dtype=np.float64)
    return np.stack([factor * x + dx, factor * y + dy], axis=-1)


# ---------------------------------------------------------------------------
# weight_scale, good_pixel_mask


@pytest.mark.parametrize("wt_scl, expected", [
    ("exptime", 400.0), ("expsq", 160000.0), (2.5, 2.5), ("2.5", 2.5), (1, 1.0)])
def test_weight_scale(wt_scl, expected):
    assert weight_scale(wt_scl, 400.0) == expected


DQ = np.array([[0, 4, 16, 20, 4096, 256]], dtype=np.uint32)


@pytest.mark.parametrize("bits, good", [
    (0, [1, 0, 0, 0, 0, 0]),
    (16, [1, 0, 1, 0, 0, 0]),
    (20, [1, 1, 1, 1, 0, 0]),
    (4096 + 256, [1, 0, 0, 0, 1, 1]),
    (~16, [1, 1, 0, 0, 1, 1]),        # '~16': only bit 16 is bad
    (None, [1, 1, 1, 1, 1, 1]),       # DQ ignored
])
def test_good_pixel_mask(bits, good):
    np.testing.assert_array_equal(good_pixel_mask(DQ, bits), np.array([good], dtype=bool))


# ---------------------------------------------------------------------------
# chip_weight_map


def test_exp_weights_are_one_for_good_pixels_only():
    chip = make_chip(shape=(1, 6))
    static = np.array([[False, False, True, False, False, False]])
    cosmic = np.array([[False, False, False, False, True, True]])
    weights = chip_weight_map(chip, DQ, 16, static_mask=static, cr_mask=cosmic)
    assert weights.dtype == np.float32
    # DQ 16 allowed, DQ 4 / 20 not; column 2 also static, 4-5 cosmic rays
    np.testing.assert_array_equal(weights, [[1, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(chip_weight_map(chip, DQ, None), np.ones((1, 6)))
    np.testing.assert_array_equal(chip_weight_map(chip, DQ, None, cr_mask=cosmic),
                                  [[1, 1, 1, 1, 0, 0]])


def test_err_weights_are_inverse_variance():
    chip = make_chip(shape=(1, 6))
    error = np.array([[2.0, 0.5, 4.0, 0.0, np.nan, -1.0]], dtype=np.float32)
    dq = np.array([[0, 0, 16, 0, 0, 0]], dtype=np.uint32)
    weights = chip_weight_map(chip, dq, 0, wht_type="ERR", error=error)
    np.testing.assert_array_equal(weights, [[0.25, 4.0, 0.0, 0.0, 0.0, 0.0]])
    weights = chip_weight_map(chip, dq, 16, wht_type="ERR", error=error)
    np.testing.assert_array_equal(weights, [[0.25, 4.0, 0.0625, 0.0, 0.0, 0.0]])


def test_ivm_weights_from_a_map_or_a_constant():
    chip = make_chip(shape=(1, 5))
    dq = np.array([[0, 0, 0, 4, 0]], dtype=np.uint32)
    ivm = np.array([[0.5, 2.0, -1.0, 3.0, np.nan]], dtype=np.float32)
    static = np.array([[False, True, False, False, False]])
    np.testing.assert_array_equal(
        chip_weight_map(chip, dq, 0, static_mask=static, wht_type="IVM", ivm=ivm),
        [[0.5, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(chip_weight_map(chip, dq, 0, wht_type="IVM", ivm=0.04),
                               [[0.04, 0.04, 0.04, 0.0, 0.04]], rtol=1e-7)


def test_weight_map_errors():
    chip = make_chip(shape=(1, 6))
    with pytest.raises(InputError, match=r"a_flt\.fits"):
        chip_weight_map(chip, DQ, 0, wht_type="ERR", error=None)
    with pytest.raises(InputError, match="IVM"):
        chip_weight_map(chip, DQ, 0, wht_type="IVM", ivm=None)
    with pytest.raises(ValueError):
        chip_weight_map(chip, DQ, 0, wht_type="EXPTIME")


# ---------------------------------------------------------------------------
# background_ivm: 1 / (sky + read noise**2) in the processing units


@pytest.mark.parametrize("bunit, gain, proc_unit, sky, expected", [
    # electrons: variance = sky + rn**2 = 40 + 9
    ("ELECTRONS", 1.0, "native", 40.0, 1.0 / 49.0),
    # counts, gain 2: variance in e- = 2 * 40 + 9 = 89, in DN**2 = 89 / 4
    ("COUNTS", 2.0, "native", 40.0, 4.0 / 89.0),
    # counts processed in electrons: variance 89 e-**2
    ("COUNTS", 2.0, "electrons", 40.0, 1.0 / 89.0),
    # electrons/s over 100 s: sky 0.4 e-/s = 40 e-, variance (40 + 9) / 100**2
    ("ELECTRONS/S", 1.0, "native", 0.4, 100.0 ** 2 / 49.0),
    # a negative sky adds no Poisson noise
    ("ELECTRONS", 1.0, "native", -5.0, 1.0 / 9.0),
])
def test_background_ivm_formula(bunit, gain, proc_unit, sky, expected):
    exptime = 100.0 if bunit.endswith("/S") else 400.0
    chip = make_chip(bunit=bunit, gain=gain, proc_unit=proc_unit, exptime=exptime,
                     read_noise=3.0)
    assert background_ivm(chip, sky) == pytest.approx(expected, rel=1e-12)


def test_background_ivm_without_any_noise_is_an_error():
    with pytest.raises(InputError, match="variance"):
        background_ivm(make_chip(read_noise=0.0), 0.0)


# ---------------------------------------------------------------------------
# drizzle_exposures


def _two_exposures():
    first = make_chip("a_flt.fits", exptime=400.0)
    second = make_chip("b_flt.fits", exptime=100.0)
    rng = np.random.default_rng(2)
    data = {first.name: rng.uniform(100.0, 900.0, SHAPE).astype(np.float32),
            second.name: rng.uniform(10.0, 90.0, SHAPE).astype(np.float32)}
    weights = {first.name: np.ones(SHAPE, np.float32),
               second.name: np.ones(SHAPE, np.float32)}
    weights[first.name][2, 3] = 0.0            # bad in the first exposure only
    weights[second.name][2, 3] = 0.0           # ... and in the second: uncovered
    weights[second.name][4, 5] = 0.0           # bad in the second only
    maps = {chip.name: make_map(shifted_positions(), chip.name) for chip in (first, second)}
    return [make_exposure(first), make_exposure(second)], maps, data, weights


@pytest.mark.parametrize("fillval", [None, 7.0])
def test_separate_drizzles_are_count_rates_weighted_by_exptime(fillval):
    exposures, maps, data, weights = _two_exposures()
    results = list(drizzle_exposures(  # separate images come one by one
        exposures, maps, make_grid(), DrizzleSettings(kernel="square", fillval=fillval),
        science_of=lambda c, _: data[c.name], weights_of=lambda c, _: weights[c.name],
        separate=True))
    assert len(results) == 2
    for exposure, result in zip(exposures, results):
        chip = exposure.chips[0]
        good = weights[chip.name] > 0
        np.testing.assert_allclose(result.wht, good * chip.exptime, rtol=1e-6)
        np.testing.assert_allclose(result.sci[good], data[chip.name][good] / chip.exptime,
                                   rtol=1e-6)
        assert np.all(result.sci[~good] == (0.0 if fillval is None else fillval))
        assert result.ctx is None
        assert result.exptime == chip.exptime and result.n_images == 1


def test_final_drizzle_is_the_weighted_mean_with_context():
    exposures, maps, data, weights = _two_exposures()
    result = drizzle_exposures(
        exposures, maps, make_grid(), DrizzleSettings(kernel="square", fillval=-1.0),
        science_of=lambda c, _: data[c.name], weights_of=lambda c, _: weights[c.name],
        context=True, separate=False)
    a, b = (e.chips[0] for e in exposures)
    w_a, w_b = weights[a.name] * 400.0, weights[b.name] * 100.0
    rate_a, rate_b = data[a.name] / 400.0, data[b.name] / 100.0
    covered = (w_a + w_b) > 0
    expected = np.where(covered, (rate_a * w_a + rate_b * w_b) / np.where(covered, w_a + w_b, 1),
                        -1.0)
    np.testing.assert_allclose(result.wht, w_a + w_b, rtol=1e-6)
    np.testing.assert_allclose(result.sci, expected, rtol=1e-6)
    assert result.sci[4, 5] == pytest.approx(rate_a[4, 5], rel=1e-6)
    assert result.sci[2, 3] == -1.0
    assert result.ctx.shape == (1,) + SHAPE
    expected_ctx = (weights[a.name] > 0) * 1 + (weights[b.name] > 0) * 2
    np.testing.assert_array_equal(result.ctx[0], expected_ctx)
    assert result.exptime == 500.0 and result.n_images == 2


@pytest.mark.parametrize("wt_scl, factor", [("exptime", 400.0), ("expsq", 160000.0),
                                            (3.0, 3.0)])
def test_wt_scl_multiplies_the_weights(wt_scl, factor):
    exposures, maps, data, weights = _two_exposures()
    first = exposures[0].chips[0]
    (result,) = drizzle_exposures(
        exposures[:1], maps, make_grid(), DrizzleSettings(wt_scl=wt_scl),
        science_of=lambda c, _: data[c.name], weights_of=lambda c, _: weights[c.name],
        separate=True)
    np.testing.assert_allclose(result.wht, weights[first.name] * factor, rtol=1e-6)


def test_half_pixel_shift_splits_each_pixel_between_two_columns():
    chip = make_chip(exptime=50.0)
    data = np.tile(np.arange(1, SHAPE[1] + 1, dtype=np.float32) * 10.0, (SHAPE[0], 1))
    maps = {chip.name: make_map(shifted_positions(dx=0.5), chip.name)}
    grid = make_grid(shape=(SHAPE[0], SHAPE[1] + 1))
    (result,) = drizzle_exposures(
        [make_exposure(chip)], maps, grid, DrizzleSettings(kernel="square"),
        science_of=lambda c, _: data, weights_of=lambda c, _: np.ones(SHAPE, np.float32),
        separate=True)
    # output column k gets half of input columns k - 1 and k
    expected_wht = np.full(grid.shape, 50.0)
    expected_wht[:, 0] = expected_wht[:, -1] = 25.0
    np.testing.assert_allclose(result.wht, expected_wht, rtol=1e-6)
    rates = data[0] / 50.0
    inner = (rates[:-1] + rates[1:]) / 2.0
    np.testing.assert_allclose(result.sci[:, 1:-1], np.tile(inner, (SHAPE[0], 1)), rtol=1e-6)
    np.testing.assert_allclose(result.sci[:, 0], rates[0], rtol=1e-6)
    np.testing.assert_allclose(result.sci[:, -1], rates[-1], rtol=1e-6)


def test_output_pixels_twice_as_large_add_four_input_pixels():
    # map x_out = (x - 0.5) / 2: input pixels 2k and 2k + 1 fall in output pixel k
    chip = make_chip(exptime=20.0)
    rng = np.random.default_rng(5)
    data = rng.uniform(0.0, 100.0, SHAPE).astype(np.float32)
    positions = shifted_positions(dx=-0.25, dy=-0.25, factor=0.5)
    grid = make_grid(shape=(SHAPE[0] // 2, SHAPE[1] // 2), scale=2 * SCALE)
    (result,) = drizzle_exposures(
        [make_exposure(chip)], {chip.name: make_map(positions, chip.name)}, grid,
        DrizzleSettings(kernel="square"), science_of=lambda c, _: data,
        weights_of=lambda c, _: np.ones(SHAPE, np.float32), separate=True)
    blocks = data.reshape(SHAPE[0] // 2, 2, SHAPE[1] // 2, 2).sum(axis=(1, 3))
    # the count rate of an output pixel is the sum of its four input pixels'
    np.testing.assert_allclose(result.sci, blocks / 20.0, rtol=1e-5)
    np.testing.assert_allclose(result.wht, 4 * 20.0, rtol=1e-6)


def test_rate_data_are_not_divided_by_the_exposure_time():
    chip = make_chip(exptime=250.0, bunit="ELECTRONS/S")
    data = np.full(SHAPE, 3.5, np.float32)
    (result,) = drizzle_exposures(
        [make_exposure(chip)], {chip.name: make_map(shifted_positions(), chip.name)},
        make_grid(), DrizzleSettings(kernel="point"), science_of=lambda c, _: data,
        weights_of=lambda c, _: np.ones(SHAPE, np.float32), separate=True)
    np.testing.assert_allclose(result.sci, 3.5, rtol=1e-6)
    np.testing.assert_allclose(result.wht, 250.0, rtol=1e-6)


# ---------------------------------------------------------------------------
# ERR and IVM final weights through the session: with the point kernel every
# output weight is the sum of ``exptime * good / ERR**2`` (or ``* IVM``) over
# the input pixels whose centres land in it, computed here pixel by pixel;
# with the square kernel the total is conserved


@pytest.fixture(scope="module")
def pipeline_run(small_demo_set, tmp_path_factory, demo_session) -> Multidrizzle:
    md = demo_session(small_demo_set, tmp_path_factory.mktemp("weights") / "final")
    md.run()
    return md


def _good(md: Multidrizzle, chip) -> np.ndarray:
    return ((chip.read_dq() == 0) & ~md.static_masks[chip.signature]
            & ~md.cr_masks[chip.name])


def _input_weights(md: Multidrizzle, wht_type: str) -> dict[str, np.ndarray]:
    """Per input pixel: exptime x good x (1 / ERR**2, IVM or 1)."""
    weights = {}
    for chip in chips_of(md):
        good = _good(md, chip).astype(np.float64)
        if wht_type == "ERR":
            error = chip.read_error().astype(np.float64)
            usable = np.isfinite(error) & (error > 0)
            scheme = np.where(usable, 1.0 / np.where(usable, error, 1.0) ** 2, 0.0)
        elif wht_type == "IVM":
            # no IVM file: background only, 1 / (sky + read noise**2) in e-
            scheme = 1.0 / (max(md.sky_values[chip.name], 0.0) + chip.read_noise ** 2)
        else:
            scheme = 1.0
        weights[chip.name] = chip.exptime * good * scheme
    return weights


def _point_weights(md: Multidrizzle, weights: dict[str, np.ndarray]) -> np.ndarray:
    shape = md.output_grid.shape
    total = np.zeros(shape)
    for chip in chips_of(md):
        positions = md.pixel_maps[chip.name].evaluate()
        cols = np.floor(positions[..., 0] + 0.5).astype(np.int64)
        rows = np.floor(positions[..., 1] + 0.5).astype(np.int64)
        inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
        np.add.at(total, (rows[inside], cols[inside]), weights[chip.name][inside])
    return total


@pytest.mark.parametrize("wht_type", ["EXP", "ERR", "IVM"])
def test_final_weights_follow_the_weighting_scheme(pipeline_run, wht_type):
    md = pipeline_run
    weights = _input_weights(md, wht_type)
    try:
        md.final_wht_type, md.final_kernel = wht_type, "point"
        run_only(md, "driz_combine")
        point = md.final_wht.astype(np.float64)
        md.final_kernel = "square"
        run_only(md, "driz_combine")
        square = md.final_wht.astype(np.float64)
    finally:
        md.final_wht_type, md.final_kernel = "EXP", "square"
    expected = _point_weights(md, weights)
    np.testing.assert_allclose(point, expected, rtol=2e-6, atol=0)
    # the square kernel moves weight between pixels but keeps the total
    total = sum(w.sum() for w in weights.values())
    assert square.sum() == pytest.approx(total, rel=1e-5)
    # a few pixels by name: the first chip's first good pixel lands where expected
    chip = chips_of(md)[0]
    positions = md.pixel_maps[chip.name].evaluate()
    row, col = np.argwhere(weights[chip.name] > 0)[100]
    x_out, y_out = positions[row, col]
    target = (int(math.floor(y_out + 0.5)), int(math.floor(x_out + 0.5)))
    assert point[target] >= weights[chip.name][row, col] * (1 - 1e-6)


def test_err_and_ivm_weights_differ_from_exp_as_expected(pipeline_run):
    """ERR weights are 1/ERR**2 per pixel: bright sources get less weight than sky."""
    md = pipeline_run
    chip = chips_of(md)[0]
    error = chip.read_error().astype(np.float64)
    good = _good(md, chip) & (error > 0)
    weights = _input_weights(md, "ERR")[chip.name]
    science = chip.read_science()
    bright = good & (science > np.percentile(science[good], 99))
    faint = good & (science < np.percentile(science[good], 50))
    assert weights[bright].mean() < 0.5 * weights[faint].mean()
    ivm = _input_weights(md, "IVM")[chip.name]
    assert np.unique(ivm[good]).size == 1          # a constant background IVM per chip
