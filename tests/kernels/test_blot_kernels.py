"""Tests of the blot interpolants in :mod:`multidrizzle.kernels.blot`.

References: ``drizzle.resample.blot_image`` (the C code AstroDrizzle uses),
the slow versions in ``support.references.blot``, and exact properties of each
interpolant (polynomials reproduced, constants kept, band-limited signals
recovered).
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import pytest
from drizzle.resample import blot_image as drizzle_blot_image

from multidrizzle.errors import ParameterError, UnsupportedError
from multidrizzle.kernels.blot import BLOT_INTERPOLANTS, SINC_HALF_WIDTH, blot_image
from multidrizzle.kernels.pixmap import coarse_pixel_map, interpolate_pixel_map

from support.references.blot import POLY_NODES, reference_blot

DATA_SHAPE = (37, 45)  # (rows, columns): not square, so x and y cannot be swapped unnoticed
CHIP_SHAPE = (33, 41)
MAP_KINDS = ("identity", "shifted", "rotated", "scaled", "distorted")
POLYNOMIALS = ("poly3", "poly5")


def smooth_image(shape: tuple[int, int] = DATA_SHAPE, seed: int = 11) -> np.ndarray:
    """Float32 image of blobs on a slope plus a little noise, all values positive."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    image = 5.0 + 0.03 * cols - 0.02 * rows + 0.1 * rng.standard_normal(shape)
    for _ in range(6):
        row0, col0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        width = rng.uniform(1.5, 4.0)
        image += rng.uniform(2, 20) * np.exp(-((rows - row0) ** 2 + (cols - col0) ** 2) / (2 * width ** 2))
    return image.astype(np.float32)


def pixel_map(kind: str, chip_shape: tuple[int, int] = CHIP_SHAPE,
              data_shape: tuple[int, int] = DATA_SHAPE) -> np.ndarray:
    """Positions in the data frame of every chip pixel, for one kind of geometry.

    Except for ``identity`` the maps reach a few pixels beyond every edge of
    the data frame, so that edge handling and fill values are exercised.
    """
    rows, cols = np.mgrid[0:chip_shape[0], 0:chip_shape[1]].astype(np.float64)
    if kind == "identity":
        return np.dstack([cols, rows])
    u = cols - (chip_shape[1] - 1) / 2
    v = rows - (chip_shape[0] - 1) / 2
    centre_x, centre_y = (data_shape[1] - 1) / 2, (data_shape[0] - 1) / 2
    if kind == "shifted":
        x, y = u + 3.37, v - 2.61
    elif kind == "rotated":
        angle = math.radians(17.0)
        x = 1.08 * (math.cos(angle) * u - math.sin(angle) * v)
        y = 1.08 * (math.sin(angle) * u + math.cos(angle) * v)
    elif kind == "scaled":
        x, y = 1.23 * u + 0.4, 1.31 * v - 0.3
    elif kind == "distorted":
        # SIP-like: a rotation and scale plus second- and third-order terms.
        angle = math.radians(-8.0)
        x = 1.12 * (math.cos(angle) * u - math.sin(angle) * v) + 4e-3 * u * u - 3e-3 * u * v + 2e-5 * u ** 3
        y = 1.12 * (math.sin(angle) * u + math.cos(angle) * v) + 3e-3 * v * v + 5e-3 * u * v - 3e-5 * v ** 3
    else:
        raise ValueError(kind)
    return np.dstack([x + centre_x, y + centre_y])


def on_image(pixmap: np.ndarray, data_shape: tuple[int, int] = DATA_SHAPE) -> np.ndarray:
    """Mask of positions inside the pixel footprint of the image."""
    x, y = pixmap[..., 0], pixmap[..., 1]
    return (x >= -0.5) & (x < data_shape[1] - 0.5) & (y >= -0.5) & (y < data_shape[0] - 0.5)


def footprint_inside(pixmap: np.ndarray, interp: str,
                     data_shape: tuple[int, int] = DATA_SHAPE) -> np.ndarray:
    """Mask of positions whose polynomial footprint lies wholly on the image."""
    nodes = POLY_NODES[interp]
    left = np.floor(pixmap[..., 0])
    below = np.floor(pixmap[..., 1])
    return ((left + nodes[0] >= 0) & (left + nodes[-1] <= data_shape[1] - 1)
            & (below + nodes[0] >= 0) & (below + nodes[-1] <= data_shape[0] - 1))


# ---------------------------------------------------------------------------
# Comparison with drizzle's C blot
# ---------------------------------------------------------------------------

# Largest y (exclusive) at which drizzle's C code is still a faithful
# reference, for a data frame of n rows; see test_matches_drizzle.
_DRIZZLE_Y_LIMIT = {"nearest": -0.5, "linear": -0.5, "poly3": -1.0, "poly5": -3.0}


@pytest.mark.parametrize("kind", MAP_KINDS)
@pytest.mark.parametrize("interp", ("nearest", "linear", "poly3", "poly5"))
def test_matches_drizzle(interp, kind):
    """Agree with ``drizzle.resample.blot_image`` wherever drizzle is well defined.

    Tolerance: 1e-5 relative plus 1e-5 of the image maximum, because drizzle
    computes in float32 (we accumulate in float64).  The pixel map is rounded
    to float32 first since drizzle converts positions to float32 and would
    otherwise sample slightly different points.

    Deliberate differences, excluded from the comparison and covered by the
    slow-reference tests instead:

    * Domain.  Ours is the pixel footprint ``-0.5 <= x < n - 0.5``; drizzle
      accepts ``0 <= x < n``, so it fills ``[-0.5, 0)`` and extrapolates in
      ``[n - 0.5, n)`` (where its nearest-neighbour reads past the row).
    * Last rows.  drizzle's poly3 reads outside its 4 x 4 coefficient array
      for ``y > n - 1``, and its poly5 fills reflected rows beyond the last
      row with data row ``n - 4`` for ``y >= n - 3``.  We apply point
      reflection on all four sides, as drizzle itself does in x and at the
      first rows.
    * NaN.  drizzle fails on NaN in the pixel map and returns NaN for NaN
      data; we return ``fillval`` (tested below).
    """
    data = smooth_image()
    pixmap = pixel_map(kind).astype(np.float32).astype(np.float64)
    ours = blot_image(data, pixmap, interp=interp)
    theirs = drizzle_blot_image(data, pixmap, interp=interp)

    x, y = pixmap[..., 0], pixmap[..., 1]
    comparable = ((x >= 0) & (x < DATA_SHAPE[1] - 0.5) & (y >= 0)
                  & (y < DATA_SHAPE[0] + _DRIZZLE_Y_LIMIT[interp]))
    assert comparable.sum() > 0.6 * comparable.size
    np.testing.assert_allclose(ours[comparable], theirs[comparable],
                               rtol=1e-5, atol=1e-5 * float(data.max()))


@pytest.mark.parametrize("interp", ("nearest", "linear", "poly3", "poly5"))
def test_scale_mirrors_drizzle_pix_ratio_and_exptime(interp):
    """``scale = exptime / pix_ratio**2`` reproduces drizzle's (pix_ratio, exptime) blot."""
    data = smooth_image()
    pixmap = pixel_map("rotated").astype(np.float32).astype(np.float64)
    pix_ratio, exptime = 0.8, 523.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = drizzle_blot_image(data, pixmap, pix_ratio=pix_ratio, exptime=exptime,
                                    interp=interp)
    ours = blot_image(data, pixmap, interp=interp, scale=exptime / pix_ratio ** 2)
    inside = (pixmap[..., 0] >= 0) & (pixmap[..., 1] >= 0) & on_image(pixmap)
    inside &= pixmap[..., 1] < DATA_SHAPE[0] + _DRIZZLE_Y_LIMIT[interp]
    np.testing.assert_allclose(ours[inside], theirs[inside], rtol=2e-5)


# ---------------------------------------------------------------------------
# Comparison with the slow reference (every pixel, edges included)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", MAP_KINDS)
@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_matches_slow_reference(interp, kind):
    """Agree with the slow version everywhere, beyond-edge pixels and fill included."""
    data = smooth_image()
    pixmap = pixel_map(kind)
    ours = blot_image(data, pixmap, interp=interp, fillval=-7.0)
    expected = reference_blot(data, pixmap, interp, fillval=-7.0)
    np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=2e-6 * float(data.max()))
    if kind != "identity":
        assert np.any(ours == -7.0), "map should reach beyond the image"


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_wide_chip_matches_slow_reference(interp):
    """A chip wider than the kernels' column blocks, rotated onto a small image whose
    edges it crosses: every block, the interior fast paths and the edges agree
    with the slow version."""
    data_shape = (60, 70)
    data = smooth_image(data_shape)
    pixmap = pixel_map("rotated", (9, 2300), data_shape) * np.array([0.04, 1.0]) \
        + np.array([20.0, 0.0])
    assert np.any(~on_image(pixmap, data_shape)) and np.any(on_image(pixmap, data_shape))
    ours = blot_image(data, pixmap, interp=interp, fillval=-7.0)
    expected = reference_blot(data, pixmap, interp, fillval=-7.0)
    np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=2e-6 * float(data.max()))


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
@pytest.mark.parametrize("shifted", [False, True])
def test_coarse_map_gives_the_bits_of_the_dense_map(interp, shifted):
    """A map given by its nodes (evaluated by the kernel row by row) blots exactly as
    the dense map filled from the same nodes, offset and separable shifts included."""
    data = smooth_image()
    n_rows, n_cols = CHIP_SHAPE
    step = 4.0
    node_y, node_x = np.mgrid[-1.0:n_rows + step:step, -1.0:n_cols + step:step]
    # a smooth rotated and distorted field that reaches beyond the image's edges
    u, v = node_x - (n_cols - 1) / 2, node_y - (n_rows - 1) / 2
    angle = math.radians(-8.0)
    nodes = np.dstack([
        1.15 * (math.cos(angle) * u - math.sin(angle) * v) + 4e-3 * u * u + 24.0,
        1.15 * (math.sin(angle) * u + math.cos(angle) * v) + 3e-3 * v * v + 20.0])
    rng = np.random.default_rng(3)
    shifts = {}
    if shifted:
        shifts = {"dx_of_column": rng.uniform(-0.3, 0.3, n_cols),
                  "dx_of_row": rng.uniform(-0.3, 0.3, n_rows),
                  "dy_of_column": rng.uniform(-0.3, 0.3, n_cols)}
    offset = (2.0, 3.0)
    dense = interpolate_pixel_map(nodes, (-1.0, -1.0), step, CHIP_SHAPE, **shifts)
    dense[..., 0] -= offset[0]
    dense[..., 1] -= offset[1]
    coarse = coarse_pixel_map(nodes, (-1.0, -1.0), step, CHIP_SHAPE, offset=offset, **shifts)
    ours = blot_image(data, coarse, interp=interp, fillval=-7.0)
    assert np.any(ours == -7.0) and np.any(ours != -7.0)
    np.testing.assert_array_equal(ours.view(np.uint32),
                                  blot_image(data, dense, interp=interp,
                                             fillval=-7.0).view(np.uint32))


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_coarse_map_on_a_wide_chip_gives_the_bits_of_the_dense_map(interp):
    """The coarse map evaluated by the kernels over several column blocks, with
    per-column and per-row shifts (the map stays axis-separable: its x
    interpolation is reused from one map row to the next within a node row)
    whose row shifts jump back and forth between node rows."""
    data_shape = (60, 70)
    data = smooth_image(data_shape)
    n_rows, n_cols = 23, 1300
    step = 7.0
    node_y, node_x = np.mgrid[-3.0:n_rows + 2 * step:step, -3.0:n_cols + 2 * step:step]
    # rotated and squeezed along x so that the long chip crosses the small image
    u, v = node_x - (n_cols - 1) / 2, node_y - (n_rows - 1) / 2
    nodes = np.dstack([0.05 * u + 0.9 * v + 3e-6 * u * u + 35.0,
                       -0.02 * u + 1.1 * v + 30.0])
    rng = np.random.default_rng(8)
    shifts = {"dx_of_column": rng.uniform(-0.4, 0.4, n_cols),
              "dy_of_row": rng.choice([-9.0, 0.0, 8.0], n_rows) + rng.uniform(-0.3, 0.3, n_rows)}
    offset = (1.5, -2.0)
    dense = interpolate_pixel_map(nodes, (-3.0, -3.0), step, (n_rows, n_cols), **shifts)
    dense[..., 0] -= offset[0]
    dense[..., 1] -= offset[1]
    coarse = coarse_pixel_map(nodes, (-3.0, -3.0), step, (n_rows, n_cols), offset=offset,
                              **shifts)
    ours = blot_image(data, coarse, interp=interp, fillval=-7.0)
    assert np.any(ours == -7.0) and np.any(ours != -7.0)
    np.testing.assert_array_equal(ours.view(np.uint32),
                                  blot_image(data, dense, interp=interp,
                                             fillval=-7.0).view(np.uint32))


def numpy_nearest(data: np.ndarray, pixmap: np.ndarray, fillval: float,
                  scale: float) -> np.ndarray:
    """Nearest-pixel blot in whole-array numpy: an independent check of large maps."""
    x, y = pixmap[..., 0], pixmap[..., 1]
    inside = on_image(pixmap, data.shape)
    col = np.clip(np.floor(np.where(inside, x, 0.0) + 0.5), 0, data.shape[1] - 1).astype(int)
    row = np.clip(np.floor(np.where(inside, y, 0.0) + 0.5), 0, data.shape[0] - 1).astype(int)
    values = data[row, col].astype(np.float64)
    return np.where(inside & ~np.isnan(values), values * scale, fillval).astype(np.float32)


def test_nearest_over_several_bands_of_rows():
    """nearest finds the indices of a band of whole rows before loading them: a chip
    so wide that each band is one row, on 1 and 2 threads, off-image and NaN
    positions and NaN pixels included."""
    data = smooth_image()
    data[4, 7] = np.nan
    n_cols = (1 << 18) + 3  # past the band size: one row per band, columns in 513 blocks
    rng = np.random.default_rng(9)
    pixmap = np.dstack([rng.uniform(-3.0, DATA_SHAPE[1] + 2.0, (5, n_cols)),
                        rng.uniform(-3.0, DATA_SHAPE[0] + 2.0, (5, n_cols))])
    pixmap[2, 1000:1010, 1] = np.nan
    expected = numpy_nearest(data, pixmap, fillval=-7.0, scale=1.5)
    previous = numba.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            ours = blot_image(data, pixmap, interp="nearest", fillval=-7.0, scale=1.5)
            np.testing.assert_array_equal(ours, expected)
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("sinscl", (0.7, 1.6))
def test_sinc_sinscl_matches_slow_reference(sinscl):
    """sinscl changes the kernel width; fast and slow versions still agree."""
    data = smooth_image()
    pixmap = pixel_map("distorted")
    ours = blot_image(data, pixmap, interp="sinc", sinscl=sinscl)
    np.testing.assert_allclose(ours, reference_blot(data, pixmap, "sinc", sinscl=sinscl),
                               rtol=2e-6, atol=2e-6 * float(data.max()))
    assert not np.allclose(ours, blot_image(data, pixmap, interp="sinc", sinscl=1.0))


# ---------------------------------------------------------------------------
# Exact properties of the interpolants
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_identity_map_returns_data(interp):
    """At pixel centres every interpolant returns the pixel itself."""
    data = smooth_image()
    blotted = blot_image(data, pixel_map("identity", DATA_SHAPE), interp=interp)
    np.testing.assert_allclose(blotted, data, rtol=1e-6)


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
@pytest.mark.parametrize("kind", ("rotated", "distorted"))
def test_constant_image_stays_constant(interp, kind):
    """A flat image blots to the same flat value everywhere on the image, edges included."""
    data = np.full(DATA_SHAPE, 3.25, dtype=np.float32)
    pixmap = pixel_map(kind)
    blotted = blot_image(data, pixmap, interp=interp, fillval=np.nan)
    inside = on_image(pixmap)
    np.testing.assert_allclose(blotted[inside], 3.25, rtol=1e-6)
    assert np.all(np.isnan(blotted[~inside]))


def random_positions(n: int, low: float, high_x: float, high_y: float, seed: int = 5) -> np.ndarray:
    """An (n, n, 2) pixel map of uniformly random positions."""
    rng = np.random.default_rng(seed)
    return np.dstack([rng.uniform(low, high_x, (n, n)), rng.uniform(low, high_y, (n, n))])


def test_linear_reproduces_plane():
    """Bilinear is exact on a plane between the outermost pixel centres."""
    rows, cols = np.mgrid[0:DATA_SHAPE[0], 0:DATA_SHAPE[1]].astype(np.float64)
    plane = 2.0 + 0.31 * cols - 0.17 * rows
    pixmap = random_positions(30, 0.0, DATA_SHAPE[1] - 1.0, DATA_SHAPE[0] - 1.0)
    expected = 2.0 + 0.31 * pixmap[..., 0] - 0.17 * pixmap[..., 1]
    blotted = blot_image(plane, pixmap, interp="linear")
    np.testing.assert_allclose(blotted, expected, rtol=1e-6)


@pytest.mark.parametrize("interp", POLYNOMIALS)
def test_polynomials_reproduce_plane_up_to_the_border(interp):
    """Point reflection keeps a plane a plane, so poly3/poly5 are exact on it to the border."""
    rows, cols = np.mgrid[0:DATA_SHAPE[0], 0:DATA_SHAPE[1]].astype(np.float64)
    plane = 40.0 + 0.31 * cols - 0.17 * rows
    pixmap = random_positions(30, -0.5, DATA_SHAPE[1] - 0.5, DATA_SHAPE[0] - 0.5)
    expected = 40.0 + 0.31 * pixmap[..., 0] - 0.17 * pixmap[..., 1]
    blotted = blot_image(plane, pixmap, interp=interp)
    assert np.mean(~footprint_inside(pixmap, interp)) > 0.1
    np.testing.assert_allclose(blotted, expected, rtol=1e-6)


@pytest.mark.parametrize(("interp", "degree"), [("poly3", 3), ("poly5", 5)])
def test_polynomials_reproduce_their_degree_in_the_interior(interp, degree):
    """poly3 is exact on a bicubic, poly5 on a biquintic, where no reflection is involved."""
    rows, cols = np.mgrid[0:DATA_SHAPE[0], 0:DATA_SHAPE[1]].astype(np.float64)
    rng = np.random.default_rng(degree)
    coeff_x, coeff_y = rng.uniform(-1, 1, degree + 1), rng.uniform(-1, 1, degree + 1)

    def surface(x, y):
        return (np.polynomial.polynomial.polyval(x / DATA_SHAPE[1], coeff_x)
                * np.polynomial.polynomial.polyval(y / DATA_SHAPE[0], coeff_y) + 3.0)

    pixmap = random_positions(30, 3.0, DATA_SHAPE[1] - 4.0, DATA_SHAPE[0] - 4.0)
    assert footprint_inside(pixmap, interp).all()
    blotted = blot_image(surface(cols, rows), pixmap, interp=interp)
    np.testing.assert_allclose(blotted, surface(pixmap[..., 0], pixmap[..., 1]), rtol=2e-6)


@pytest.mark.parametrize(("interp", "degree"), [("poly3", 3), ("poly5", 5)])
def test_polynomials_miss_the_next_degree_by_the_lagrange_remainder(interp, degree):
    """On ``(x - c)**(degree + 1)`` the error is exactly the node polynomial.

    For unit-spaced nodes ``x_k`` and a monic polynomial one degree too high,
    Lagrange interpolation misses by ``prod(x - x_k)``; this pins down both
    the degree and which pixels are used.
    """
    rows, cols = np.mgrid[0:DATA_SHAPE[0], 0:DATA_SHAPE[1]].astype(np.float64)
    centre = 20.0
    pixmap = random_positions(20, centre - 3.0, centre + 4.0, DATA_SHAPE[0] - 4.0)
    x = pixmap[..., 0]
    fraction = x - np.floor(x)
    remainder = np.prod([fraction - node for node in POLY_NODES[interp]], axis=0)
    blotted = blot_image((cols - centre) ** (degree + 1), pixmap, interp=interp)
    expected = (x - centre) ** (degree + 1) - remainder
    assert np.abs(remainder).max() > 0.3
    np.testing.assert_allclose(blotted, expected, atol=2e-3)


def test_nearest_picks_the_containing_pixel():
    """Each point takes the pixel whose footprint [i - 0.5, i + 0.5) contains it."""
    ids = np.arange(np.prod(DATA_SHAPE), dtype=np.float64).reshape(DATA_SHAPE)
    pixmap = random_positions(40, -0.5, DATA_SHAPE[1] - 0.5, DATA_SHAPE[0] - 0.5)
    # Exact half-pixel ties go up; the last column's outer half belongs to it.
    pixmap[0, :3] = [(2.5, 3.0), (-0.5, -0.5), (DATA_SHAPE[1] - 0.5000001, 1.5)]
    expected = ids[np.floor(pixmap[..., 1] + 0.5).astype(int), np.floor(pixmap[..., 0] + 0.5).astype(int)]
    blotted = blot_image(ids, pixmap, interp="nearest")
    np.testing.assert_array_equal(blotted, expected.astype(np.float32))
    assert blotted[0, 0] == ids[3, 3]
    assert blotted[0, 2] == ids[2, DATA_SHAPE[1] - 1]


def test_sinc_recovers_band_limited_signal():
    """A wave at 0.3 cycles/pixel: sinc within 1e-2, where poly5 is off by over 0.1.

    The limit is the cos**2 taper of a 15-pixel kernel (its error floor is a
    few 1e-3 at any frequency); points stay 16 pixels from the edges so the
    repeated edge pixels play no part.
    """
    shape = (64, 64)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)

    def wave(x, y):
        return np.cos(2 * np.pi * (0.3 * x + 0.18 * y) + 0.3)

    pixmap = random_positions(30, 16.0, shape[1] - 17.0, shape[0] - 17.0)
    truth = wave(pixmap[..., 0], pixmap[..., 1])
    sinc_error = np.abs(blot_image(wave(cols, rows), pixmap, interp="sinc") - truth).max()
    poly5_error = np.abs(blot_image(wave(cols, rows), pixmap, interp="poly5") - truth).max()
    assert sinc_error < 1e-2
    assert poly5_error > 10 * sinc_error


# ---------------------------------------------------------------------------
# Fill values, NaN, scale
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_off_image_and_non_finite_positions_get_fillval(interp):
    """Beyond the footprint, NaN, inf and huge positions all give fillval, never a crash."""
    data = smooth_image()
    n_rows, n_cols = DATA_SHAPE
    bad_positions = [(-0.5000001, 5.0), (n_cols - 0.5, 5.0), (5.0, -0.51), (5.0, n_rows - 0.5),
                     (np.nan, 5.0), (5.0, np.nan), (np.inf, 5.0), (5.0, -np.inf),
                     (1e300, 1e300), (-1e300, 3.0), (-1e19, -1e19)]
    pixmap = np.array([bad_positions + [(3.2, 4.7)]], dtype=np.float64)
    blotted = blot_image(data, pixmap, interp=interp, fillval=-99.0, scale=2.0)
    np.testing.assert_array_equal(blotted[0, :-1], -99.0)
    assert blotted[0, -1] != -99.0


def nan_footprint(pixmap: np.ndarray, interp: str, nan_row: int, nan_col: int,
                  sinscl: float = 1.0) -> np.ndarray:
    """Mask of points whose interpolation footprint includes pixel (nan_row, nan_col)."""
    x, y = pixmap[..., 0], pixmap[..., 1]
    if interp == "nearest":
        return (np.floor(x + 0.5) == nan_col) & (np.floor(y + 0.5) == nan_row)
    if interp == "sinc":
        reach = SINC_HALF_WIDTH * sinscl
        return (np.abs(x - nan_col) < reach) & (np.abs(y - nan_row) < reach)
    nodes = POLY_NODES[interp] if interp in POLY_NODES else np.arange(0, 2)
    dx = nan_col - np.floor(x)
    dy = nan_row - np.floor(y)
    return (dx >= nodes[0]) & (dx <= nodes[-1]) & (dy >= nodes[0]) & (dy <= nodes[-1])


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_nan_data_fills_only_points_that_use_it(interp):
    """A NaN pixel gives fillval exactly at the points whose footprint holds it."""
    data = smooth_image()
    nan_row, nan_col = 18, 22  # far enough from the edges that reflection never reaches it
    with_nan = data.copy()
    with_nan[nan_row, nan_col] = np.nan
    pixmap = pixel_map("rotated")
    clean = blot_image(data, pixmap, interp=interp, fillval=-5.0)
    dirty = blot_image(with_nan, pixmap, interp=interp, fillval=-5.0)

    affected = nan_footprint(pixmap, interp, nan_row, nan_col) & on_image(pixmap)
    assert affected.any()
    np.testing.assert_array_equal(dirty[affected], -5.0)
    np.testing.assert_array_equal(dirty[~affected], clean[~affected])


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_nan_pixmap_fills_only_those_pixels(interp):
    """NaN in either coordinate of the pixel map gives fillval for that pixel only."""
    data = smooth_image()
    pixmap = pixel_map("distorted")
    clean = blot_image(data, pixmap, interp=interp, fillval=np.nan)
    holes = np.zeros(pixmap.shape[:2], dtype=bool)
    holes[4, 7] = holes[10, 20] = holes[20, 3] = True
    damaged = pixmap.copy()
    damaged[4, 7, 0] = np.nan
    damaged[10, 20, 1] = np.nan
    damaged[20, 3, :] = np.nan
    blotted = blot_image(data, damaged, interp=interp, fillval=np.nan)
    assert np.all(np.isnan(blotted[holes]))
    np.testing.assert_array_equal(blotted[~holes], clean[~holes])


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_scale_multiplies_values_but_not_fill(interp):
    """``scale`` multiplies interpolated values; fill values are left as given."""
    data = smooth_image()
    pixmap = pixel_map("shifted")
    plain = blot_image(data, pixmap, interp=interp, fillval=-1.0)
    scaled = blot_image(data, pixmap, interp=interp, fillval=-1.0, scale=300.0)
    filled = plain == -1.0
    assert filled.any() and (~filled).any()
    np.testing.assert_array_equal(scaled[filled], -1.0)
    np.testing.assert_allclose(scaled[~filled], 300.0 * plain[~filled], rtol=1e-6)


# ---------------------------------------------------------------------------
# Threads, dtypes, argument checking
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_same_bits_for_any_number_of_threads(interp):
    """Each output pixel is computed alone, so 1, 2, ... threads give identical bits."""
    data = smooth_image((150, 170))
    pixmap = pixel_map("distorted", (160, 150), (150, 170))
    previous = numba.get_num_threads()
    try:
        results = []
        for threads in sorted({1, 2, numba.config.NUMBA_NUM_THREADS}):
            if threads <= numba.config.NUMBA_NUM_THREADS:
                numba.set_num_threads(threads)
                results.append(blot_image(data, pixmap, interp=interp))
    finally:
        numba.set_num_threads(previous)
    for result in results[1:]:
        np.testing.assert_array_equal(result.view(np.uint32), results[0].view(np.uint32))


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_input_dtypes(interp):
    """float32, float64 and integer images give the same result; output is float32."""
    data = np.round(smooth_image() * 10)
    pixmap = pixel_map("rotated")
    from_float32 = blot_image(data.astype(np.float32), pixmap, interp=interp)
    from_float64 = blot_image(data.astype(np.float64), pixmap, interp=interp)
    from_int = blot_image(data.astype(np.int32), pixmap.astype(np.float32), interp=interp)
    assert from_float32.dtype == np.float32 and from_float32.shape == CHIP_SHAPE
    np.testing.assert_array_equal(from_float32, from_float64)
    np.testing.assert_array_equal(from_int, blot_image(data, pixmap.astype(np.float32), interp=interp))


def test_non_contiguous_inputs():
    """Views with strides give the same result as contiguous copies."""
    big = smooth_image((74, 45))
    pixmap = pixel_map("rotated")
    doubled = np.zeros((pixmap.shape[0], 2 * pixmap.shape[1], 2))
    doubled[:, ::2] = pixmap
    strided_map = doubled[:, ::2]
    np.testing.assert_array_equal(blot_image(big[::2], strided_map),
                                  blot_image(np.ascontiguousarray(big[::2]), pixmap))


def test_unknown_interpolant_names_blot_interp():
    with pytest.raises(ParameterError, match="blot_interp") as caught:
        blot_image(smooth_image(), pixel_map("identity"), interp="lanczos7")
    with pytest.raises(ParameterError, match="blot_interp"):
        blot_image(smooth_image(), pixel_map("identity"), interp=["poly5"])
    for name in BLOT_INTERPOLANTS:
        assert name in str(caught.value)
    np.testing.assert_array_equal(blot_image(smooth_image(), pixel_map("shifted"), interp=" Poly3 "),
                                  blot_image(smooth_image(), pixel_map("shifted"), interp="poly3"))


@pytest.mark.parametrize("kwargs", [{"sinscl": 0.0}, {"sinscl": -1.0}, {"sinscl": np.nan},
                                    {"scale": 0.0}, {"scale": np.inf}, {"scale": "two"},
                                    {"fillval": "none"}])
def test_bad_numbers_raise_parameter_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ParameterError, match=name):
        blot_image(smooth_image(), pixel_map("identity"), interp="sinc", **kwargs)


@pytest.mark.parametrize(("data", "pixmap", "interp"), [
    (np.ones((5, 5, 2)), np.zeros((3, 3, 2)), "linear"),       # data not 2-D
    (np.ones((5, 5), complex), np.zeros((3, 3, 2)), "linear"),  # data not real
    (np.ones((5, 5)), np.zeros((3, 3)), "linear"),              # pixmap not 3-D
    (np.ones((5, 5)), np.zeros((3, 3, 3)), "linear"),           # pixmap not (x, y)
    (np.ones((5, 5)), np.zeros((3, 3, 2), complex), "linear"),  # pixmap not real
    (np.ones((3, 9)), np.zeros((3, 3, 2)), "poly5"),            # too small for poly5
    (np.ones((9, 2)), np.zeros((3, 3, 2)), "poly3"),            # too small for poly3
])
def test_bad_arrays_raise_value_error(data, pixmap, interp):
    with pytest.raises(ValueError):
        blot_image(data, pixmap, interp=interp)


def test_image_sides_beyond_int32_are_unsupported():
    """The kernels index image pixels with int32 along each side (which vectorises):
    a side of 2**31 pixels or more is refused clearly, before any copy."""
    too_long = np.broadcast_to(np.float32(1.0), (1, 1 << 31))
    with pytest.raises(UnsupportedError, match="2147483648"):
        blot_image(too_long, np.zeros((2, 2, 2)), interp="nearest")


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_smallest_images_work(interp):
    """The smallest allowed images blot without reading past their edges."""
    size = {"poly3": 3, "poly5": 4}.get(interp, 1)
    data = np.arange(size * size, dtype=np.float32).reshape(size, size) + 1.0
    pixmap = random_positions(12, -0.5, size - 0.5, size - 0.5)
    np.testing.assert_allclose(blot_image(data, pixmap, interp=interp),
                               reference_blot(data, pixmap, interp), rtol=2e-6, atol=2e-6)
