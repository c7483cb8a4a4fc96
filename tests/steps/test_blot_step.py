"""Step 5, blot_median: the median seen through one chip, with known answers.

The chips, grids and pixel maps are built by hand (no files): the median is a
count rate per *output* pixel, so blotting multiplies it by the chip's
exposure time (unless the chip's data are a rate) and divides it by the
output/input pixel-area ratio, then adds the sky that was subtracted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.model.geometry import OutputGrid, PixelMap
from multidrizzle.model import Chip
from multidrizzle.steps.blot import blot_median

from support.geometry import tan_wcs

CHIP_SHAPE = (12, 16)
GRID_SHAPE = (30, 40)
INPUT_SCALE = 0.04  # arcsec per input pixel


def make_chip(*, exptime: float = 400.0, bunit: str = "ELECTRONS",
              idcscale: float | None = INPUT_SCALE, wcs_scale: float = INPUT_SCALE,
              shape=CHIP_SHAPE) -> Chip:
    header = fits.Header()
    if idcscale is not None:
        header["IDCSCALE"] = idcscale
    rate = bunit.endswith("/S")
    return Chip(filename=Path("synthetic_flt.fits"), extver=1, shape=shape,
                wcs=tan_wcs(wcs_scale), exptime=exptime, gain=1.0, read_noise=3.0,
                bunit=bunit, to_electrons=exptime if rate else 1.0, proc_scale=1.0,
                signature=("WFC3/UVIS", (shape[1], shape[0]), 1), header=header)


def make_grid(scale: float = INPUT_SCALE, shape=GRID_SHAPE) -> OutputGrid:
    return OutputGrid(wcs=tan_wcs(scale), shape=shape, scale=scale, rotation=0.0)


def make_map(positions: np.ndarray) -> PixelMap:
    """A pixel map holding ``positions`` (ny, nx, 2) exactly (stepsize 1)."""
    return PixelMap(chip_name="synthetic_flt.fits[SCI,1]", shape=positions.shape[:2],
                    stepsize=1, node_values=np.ascontiguousarray(positions, np.float64),
                    origin=(0.0, 0.0))


def affine_positions(shape=CHIP_SHAPE, *, shift=(5.3, 7.6), factor=1.0) -> np.ndarray:
    """x_out = factor * x + shift_x, y_out = factor * y + shift_y."""
    y, x = np.indices(shape, dtype=np.float64)
    return np.stack([factor * x + shift[0], factor * y + shift[1]], axis=-1)


@pytest.mark.parametrize("interp", ["nearest", "linear", "poly3", "poly5", "sinc"])
def test_constant_median_becomes_counts_per_exposure(interp):
    median = np.full(GRID_SHAPE, 2.5, dtype=np.float32)   # e-/s per output pixel
    blotted = blot_median(median, make_chip(exptime=400.0), make_map(affine_positions()),
                          make_grid(), interp=interp)
    assert blotted.dtype == np.float32 and blotted.shape == CHIP_SHAPE
    np.testing.assert_allclose(blotted, 2.5 * 400.0, rtol=1e-6)


def test_sky_is_added_to_every_pixel():
    median = np.full(GRID_SHAPE, 2.5, dtype=np.float32)
    chip, pixel_map, grid = make_chip(exptime=400.0), make_map(affine_positions()), make_grid()
    without = blot_median(median, chip, pixel_map, grid, interp="linear")
    with_sky = blot_median(median, chip, pixel_map, grid, interp="linear", sky=37.25)
    np.testing.assert_allclose(with_sky - without, 37.25, rtol=0, atol=1e-4)
    np.testing.assert_allclose(with_sky, 1000.0 + 37.25, rtol=1e-6)


def test_pixels_off_the_median_get_only_the_sky():
    median = np.full(GRID_SHAPE, 2.5, dtype=np.float32)
    positions = affine_positions(shift=(-8.0, 3.0))       # columns 0-7 land at x < -0.5
    blotted = blot_median(median, make_chip(exptime=400.0), make_map(positions),
                          make_grid(), interp="poly5", sky=11.0)
    off = positions[..., 0] < -0.5
    assert off.sum() == 8 * CHIP_SHAPE[0]
    np.testing.assert_allclose(blotted[off], 11.0, rtol=0, atol=0)
    np.testing.assert_allclose(blotted[~off], 1000.0 + 11.0, rtol=1e-6)


def test_output_pixels_four_times_larger_divide_by_four():
    # output pixels 0.08": each holds 4 input pixels, so a rate of m e-/s per
    # output pixel is m / 4 e-/s per input pixel
    median = np.full(GRID_SHAPE, 8.0, dtype=np.float32)
    positions = affine_positions(factor=0.5)
    blotted = blot_median(median, make_chip(exptime=300.0), make_map(positions),
                          make_grid(scale=2 * INPUT_SCALE), interp="poly5")
    np.testing.assert_allclose(blotted, 8.0 * 300.0 / 4.0, rtol=1e-6)


def test_pixel_area_from_the_wcs_without_idcscale():
    median = np.full(GRID_SHAPE, 8.0, dtype=np.float32)
    chip = make_chip(exptime=300.0, idcscale=None, wcs_scale=0.05)
    blotted = blot_median(median, chip, make_map(affine_positions(factor=0.5)),
                          make_grid(scale=0.1), interp="linear")
    np.testing.assert_allclose(blotted, 8.0 * 300.0 / 4.0, rtol=1e-6)


def test_rate_data_are_not_multiplied_by_the_exposure_time():
    median = np.full(GRID_SHAPE, 8.0, dtype=np.float32)
    rate_chip = make_chip(exptime=300.0, bunit="ELECTRONS/S")
    blotted = blot_median(median, rate_chip, make_map(affine_positions(factor=0.5)),
                          make_grid(scale=2 * INPUT_SCALE), interp="nearest", sky=0.5)
    np.testing.assert_allclose(blotted, 8.0 / 4.0 + 0.5, rtol=1e-6)


def test_nearest_takes_the_pixel_holding_the_centre():
    rng = np.random.default_rng(4)
    median = rng.uniform(1.0, 9.0, GRID_SHAPE).astype(np.float32)
    positions = affine_positions(shift=(5.3, 7.6))
    blotted = blot_median(median, make_chip(exptime=200.0), make_map(positions),
                          make_grid(), interp="nearest", sky=3.0)
    y, x = np.indices(CHIP_SHAPE)
    # x + 5.3 rounds to x + 5, y + 7.6 rounds to y + 8
    expected = median[y + 8, x + 5].astype(np.float64) * 200.0 + 3.0
    np.testing.assert_allclose(blotted, expected, rtol=1e-6)


@pytest.mark.parametrize("interp", ["linear", "poly3", "poly5"])
def test_interpolants_reproduce_a_plane(interp):
    # a plane is reproduced exactly by bilinear and by the interior polynomials
    rows, cols = np.indices(GRID_SHAPE, dtype=np.float64)
    median = (3.0 + 0.25 * cols - 0.125 * rows).astype(np.float32)
    positions = affine_positions(shift=(6.37, 9.81), factor=1.13)
    blotted = blot_median(median, make_chip(exptime=100.0), make_map(positions),
                          make_grid(), interp=interp, sky=20.0)
    plane = 3.0 + 0.25 * positions[..., 0] - 0.125 * positions[..., 1]
    np.testing.assert_allclose(blotted, plane * 100.0 + 20.0, rtol=1e-6)


def test_linear_between_four_pixels_by_hand():
    median = np.zeros(GRID_SHAPE, dtype=np.float32)
    median[10, 20], median[10, 21], median[11, 20], median[11, 21] = 1.0, 2.0, 4.0, 8.0
    positions = np.full((2, 2, 2), 0.0)
    positions[0, 0] = (20.25, 10.5)       # fx = 0.25, fy = 0.5
    positions[0, 1] = (20.0, 10.0)        # on a pixel centre
    positions[1, 0] = (20.5, 11.0)        # between the upper two
    positions[1, 1] = (21.0, 10.75)
    chip = make_chip(exptime=10.0, shape=(2, 2))
    blotted = blot_median(median, chip, make_map(positions), make_grid(), interp="linear")
    lower = 0.75 * 1.0 + 0.25 * 2.0
    upper = 0.75 * 4.0 + 0.25 * 8.0
    expected = np.array([[0.5 * lower + 0.5 * upper, 1.0],
                         [0.5 * 4.0 + 0.5 * 8.0, 0.25 * 2.0 + 0.75 * 8.0]]) * 10.0
    np.testing.assert_allclose(blotted, expected, rtol=1e-6)


def test_sinc_width_changes_the_result_but_keeps_constants():
    rng = np.random.default_rng(9)
    median = rng.uniform(0.0, 10.0, GRID_SHAPE).astype(np.float32)
    chip, grid = make_chip(exptime=1.0), make_grid()
    pixel_map = make_map(affine_positions(shift=(12.4, 9.3)))
    narrow = blot_median(median, chip, pixel_map, grid, interp="sinc", sinscl=1.0)
    wide = blot_median(median, chip, pixel_map, grid, interp="sinc", sinscl=2.5)
    assert np.abs(narrow - wide).max() > 0.1
    # the wider kernel averages over more pixels: the blot is smoother
    assert np.std(np.diff(wide, axis=1)) < np.std(np.diff(narrow, axis=1))


# ------------------------------------------------- counts behind the blotted median

@pytest.mark.parametrize("reach", [0, 1, 3])
def test_footprint_minimum_is_the_smallest_count_in_the_box(reach):
    from multidrizzle.steps.blot import footprint_minimum

    counts = np.random.default_rng(reach).integers(0, 5, size=(9, 12)).astype(np.int16)
    expected = np.empty(counts.shape, dtype=np.float32)
    for row in range(counts.shape[0]):
        for col in range(counts.shape[1]):
            expected[row, col] = counts[max(row - reach, 0):row + reach + 1,
                                        max(col - reach, 0):col + reach + 1].min()
    result = footprint_minimum(counts, reach)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, expected)


def test_interpolation_reach_follows_the_interpolant():
    from multidrizzle.errors import ParameterError
    from multidrizzle.steps.blot import BLOT_INTERPOLANTS

    assert [BLOT_INTERPOLANTS[name].reach_at() for name in ("nearest", "linear", "poly3",
                                                             "poly5")] == [0, 1, 2, 3]
    assert BLOT_INTERPOLANTS["sinc"].reach_at(1.0) == 7
    assert BLOT_INTERPOLANTS["sinc"].reach_at(0.5) == 4
    with pytest.raises(ParameterError, match="blot_interp"):
        BLOT_INTERPOLANTS["cubic"]


def test_blotted_values_read_from_a_hole_have_zero_counts():
    """A median pixel without data: every chip pixel whose poly5 interpolation
    read it gets count 0, so driz_cr does not test them; the box about the
    nearest median pixel holds the interpolation's footprint, so a few more
    (at most one pixel further) get 0 too."""
    from multidrizzle.kernels.blot import blot_image
    from multidrizzle.steps.blot import blot_counts, footprint_minimum

    counts = np.full((20, 20), 4, dtype=np.int16)
    counts[10, 10] = 0
    median = np.where(counts > 0, 100.0, np.nan).astype(np.float32)
    rows, cols = np.mgrid[:20, :20].astype(np.float64)
    pixmap = np.dstack([cols + 0.3, rows + 0.3])       # a sub-pixel shift
    blotted_counts = blot_counts(footprint_minimum(counts, 3), pixmap)
    # blotting the median with the hole as NaN marks the pixels that read it
    read_the_hole = np.isnan(blot_image(median, pixmap, interp="poly5", scale=1.0,
                                        fillval=np.nan))
    inside = (pixmap[..., 0] < 19.5) & (pixmap[..., 1] < 19.5)
    zero = (blotted_counts == 0) & inside
    assert read_the_hole[inside].sum() == 36            # the 6 x 6 poly5 footprint
    assert (zero >= (read_the_hole & inside)).all()
    one_further = np.zeros_like(read_the_hole)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):
            one_further |= np.roll(read_the_hole, (d_row, d_col), axis=(0, 1))
    assert (zero <= one_further).all()
