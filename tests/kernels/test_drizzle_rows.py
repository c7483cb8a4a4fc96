"""``out_rows``: a strip of the output gets, to the last bit, what the whole output gets."""

from __future__ import annotations

import numpy as np
import pytest

from multidrizzle.kernels.drizzle import BAND_HEIGHT, drizzle_add_image, new_context

from support.geometry import affine_map

KERNELS = [("square", 1.0), ("square", 0.6), ("point", 1.0), ("turbo", 0.8),
           ("gaussian", 1.0), ("lanczos3", 1.0), ("tophat", 1.5)]

#: Row windows of a 3-band output: inside a band, across a band boundary, the
#: first and last rows.
WINDOWS = [(140, 200), (BAND_HEIGHT - 3, BAND_HEIGHT + 2), (0, 0), (300, 3 * BAND_HEIGHT - 1)]


def _drizzled(kernel, pixfrac, out_rows):
    rng = np.random.default_rng(11)
    shape, out_shape = (150, 120), (3 * BAND_HEIGHT, 260)
    data = rng.normal(10.0, 2.0, shape).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    weights[rng.random(shape) < 0.05] = 0.0
    variance = rng.uniform(0.5, 3.0, shape).astype(np.float32)
    # turned and enlarged: the input spans every band of the output, and its
    # drops leave the output at the top
    pixmap = affine_map(shape, angle_deg=25.0, scale=2.2, shift=(90.0, 10.0), quadratic=1e-4)
    outputs = [np.zeros(out_shape, np.float32) for _ in range(3)]
    ctx = new_context(2, out_shape)
    for image_id in range(2):
        drizzle_add_image(data, pixmap, outputs[0], outputs[1], ctx, image_id=image_id,
                          weight_map=weights, kernel=kernel, pixfrac=pixfrac, variance=variance,
                          out_var=outputs[2], out_rows=out_rows, xmin=3, ymax=140)
    return [*outputs, ctx]


@pytest.mark.parametrize("kernel,pixfrac", KERNELS)
def test_rows_asked_for_are_those_of_the_whole_output(kernel, pixfrac):
    whole = _drizzled(kernel, pixfrac, None)
    for first, last in WINDOWS:
        strip = _drizzled(kernel, pixfrac, (first, last))
        rows = slice(first, last + 1)
        for name, got, expected in zip(("sci", "wht", "var", "ctx"), strip, whole):
            assert np.array_equal(got[..., rows, :], expected[..., rows, :]), (name, first, last)
        # bands without a row asked for were not drizzled at all
        untouched = [band for band in range(3)
                     if not first // BAND_HEIGHT <= band <= last // BAND_HEIGHT]
        for band in untouched:
            band_rows = slice(band * BAND_HEIGHT, (band + 1) * BAND_HEIGHT)
            assert not strip[1][band_rows].any() and whole[1][band_rows].any()


@pytest.mark.parametrize("out_rows", [(5, 4), (-1, 3), (0, 3 * BAND_HEIGHT), "top", (1,)])
def test_bad_out_rows_are_refused(out_rows):
    with pytest.raises(ValueError, match="out_rows"):
        _drizzled("square", 1.0, out_rows)
