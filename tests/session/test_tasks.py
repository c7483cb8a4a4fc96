"""The run plan's strip height: a final strip's bytes do not grow with the inputs."""

import pytest

from multidrizzle.session.tasks import strip_rows_for


def _strip_pixel_bytes(planes: int) -> int:
    return 3 * 4 + 4 * max(planes, 1)   # science, weight, variance; 4 bytes a plane


@pytest.mark.parametrize("tile", [64, 128, 256, 512, 1024, 4096])
def test_strips_of_one_plane_are_as_high_as_the_tile(tile):
    assert strip_rows_for(tile, 1) == tile
    assert strip_rows_for(tile, 0) == tile   # no context image


@pytest.mark.parametrize("tile", [128, 256, 512, 2048])
@pytest.mark.parametrize("planes", [2, 4, 7, 10, 32])
def test_a_strip_holds_no_more_bytes_than_a_strip_of_one_plane(tile, planes):
    rows = strip_rows_for(tile, planes)
    one_plane_rows = tile
    assert rows % 64 == 0 and 64 <= rows <= one_plane_rows
    if rows > 64:
        assert rows * _strip_pixel_bytes(planes) <= one_plane_rows * _strip_pixel_bytes(1)
    # and not needlessly lower: one more step of 64 rows would exceed it
    assert (rows + 64) * _strip_pixel_bytes(planes) > one_plane_rows * _strip_pixel_bytes(1)


def test_more_planes_never_make_higher_strips():
    heights = [strip_rows_for(1024, planes) for planes in range(1, 40)]
    assert heights == sorted(heights, reverse=True)
