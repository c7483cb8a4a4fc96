"""Exposure depth from the chips' outlines, against the final drizzle's context image.

The context image records, for every output pixel, which exposures put
weight there: the number of its bits set is an independent count of the
depth that :func:`multidrizzle.model.coverage.exposure_coverage` estimates
from outlines alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from multidrizzle.model import coverage
from multidrizzle.model.coverage import exposure_coverage

from support.sessions import run_only


def _maps(md, exposures):
    return [[md.pixel_maps[chip.name] for chip in exposure.chips] for exposure in exposures]


def _depth_from_context(ctx: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(ctx.astype(">u4").view(np.uint8), axis=None)
    return bits.reshape(*ctx.shape, 32).sum(axis=(0, -1))


def test_depth_agrees_with_the_context_image(small_demo_set, tmp_path, demo_session):
    md = demo_session(small_demo_set, tmp_path / "final", final_bits="~0")
    run_only(md, "driz_combine")
    coverage = exposure_coverage(_maps(md, md.exposures), md.output_grid.shape)
    assert coverage.cell == 1  # a small grid: one cell per output pixel
    depth = _depth_from_context(md.final_ctx)
    covered = depth >= 1
    for count in (1, 2, 3):
        expected = np.count_nonzero(depth >= count) / np.count_nonzero(covered)
        assert abs(coverage.fraction_at_least(count) - expected) < 0.02, count
    # outlines (through the border pixels' centres) lie inside the footprints the
    # context records: they count one exposure less, and only along chip edges
    difference = coverage.depth.astype(int) - depth.astype(int)
    assert difference.max() == 0
    framed = np.pad(depth, 2)  # the grid's border is an edge too
    edges = np.zeros(framed.shape, dtype=bool)
    for shift in (1, 2, -1, -2):
        for axis in (0, 1):
            edges |= framed != np.roll(framed, shift, axis=axis)
    assert not ((difference != 0) & ~edges[2:-2, 2:-2]).any()
    assert coverage.isolated == ()


def test_an_exposure_seen_twice_doubles_the_depth(small_demo_set, tmp_path, demo_session):
    md = demo_session(small_demo_set, tmp_path / "final")
    first = md.exposures[0]
    single = exposure_coverage(_maps(md, [first]), md.output_grid.shape)
    twice = exposure_coverage(_maps(md, [first, first]), md.output_grid.shape)
    assert single.fraction_at_least(2) == 0.0
    assert np.array_equal(twice.depth, 2 * single.depth)
    assert twice.fraction_at_least(2) == 1.0 and twice.isolated == ()


def test_coarse_cells_keep_the_fractions(small_demo_set, tmp_path, demo_session):
    md = demo_session(small_demo_set, tmp_path / "final")
    fine = exposure_coverage(_maps(md, md.exposures), md.output_grid.shape)
    coarse = exposure_coverage(_maps(md, md.exposures), md.output_grid.shape,
                               max_cells=600)
    assert coarse.cell > 4
    for count in (2, 3):
        assert abs(coarse.fraction_at_least(count) - fine.fraction_at_least(count)) < 0.08


def _inside_point_by_point(polygon: np.ndarray, x: float, y: float) -> bool:
    """The even-odd rule for one point, edge by edge, in plain Python."""
    inside = False
    for (x0, y0), (x1, y1) in zip(np.roll(polygon, 1, axis=0), polygon):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


@pytest.mark.parametrize("batch", [1, 7, 2**22])
def test_grid_inside_test_agrees_point_by_point(monkeypatch, batch):
    monkeypatch.setattr(coverage, "_BATCH", batch * 20 * 17)  # edges per batch
    rng = np.random.default_rng(5)
    x, y = np.arange(20) - 0.5, np.arange(17) * 1.0 - 0.5
    # a star (not convex), a rectangle with vertices on the grid's rows and
    # columns and horizontal edges, and a chip outline like those of the steps
    star_angles = np.linspace(0, 2 * np.pi, 23, endpoint=False)
    star_radii = np.where(np.arange(23) % 2, 3.0, 8.0) + rng.uniform(0, 0.5, 23)
    polygons = [
        np.c_[10 + star_radii * np.cos(star_angles), 8 + star_radii * np.sin(star_angles)],
        np.array([[2.5, 1.5], [15.5, 1.5], [15.5, 12.5], [2.5, 12.5]]),
        np.array([[1.0, 2.0], [18.2, 0.7], [18.9, 15.1], [0.4, 14.0], [0.4, 2.0]]),
    ]
    for polygon in polygons:
        expected = np.array([[_inside_point_by_point(polygon, column, row) for column in x]
                             for row in y])
        found = coverage._inside(polygon, x, y)
        assert found.any() and not found.all()
        np.testing.assert_array_equal(found, expected)
