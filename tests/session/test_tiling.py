"""Tiled execution: any tile size gives the products of an untiled run, to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from multidrizzle import Multidrizzle
from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.model.plan import Box

from support.sessions import product_digests

SMALL_CHIP = (96, 192)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiling")
    make_demo_dataset(folder, n_exposures=4, chip_shape=SMALL_CHIP, seed=8)
    return folder


def _run(demo, folder, **parameters) -> Multidrizzle:
    md = Multidrizzle(f"@{demo / 'inputs.lst'}", output=str(folder / "final"), runfile="",
                      verbose=False, **parameters)
    md.build()
    md.run()
    return md


@pytest.fixture(scope="module")
def untiled(demo, tmp_path_factory):
    md = _run(demo, tmp_path_factory.mktemp("untiled"), tile_size=100_000)
    assert len(md.run_plan.median_tiles) == 1 and len(md.run_plan.final_strips) == 1
    return product_digests(md, median=True)


# 16 and 40 cut chips into several tiles, and the minmed grow halo (combine_grow=1)
@pytest.mark.parametrize("tile_size, in_memory", [(40, True), (16, False), (256, False)])
def test_tiled_products_are_bit_identical(demo, tmp_path, untiled, tile_size, in_memory):
    md = _run(demo, tmp_path, tile_size=tile_size, in_memory=in_memory)
    assert len(md.run_plan.median_tiles) > 1 or tile_size == 256
    assert product_digests(md, median=True) == untiled


@pytest.mark.parametrize("parameters", [
    {"combine_type": "iminmed", "combine_grow": 2, "final_kernel": "lanczos3",
     "driz_sep_kernel": "gaussian", "blot_interp": "sinc"},
    {"combine_type": "imedian", "final_kernel": "point", "driz_sep_fillval": 7.0,
     "final_fillval": -1.0, "final_units": "counts", "build_mef": False},
])
def test_every_kernel_and_combine_type_tiles_exactly(demo, tmp_path, parameters):
    whole = product_digests(_run(demo, tmp_path / "whole", tile_size=100_000, **parameters),
                            median=True)
    tiled = product_digests(_run(demo, tmp_path / "tiled", tile_size=24, **parameters),
                            median=True)
    assert tiled == whole


def test_separate_drizzles_are_cutouts_with_their_own_wcs(demo, tmp_path):
    md = _run(demo, tmp_path, tile_size=64)
    grid = md.separate_grid
    for exposure, single in zip(md.exposures, md.single_drizzles):
        box = single.box
        assert isinstance(box, Box) and box.size < grid.shape[0] * grid.shape[1]
        assert md.single_sci[md.single_drizzles.index(single)].shape == box.shape
        path = md.layout.single(exposure, "sci")
        with fits.open(path) as hdul:
            wcs = WCS(hdul[0].header)
            assert hdul[0].data.shape == box.shape
        # the cutout's pixel (0, 0) is the grid's pixel (x0, y0)
        np.testing.assert_allclose(wcs.pixel_to_world_values(0, 0),
                                   grid.wcs.pixel_to_world_values(box.x0, box.y0),
                                   rtol=0, atol=1e-10)
        # every pixel with weight is inside the cutout
        assert np.asarray(single.wht).sum() > 0
    total = sum(single.box.size for single in md.single_drizzles)
    assert total < len(md.exposures) * grid.shape[0] * grid.shape[1]


def test_build_summary_reports_the_plan(demo, tmp_path):
    md = Multidrizzle(f"@{demo / 'inputs.lst'}", output=str(tmp_path / "final"),
                      runfile="", verbose=False, tile_size=64)
    summary = str(md.build())
    assert "tiles:" in summary and "deepest tile" in summary
    assert "estimated peak memory" in summary and "temporary disk" in summary
    md.memory_limit = "300MB"
    md.tile_size = None
    assert md.run_plan.tile_size >= 64
