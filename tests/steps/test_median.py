"""Step 4, create_median: weight masks, combine types, sections, memmaps, and
minmed through the session on a designed stack."""

from __future__ import annotations

import math

import numpy as np
import pytest

from multidrizzle import Multidrizzle
from multidrizzle.errors import ParameterError
from multidrizzle.kernels.combine import mean_combine, median_combine, minmed_combine
from multidrizzle.steps.drizzle import DrizzledImage
from multidrizzle.steps.median import COMBINE_TYPES, create_median, weight_mask_thresholds

from support.sessions import chips_of, run_only

NOISE_INPUTS = ("exptimes", "sky_values_electrons", "read_noises")


def dithered_stack(seed, n_images=4, shape=(37, 29), exptime=500.0, n_cosmic_rays=20):
    """Electrons/s images of one scene with cosmic rays, weights with uncovered edges."""
    rng = np.random.default_rng(seed)
    sky_rate = 1.5
    scene = 30.0 * rng.random(shape)
    images, weights = [], []
    for k in range(n_images):
        electrons = rng.poisson((scene + sky_rate) * exptime) + rng.normal(0, 4.0, shape)
        image = (electrons / exptime - sky_rate).astype(np.float32)
        rows = rng.integers(0, shape[0], n_cosmic_rays)
        cols = rng.integers(0, shape[1], n_cosmic_rays)
        image[rows, cols] += rng.uniform(10, 300, n_cosmic_rays).astype(np.float32)
        weight = (exptime * rng.uniform(0.6, 1.0, shape)).astype(np.float32)
        weight[:, : 2 * k] = 0.0           # dither: each image misses a few columns
        weight[rng.random(shape) < 0.02] = 0.0
        image[weight == 0] = 0.0
        images.append(image)
        weights.append(weight)
    noise = dict(exptimes=[exptime] * n_images,
                 sky_values_electrons=[sky_rate * exptime] * n_images,
                 read_noises=[4.0] * n_images)
    return images, weights, noise


# ---------------------------------------------------------------------------
# Weight masks
# ---------------------------------------------------------------------------

def test_weight_threshold_is_maskpt_times_mean_of_positive_weights():
    weight = np.array([[0.0, 1e-9, 100.0], [200.0, 300.0, 400.0]], np.float32)
    # Mean of the weights >= 1e-8: (100 + 200 + 300 + 400) / 4 = 250.
    thresholds = weight_mask_thresholds([weight, 2 * weight], combine_maskpt=0.5)
    np.testing.assert_allclose(thresholds, [125.0, 250.0])
    assert weight_mask_thresholds([weight], median_newmasks=False)[0] == 0.0


def test_mask_rule_from_weights_newmasks_true():
    values = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    weight = np.array([[0.0, 49.0, 50.0, 201.0]], np.float32)
    # mean of the non-zero weights 100, x 0.5: 49 is masked, 50 is not (weight < 50).
    reference = np.full((1, 4), 10.0, np.float32)
    result = create_median([values, reference], [weight, np.ones_like(weight)],
                           combine_type="mean", combine_maskpt=0.5, keep_masks=True)
    np.testing.assert_array_equal(result.weight_thresholds, [50.0, 0.5])
    np.testing.assert_array_equal(result.masks[0], [[True, True, False, False]])
    np.testing.assert_array_equal(result.masks[1], False)
    np.testing.assert_array_equal(result.median[0], [10.0, 10.0, 6.5, 7.0])
    np.testing.assert_array_equal(result.masked_fractions, [0.5, 0.0])
    assert create_median([values, reference], [weight, np.ones_like(weight)],
                         combine_type="mean").masks is None


def test_newmasks_false_excludes_only_zero_weight():
    values = np.array([[1.0, 2.0, 3.0]], np.float32)
    weight = np.array([[0.0, 1e-3, 100.0]], np.float32)
    reference = np.full((1, 3), 10.0, np.float32)
    with_masks = create_median([values, reference], [weight, np.ones_like(weight)],
                               combine_type="mean", median_newmasks=True)
    without = create_median([values, reference], [weight, np.ones_like(weight)],
                            combine_type="mean", median_newmasks=False)
    np.testing.assert_array_equal(with_masks.median[0], [10.0, 10.0, 6.5])
    np.testing.assert_array_equal(without.median[0], [10.0, 6.0, 6.5])


# ---------------------------------------------------------------------------
# Combine types through the step
# ---------------------------------------------------------------------------

def test_each_combine_type_on_a_known_stack():
    # Three images, one pixel each column: (0) clean, (1) one image bad, (2) all bad,
    # (3) two images hit by cosmic rays.
    images = [np.array([[10.0, 10.0, 5.0, 10.0]], np.float32),
              np.array([[12.0, 99.0, 6.0, 900.0]], np.float32),
              np.array([[11.0, 12.0, 7.0, 800.0]], np.float32)]
    weights = [np.array([[1.0, 1.0, 0.0, 1.0]], np.float32),
               np.array([[1.0, 0.0, 0.0, 1.0]], np.float32),
               np.array([[1.0, 1.0, 0.0, 1.0]], np.float32)]
    noise = dict(exptimes=[1.0] * 3, sky_values_electrons=[0.0] * 3, read_noises=[1.0] * 3)
    expected = {
        "median": [11.0, 11.0, 0.0, 800.0],
        "imedian": [11.0, 11.0, 7.0, 800.0],
        "mean": [11.0, 11.0, 0.0, 570.0],
        "imean": [11.0, 11.0, 7.0, 570.0],
        # minmed: median of the values without the highest, or the minimum:
        # (0) (10 + 11) / 2 = 10.5; (1) lower of two = 10; (3) (10 + 800) / 2 -> 10.
        "minmed": [10.5, 10.0, 0.0, 10.0],
        "iminmed": [10.5, 10.0, 7.0, 10.0],
    }
    for combine_type, values in expected.items():
        result = create_median(images, weights, combine_type=combine_type, **noise)
        np.testing.assert_array_equal(result.median[0], values, err_msg=combine_type)
        assert result.filled_pixels == 1
        assert (result.minimum_pixels == 1) if "minmed" in combine_type else (
            result.minimum_pixels is None)


def test_nlow_nhigh_and_thresholds_pass_through():
    images = [np.full((2, 2), v, np.float32) for v in (1.0, 2.0, 3.0, 50.0)]
    weights = [np.ones((2, 2), np.float32)] * 4
    assert create_median(images, weights, combine_type="median",
                         combine_nhigh=1).median[0, 0] == 2.0
    assert create_median(images, weights, combine_type="mean", combine_nlow=1,
                         combine_nhigh=1).median[0, 0] == 2.5
    assert create_median(images, weights, combine_type="mean", combine_lthresh=2.0,
                         combine_hthresh=50.0).median[0, 0] == 2.5


def test_minmed_recovers_injected_cosmic_rays():
    images, weights, noise = dithered_stack(5, n_images=3, n_cosmic_rays=0)
    clean = create_median(images, weights, combine_type="minmed", keep_masks=True, **noise)
    covered = np.argwhere(~clean.masks.any(axis=0))
    row, col = covered[len(covered) // 2]
    hit = [image.copy() for image in images]
    for k in (0, 2):                 # two of three images hit at the same pixel
        hit[k][row, col] += 400.0
    result = create_median(hit, weights, combine_type="minmed", **noise)
    # The median without the highest value would be (clean + hit) / 2: about 200 high.
    assert result.median[row, col] == hit[1][row, col]
    assert abs(result.median[row, col] - clean.median[row, col]) < 2.0
    assert result.minimum_pixels > clean.minimum_pixels


def test_minmed_needs_noise_inputs():
    images, weights, noise = dithered_stack(1, n_images=3)
    for missing in NOISE_INPUTS:
        partial = {name: value for name, value in noise.items() if name != missing}
        with pytest.raises(ParameterError, match=missing):
            create_median(images, weights, combine_type="minmed", **partial)
    # median and mean do not need them
    create_median(images, weights, combine_type="median")


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------

def kernel_on_whole_stack(images, weights, noise, masks, *, combine_type, **options):
    """The kernel on the full stack in one call, with the masks the step used."""
    options = {key: value for key, value in options.items() if key.startswith("combine_")}
    stack = np.stack(images).astype(np.float32)
    weight_stack = np.stack(weights).astype(np.float32)
    fill_with_last = combine_type.startswith("i")
    base = combine_type[1:] if fill_with_last else combine_type
    if base == "minmed":
        return minmed_combine(stack, masks, weight_stack, exptimes=noise["exptimes"],
                              sky_electrons=noise["sky_values_electrons"],
                              read_noises=noise["read_noises"], grow=options["combine_grow"],
                              fill_with_last=fill_with_last).image
    combine = mean_combine if base == "mean" else median_combine
    return combine(stack, masks, nhigh=options["combine_nhigh"],
                   fill_with_last=fill_with_last).image


@pytest.mark.parametrize("combine_type", COMBINE_TYPES)
@pytest.mark.parametrize("grow", [1, 2])
def test_banded_identical_to_unbanded(combine_type, grow):
    images, weights, noise = dithered_stack(2)
    options = dict(combine_type=combine_type, combine_grow=grow, combine_nhigh=1,
                   keep_masks=True, **noise)
    whole = create_median(images, weights, combine_bufsize=64.0, **options)
    assert whole.n_sections == 1
    reference = kernel_on_whole_stack(images, weights, noise, whole.masks, **options)
    assert whole.median.tobytes() == reference.tobytes()
    if "minmed" in combine_type:
        assert whole.minimum_pixels > 0
    # 0.001 MiB holds 9 rows of 29 float32; one row is smaller than 0.0001 MiB.
    for bufsize in (0.001, 0.0001):
        banded = create_median(images, weights, combine_bufsize=bufsize, **options)
        assert banded.n_sections >= 5
        assert banded.median.tobytes() == whole.median.tobytes()
        np.testing.assert_array_equal(banded.masks, whole.masks)
        np.testing.assert_array_equal(banded.good_counts, whole.good_counts)
        assert banded.minimum_pixels == whole.minimum_pixels
        np.testing.assert_array_equal(banded.masked_fractions, whole.masked_fractions)


def test_section_rows_follow_bufsize():
    images, weights, noise = dithered_stack(3, shape=(100, 256))
    # 1 MiB default: far more rows than the image
    assert create_median(images, weights, combine_type="median").n_sections == 1
    # 0.01 MiB = 10485 bytes = 10 rows of 256 float32; minmed reads 1 more row each side.
    median_run = create_median(images, weights, combine_type="median", combine_bufsize=0.01)
    minmed_run = create_median(images, weights, combine_type="minmed", combine_bufsize=0.01,
                               **noise)
    assert (median_run.section_rows, median_run.n_sections) == (10, 10)
    assert (minmed_run.section_rows, minmed_run.n_sections) == (8, 13)


def test_memmap_inputs(tmp_path):
    images, weights, noise = dithered_stack(4)
    on_disk = []
    for name, arrays in (("sci", images), ("wht", weights)):
        maps = []
        for k, array in enumerate(arrays):
            path = tmp_path / f"{name}{k}.dat"
            writable = np.memmap(path, dtype=np.float32, mode="w+", shape=array.shape)
            writable[:] = array
            writable.flush()
            del writable
            maps.append(np.memmap(path, dtype=np.float32, mode="r", shape=array.shape))
        on_disk.append(maps)
    for combine_type in ("minmed", "imedian"):
        from_disk = create_median(on_disk[0], on_disk[1], combine_type=combine_type,
                                  combine_bufsize=0.001, **noise)
        in_memory = create_median(images, weights, combine_type=combine_type, **noise)
        assert from_disk.median.tobytes() == in_memory.median.tobytes()
    for array, mapped in zip(images, on_disk[0]):
        np.testing.assert_array_equal(mapped, array)


def test_float64_inputs_are_read_as_float32():
    images, weights, noise = dithered_stack(6)
    as_float64 = create_median([a.astype(np.float64) for a in images],
                               [w.astype(np.float64) for w in weights],
                               combine_type="minmed", **noise)
    as_float32 = create_median(images, weights, combine_type="minmed", **noise)
    assert as_float64.median.tobytes() == as_float32.median.tobytes()


def test_step_parameter_errors():
    images, weights, noise = dithered_stack(1, n_images=2)
    with pytest.raises(ParameterError, match="single_weights"):
        create_median(images, weights[:1], combine_type="median")
    with pytest.raises(ParameterError, match=r"single_images\[1\]"):
        create_median([images[0], images[1][:-1]], weights, combine_type="median")
    with pytest.raises(ParameterError, match="combine_type"):
        create_median(images, weights, combine_type="sum")
    with pytest.raises(ParameterError, match="combine_bufsize"):
        create_median(images, weights, combine_type="median", combine_bufsize=0)
    with pytest.raises(ParameterError, match="combine_grow"):
        create_median(images, weights, combine_type="minmed", combine_grow=-1, **noise)
    with pytest.raises(ParameterError, match="empty"):
        create_median([], [], combine_type="median")
    with pytest.raises(ParameterError, match="nhigh"):
        create_median(images, weights, combine_type="median", combine_nlow=1,
                      combine_nhigh=1)


# ---------------------------------------------------------------------------
# minmed and iminmed through the session on a designed stack of separate
# drizzles: every pixel's answer worked out from drizzlepac's minmed rules
# (see ``multidrizzle.kernels.combine``)
# ---------------------------------------------------------------------------

BASE = 5.0           # e-/s everywhere but the designed pixels
CR = (10, 10)        # (5, 80, 5): a cosmic ray in one image -> 5
LOW = (20, 20)       # (1, 30, 31): minimum far below the median -> 1
GROWN = (20, 21)     # 3.5 sigma low, next to LOW: grow pass (3 sigma) -> minimum
LONE = (40, 40)      # the same values away from any flag: 4 sigma needed -> median
MASKED = (30, 30)    # third image has zero weight and a wild value -> ignored
EMPTY = (50, 50)     # no image has weight: minmed 0, iminmed the last image's value
PAIR = (60, 60)      # (6.0, 6.2, 50): minmed's median averages the two lowest -> 6.1


def _noise_terms(md: Multidrizzle, sky_of_exposure) -> tuple[float, float, float]:
    """E, B, R of minmed's sigma**2 = median E + B + R where every weight is t_i.

    E = sum of weights (rates), B = sum of w_i S_i / t_i (S_i the image's sky
    in electrons), R = sum of r_i**2 (r_i the RMS read noise of its chips).
    """
    exptimes = [e.exptime for e in md.exposures]
    electron_scale = float(sum(exptimes))
    sky = float(sum(sky_of_exposure(e) for e in md.exposures))
    read = float(sum(np.mean([c.read_noise ** 2 for c in e.chips]) for e in md.exposures))
    return electron_scale, sky, read


def _sigma(median: float, terms) -> float:
    electron_scale, sky, read = terms
    return math.sqrt(median * electron_scale + sky + read)


def _designed_stack(md: Multidrizzle, terms, extra=()) -> list[DrizzledImage]:
    shape = md.separate_grid.shape
    images = [np.full(shape, BASE, np.float32) for _ in md.exposures]
    weights = [np.full(shape, e.exptime, np.float32) for e in md.exposures]

    def put(pixel, values):
        for image, value in zip(images, values):
            image[pixel] = value

    put(CR, (5.0, 80.0, 5.0))
    put(LOW, (1.0, 30.0, 31.0))
    middle = 12.0
    offset = 3.5 * _sigma(middle, terms) / terms[0]   # deficit = offset * E = 3.5 sigma
    for pixel in (GROWN, LONE):
        put(pixel, (middle - offset, middle + offset, middle + 10.0))
    put(MASKED, (7.0, 5.5, -100.0))
    weights[2][MASKED] = 0.0
    put(EMPTY, (3.0, 4.0, 9.0))
    for weight in weights:
        weight[EMPTY] = 0.0
    put(PAIR, (6.2, 50.0, 6.0))
    for pixel, values in extra:
        put(pixel, values)
    return [DrizzledImage(sci=s, wht=w, exptime=e.exptime, n_images=1)
            for s, w, e in zip(images, weights, md.exposures)]


@pytest.fixture
def designed(small_demo_set, tmp_path, demo_session):
    md = demo_session(small_demo_set, tmp_path / "final", combine_nsigma=(4.0, 3.0),
                      combine_grow=1)
    skies = {e.filename.name: 20.0 + 10.0 * k for k, e in enumerate(md.exposures)}
    md.replace_step("sky", lambda s: {c.name: skies[c.filename.name] for c in chips_of(s)})
    terms = _noise_terms(md, lambda e: skies[e.filename.name])
    md.replace_step("driz_separate", lambda s: _designed_stack(s, terms))
    return md, terms


@pytest.mark.parametrize("combine_type", ["minmed", "iminmed"])
def test_minmed_on_a_designed_stack(designed, combine_type):
    md, terms = designed
    md.combine_type = combine_type
    run_only(md, "sky", "driz_separate", "median")
    median = md.median_image
    middle = 12.0
    offset = 3.5 * _sigma(middle, terms) / terms[0]
    expected = np.full(md.separate_grid.shape, BASE, np.float32)
    expected[CR] = 5.0
    expected[LOW] = 1.0
    expected[GROWN] = middle - offset
    expected[LONE] = middle
    expected[MASKED] = 5.5
    expected[EMPTY] = 9.0 if combine_type == "iminmed" else 0.0
    expected[PAIR] = 6.1
    np.testing.assert_allclose(median, expected, rtol=1e-6, atol=1e-6)


def test_minmed_nsigma_and_grow_change_the_choice(designed):
    md, terms = designed
    md.combine_type = "minmed"
    md.combine_nsigma = (3.0, 3.0)        # 3.5 sigma now enough everywhere
    run_only(md, "sky", "driz_separate", "median")
    middle = 12.0
    offset = 3.5 * _sigma(middle, terms) / terms[0]
    assert md.median_image[LONE] == pytest.approx(middle - offset, rel=1e-6)
    md.combine_grow = 0
    md.combine_nsigma = (4.0, 3.0)        # no grow pass: 4 sigma everywhere
    run_only(md, "median")
    assert md.median_image[GROWN] == pytest.approx(middle, rel=1e-6)
    assert md.median_image[LOW] == pytest.approx(1.0)


def test_minmed_sky_term_is_the_lowest_chip_sky(small_demo_set, tmp_path, demo_session):
    """AstroDrizzle's createMedian: per image the lowest chip sky and RMS read noise."""
    md = demo_session(small_demo_set, tmp_path / "final", combine_type="minmed",
                      combine_nsigma=(4.0, 3.0), combine_grow=0)
    chip_skies = {1: 10.0, 2: 5000.0}
    md.replace_step("sky", lambda s: {c.name: chip_skies[c.extver] for c in chips_of(s)})
    lowest = _noise_terms(md, lambda e: 10.0)
    mean = _noise_terms(md, lambda e: 2505.0)
    middle = 1.0                          # faint: the sky term matters
    offset = 4.3 * _sigma(middle, lowest) / lowest[0]     # 4.3 sigma with the lowest sky
    # with the mean sky the same deficit is below 4 sigma: the test tells them apart
    assert offset * mean[0] < 4.0 * _sigma(middle, mean)
    probe = (25, 60)
    values = (middle + offset, middle - offset, middle + 10.0)
    md.replace_step("driz_separate",
                    lambda s: _designed_stack(s, lowest, extra=[(probe, values)]))
    run_only(md, "sky", "driz_separate", "median")
    assert md.median_image[probe] == pytest.approx(middle - offset, rel=1e-6)
