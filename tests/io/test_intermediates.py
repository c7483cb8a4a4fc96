"""Intermediate images: packed in memory, read back to the last bit."""

import numpy as np
import pytest

from multidrizzle.io.intermediates import LoadedImages, PackedImage, loaded


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_a_packed_image_reads_back_exactly(dtype):
    values = np.random.default_rng(3).integers(0, 40, size=(37, 53)).astype(dtype)
    packed = PackedImage(values)
    assert packed.shape == values.shape and packed.dtype == values.dtype
    read = packed.read()
    assert read.dtype == values.dtype
    np.testing.assert_array_equal(read, values)
    np.testing.assert_array_equal(np.asarray(packed), values)
    np.testing.assert_array_equal(packed[3:9, 10:], values[3:9, 10:])
    read[0, 0] += 1   # a private copy: the packed values stay
    np.testing.assert_array_equal(packed.read(), values)


def test_counts_of_a_chip_pack_to_a_small_fraction_of_their_pixels():
    """A blotted count image is a few uniform areas (where exposures overlap): the
    session keeps it packed, so it costs far less than a byte a pixel."""
    counts = np.zeros((256, 512), dtype=np.uint8)
    counts[:, 40:] = 3
    counts[100:, 200:] = 5
    counts[:30, 300:470] = 4
    packed = PackedImage(counts)
    assert packed.nbytes_packed < counts.nbytes / 50
    np.testing.assert_array_equal(packed.read(), counts)


def test_loaded_images_unpack_on_look_up():
    counts = np.arange(12, dtype=np.uint8).reshape(3, 4)
    images = LoadedImages({"a": PackedImage(counts), "b": counts})
    assert isinstance(images.stored("a"), PackedImage)
    np.testing.assert_array_equal(images["a"], counts)
    np.testing.assert_array_equal(loaded(images.stored("a")), counts)
    assert images["b"] is counts
