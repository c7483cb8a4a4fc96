"""Output grids and pixel maps against direct astropy.wcs evaluation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from multidrizzle.errors import GridTooLargeError, InputError, ParameterError
from multidrizzle.kernels.blot import blot_image
from multidrizzle.model.geometry import (
    GridRequest, available_memory, check_memory, compute_pixel_map, make_output_grid,
    native_orientation, native_scale, read_reference_wcs, reference_grid,
)
from multidrizzle.model import ReadOptions, read_exposure

from support.geometry import write_reference_image
from support.hst_files import ACS_LOOKUP


@pytest.fixture(scope="module")
def uvis_chips(uvis_full):
    return read_exposure(uvis_full, ReadOptions()).chips


@pytest.fixture(scope="module")
def default_grid(uvis_chips):
    return make_output_grid(uvis_chips, GridRequest())


def _direct(chip, grid, xs, ys):
    ra, dec = chip.wcs.all_pix2world(xs, ys, 0)
    return np.column_stack(grid.wcs.all_world2pix(ra, dec, 0))


def _sample_pixels(shape, n=20000, seed=3):
    rng = np.random.default_rng(seed)
    ys = np.concatenate([rng.integers(0, shape[0], n), [0, 0, shape[0] - 1, shape[0] - 1]])
    xs = np.concatenate([rng.integers(0, shape[1], n), [0, shape[1] - 1, 0, shape[1] - 1]])
    return xs, ys


def test_pixel_map_stepsize_10_within_001_pixel(uvis_chips, default_grid):
    """SIP + NPOL + D2IM: interpolated map vs all_pix2world + all_world2pix."""
    for chip in uvis_chips:
        dense = compute_pixel_map(chip, default_grid, 10).evaluate()
        xs, ys = _sample_pixels(chip.shape)
        difference = dense[ys, xs] - _direct(chip, default_grid, xs, ys)
        assert np.abs(difference).max() <= 0.01


def test_pixel_map_stepsize_1_is_exact(uvis_chips, default_grid):
    chip = uvis_chips[0]
    dense = compute_pixel_map(chip, default_grid, 1).evaluate()
    xs, ys = _sample_pixels(chip.shape, n=5000)
    np.testing.assert_array_equal(dense[ys, xs], _direct(chip, default_grid, xs, ys))


@pytest.mark.parametrize("stepsize", [1, 10])
def test_pixel_map_window_holds_exactly_the_whole_maps_values(uvis_chips, default_grid,
                                                              stepsize):
    """A window of a map (a tile, a footprint) is bit-identical to the same pixels of
    the whole map: D2IM shifts and node cells are those of the whole chip."""
    chip = uvis_chips[1]
    pixel_map = compute_pixel_map(chip, default_grid, stepsize)
    whole = pixel_map.evaluate()
    for rows, columns in [(slice(0, 7), slice(0, 5)), (slice(1000, 1333), slice(77, 2049)),
                          (slice(2040, None), slice(4090, None))]:
        window = pixel_map.evaluate((rows, columns))
        np.testing.assert_array_equal(window, whole[rows, columns])


def test_pixel_map_window_with_one_dimensional_d2im_is_exact(tmp_path):
    chip = _lookup_chip(tmp_path, full_size=True, d2im_gain=50.0)
    grid = make_output_grid([chip], GridRequest())
    pixel_map = compute_pixel_map(chip, grid, 10)
    assert pixel_map.column_shifts is not None or pixel_map.row_shifts is not None
    window = (slice(333, 901), slice(1234, 2999))
    np.testing.assert_array_equal(pixel_map.evaluate(window), pixel_map.evaluate()[window])


@pytest.mark.parametrize("stepsize", [1, 10])
@pytest.mark.parametrize("interp", ["nearest", "linear", "poly5"])
def test_blot_from_the_nodes_is_the_blot_of_the_dense_map(uvis_chips, default_grid,
                                                           stepsize, interp):
    """The blot kernels evaluate the map row by row from its nodes (PixelMap.coarse):
    the same positions, to the last bit, as the dense map, a window's offset
    included, so the blot is bit-identical."""
    chip = uvis_chips[0]
    pixel_map = compute_pixel_map(chip, default_grid, stepsize)
    dense = pixel_map.evaluate()
    image = np.random.default_rng(2).normal(10.0, 2.0, default_grid.shape).astype(np.float32)
    np.testing.assert_array_equal(blot_image(image, pixel_map.coarse(), interp=interp),
                                  blot_image(image, dense, interp=interp))
    # a window of the grid, as the blot step reads it: positions minus its origin
    y0, x0 = 300, 250
    window = np.ascontiguousarray(image[y0:, x0:])
    shifted = dense.copy()
    shifted[..., 0] -= x0
    shifted[..., 1] -= y0
    np.testing.assert_array_equal(
        blot_image(window, pixel_map.coarse((x0, y0)), interp=interp, fillval=-1.0),
        blot_image(window, shifted, interp=interp, fillval=-1.0))


def test_blot_from_the_nodes_with_one_dimensional_d2im_is_exact(tmp_path):
    """Shifts that depend on the row and the column (D2IM) take the general path."""
    chip = _lookup_chip(tmp_path, full_size=False, d2im_gain=50.0)
    grid = make_output_grid([chip], GridRequest())
    pixel_map = compute_pixel_map(chip, grid, 3)
    assert pixel_map.column_shifts is not None or pixel_map.row_shifts is not None
    image = np.random.default_rng(4).normal(10.0, 2.0, grid.shape).astype(np.float32)
    for interp in ("linear", "poly3"):
        np.testing.assert_array_equal(blot_image(image, pixel_map.coarse(), interp=interp),
                                      blot_image(image, pixel_map.evaluate(), interp=interp))


def _lookup_chip(tmp_path, full_size: bool, d2im_gain: float = 1.0):
    """The ACS-style chip with a 4096 x 1 D2IM table and 65 x 33 NPOL tables."""
    path = tmp_path / f"lookup_{full_size}_{d2im_gain}.fits"
    with fits.open(ACS_LOOKUP) as hdul:
        if full_size:
            hdul["SCI", 1].data = np.zeros((2048, 4096), np.float32)
        hdul["D2IMARR", 1].data = hdul["D2IMARR", 1].data * np.float32(d2im_gain)
        hdul.writeto(path)
    return read_exposure(path, ReadOptions(gain=1.0, rdnoise=1.0, exptime=1.0)).chips[0]


@pytest.mark.parametrize("full_size, d2im_gain", [(False, 1.0), (True, 1.0), (True, 50.0)])
def test_one_dimensional_d2im_is_exact_per_column(tmp_path, full_size, d2im_gain):
    """The 4096 x 1 D2IM table changes every column: the map still agrees to 0.01 px.

    The real table moves columns by a few thousandths of a pixel; amplified
    50 times its column-to-column jumps reach 0.25 px, which interpolating
    between nodes 10 columns apart could not follow.
    """
    chip = _lookup_chip(tmp_path, full_size, d2im_gain)
    assert chip.wcs.det2im1 is not None and 1 in chip.wcs.det2im1.data.shape
    assert chip.wcs.cpdis1 is not None
    grid = make_output_grid([chip], GridRequest())
    dense = compute_pixel_map(chip, grid, 10).evaluate()
    xs, ys = _sample_pixels(chip.shape)
    assert np.abs(dense[ys, xs] - _direct(chip, grid, xs, ys)).max() <= 0.01


def test_grid_contains_every_input_pixel_centre(uvis_chips, default_grid):
    ny, nx = default_grid.shape
    for chip in uvis_chips:
        dense = compute_pixel_map(chip, default_grid, 10).evaluate()
        assert dense[..., 0].min() >= -0.5 and dense[..., 0].max() <= nx - 0.5
        assert dense[..., 1].min() >= -0.5 and dense[..., 1].max() <= ny - 0.5
    # and it is the smallest such grid: the footprint touches both ends of x or y
    extent_x = max(compute_pixel_map(c, default_grid, 10).evaluate()[..., 0].max()
                   for c in uvis_chips) - min(
                   compute_pixel_map(c, default_grid, 10).evaluate()[..., 0].min()
                   for c in uvis_chips)
    assert nx - 2 <= extent_x + 1 <= nx + 1


def test_default_scale_and_orientation_come_from_first_chip(uvis_chips, default_grid):
    assert default_grid.scale == pytest.approx(uvis_chips[0].header["IDCSCALE"])
    assert default_grid.rotation == pytest.approx(native_orientation(uvis_chips[0]) % 360)
    matrix = default_grid.wcs.pixel_scale_matrix
    assert math.sqrt(abs(np.linalg.det(matrix))) * 3600 == pytest.approx(default_grid.scale)


def test_custom_scale_rotation_centre_and_size(uvis_chips):
    grid = make_output_grid(uvis_chips, GridRequest(scale=0.05, rotation=0.0,
                                                    ra=None, dec=None))
    matrix = grid.wcs.pixel_scale_matrix
    assert matrix[0, 1] == pytest.approx(0, abs=1e-15)  # north up
    assert matrix[0, 0] < 0 and matrix[1, 1] > 0         # east left
    assert grid.scale == 0.05
    ra, dec = 36.1, -5.2
    centre = uvis_chips[0].wcs.wcs.crval
    grid = make_output_grid(uvis_chips, GridRequest(ra=centre[0], dec=centre[1], nx=1000,
                                                    ny=800))
    assert grid.shape == (800, 1000)
    x, y = grid.wcs.wcs_world2pix([centre[0]], [centre[1]], 0)
    assert (x[0], y[0]) == pytest.approx((499.5, 399.5))
    del ra, dec


def test_crpix_moves_the_centre_and_keeps_the_size(uvis_chips, default_grid):
    """AstroDrizzle's crpix1/2: CRVAL (the centre) at pixel CRPIX, size unchanged."""
    grid = make_output_grid(uvis_chips, GridRequest(crpix=(10.0, 20.0)))
    assert grid.shape == default_grid.shape
    np.testing.assert_array_equal(grid.wcs.wcs.crpix, [10.0, 20.0])
    np.testing.assert_allclose(grid.wcs.wcs.crval, default_grid.wcs.wcs.crval, atol=1e-12)
    shift = grid.wcs.wcs.crpix - default_grid.wcs.wcs.crpix
    ra, dec = default_grid.wcs.wcs_pix2world([100.0, 3000.0], [50.0, 2000.0], 0)
    x, y = grid.wcs.wcs_world2pix(ra, dec, 0)
    np.testing.assert_allclose(x, np.array([100.0, 3000.0]) + shift[0], atol=1e-7)
    np.testing.assert_allclose(y, np.array([50.0, 2000.0]) + shift[1], atol=1e-7)
    centre = uvis_chips[0].wcs.wcs.crval
    fixed = make_output_grid(uvis_chips, GridRequest(ra=centre[0], dec=centre[1], nx=300,
                                                    ny=200, crpix=(1.0, 1.0)))
    assert fixed.shape == (200, 300)
    x, y = fixed.wcs.wcs_world2pix([centre[0]], [centre[1]], 0)
    assert (x[0], y[0]) == pytest.approx((0.0, 0.0), abs=1e-6)


def test_union_of_dithered_exposures(uvis_chips, uvis_short_full):
    other = read_exposure(uvis_short_full, ReadOptions()).chips
    chips = list(uvis_chips) + list(other)
    grid = make_output_grid(chips, GridRequest())
    ny, nx = grid.shape
    for chip in chips:
        dense = compute_pixel_map(chip, grid, 10).evaluate()
        assert -0.5 <= dense[..., 0].min() and dense[..., 0].max() <= nx - 0.5
        assert -0.5 <= dense[..., 1].min() and dense[..., 1].max() <= ny - 0.5


def test_reference_image_grid(default_grid, tmp_path):
    header = default_grid.wcs.to_header()
    path = tmp_path / "ref_drz.fits"
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(np.zeros((30, 40), np.float32), header=header,
                                name="SCI")]).writeto(path)
    for spec in (str(path), f"{path}[sci,1]", f"{path}[1]"):
        wcs, shape = read_reference_wcs(spec)
        assert shape == (30, 40)
        np.testing.assert_allclose(wcs.wcs.crval, default_grid.wcs.wcs.crval)
    with pytest.raises(InputError, match="no extension"):
        read_reference_wcs(f"{path}[sci,7]")
    with pytest.raises(InputError, match="does not exist"):
        read_reference_wcs(str(tmp_path / "missing.fits"))


def test_reference_grid_from_a_wcs_object(uvis_chips, default_grid):
    wcs, shape = reference_grid(default_grid.wcs)
    assert shape == default_grid.shape and wcs is not default_grid.wcs
    grid = make_output_grid(uvis_chips, GridRequest(refimage=default_grid.wcs))
    assert grid.shape == default_grid.shape and grid.origin == "refimage WCS"
    assert grid.scale == pytest.approx(default_grid.scale, rel=1e-12)
    np.testing.assert_allclose(grid.wcs.wcs.crpix, default_grid.wcs.wcs.crpix)
    shapeless = default_grid.wcs.deepcopy()
    shapeless.pixel_shape = None
    with pytest.raises(ParameterError, match="no pixel_shape"):
        reference_grid(shapeless, source="parameter 'final_refimage'")


def test_available_memory_is_what_psutil_reports(monkeypatch):
    import psutil

    class Memory:
        available = 123 * 2**20

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory())
    assert available_memory() == 123 * 2**20
    with pytest.raises(GridTooLargeError, match="only 0.12 GiB"):
        check_memory(2**30, "a 1 GiB grid")


def test_memory_check_refuses_before_allocating():
    with pytest.raises(GridTooLargeError, match="GiB"):
        check_memory(10 * 2**40, "output grid 1e6 x 1e6")
    check_memory(1024, "tiny grid")


def test_native_scale_without_idcscale(uvis_chips):
    header = uvis_chips[0].header.copy()
    del header["IDCSCALE"]
    chip = dataclasses.replace(uvis_chips[0], header=header)
    assert chip.idcscale is None
    scale = native_scale(chip)
    assert scale == pytest.approx(math.sqrt(abs(np.linalg.det(chip.wcs.pixel_scale_matrix)))
                                  * 3600)


# -------------------------------------------------------- reference images


def test_reference_image_not_fits(tmp_path):
    bad = tmp_path / "ref.txt"
    bad.write_text("a text file")
    with pytest.raises(InputError, match=r"reference image '.*ref.txt' \(parameter "
                                         r"'refimage', 'final_refimage' or "
                                         r"'driz_sep_refimage'\).*cannot be read as FITS"):
        read_reference_wcs(str(bad))


@pytest.mark.parametrize("extension", ["foo,x", "sci,1,2", "1.5", ","])
def test_reference_image_bad_extension_is_a_parameter_error(tmp_path, extension):
    ref = write_reference_image(tmp_path / "ref.fits")
    with pytest.raises(ParameterError, match=rf"ref.fits\[{extension}\]'.*extension "
                                             rf"\[{extension}\] is not understood; expected "
                                             r"\[number\], \[name\] or \[name,version\]"):
        read_reference_wcs(f"{ref}[{extension}]")


@pytest.mark.parametrize("extension", ["sci,1", "SCI", "1", "'sci',1"])
def test_reference_image_extension_forms(tmp_path, extension):
    ref = write_reference_image(tmp_path / "ref.fits")
    wcs, shape = read_reference_wcs(f"{ref}[{extension}]")
    assert shape == (50, 60) and wcs.pixel_shape == (60, 50)


def test_reference_image_missing_extension_and_not_an_image(tmp_path):
    ref = write_reference_image(tmp_path / "ref.fits")
    with pytest.raises(InputError, match=r"has no extension \[sci,2\]; it has \[0\] PRIMARY"):
        read_reference_wcs(f"{ref}[sci,2]")
    with pytest.raises(InputError, match=r"extension \[0\] is not a 2-D image"):
        read_reference_wcs(f"{ref}[0]")
    with pytest.raises(InputError, match=r"gone.fits does not exist"):
        read_reference_wcs(str(tmp_path / "gone.fits"), source="parameter 'final_refimage'")


def test_reference_wcs_extension_without_data(tmp_path):
    """TweakReg's tweak_wcs.fits[wcs]: a header-only HDU sized by NPIX1/NPIX2."""
    header = WCS(fits.getheader(write_reference_image(tmp_path / "ref.fits"), 1)).to_header()
    header["NPIX1"], header["NPIX2"] = 60, 50
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(header=header, name="WCS")]).writeto(
        tmp_path / "tweak_wcs.fits")
    wcs, shape = read_reference_wcs(f"{tmp_path / 'tweak_wcs.fits'}[wcs]")
    assert shape == (50, 60)
    assert wcs.wcs.crval[0] == pytest.approx(150.0)
