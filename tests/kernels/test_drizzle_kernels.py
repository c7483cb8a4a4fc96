"""Numba drizzle kernels against drizzle 3.x, a slow reference, and physical invariants."""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest
from drizzle.resample import Drizzle

from multidrizzle.errors import ParameterError
from multidrizzle.kernels.drizzle import (
    DRIZZLE_KERNELS,
    context_plane_and_bit,
    drizzle_add_image,
    finalize_fill,
    new_context,
)

from support.geometry import affine_map, frame_map
from support.references.drizzle import merge, reference_contributions

RTOL = 1e-5  # the tolerance against the reference
FLUX_CONSERVING = DRIZZLE_KERNELS  # gaussian, lanczos and tophat are normalised here


def random_image(shape, seed=0, zero_fraction=0.05):
    """Values ~ N(10, 2) (far from 0, so relative differences mean something) and
    weights in [0.5, 2] with a fraction of zero weights."""
    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, 2.0, shape).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    weights[rng.random(shape) < zero_fraction] = 0.0
    return data, weights


def ours(data, pixmap, out_shape, n_inputs=1, fill=0.0, **kwargs):
    """One image drizzled onto fresh outputs."""
    sci = np.full(out_shape, fill, dtype=np.float32)
    wht = np.zeros(out_shape, dtype=np.float32)
    ctx = new_context(n_inputs, out_shape)
    counts = drizzle_add_image(data, pixmap, sci, wht, ctx, **kwargs)
    return sci, wht, ctx, counts


def theirs(data, pixmap, out_shape, kernel="square", weight_map=None, pixfrac=1.0,
           pixel_scale_ratio=1.0, **kwargs):
    """The same with drizzle 3.x."""
    driz = Drizzle(kernel=kernel, out_shape=out_shape, fillval=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not a flux-conserving kernel"
        driz.add_image(data, exptime=kwargs.pop("exptime", 1.0), pixmap=pixmap,
                       weight_map=weight_map, pixfrac=pixfrac,
                       pixel_scale_ratio=pixel_scale_ratio, **kwargs)
    return driz.out_img, driz.out_wht, driz.out_ctx


def assert_close(sci, wht, ref_sci, ref_wht, rtol=RTOL, where=None):
    """Weights within ``rtol`` of the largest weight everywhere; science within
    ``rtol`` (relative) where the reference weight exceeds 1e-5."""
    where = np.ones(ref_wht.shape, bool) if where is None else where
    scale = np.max(np.abs(ref_wht))
    wht_error = np.max(np.abs(wht - ref_wht)[where]) / scale
    assert wht_error <= rtol, f"weights differ by {wht_error:.2e} of the largest"
    good = where & (ref_wht > 1e-5) & (wht > 1e-5)
    sci_error = np.max(np.abs(sci[good] - ref_sci[good]) / np.abs(ref_sci[good]))
    assert sci_error <= rtol, f"science differs by {sci_error:.2e} (relative)"


def distorted_maps(uvis_sip_map):
    shape = (40, 50)
    return {
        "identity": frame_map(affine_map(shape)),
        "shift": frame_map(affine_map(shape, shift=(0.37, -0.21))),
        "rotation": frame_map(affine_map(shape, angle_deg=-31.0)),
        "magnify": frame_map(affine_map(shape, angle_deg=12.0, scale=1.7)),
        "shrink": frame_map(affine_map(shape, angle_deg=-64.0, scale=0.6)),
        "polynomial": frame_map(affine_map(shape, angle_deg=17.0, quadratic=2e-3)),
        "uvis_sip": frame_map(uvis_sip_map(shape)),
    }


@pytest.fixture(scope="module")
def maps(uvis_sip_map):
    return distorted_maps(uvis_sip_map)


MAP_NAMES = ["identity", "shift", "rotation", "magnify", "shrink", "polynomial", "uvis_sip"]


@pytest.mark.parametrize("map_name", MAP_NAMES)
@pytest.mark.parametrize("kernel,pixfrac", [("square", 1.0), ("square", 0.7), ("point", 1.0),
                                            ("turbo", 1.0), ("turbo", 0.7)])
def test_matches_drizzle(maps, map_name, kernel, pixfrac):
    """Whole image inside the frame (so input image edges are covered), zero weights."""
    pixmap, out_shape = maps[map_name]
    data, weights = random_image(pixmap.shape[:2], seed=1)
    # Output pixel size in input pixels, for turbo's drop size.
    ratio = {"magnify": 1 / 1.7, "shrink": 1 / 0.6}.get(map_name, 1.0)
    sci, wht, ctx, _ = ours(data, pixmap, out_shape, kernel=kernel, weight_map=weights,
                            pixfrac=pixfrac, pixel_scale_ratio=ratio)
    ref_sci, ref_wht, ref_ctx = theirs(data, pixmap, out_shape, kernel=kernel,
                                       weight_map=weights, pixfrac=pixfrac,
                                       pixel_scale_ratio=ratio)
    assert_close(sci, wht, ref_sci, ref_wht)
    # Context differs only where the reference keeps a rounding-level weight.
    differ = ctx[0] != ref_ctx[0]
    assert np.all(ref_wht[differ] < 1e-9)


@pytest.mark.parametrize("kernel", ["square", "point", "turbo"])
@pytest.mark.parametrize("angle,shift", [(0.0, (-7.3, 2.6)), (0.0, (9.8, -4.4)),
                                         (0.0, (3.5, 12.5)), (23.0, (14.0, -9.0))])
def test_partial_overlap(kernel, angle, shift):
    """The image hangs over the output edges (the output is also smaller).

    Compared with drizzle 3.x away from the output border only: drizzle
    scans each input row between limits found by inverting the output-frame
    polygon, and skips input pixels whose centres fall just beyond the top
    or right output edge although their drops reach it (the border pixels
    lose up to half their weight).  Here every drop touching the output
    contributes, as the kernel definitions ask; the slow reference confirms
    it everywhere.
    """
    data, weights = random_image((30, 36), seed=2)
    pixmap = affine_map(data.shape, angle_deg=angle, shift=shift)
    out_shape = (28, 31)
    sci, wht, _, _ = ours(data, pixmap, out_shape, kernel=kernel, weight_map=weights)
    ref_sci, ref_wht, _ = theirs(data, pixmap, out_shape, kernel=kernel, weight_map=weights)
    inside = np.zeros(out_shape, bool)
    inside[2:-2, 2:-2] = True
    assert_close(sci, wht, ref_sci, ref_wht, where=inside)
    added_w, added_wv = reference_contributions(data, pixmap, out_shape, kernel=kernel,
                                                weight_map=weights)
    ref_sci, ref_wht = merge(np.zeros(out_shape), np.zeros(out_shape), added_w, added_wv)
    assert_close(sci, wht, ref_sci, ref_wht, rtol=1e-6)


@pytest.mark.parametrize("kernel,weighted,sci_rtol", [("gaussian", True, RTOL),
                                                      ("lanczos2", False, 2e-3),
                                                      ("lanczos3", False, 2e-3)])
def test_gaussian_lanczos_differ_from_drizzle_by_normalisation(kernel, weighted, sci_rtol):
    """Deliberate difference: each drop is normalised to carry exactly its weight.

    drizzle samples a Gaussian normalised as a continuous function, and an
    un-normalised Lanczos, at the output pixel centres; the sum of the
    samples changes with the drop's sub-pixel position, so drizzle's weight
    image ripples and its flux is not conserved.  With a pure shift every
    drop has the same sub-pixel position: our weights must then be a
    constant multiple of drizzle's and the science images equal.

    Lanczos values are also computed exactly here, where drizzle takes the
    nearest entry of a table with 0.003-pixel steps (errors ~1e-3); hence
    unit weights (so the constant-ratio check is exact) and a science
    tolerance at that level.
    """
    data, weights = random_image((40, 44), seed=4, zero_fraction=0.0)
    weights = weights if weighted else None
    pixmap = affine_map(data.shape, shift=(6.31, 5.77))
    out_shape = (52, 57)
    sci, wht, _, _ = ours(data, pixmap, out_shape, kernel=kernel, weight_map=weights)
    ref_sci, ref_wht, _ = theirs(data, pixmap, out_shape, kernel=kernel, weight_map=weights)
    inside = np.zeros(out_shape, bool)
    inside[12:-12, 12:-12] = True  # away from the image edges
    ratio = wht[inside] / ref_wht[inside]
    assert np.ptp(ratio) <= 1e-5 * np.mean(ratio)
    assert abs(np.mean(ratio) - 1.0) > 1e-4  # the normalisations do differ
    assert np.max(np.abs(sci[inside] - ref_sci[inside]) / ref_sci[inside]) <= sci_rtol


@pytest.mark.parametrize("kernel,pixfrac", [(k, 1.0) for k in DRIZZLE_KERNELS]
                         + [("square", 0.55), ("square", 1.3), ("turbo", 0.5),
                            ("gaussian", 0.7), ("gaussian", 2.5), ("gaussian", 0.1),
                            ("tophat", 1.8)])
def test_matches_slow_reference(uvis_sip_map, kernel, pixfrac):
    """Every kernel against the obvious implementation, on a SIP-distorted map,
    with zero weights, counts units and every scale factor.

    Gaussian at pixfrac 0.1 is narrow enough that its profile is made from
    an exponential per sample, the others from powers of one (both ways)."""
    pixmap, out_shape = frame_map(uvis_sip_map((18, 22), origin=(4070, 2030)))
    data, weights = random_image(pixmap.shape[:2], seed=5)
    options = dict(kernel=kernel, weight_map=weights, pixfrac=pixfrac, wt_scl=2.5,
                   exptime=7.0, in_units="counts", iscale=0.3, pixel_scale_ratio=1.15)
    sci, wht, _, _ = ours(data, pixmap, out_shape, **options)
    added_w, added_wv = reference_contributions(data, pixmap, out_shape, **options)
    ref_sci, ref_wht = merge(np.zeros(out_shape), np.zeros(out_shape), added_w, added_wv)
    assert_close(sci, wht, ref_sci, ref_wht, rtol=1e-6)


@pytest.mark.parametrize("pixfrac", [1.0, 0.8])
def test_large_drops_over_output_edges(pixfrac):
    """Drops of 2.6 output pixels (the slow clipped path), partly off every edge."""
    data, weights = random_image((14, 16), seed=6)
    pixmap = affine_map(data.shape, angle_deg=37.0, scale=2.6, shift=(12.0, -9.0))
    out_shape = (38, 33)
    sci, wht, _, _ = ours(data, pixmap, out_shape, weight_map=weights, pixfrac=pixfrac)
    added_w, added_wv = reference_contributions(data, pixmap, out_shape, weight_map=weights,
                                                pixfrac=pixfrac)
    ref_sci, ref_wht = merge(np.zeros(out_shape), np.zeros(out_shape), added_w, added_wv)
    assert_close(sci, wht, ref_sci, ref_wht, rtol=1e-6)


def test_point_cells_at_rounding_ties_and_output_edges():
    """Centres half-way between cells, just inside and outside every output edge,
    and non-finite ones: each lands where C ``round`` puts it, or is missed."""
    out_shape = (6, 7)
    xs = np.array([-0.5, -0.4999999, 0.5, 2.5, -1.5, 3.0, 6.4999999, 6.5, np.nan, np.inf])
    ys = np.array([-0.5, -0.4999999, 1.5, 5.4999999, 5.5, -np.inf, 2.0])
    pixmap = np.dstack(np.meshgrid(xs, ys))
    data, weights = random_image(pixmap.shape[:2], seed=31, zero_fraction=0.0)
    weights[2, 3] = 0.0
    sci, wht, ctx, (_, missed) = ours(data, pixmap, out_shape, kernel="point",
                                      weight_map=weights)
    added_w, added_wv = reference_contributions(data, pixmap, out_shape, kernel="point",
                                                weight_map=weights)
    ref_sci, ref_wht = merge(np.zeros(out_shape), np.zeros(out_shape), added_w, added_wv)
    assert_close(sci, wht, ref_sci, ref_wht, rtol=1e-7)
    np.testing.assert_array_equal(ctx[0] != 0, added_w > 0)
    # x lands for -0.4999999, 0.5, 2.5, 3.0, 6.4999999; y for -0.4999999, 1.5,
    # 5.4999999, 2.0; one of those 20 pixels has a zero weight (not a miss).
    assert missed == xs.size * ys.size - 20


def test_point_destinations_beyond_int32(monkeypatch):
    """Outputs of 2**31 pixels or more keep 8-byte destinations: the same result."""
    from multidrizzle.kernels import drizzle

    data, weights = random_image((40, 44), seed=32)
    pixmap = affine_map(data.shape, angle_deg=-57.0, quadratic=1e-3, shift=(30.0, 12.0))
    out_shape = (70, 75)
    expected = ours(data, pixmap, out_shape, kernel="point", weight_map=weights,
                    out_rows=(10, 60))
    monkeypatch.setattr(drizzle, "_POINT_INT32_CELLS", 0)
    result = ours(data, pixmap, out_shape, kernel="point", weight_map=weights,
                  out_rows=(10, 60))
    for got, want in zip(result[:3], expected[:3]):
        np.testing.assert_array_equal(got, want)
    assert result[3] == expected[3]


def test_point_output_side_limit():
    from multidrizzle.errors import UnsupportedError
    from multidrizzle.kernels.drizzle import _check_point_frame

    _check_point_frame(2**31 - 1, 5)
    with pytest.raises(UnsupportedError, match="2147483648 x 5.*smaller output tiles"):
        _check_point_frame(2**31, 5)


def gaussian_star(shape):
    y, x = np.indices(shape, dtype=np.float64)
    star = np.exp(-0.5 * ((x - 50.0) ** 2 + (y - 68.0) ** 2) / 1.2 ** 2)
    return (star / star.sum()).astype(np.float32)


@pytest.mark.parametrize("kernel", FLUX_CONSERVING)
@pytest.mark.parametrize("distorted", [False, True])
def test_flux_conservation(kernel, distorted):
    """sum(sci * wht) = sum(data * weight), as drizzle's own tests check."""
    data = gaussian_star((120, 120))
    y, x = np.indices(data.shape, dtype=np.float64)
    x_out = x + 0.5
    y_out = y + 0.2
    if distorted:
        x_out += 1e-4 * x ** 2 + 1e-5 * x * y
        y_out += 1e-3 * y ** 2 - 2e-5 * x * y
    pixmap = np.dstack([x_out, y_out])
    out_shape = (int(y_out.max()) + 8, int(x_out.max()) + 8)
    # A top-hat of diameter 1 can fall between pixel centres and drop nothing.
    pixfrac = 2.0 if kernel == "tophat" else 1.0
    sci, wht, _, _ = ours(data, pixmap, out_shape, kernel=kernel, pixfrac=pixfrac)
    total = np.sum(sci.astype(np.float64) * wht)
    assert total == pytest.approx(np.sum(data, dtype=np.float64), rel=1e-5)


@pytest.mark.parametrize("kernel,pixfrac", [(k, 1.0) for k in DRIZZLE_KERNELS]
                         + [("square", 0.5)])
def test_context_agrees_with_weight(kernel, pixfrac):
    """A pixel has context bit i iff image i gave it a positive weight."""
    rng = np.random.default_rng(7)
    out_shape = (70, 75)
    n_images = 3
    sci = np.zeros(out_shape, np.float32)
    wht = np.zeros(out_shape, np.float32)
    ctx = new_context(n_images, out_shape)
    own_weights = []
    for image_id in range(n_images):
        data, weights = random_image((50, 55), seed=10 + image_id, zero_fraction=0.3)
        weights[rng.integers(0, 40):, rng.integers(0, 40):] = 0.0  # a zero-weight block
        pixmap = affine_map(data.shape, angle_deg=10.0 * image_id,
                            shift=(8.0 + 1.3 * image_id, 6.0 - 0.7 * image_id))
        drizzle_add_image(data, pixmap, sci, wht, ctx, image_id=image_id, kernel=kernel,
                          weight_map=weights, pixfrac=pixfrac)
        _, alone, _, _ = ours(data, pixmap, out_shape, kernel=kernel, weight_map=weights,
                              pixfrac=pixfrac)
        own_weights.append(alone)
    for image_id, alone in enumerate(own_weights):
        np.testing.assert_array_equal((ctx[0] >> image_id) & 1, alone > 0)
    np.testing.assert_array_equal(ctx[0] != 0, np.any(np.array(own_weights) > 0, axis=0))


@pytest.mark.parametrize("kernel,pixfrac", [("square", 1.0), ("square", 0.7), ("turbo", 1.0),
                                            ("lanczos3", 1.0), ("point", 1.0)])
def test_thread_count_does_not_change_result(kernel, pixfrac):
    """1 and 2 numba threads give bit-identical outputs (several output bands)."""
    data, weights = random_image((260, 240), seed=8)
    pixmap, out_shape = frame_map(affine_map(data.shape, angle_deg=-37.0, quadratic=1e-4))
    assert out_shape[0] > 2 * 128
    results = []
    threads_before = numba.get_num_threads()
    try:
        for n_threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n_threads)
            sci, wht, ctx, counts = ours(data, pixmap, out_shape, kernel=kernel,
                                         weight_map=weights, pixfrac=pixfrac, fill=np.nan)
            results.append((sci.tobytes(), wht.tobytes(), ctx.tobytes(), counts))
    finally:
        numba.set_num_threads(threads_before)
    assert results[0] == results[1]


def test_image_33_sets_bit_0_of_plane_1():
    data, _ = random_image((10, 12))
    pixmap = affine_map(data.shape, shift=(2.0, 2.0))
    out_shape = (15, 17)
    sci = np.zeros(out_shape, np.float32)
    wht = np.zeros(out_shape, np.float32)
    ctx = new_context(33, out_shape)
    assert ctx.shape == (2, *out_shape)
    drizzle_add_image(data, pixmap, sci, wht, ctx, image_id=32)
    covered = wht > 0
    assert np.all(ctx[1][covered] == 1) and np.all(ctx[1][~covered] == 0)
    assert not np.any(ctx[0])
    drizzle_add_image(data, pixmap, sci, wht, ctx, image_id=31)
    assert np.all(ctx[0][covered] == np.int32(-2 ** 31))  # bit 31 is the sign bit
    assert context_plane_and_bit(64) == (2, 1)


def test_nan_and_inf_spoil_no_other_pixel():
    """Non-finite values, weights and positions only remove their own pixels."""
    data, weights = random_image((30, 32), seed=9)
    pixmap = affine_map(data.shape, angle_deg=8.0, shift=(5.0, 3.0))
    out_shape = (45, 45)
    bad_data = data.copy()
    bad_data[4, 5] = np.nan
    bad_data[10, 11] = np.inf
    bad_weights = weights.copy()
    bad_weights[20, 3] = np.nan
    bad_map = pixmap.copy()
    bad_map[15, 16] = np.nan
    bad_map[25, 9, 1] = np.inf
    for kernel in DRIZZLE_KERNELS:
        sci, wht, _, counts = ours(bad_data, bad_map, out_shape, kernel=kernel,
                                   weight_map=bad_weights)
        assert np.all(np.isfinite(sci)) and np.all(np.isfinite(wht))
        # The same as zero weight on the bad pixels and a NaN position for inf.
        clean_weights = weights.copy()
        clean_weights[[4, 10, 20], [5, 11, 3]] = 0.0
        nan_map = bad_map.copy()
        nan_map[~np.isfinite(nan_map)] = np.nan
        ref_sci, ref_wht, _, _ = ours(data, nan_map, out_shape, kernel=kernel,
                                      weight_map=clean_weights)
        assert_close(sci, wht, ref_sci, ref_wht, rtol=1e-7)
    # drizzle skips square drops whose corners touch a NaN position the same way
    ref_sci, ref_wht, _ = theirs(data, nan_map, out_shape, weight_map=clean_weights)
    sci, wht, _, _ = ours(bad_data, bad_map, out_shape, weight_map=bad_weights)
    assert_close(sci, wht, ref_sci, ref_wht)


def test_fillval():
    data, _ = random_image((10, 10))
    pixmap = affine_map(data.shape, shift=(3.0, 3.0))
    out_shape = (20, 20)
    sci, wht, _, _ = ours(data, pixmap, out_shape, fill=np.nan)
    assert np.all(np.isnan(sci[wht == 0])) and np.all(np.isfinite(sci[wht > 0]))
    sci, wht, _, _ = ours(data, pixmap, out_shape, fill=np.nan, fillval=-7.5)
    assert np.all(sci[wht == 0] == -7.5)
    finalize_fill(sci, wht, 0.25)
    assert np.all(sci[wht == 0] == 0.25)
    before = sci.copy()
    finalize_fill(sci, wht, None)
    np.testing.assert_array_equal(sci, before)


@pytest.mark.parametrize("kernel", ["square", "point", "turbo"])
def test_adding_images_one_by_one_matches_drizzle(kernel):
    out_shape = (60, 64)
    sci = np.zeros(out_shape, np.float32)
    wht = np.zeros(out_shape, np.float32)
    ctx = new_context(3, out_shape)
    driz = Drizzle(kernel=kernel, out_shape=out_shape, fillval=0.0)
    for image_id in range(3):
        data, weights = random_image((40, 44), seed=20 + image_id)
        pixmap = affine_map(data.shape, angle_deg=7.0 * image_id, quadratic=1e-3,
                            shift=(9.0 + 0.4 * image_id, 8.0 - 0.3 * image_id))
        drizzle_add_image(data, pixmap, sci, wht, ctx, image_id=image_id, kernel=kernel,
                          weight_map=weights, wt_scl=1.0 + image_id)
        driz.add_image(data, exptime=1.0, pixmap=pixmap, weight_map=weights,
                       wht_scale=1.0 + image_id)
    assert_close(sci, wht, driz.out_img, driz.out_wht)
    differ = ctx != driz.out_ctx
    assert not np.any(differ[:, driz.out_wht >= 1e-9])


def test_bounding_box_matches_drizzle():
    data, weights = random_image((30, 34), seed=11)
    pixmap = affine_map(data.shape, angle_deg=15.0, shift=(12.0, 2.0))
    out_shape = (45, 50)
    box = dict(xmin=4, xmax=25, ymin=7, ymax=21)
    sci, wht, _, _ = ours(data, pixmap, out_shape, weight_map=weights, **box)
    ref_sci, ref_wht, _ = theirs(data, pixmap, out_shape, weight_map=weights, **box)
    assert_close(sci, wht, ref_sci, ref_wht)


def test_units_and_scales_match_drizzle():
    data, weights = random_image((20, 24), seed=12)
    pixmap, out_shape = frame_map(affine_map(data.shape, angle_deg=-20.0))
    options = dict(weight_map=weights, iscale=0.3, exptime=7.0, in_units="counts")
    sci, wht, _, _ = ours(data, pixmap, out_shape, wt_scl=2.5, **options)
    ref_sci, ref_wht, _ = theirs(data, pixmap, out_shape, wht_scale=2.5, **options)
    assert_close(sci, wht, ref_sci, ref_wht)
    assert np.max(wht) > 2.5 * np.max(weights) * 0.9  # wt_scl is applied


def test_missed_pixels_and_skipped_lines():
    """Zero weights are not misses; non-finite and off-output pixels are."""
    data, weights = random_image((10, 12), seed=13, zero_fraction=0.0)
    weights[0, :3] = 0.0
    data[1, 1] = np.nan
    # Rows 0..5 land below the output and columns 0..3 left of it (the drops of
    # row 5 and column 3 touch its edge without overlapping it).
    pixmap = affine_map(data.shape, shift=(-4.0, -6.0))
    for kernel in ("square", "point", "turbo"):
        _, _, _, (skipped, missed) = ours(data, pixmap, (20, 20), kernel=kernel,
                                          weight_map=weights)
        assert skipped == 6
        # Rows 0..5 but for 3 zero weights, columns 0..3 of rows 6..9 (the
        # NaN lies in a dropped row).
        assert missed == 6 * 12 - 3 + 4 * 4
    _, _, _, (skipped, missed) = ours(data, affine_map(data.shape, shift=(50.0, 0.0)),
                                      (20, 20))
    assert (skipped, missed) == (10, 120)


def test_float64_outputs():
    data, weights = random_image((16, 18), seed=14)
    pixmap = affine_map(data.shape, angle_deg=30.0, shift=(10.0, 2.0))
    out_shape = (30, 30)
    sci32, wht32, _, _ = ours(data, pixmap, out_shape, kernel="point", weight_map=weights)
    sci = np.zeros(out_shape)
    wht = np.zeros(out_shape)
    drizzle_add_image(data, pixmap, sci, wht, kernel="point", weight_map=weights)
    assert_close(sci, wht, sci32, wht32, rtol=1e-7)


@pytest.mark.parametrize("change,error", [
    (dict(kernel="boxcar"), ParameterError),
    (dict(pixfrac=0.0), ParameterError),
    (dict(in_units="electrons"), ParameterError),
    (dict(wt_scl=np.nan), ParameterError),
    (dict(image_id=-1), ParameterError),
    (dict(image_id=32), ValueError),  # one context plane only
    (dict(xmin=9, xmax=3), ParameterError),
    (dict(weight_map=np.ones((3, 3))), ValueError),
])
def test_bad_parameters_raise(change, error):
    data = np.ones((8, 9), np.float32)
    pixmap = affine_map(data.shape)
    sci = np.zeros((10, 10), np.float32)
    wht = np.zeros((10, 10), np.float32)
    with pytest.raises(error):
        drizzle_add_image(data, pixmap, sci, wht, new_context(1, sci.shape), **change)


def test_bad_arrays_raise():
    data = np.ones((8, 9), np.float32)
    pixmap = affine_map(data.shape)
    sci = np.zeros((10, 10), np.float32)
    wht = np.zeros((10, 10), np.float32)
    with pytest.raises(ValueError, match="pixmap"):
        drizzle_add_image(data, pixmap[:, :-1], sci, wht)
    with pytest.raises(ValueError, match="same shape and dtype"):
        drizzle_add_image(data, pixmap, sci, wht[:, :5].copy())
    with pytest.raises(ValueError, match="C-contiguous"):
        drizzle_add_image(data, pixmap, sci.T, wht.T)
    with pytest.raises(ValueError, match="float32 or float64"):
        drizzle_add_image(data, pixmap, sci.astype(int), wht.astype(int))
    with pytest.raises(ValueError, match="out_ctx"):
        drizzle_add_image(data, pixmap, sci, wht, np.zeros((1, 10, 10), np.int64))
    with pytest.raises(ValueError, match="2 x 2"):
        drizzle_add_image(data[:1], pixmap[:1], sci, wht)


@pytest.mark.parametrize("pixfrac", [0.03, 0.01])
def test_narrow_gaussian_keeps_every_drop(pixfrac):
    """A Gaussian far narrower than a pixel, centred anywhere between output pixel
    centres: every drop still lands whole (its profile is taken relative to its
    nearest sample, so its sum cannot underflow to zero or a subnormal)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:50, 0:50].astype(float)
    pixmap = np.dstack([cols + 5 + rng.uniform(-0.5, 0.5, rows.shape),
                        rows + 5 + rng.uniform(-0.5, 0.5, rows.shape)])
    sci, wht, _, (skipped, missed) = ours(np.ones((50, 50), np.float32), pixmap, (60, 60),
                                          kernel="gaussian", pixfrac=pixfrac)
    assert np.isfinite(wht).all() and np.isfinite(sci).all()
    assert wht.sum() == pytest.approx(2500.0, rel=1e-5)
    assert (skipped, missed) == (0, 0)


@pytest.mark.parametrize("kernel,pixfrac,offset", [("turbo", 0.5, (-0.05, 0.05)),
                                                   ("gaussian", 1.0, (-0.3, -0.2))])
def test_a_value_overflowing_to_inf_spoils_no_cell_it_does_not_reach(kernel, pixfrac, offset):
    """data * iscale beyond float64: the cells the drop reaches become inf, and
    cells it does not reach (zero overlap, padding of the window) stay finite
    rather than 0 * inf = NaN."""
    rows, cols = np.mgrid[0:20, 0:20].astype(float)
    pixmap = np.dstack([cols + 5.3, rows + 5.2])
    sci, wht = np.zeros((30, 30), np.float32), np.zeros((30, 30), np.float32)
    drizzle_add_image(np.ones((20, 20), np.float32), pixmap, sci, wht, kernel=kernel,
                      pixfrac=pixfrac)
    data = np.zeros((20, 20))
    data[10, 10] = 1e10
    drizzle_add_image(data, pixmap + np.array(offset), sci, wht, kernel=kernel, pixfrac=pixfrac,
                      iscale=1e300)
    assert not np.isnan(sci).any()
    assert np.isinf(sci).sum() >= 1
