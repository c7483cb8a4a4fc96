"""Footprints and tiles: conservative, exact where it matters."""

from __future__ import annotations

import numpy as np
import pytest

from multidrizzle.errors import ParameterError
from multidrizzle.model.geometry import GridRequest, compute_pixel_map, make_output_grid
from multidrizzle.model import ReadOptions, read_exposure
from multidrizzle.model.plan import (
    Box, TileCosts, choose_tile_size, footprint_box, input_box, parse_memory, split_into_strips,
    split_into_tiles, tile_depths,
)


@pytest.fixture(scope="module")
def uvis(uvis_full):
    chips = read_exposure(uvis_full, ReadOptions()).chips
    grid = make_output_grid(chips, GridRequest(scale=0.06))
    return chips, grid


@pytest.mark.parametrize("text, expected", [
    (2_000_000_000, 2_000_000_000), ("2GB", 2 * 10**9), ("1.5 GiB", int(1.5 * 2**30)),
    ("512MB", 512 * 10**6), ("512 mib", 512 * 2**20), ("1e9", 10**9)])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1GB", "0", "2 parsecs", True])
def test_parse_memory_refuses_naming_the_parameter(text):
    with pytest.raises(ParameterError, match="memory_limit"):
        parse_memory(text)


@pytest.mark.parametrize("stepsize", [1, 10])
def test_footprint_box_holds_every_mapped_pixel_and_little_more(uvis, stepsize):
    chips, grid = uvis
    for chip in chips:
        pixel_map = compute_pixel_map(chip, grid, stepsize)
        box = footprint_box(pixel_map, grid.shape, reach=0.0)
        dense = pixel_map.evaluate()
        x, y = dense[..., 0], dense[..., 1]
        assert box.x0 <= np.floor(x.min() + 0.5) and np.floor(x.max() + 0.5) < box.x1
        assert box.y0 <= np.floor(y.min() + 0.5) and np.floor(y.max() + 0.5) < box.y1
        assert box.x0 >= np.floor(x.min() + 0.5) - 2 and box.x1 <= np.floor(x.max() + 0.5) + 3


def test_input_box_holds_every_pixel_that_lands_in_the_region(uvis):
    chips, grid = uvis
    chip = chips[0]
    pixel_map = compute_pixel_map(chip, grid, 10)
    dense = pixel_map.evaluate()
    region = Box(1000, 1100, 0, grid.shape[1])
    box = input_box(pixel_map, region, reach=1.0)
    landing = ((dense[..., 1] >= region.y0 - 2) & (dense[..., 1] < region.y1 + 2))
    rows, columns = np.nonzero(landing)
    assert box.y0 <= rows.min() - 1 and rows.max() + 1 < box.y1
    assert box.x0 <= max(columns.min() - 1, 0) and min(columns.max() + 1, chip.shape[1] - 1) < box.x1
    # and it is a small part of the chip
    assert box.size < 0.3 * chip.shape[0] * chip.shape[1]


def test_input_box_of_a_region_the_chip_misses_is_none(uvis):
    chips, grid = uvis
    pixel_map = compute_pixel_map(chips[0], grid, 10)
    far = footprint_box(compute_pixel_map(chips[1], grid, 10), grid.shape, 0.0)
    own = footprint_box(pixel_map, grid.shape, 0.0)
    if far.y0 > own.y1 + 5:
        assert input_box(pixel_map, Box(far.y1 - 3, far.y1, far.x0, far.x1), 1.0) is None


def test_tiles_and_strips_cover_the_grid_once():
    shape = (1000, 777)
    for boxes in (split_into_tiles(shape, 256), split_into_strips(shape, 300)):
        cover = np.zeros(shape, int)
        for box in boxes:
            cover[box.slices] += 1
        assert (cover == 1).all()
    assert split_into_strips(shape, 300)[-1] == Box(900, 1000, 0, 777)


def test_box_arithmetic():
    box = Box(10, 20, 5, 9)
    assert box.shape == (10, 4) and box.size == 40
    assert box.intersection(Box(15, 30, 0, 6)) == Box(15, 20, 5, 6)
    assert box.intersection(Box(20, 30, 0, 6)) is None
    assert box.expanded(7, (25, 100)) == Box(3, 25, 0, 16)
    assert Box(12, 14, 6, 8).relative_to(box) == (slice(2, 4), slice(1, 3))


def _mosaic_boxes(pointings: int, field: int, depth: int) -> list[Box]:
    """``depth`` exposures on each of ``pointings`` x ``pointings`` fields of side ``field``,
    overlapping their neighbours by a tenth."""
    step = field * 9 // 10
    return [Box(j * step, j * step + field, i * step, i * step + field)
            for j in range(pointings) for i in range(pointings) for _ in range(depth)]


@pytest.mark.parametrize("halo", [0, 1, 5])
@pytest.mark.parametrize("size", [16, 64, 100])
def test_tile_depths_count_the_boxes_meeting_each_grown_tile(size, halo):
    rng = np.random.default_rng(size + halo)
    shape = (300, 410)
    boxes = []
    for _ in range(25):
        y0, x0 = rng.integers(0, 290), rng.integers(0, 400)
        boxes.append(Box(y0, y0 + rng.integers(1, 120), x0, x0 + rng.integers(1, 120)))
    boxes.append(None)
    depths = tile_depths(shape, boxes, size, halo).ravel()
    tiles = split_into_tiles(shape, size)
    assert depths.shape == (len(tiles),)
    for tile, depth in zip(tiles, depths):
        grown = Box(tile.y0 - halo, tile.y1 + halo, tile.x0 - halo, tile.x1 + halo)
        expected = sum(1 for box in boxes if box is not None and grown.intersection(box))
        assert depth == expected


_COSTS = TileCosts(bytes_per_stacked_pixel=9, bytes_per_tile_pixel=64,
                   task_overhead=2 ** 18, member_overhead=2 ** 15)


def test_a_single_pointing_is_one_tile_when_memory_allows():
    boxes = [Box(0, 1000, 0, 1000)] * 8
    assert choose_tile_size((1000, 1000), boxes, 1, 2 * 10**9, _COSTS, 64) == 1024


def test_a_mosaic_gets_tiles_near_a_pointings_side():
    boxes = _mosaic_boxes(pointings=6, field=500, depth=5)
    shape = (max(b.y1 for b in boxes), max(b.x1 for b in boxes))
    side = choose_tile_size(shape, boxes, 1, 2 * 10**9, _COSTS, 64)
    assert 128 <= side <= 512
    deepest = tile_depths(shape, boxes, side, 1).max()
    assert deepest <= 4 * 5


@pytest.mark.parametrize("limit", [20 * 10**6, 100 * 10**6, 10**9])
def test_the_chosen_tile_fits_the_memory_limit(limit):
    boxes = [Box(0, 2000, 0, 2000)] * 10
    side = choose_tile_size((2000, 2000), boxes, 0, limit, _COSTS, 64)
    used = min(side, 2000) ** 2 * (10 * 9 + 64)
    assert used <= limit
    if side < 2048:
        bigger = min(2 * side, 2000) ** 2 * (10 * 9 + 64)
        assert bigger > limit


def test_a_limit_below_the_smallest_tile_still_gives_the_smallest():
    boxes = [Box(0, 2000, 0, 2000)] * 10
    assert choose_tile_size((2000, 2000), boxes, 0, 1000, _COSTS, 64) == 64
