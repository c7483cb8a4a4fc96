"""Exposure depth from the chips' outlines, against the final drizzle's context image.

The context image records, for every output pixel, which exposures put
weight there: the number of its bits set is an independent count of the
depth that :func:`multidrizzle.model.coverage.exposure_coverage` estimates
from outlines alone.
"""

from __future__ import annotations

import numpy as np

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
