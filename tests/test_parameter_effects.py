"""Every step parameter changes the result the way the AstroDrizzle reference says.

Each test runs a session on a tiny demo set with two (or three) values of one
parameter and checks the expected change against an answer computed here
independently: conservation of weight and flux in the drizzles, point-kernel
weights summed by hand, blots interpolated by hand, static masks and skies
from the slow reference statistics, files written as the reference describes.

Sessions are shared through module-scoped fixtures; a test that changes a
parameter of a shared session does so through :func:`changed`, which puts
the old values back, and only reads results of the steps it re-ran itself.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle import Multidrizzle
from multidrizzle.steps import median as median_step
from multidrizzle.demo.datasets import load_demo_truth, make_demo_dataset
from multidrizzle.model.geometry import native_orientation
from multidrizzle.model import ReadOptions, read_exposure

from support.references import blot as reference_blot
from support.references import statistics as reference_statistics
from support.sessions import ALL_OFF, chips_of, run_only

CHIP_SHAPE = (64, 128)
HOT_PIXEL = 16  # demo DQ flag of hot pixels


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    make_demo_dataset(folder, n_exposures=3, chip_shape=CHIP_SHAPE, seed=3)
    return folder


def new_session(folder: Path, out: Path, *, listing: Path | None = None,
                **params) -> Multidrizzle:
    params.setdefault("in_memory", True)
    params.setdefault("runfile", "")
    md = Multidrizzle(f"@{listing or folder / 'inputs.lst'}", output=str(out / "final"),
                      **params)
    md.build()
    return md


@contextlib.contextmanager
def changed(md: Multidrizzle, **values):
    """Set parameters for the duration of a block, then put the old values back."""
    old = {name: getattr(md, name) for name in values}
    md.update(values)
    try:
        yield md
    finally:
        md.update(old)


_ARRAYS: dict[tuple, np.ndarray] = {}


def read_once(md: Multidrizzle, chip, what: str) -> np.ndarray:
    """A chip's science or DQ array (as the session reads it), read once per file.

    Only for files no test changes (the demo set itself, not working copies).
    """
    key = (str(chip.filename), chip.extver, what, md.resetbits)
    if key not in _ARRAYS:
        _ARRAYS[key] = chip.read_dq() if what == "dq" else chip.read_science()
    return _ARRAYS[key]


def good_pixels(md: Multidrizzle, chip, bits: int = 0) -> np.ndarray:
    """Pixels whose DQ flags are all among ``bits`` (no static or cosmic-ray masks)."""
    return (read_once(md, chip, "dq") & ~np.uint32(bits)) == 0


def point_kernel_weights(exposures, pixel_maps, shape, weight_of) -> np.ndarray:
    """Weights a point kernel must give: each input weight to the pixel of its centre."""
    total = np.zeros(shape, dtype=np.float64)
    for exposure in exposures:
        for chip in exposure.chips:
            positions = pixel_maps[chip.name].evaluate()
            cols = np.floor(positions[..., 0] + 0.5).astype(np.int64)
            rows = np.floor(positions[..., 1] + 0.5).astype(np.int64)
            weights = weight_of(chip)
            use = ((rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
                   & (weights != 0))
            np.add.at(total, (rows[use], cols[use]), weights[use])
    return total


def interior(covered: np.ndarray, margin: int = 2) -> np.ndarray:
    """Pixels whose whole (2 margin + 1)**2 neighbourhood is covered."""
    inside = covered.copy()
    padded = np.pad(covered, margin, constant_values=False)
    ny, nx = covered.shape
    for dy in range(2 * margin + 1):
        for dx in range(2 * margin + 1):
            inside &= padded[dy:dy + ny, dx:dx + nx]
    return inside


def input_flux(md: Multidrizzle, exposure, good_of) -> float:
    """Sum of an exposure's good input values (electrons), in float64."""
    return float(sum(read_once(md, c, "sci").astype(np.float64)[good_of(c)].sum()
                     for c in exposure.chips))


# ---------------------------------------------------------------------------
# shared sessions


@pytest.fixture(scope="module")
def rotated(demo, tmp_path_factory) -> Multidrizzle:
    """No static mask, no sky, no cosmic rays; grids turned 45 degrees from the detector.

    The drizzles then hold the raw data / exptime, and input pixel centres
    fall irregularly on the output pixels, so drops smaller than a pixel
    leave holes.
    """
    first = sorted(demo.glob("*_flc.fits"))[0]
    angle = native_orientation(read_exposure(first, ReadOptions()).chips[0]) + 45.0
    return new_session(demo, tmp_path_factory.mktemp("rotated"), static=False,
                       skysub=False, driz_cr=False, driz_sep_rot=angle, final_rot=angle)


@pytest.fixture(scope="module")
def separate(rotated) -> Multidrizzle:
    return rotated


@pytest.fixture(scope="module")
def separate_default(separate):
    """The separate drizzles with default parameters (turbo, no fill, exptime, bits 0)."""
    run_only(separate, "driz_separate")
    return [(s.copy(), w.copy()) for s, w in zip(separate.singles_on_grid("sci"), separate.singles_on_grid("wht"))]


@pytest.fixture(scope="module")
def full(demo, tmp_path_factory) -> Multidrizzle:
    """Default parameters, every step run once."""
    md = new_session(demo, tmp_path_factory.mktemp("full"))
    md.run()
    return md


# ---------------------------------------------------------------------------
# driz_sep_*


def test_driz_sep_kernel_point_puts_each_weight_in_one_pixel(separate, separate_default):
    md = separate
    with changed(md, driz_sep_kernel="point"):
        run_only(md, "driz_separate")
        point = [w.copy() for w in md.singles_on_grid("wht")]
    turbo = [w for _, w in separate_default]    # the default kernel
    for index, exposure in enumerate(md.exposures):
        expected = point_kernel_weights(
            [exposure], md.separate_pixel_maps, md.separate_grid.shape,
            lambda c: exposure.exptime * good_pixels(md, c))
        np.testing.assert_allclose(point[index], expected, rtol=1e-6, atol=0)
        # turbo spreads each drop over 1-4 pixels: same total, other pixels
        assert turbo[index].sum(dtype=np.float64) == pytest.approx(expected.sum(), rel=1e-6)
        differs = ~np.isclose(turbo[index], expected, rtol=1e-3, atol=1e-3)
        assert differs.mean() > 0.3


def test_driz_sep_pixfrac_small_drops_leave_holes_but_conserve_flux(rotated):
    md = rotated
    results = {}
    for pixfrac in (1.0, 0.1):
        with changed(md, driz_sep_pixfrac=pixfrac, driz_sep_kernel="square"):
            run_only(md, "driz_separate")
            results[pixfrac] = ([w.copy() for w in md.singles_on_grid("wht")],
                                [s.copy() for s in md.singles_on_grid("sci")])
    for index, exposure in enumerate(md.exposures):
        t = exposure.exptime
        good_count = sum(int(good_pixels(md, c).sum()) for c in exposure.chips)
        flux = input_flux(md, exposure, lambda c: good_pixels(md, c))
        for pixfrac, (weights, sciences) in results.items():
            wht = weights[index].astype(np.float64)
            # every drop lands on the grid: weight and flux are conserved
            assert wht.sum() == pytest.approx(t * good_count, rel=1e-5), pixfrac
            assert (sciences[index] * wht).sum() == pytest.approx(flux, rel=1e-5), pixfrac
        full_weight = results[1.0][0][index] / t
        small_weight = results[0.1][0][index] / t
        inside = interior(full_weight > 0)
        assert inside.sum() > 10000
        assert np.count_nonzero(full_weight[inside] == 0) == 0
        assert np.count_nonzero(small_weight[inside] == 0) > 0.03 * inside.sum()
        roughness = [np.abs(np.diff(w, axis=1))[inside[:, 1:]].mean()
                     for w in (full_weight, small_weight)]
        assert roughness[1] > 3 * roughness[0]


def test_driz_sep_fillval_fills_only_uncovered_pixels(separate, separate_default):
    md = separate
    default = separate_default                  # driz_sep_fillval=None
    with changed(md, driz_sep_fillval=7.0):
        run_only(md, "driz_separate")
        filled = [(s.copy(), w.copy()) for s, w in zip(md.singles_on_grid("sci"), md.singles_on_grid("wht"))]
    for (sci_none, wht_none), (sci_seven, wht_seven) in zip(default, filled):
        uncovered = wht_none == 0
        assert uncovered.sum() > 100
        assert np.array_equal(wht_none, wht_seven)
        # None (INDEF) leaves the value the empty output started with: 0
        assert np.all(sci_none[uncovered] == 0.0)
        assert np.all(sci_seven[uncovered] == 7.0)
        assert np.array_equal(sci_none[~uncovered], sci_seven[~uncovered])


def test_driz_sep_wt_scl_scales_the_weights_only(separate, separate_default):
    md = separate
    results = {"exptime": separate_default}
    for wt_scl in ("expsq", 2.5):
        with changed(md, driz_sep_wt_scl=wt_scl):
            run_only(md, "driz_separate")
            results[wt_scl] = [(s.copy(), w.copy()) for s, w in
                               zip(md.singles_on_grid("sci"), md.singles_on_grid("wht"))]
    for index, exposure in enumerate(md.exposures):
        t = exposure.exptime
        sci, wht = results["exptime"][index]
        covered = wht > 0
        expected_by_scale = {"expsq": t, 2.5: 2.5 / t}
        for wt_scl, factor in expected_by_scale.items():
            other_sci, other_wht = results[wt_scl][index]
            np.testing.assert_allclose(other_wht, wht * factor, rtol=1e-6, atol=0)
            np.testing.assert_allclose(other_sci[covered], sci[covered], rtol=1e-5, atol=1e-6)


def test_driz_sep_bits_let_hot_pixels_in(separate, separate_default):
    md = separate
    sums = {0: [float(w.sum(dtype=np.float64)) for _, w in separate_default]}
    with changed(md, driz_sep_bits=HOT_PIXEL):
        run_only(md, "driz_separate")
        sums[HOT_PIXEL] = [float(w.sum(dtype=np.float64)) for w in md.singles_on_grid("wht")]
    for index, exposure in enumerate(md.exposures):
        hot_only = sum(int((good_pixels(md, c, HOT_PIXEL) & ~good_pixels(md, c)).sum())
                       for c in exposure.chips)
        assert hot_only >= 10
        assert sums[HOT_PIXEL][index] - sums[0][index] == pytest.approx(
            exposure.exptime * hot_only, rel=1e-4)


# ---------------------------------------------------------------------------
# blot_*


def _blotted(md: Multidrizzle, **params) -> dict[str, np.ndarray]:
    with changed(md, **params):
        run_only(md, "blot")
        return {name: image.copy() for name, image in md.blotted_images.items()}


def test_blot_interp_nearest_and_linear_by_hand(full):
    md = full
    median = md.median_image.astype(np.float64)
    ny, nx = median.shape
    nearest = _blotted(md, blot_interp="nearest")
    linear = _blotted(md, blot_interp="linear")
    poly5 = _blotted(md, blot_interp="poly5")
    for chip in chips_of(md):
        positions = md.separate_pixel_maps[chip.name].evaluate()
        x, y = positions[..., 0], positions[..., 1]
        sky = md.sky_values[chip.name]
        cols = np.floor(x + 0.5).astype(int)
        rows = np.floor(y + 0.5).astype(int)
        expected = median[rows, cols] * chip.exptime + sky
        np.testing.assert_allclose(nearest[chip.name], expected, rtol=2e-6, atol=1e-3)
        left, below = np.floor(x).astype(int), np.floor(y).astype(int)
        fx, fy = x - left, y - below
        c0, c1 = np.clip(left, 0, nx - 1), np.clip(left + 1, 0, nx - 1)
        r0, r1 = np.clip(below, 0, ny - 1), np.clip(below + 1, 0, ny - 1)
        bilinear = ((1 - fy) * ((1 - fx) * median[r0, c0] + fx * median[r0, c1])
                    + fy * ((1 - fx) * median[r1, c0] + fx * median[r1, c1]))
        np.testing.assert_allclose(linear[chip.name], bilinear * chip.exptime + sky,
                                   rtol=2e-6, atol=1e-3)
        assert np.abs(poly5[chip.name] - nearest[chip.name]).max() > 1.0


def test_blot_sinscl_sets_the_width_of_the_sinc(full):
    md = full
    median = md.median_image.astype(np.float64)
    narrow = _blotted(md, blot_interp="sinc", blot_sinscl=1.0)
    wide = _blotted(md, blot_interp="sinc", blot_sinscl=2.0)
    chip = chips_of(md)[0]
    positions = md.separate_pixel_maps[chip.name].evaluate()
    rng = np.random.default_rng(1)
    rows = rng.integers(0, chip.shape[0], 12)
    cols = rng.integers(0, chip.shape[1], 12)
    sky = md.sky_values[chip.name]
    differences = []
    for row, col in zip(rows, cols):
        x, y = positions[row, col]
        for sinscl, blotted in ((1.0, narrow), (2.0, wide)):
            expected = reference_blot.sinc_value(median, x, y, sinscl) * chip.exptime + sky
            assert blotted[chip.name][row, col] == pytest.approx(expected, rel=1e-5, abs=1e-2)
        differences.append(abs(narrow[chip.name][row, col] - wide[chip.name][row, col]))
    assert max(differences) > 0.5


def test_blot_addsky_and_blot_skyval(full):
    md = full
    no_sky = _blotted(md, blot_addsky=False, blot_skyval=0.0)
    user_sky = _blotted(md, blot_addsky=False, blot_skyval=12.5)
    header_sky = _blotted(md, blot_addsky=True, blot_skyval=0.0)
    header_sky_ignoring = _blotted(md, blot_addsky=True, blot_skyval=12.5)
    for chip in chips_of(md):
        name = chip.name
        np.testing.assert_allclose(user_sky[name] - no_sky[name], 12.5, rtol=0, atol=2e-3)
        np.testing.assert_allclose(header_sky[name] - no_sky[name], md.sky_values[name],
                                   rtol=0, atol=2e-3)
        # with blot_addsky the blot_skyval parameter is ignored
        assert np.array_equal(header_sky_ignoring[name], header_sky[name])


# ---------------------------------------------------------------------------
# final_*


def _final(md: Multidrizzle, **params):
    with changed(md, **params):
        run_only(md, "driz_combine")
        ctx = None if md.final_ctx is None else md.final_ctx.copy()
        return md.final_sci.copy(), md.final_wht.copy(), ctx


@pytest.fixture(scope="module")
def final_default(rotated):
    """The final drizzle with default parameters (square, pixfrac 1, no fill, bits 0)."""
    return _final(rotated)


def _final_oracle(md: Multidrizzle, bits: int = 0) -> np.ndarray:
    return point_kernel_weights(md.exposures, md.pixel_maps, md.output_grid.shape,
                                lambda c: c.exptime * good_pixels(md, c, bits))


def test_final_kernel_point_versus_square(rotated, final_default):
    md = rotated
    _, point, _ = _final(md, final_kernel="point")
    _, square, _ = final_default
    expected = _final_oracle(md)
    np.testing.assert_allclose(point, expected, rtol=1e-6, atol=0)
    assert square.sum(dtype=np.float64) == pytest.approx(expected.sum(), rel=1e-5)
    assert (~np.isclose(square, expected, rtol=1e-3, atol=1e-3)).mean() > 0.3


def test_final_err_propagates_the_err_arrays_with_squared_weights(rotated, final_default):
    """Point kernel: each output pixel's ERR is sqrt(sum((t e)^2)) / sum(t), over the
    input pixels landing in it, with t their weight (exptime) and e their ERR as a
    rate (ERR / exptime): summed here by hand.  final_err=False makes none and
    changes nothing else; final_units='counts' scales ERR as SCI."""
    md = rotated
    with changed(md, final_kernel="point"):
        sci, wht, ctx = _final(md)
        error = md.final_error.copy()
        with fits.open(md.products[0]) as hdul:
            assert hdul["ERR"].header["NCORRFAC"] == 1.0 == hdul["SCI"].header["NCORRFAC"]
            np.testing.assert_array_equal(hdul["ERR"].data, error)
        with changed(md, final_err=False):
            plain = _final(md)
            assert md.final_error is None and md.final_image.uncertainty is None
            with fits.open(md.products[0]) as hdul:
                assert "ERR" not in hdul
        with changed(md, final_units="counts"):
            counted = _final(md)
            np.testing.assert_allclose(md.final_error, error * md.final.exptime, rtol=1e-6)
    for image, other in zip((sci, wht, ctx), plain):
        np.testing.assert_array_equal(image, other)
    np.testing.assert_allclose(counted[0], sci * md.final.exptime, rtol=1e-6)
    # no ERR in these files is zero: ERR squared is each pixel's variance
    good_weight = {c.name: c.exptime * good_pixels(md, c) for c in chips_of(md)}
    squared = point_kernel_weights(
        md.exposures, md.pixel_maps, md.output_grid.shape,
        lambda c: good_weight[c.name] ** 2 * (c.read_error() / c.exptime) ** 2)
    covered = wht > 0
    assert covered.sum() > 1000 and np.isnan(error[~covered]).all()
    np.testing.assert_allclose(error[covered], np.sqrt(squared[covered]) / wht[covered],
                               rtol=1e-5)


def test_final_pixfrac_small_drops_leave_holes_but_conserve_flux(rotated, final_default):
    md = rotated
    results = {1.0: final_default, 0.1: _final(md, final_pixfrac=0.1)}
    good_weight = sum(c.exptime * int(good_pixels(md, c).sum()) for c in chips_of(md))
    rate_flux = sum(input_flux(md, e, lambda c: good_pixels(md, c)) for e in md.exposures)
    for pixfrac, (sci, wht, _) in results.items():
        wht = wht.astype(np.float64)
        assert wht.sum() == pytest.approx(good_weight, rel=1e-5), pixfrac
        # sum(sci * wht) = sum over inputs of (value / t) * t; zero-weight
        # pixels hold final_maskval (NaN) and add nothing
        assert (sci * wht)[wht > 0].sum() == pytest.approx(rate_flux, rel=1e-5), pixfrac
    inside = interior(results[1.0][1] > 0)
    assert np.count_nonzero(results[1.0][1][inside] == 0) == 0
    assert np.count_nonzero(results[0.1][1][inside] == 0) > 0.005 * inside.sum()


def test_final_fillval_fills_only_uncovered_pixels(rotated, final_default):
    md = rotated
    sci_none, wht_none, _ = final_default       # final_fillval=None
    sci_seven, wht_seven, _ = _final(md, final_fillval=7.0)
    uncovered = wht_none == 0
    assert uncovered.sum() > 1000
    assert np.array_equal(wht_none, wht_seven)
    assert np.all(np.isnan(sci_none[uncovered]))  # None (INDEF): left at final_maskval
    assert np.all(sci_seven[uncovered] == 7.0)
    assert np.array_equal(sci_none[~uncovered], sci_seven[~uncovered])


def test_final_maskval_is_the_value_where_no_input_adds_weight(rotated, final_default):
    """AstroDrizzle starts the final image at final_maskval (None: NaN); pixels
    that no input pixel reaches with a weight keep it, final_fillval replaces it."""
    md = rotated
    sci_none, wht_none, _ = final_default       # final_maskval=None
    sci_five, wht_five, _ = _final(md, final_maskval=5.0)
    sci_zero, _, _ = _final(md, final_maskval=0.0)
    sci_filled, _, _ = _final(md, final_maskval=5.0, final_fillval=7.0)
    uncovered = wht_none == 0
    assert uncovered.sum() > 1000
    assert np.array_equal(wht_none, wht_five)
    assert np.isnan(sci_none[uncovered]).all() and np.isfinite(sci_none[~uncovered]).all()
    assert np.all(sci_five[uncovered] == 5.0) and np.all(sci_zero[uncovered] == 0.0)
    assert np.array_equal(sci_five[~uncovered], sci_none[~uncovered])
    assert np.all(sci_filled[uncovered] == 7.0)
    assert np.array_equal(sci_filled[~uncovered], sci_none[~uncovered])


def test_final_bits_let_hot_pixels_in(rotated):
    md = rotated
    _, default, _ = _final(md, final_bits=0, final_kernel="point")
    _, with_hot, _ = _final(md, final_bits=HOT_PIXEL, final_kernel="point")
    np.testing.assert_allclose(default, _final_oracle(md, 0), rtol=1e-6, atol=0)
    np.testing.assert_allclose(with_hot, _final_oracle(md, HOT_PIXEL), rtol=1e-6, atol=0)
    hot_weight = sum(c.exptime * int((good_pixels(md, c, HOT_PIXEL)
                                      & ~good_pixels(md, c)).sum()) for c in chips_of(md))
    assert hot_weight > 0
    assert with_hot.sum(dtype=np.float64) - default.sum(dtype=np.float64) == pytest.approx(
        hot_weight, rel=1e-4)
    # the output pixels that receive a hot pixel had less weight without it
    gained = with_hot > default
    assert gained.sum() > 10


# ---------------------------------------------------------------------------
# final_crpix1/2, driz_sep_crpix1/2: the reference pixel of a custom grid


def _overlap(shape: tuple[int, int], dx: int, dy: int) -> tuple[slice, slice, slice, slice]:
    """Slices (rows, cols) of an image and of the same image moved by (dx, dy) pixels."""
    ny, nx = shape
    rows = slice(max(0, -dy), min(ny, ny - dy))
    cols = slice(max(0, -dx), min(nx, nx - dx))
    return rows, cols, slice(rows.start + dy, rows.stop + dy), slice(cols.start + dx,
                                                                      cols.stop + dx)


def _assert_moved(moved: np.ndarray, original: np.ndarray, moved_wht: np.ndarray,
                  original_wht: np.ndarray, dx: int, dy: int) -> None:
    """``moved[y + dy, x + dx] == original[y, x]`` wherever both received weight."""
    rows, cols, moved_rows, moved_cols = _overlap(original.shape, dx, dy)
    both = (original_wht[rows, cols] > 0) & (moved_wht[moved_rows, moved_cols] > 0)
    assert both.sum() > 0.5 * (original_wht > 0).sum()
    np.testing.assert_allclose(moved_wht[moved_rows, moved_cols][both],
                               original_wht[rows, cols][both], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(moved[moved_rows, moved_cols][both],
                               original[rows, cols][both], rtol=1e-5, atol=1e-4)


@pytest.fixture(scope="module")
def plain_grid(demo, tmp_path_factory) -> Multidrizzle:
    """Default grids; no static mask, sky or cosmic rays (drizzles of the raw data)."""
    return new_session(demo, tmp_path_factory.mktemp("plain_grid"), static=False,
                       skysub=False, driz_cr=False)


def test_final_crpix_puts_the_frame_centre_on_that_pixel(demo, tmp_path, plain_grid):
    """AstroDrizzle's final_crpix1/2 set CRPIX of the final grid; CRVAL (the centre)
    and the size stay, so the field moves by the change of CRPIX."""
    default = plain_grid
    crpix = default.output_grid.wcs.wcs.crpix.copy()
    dx, dy = -7, 5
    moved = new_session(demo, tmp_path, static=False, skysub=False, driz_cr=False,
                        final_crpix1=crpix[0] + dx, final_crpix2=crpix[1] + dy)
    assert moved.final_wcs  # a custom-WCS value switches the custom WCS on
    grid = moved.output_grid
    assert grid.shape == default.output_grid.shape
    np.testing.assert_array_equal(grid.wcs.wcs.crpix, crpix + [dx, dy])
    np.testing.assert_allclose(grid.wcs.wcs.crval, default.output_grid.wcs.wcs.crval,
                               rtol=0, atol=1e-12)
    for name, pixel_map in default.pixel_maps.items():
        np.testing.assert_allclose(moved.pixel_maps[name].evaluate(),
                                   pixel_map.evaluate() + [dx, dy], rtol=0, atol=1e-7)
    # the separate drizzles keep their own (default) grid
    np.testing.assert_array_equal(moved.separate_grid.wcs.wcs.crpix, crpix)
    for md in (default, moved):
        run_only(md, "driz_combine")
    _assert_moved(moved.final_sci, default.final_sci, moved.final_wht, default.final_wht,
                  dx, dy)
    assert moved.final_wht.sum(dtype=np.float64) < default.final_wht.sum(dtype=np.float64)


def test_driz_sep_crpix_moves_only_the_separate_grid(demo, tmp_path, plain_grid):
    default = plain_grid
    crpix = default.separate_grid.wcs.wcs.crpix.copy()
    dx, dy = 4, -6
    moved = new_session(demo, tmp_path, static=False, skysub=False, driz_cr=False,
                        driz_sep_crpix1=crpix[0] + dx, driz_sep_crpix2=crpix[1] + dy)
    assert moved.driz_sep_wcs
    np.testing.assert_array_equal(moved.separate_grid.wcs.wcs.crpix, crpix + [dx, dy])
    np.testing.assert_array_equal(moved.output_grid.wcs.wcs.crpix,
                                  default.output_grid.wcs.wcs.crpix)
    for md in (default, moved):
        run_only(md, "driz_separate")
    for moved_sci, sci, moved_wht, wht in zip(moved.singles_on_grid("sci"), default.singles_on_grid("sci"),
                                              moved.singles_on_grid("wht"), default.singles_on_grid("wht")):
        _assert_moved(moved_sci, sci, moved_wht, wht, dx, dy)


def test_crpix_needs_both_axes(demo, tmp_path):
    from multidrizzle.errors import ParameterError

    with pytest.raises(ParameterError, match="'final_crpix1' is set but 'final_crpix2'"):
        new_session(demo, tmp_path, final_crpix1=10.0)


# ---------------------------------------------------------------------------
# driz_sep_compress


def test_driz_sep_compress_writes_compressed_singles_with_the_same_values(demo, tmp_path):
    """The separate drizzle files are FITS tile-compressed (losslessly): smaller files,
    identical values, identical median."""
    sessions = {}
    for name, compress in (("plain", False), ("packed", True)):
        md = new_session(demo, tmp_path / name, in_memory=False, static=False, skysub=False,
                         driz_sep_compress=compress)
        run_only(md, "driz_separate", "median")
        sessions[name] = md
    for single in sessions["packed"].single_drizzles:
        for kind, image in (("sci", single.sci), ("wht", single.wht)):
            packed_file = Path(image.path)
            plain_file = tmp_path / "plain" / packed_file.name
            assert packed_file.name.endswith(f"_single_{kind}.fits")
            with fits.open(packed_file) as packed, fits.open(plain_file) as plain:
                assert isinstance(packed[1], fits.CompImageHDU)
                assert packed[1].compression_type == "GZIP_2"
                assert len(plain) == 1 and plain[0].data is not None
                np.testing.assert_array_equal(packed[1].data, plain[0].data)
                structural = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND",
                              "COMMENT", "HISTORY", ""}
                cards = [card for card in plain[0].header.cards
                         if card.keyword not in structural]
                assert len(cards) > 10  # WCS, units, exposure time, sky
                for card in cards:
                    assert packed[1].header[card.keyword] == card.value, card.keyword
            assert packed_file.stat().st_size < plain_file.stat().st_size
    for packed, plain in zip(sessions["packed"].singles_on_grid("sci"), sessions["plain"].singles_on_grid("sci")):
        np.testing.assert_array_equal(packed, plain)
    np.testing.assert_array_equal(sessions["packed"].median_image,
                                  sessions["plain"].median_image)


def test_context_false_gives_no_context_image_or_extension(demo, tmp_path, full):
    # context=True (the default; full writes one multi-extension file): a CTX
    # image with one bit per exposure, set exactly where that exposure has weight
    product, = full.products
    np.testing.assert_array_equal(fits.getdata(product, "CTX"), full.final_ctx[0])
    for index, exposure in enumerate(full.exposures):
        contributes = (full.final_ctx[0] & (1 << index)) != 0
        assert contributes.sum() > 1000
    np.testing.assert_array_equal(full.final_ctx[0] != 0, full.final_wht > 0)
    one_file = new_session(demo, tmp_path / "mef", static=False, build_mef=True,
                           context=False)
    one_file.run(driz_cr=False, median=False, blot=False, driz_separate=False)
    assert one_file.final_ctx is None
    assert len(one_file.products) == 1
    with fits.open(one_file.products[0]) as hdul:
        assert [hdu.name for hdu in hdul[1:]] == ["SCI", "WHT", "ERR", "HDRTAB"]
        assert hdul[0].header["D001OUCO"] == ""
    separate_files = new_session(demo, tmp_path / "files", static=False, build_mef=False,
                                 context=False)
    separate_files.run(driz_cr=False, median=False, blot=False, driz_separate=False)
    assert separate_files.final_ctx is None
    assert sorted(p.name for p in separate_files.products) == [
        "final_drc_err.fits", "final_drc_sci.fits", "final_drc_wht.fits"]
    np.testing.assert_array_equal(separate_files.final_wht, one_file.final_wht)


# ---------------------------------------------------------------------------
# static mask


def _reference_static_mask(md: Multidrizzle, signature, static_sig: float) -> np.ndarray:
    """AstroDrizzle's rule with the slow imagestats reference: OR over exposures."""
    mask = None
    for chip in chips_of(md):
        if chip.signature != signature:
            continue
        science = read_once(md, chip, "sci")
        npix, _, std, low, high, _, _ = reference_statistics.reference_clipped_moments(
            science, nclip=3, lsigma=3.0, usigma=3.0)
        mode = reference_statistics.reference_histogram_mode(science, low, high, 0.1 * std)
        bad = science < mode - static_sig * std
        mask = bad if mask is None else mask | bad
    return mask


@pytest.fixture(scope="module")
def static_session(demo, tmp_path_factory) -> Multidrizzle:
    return new_session(demo, tmp_path_factory.mktemp("static"))


def test_static_sig_larger_flags_fewer_pixels(static_session, demo):
    md = static_session
    truth = load_demo_truth(demo)
    masks = {}
    for static_sig in (2.0, 6.0):
        with changed(md, static_sig=static_sig):
            run_only(md, "static")
            masks[static_sig] = {k: v.copy() for k, v in md.static_masks.items()}
    for signature in masks[2.0]:
        loose, strict = masks[2.0][signature], masks[6.0][signature]
        for static_sig, mask in ((2.0, loose), (6.0, strict)):
            expected = _reference_static_mask(md, signature, static_sig)
            assert np.count_nonzero(mask != expected) == 0, (signature, static_sig)
        assert not np.any(strict & ~loose)          # a higher limit only removes pixels
        chip = next(c for c in chips_of(md) if c.signature == signature)
        bad_pixels = truth.bad_pixel_mask[chip.extver]
        assert np.all(strict[bad_pixels])           # the over-subtracted pixels stay
    total = {sig: sum(int(m.sum()) for m in by_signature.values())
             for sig, by_signature in masks.items()}
    assert total[6.0] < total[2.0]


def test_staticfile_zeros_are_masked(static_session, tmp_path):
    md = static_session
    run_only(md, "static")
    default = {k: v.copy() for k, v in md.static_masks.items()}
    user = np.ones(CHIP_SHAPE, dtype=np.uint8)
    user[10:14, 20:30] = 0
    user[50, 100] = 0
    path = tmp_path / "user_mask.fits"
    fits.PrimaryHDU(user).writeto(path)
    with changed(md, staticfile=str(path)):
        run_only(md, "static")
        with_file = {k: v.copy() for k, v in md.static_masks.items()}
    for signature, mask in with_file.items():
        np.testing.assert_array_equal(mask, default[signature] | (user == 0))


# ---------------------------------------------------------------------------
# sky


@pytest.fixture(scope="module")
def sky_session(demo, tmp_path_factory) -> Multidrizzle:
    return new_session(demo, tmp_path_factory.mktemp("sky"), static=False)


def test_skyfile_values_are_used_and_subtracted(sky_session, tmp_path):
    md = sky_session
    per_chip = tmp_path / "per_chip.txt"
    per_chip.write_text("".join(f"{e.filename.name} {11.0 + i} {21.5 + i}\n"
                                for i, e in enumerate(md.exposures)))
    with changed(md, skyfile=str(per_chip)):
        run_only(md, "sky")
        for i, exposure in enumerate(md.exposures):
            values = [md.sky_values[c.name] for c in exposure.chips]
            assert values == [11.0 + i, 21.5 + i]   # SCI,1 then SCI,2
    one_value = tmp_path / "one_value.txt"
    skies = [17.0, 33.0, 41.0]
    one_value.write_text("".join(f"{e.filename.name} {s}\n"
                                 for e, s in zip(md.exposures, skies)))
    with changed(md, skysub=False):
        # skysub=None: the parameter switches the sky off, so nothing is subtracted
        md.run(**(ALL_OFF | {"skysub": None, "driz_separate": True}))
        assert not md.sky_subtracted
        unsubtracted = [s.copy() for s in md.singles_on_grid("sci")]
    with changed(md, skyfile=str(one_value)):
        run_only(md, "sky", "driz_separate")
        assert md.sky_subtracted
        for exposure, sky, before, after in zip(md.exposures, skies, unsubtracted,
                                                md.singles_on_grid("sci")):
            assert {md.sky_values[c.name] for c in exposure.chips} == {sky}
            covered = md.singles_on_grid("wht")[md.exposures.index(exposure)] > 0
            np.testing.assert_allclose(before[covered] - after[covered],
                                       sky / exposure.exptime, rtol=0, atol=2e-5)


def test_skymask_cat_limits_the_sky_pixels(sky_session, tmp_path):
    md = sky_session
    statistics = dict(skystat="mean", skyclip=0, use_static=False, skymethod="localmin")
    with changed(md, **statistics):
        run_only(md, "sky")
        plain = dict(md.sky_values)
    lines = []
    kept = {}
    for exposure in md.exposures:
        first = exposure.chips[0]
        science = read_once(md, first, "sci")
        keep = science < np.median(science)        # the fainter half of SCI,1 only
        mask_path = tmp_path / f"{exposure.rootname}_mask.fits"
        fits.PrimaryHDU(keep.astype(np.uint8)).writeto(mask_path)
        kept[first.name] = keep
        lines.append(f"{exposure.filename.name}, {mask_path}, None\n")
    catalog = tmp_path / "masks.cat"
    catalog.write_text("".join(lines))
    with changed(md, skymask_cat=str(catalog), **statistics):
        run_only(md, "sky")
        masked = dict(md.sky_values)
    for exposure in md.exposures:
        means = []
        for chip in exposure.chips:
            usable = good_pixels(md, chip) & kept.get(chip.name, True)
            means.append(float(read_once(md, chip, "sci").astype(np.float64)[usable].mean()))
        for chip in exposure.chips:
            assert masked[chip.name] == pytest.approx(min(means), rel=1e-6)
            assert masked[chip.name] < plain[chip.name] - 1.0


# ---------------------------------------------------------------------------
# median


@pytest.fixture(scope="module")
def median_session(demo, tmp_path_factory) -> Multidrizzle:
    md = new_session(demo, tmp_path_factory.mktemp("median"))
    run_only(md, "static", "sky", "driz_separate")
    return md


def _good_stack(md: Multidrizzle) -> tuple[np.ndarray, np.ndarray]:
    """Singles as a float64 stack and AstroDrizzle's weight masks (True = good)."""
    images = np.array(md.singles_on_grid("sci"), dtype=np.float64)
    weights = np.array(md.singles_on_grid("wht"), dtype=np.float64)
    good = np.empty(weights.shape, dtype=bool)
    for index, weight in enumerate(weights):
        mean = weight[weight >= 1e-8].mean()
        good[index] = (weight > 0) & (weight >= md.combine_maskpt * mean)
    return images, good


def test_combine_nsigma_chooses_between_minmed_median_and_minimum(median_session):
    md = median_session
    results = {}
    for nsigma in ((1e6, 1e6), (4.0, 3.0), (1e-6, 1e-6)):
        with changed(md, combine_type="minmed", combine_nsigma=nsigma):
            run_only(md, "median")
            results[nsigma] = md.median_image.copy()
    images, good = _good_stack(md)
    count = good.sum(axis=0)
    ordered = np.sort(np.where(good, images, np.inf), axis=0)
    # minmed's "median" of 3 images: drop the highest, average the other two;
    # of 2 good values the lower, of 1 that value, of none 0
    median = np.where(count == 3, (ordered[0] + ordered[1]) / 2,
                      np.where(count >= 1, ordered[0], 0.0))
    minimum = np.where(count >= 1, ordered[0], 0.0)
    np.testing.assert_allclose(results[(1e6, 1e6)], median, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(results[(1e-6, 1e-6)], minimum, rtol=1e-6, atol=1e-6)
    default = results[(4.0, 3.0)]
    takes_minimum = np.isclose(default, minimum, rtol=1e-6, atol=1e-6) & ~np.isclose(
        median, minimum, rtol=1e-6, atol=1e-6)
    takes_median = np.isclose(default, median, rtol=1e-6, atol=1e-6)
    assert np.all(takes_minimum | takes_median)
    assert takes_minimum.sum() > 10                 # cosmic rays in the highest value
    assert (takes_median & (count == 3)).mean() > 0.5


def test_combine_bufsize_sets_the_sections_not_the_median(median_session, monkeypatch):
    md = median_session
    sections = []
    real_create_median = median_step.create_median

    def recording_create_median(*args, **kwargs):
        result = real_create_median(*args, **kwargs)
        sections.append((result.section_rows, result.n_sections))
        return result

    monkeypatch.setattr(median_step, "create_median", recording_create_median)
    ny, nx = md.separate_grid.shape
    grow = 2
    results = []
    for bufsize in (0.0042, None, 1000.0):   # a few rows per section ... one section
        with changed(md, combine_type="minmed", combine_bufsize=bufsize, combine_grow=grow):
            run_only(md, "median")
            results.append(md.median_image.copy())
    # the buffer holds bufsize MiB of float32 rows, minus the grow halo on each side
    rows = int(0.0042 * 2**20 // (nx * 4)) - 2 * grow
    assert sections[0] == (rows, math.ceil(ny / rows))
    assert sections[0][1] > 10
    assert sections[2][1] == 1
    assert np.array_equal(results[0], results[2])
    assert np.array_equal(results[1], results[2])


# ---------------------------------------------------------------------------
# preserve / overwrite (workinplace)


def _working_copy(demo: Path, folder: Path) -> Path:
    folder.mkdir()
    names = [line.strip() for line in (demo / "inputs.lst").read_text().splitlines()
             if line.strip()]
    for name in names:
        shutil.copy2(demo / Path(name).name, folder / Path(name).name)
    listing = folder / "inputs.lst"
    listing.write_text("".join(f"{folder / Path(n).name}\n" for n in names))
    return listing


def _sky_in_place(demo, listing, out, **params):
    md = new_session(demo, out, listing=listing, workinplace=True, static=False, **params)
    run_only(md, "sky")
    return md


def _has_mdrizsky(path: Path) -> bool:
    with fits.open(path) as hdul:
        return "MDRIZSKY" in hdul["SCI", 1].header


def test_preserve_archives_once_and_keeps_the_first_copy(demo, tmp_path):
    listing = _working_copy(demo, tmp_path / "inputs")
    first = Path(listing.read_text().split()[0])
    original = first.read_bytes()
    _sky_in_place(demo, listing, tmp_path, preserve=True, overwrite=False)
    archive = first.parent / "OrIg_files" / first.name
    assert archive.read_bytes() == original
    assert _has_mdrizsky(first) and not _has_mdrizsky(archive)
    _sky_in_place(demo, listing, tmp_path, preserve=True, overwrite=False)
    assert archive.read_bytes() == original     # an existing copy is NOT overwritten


def test_overwrite_replaces_the_archived_copy(demo, tmp_path):
    listing = _working_copy(demo, tmp_path / "inputs")
    first = Path(listing.read_text().split()[0])
    _sky_in_place(demo, listing, tmp_path, preserve=True, overwrite=False)
    archive = first.parent / "OrIg_files" / first.name
    before_second_run = first.read_bytes()         # now carries MDRIZSKY
    assert archive.read_bytes() != before_second_run
    _sky_in_place(demo, listing, tmp_path, preserve=False, overwrite=True)
    assert archive.read_bytes() == before_second_run
    assert _has_mdrizsky(archive)


def test_no_archive_without_preserve_or_overwrite(demo, tmp_path):
    listing = _working_copy(demo, tmp_path / "inputs")
    first = Path(listing.read_text().split()[0])
    _sky_in_place(demo, listing, tmp_path, preserve=False, overwrite=False)
    assert not (first.parent / "OrIg_files").exists()
    assert _has_mdrizsky(first)                    # workinplace still writes back


def test_preserve_without_workinplace_touches_nothing(demo, tmp_path):
    listing = _working_copy(demo, tmp_path / "inputs")
    first = Path(listing.read_text().split()[0])
    original = first.read_bytes()
    md = new_session(demo, tmp_path, listing=listing, static=False, preserve=True,
                     overwrite=True)
    run_only(md, "sky")
    assert not (first.parent / "OrIg_files").exists()
    assert first.read_bytes() == original


# ---------------------------------------------------------------------------
# driz_cr_corr


def test_driz_cr_corr_writes_crmask_and_crclean(demo, tmp_path, full):
    truth = load_demo_truth(demo)
    md = new_session(demo, tmp_path, driz_cr_corr=True)
    md.run(driz_combine=False)
    flagged_total = injected_hits = cleaner = 0
    for chip in chips_of(md):
        root = tmp_path / f"{chip.filename.name[:-len('.fits')]}_sci{chip.extver}"
        crmask_path = Path(f"{root}_crmask.fits")
        crclean_path = Path(f"{root}_crclean.fits")
        assert crmask_path.is_file() and crclean_path.is_file()
        cosmic_rays = md.cr_masks[chip.name]
        flagged_total += int(cosmic_rays.sum())
        crmask = fits.getdata(crmask_path)
        assert crmask.dtype == np.uint8
        np.testing.assert_array_equal(crmask, np.where(cosmic_rays, 0, 1))  # 1 good, 0 CR
        clean = fits.getdata(crclean_path)
        science = chip.read_science()
        np.testing.assert_array_equal(clean[~cosmic_rays], science[~cosmic_rays])
        np.testing.assert_array_equal(clean[cosmic_rays],
                                      md.blotted_images[chip.name][cosmic_rays])
        # the flagged pixels are mostly injected cosmic rays, and cleaning them
        # brings them back near the cosmic-ray-free data
        injected = truth.cosmic_ray_flux[chip.filename.name, chip.extver]
        hit = cosmic_rays & (injected > 0)
        injected_hits += int(hit.sum())
        without_cr = science - injected
        cleaner += int(np.count_nonzero(np.abs(clean[hit] - without_cr[hit])
                                        < np.abs(science[hit] - without_cr[hit])))
    assert flagged_total > 50
    assert injected_hits >= 0.85 * flagged_total
    assert cleaner >= 0.9 * injected_hits
    # the default (driz_cr_corr=False) writes neither file
    assert not list(Path(full.output_root).parent.glob("*_crmask.fits"))
    assert not list(Path(full.output_root).parent.glob("*_crclean.fits"))
