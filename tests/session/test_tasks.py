"""The run plan's strip height: a final strip's bytes do not grow with the inputs."""

import pytest

from multidrizzle.session.tasks import strip_rows_for


def _strip_pixel_bytes(planes: int) -> int:
    return 4 * 4 + 4 * max(planes, 1)   # science, weight, variance, error; 4 bytes a plane


@pytest.mark.parametrize("tile", [64, 128, 256, 512, 1024, 4096])
@pytest.mark.parametrize("planes", [0, 1, 2, 3, 4])
def test_strips_are_as_high_as_the_tile_up_to_128_inputs(tile, planes):
    # 4 context planes: 128 inputs
    assert strip_rows_for(tile, planes) == tile


@pytest.mark.parametrize("tile", [128, 256, 512, 2048])
@pytest.mark.parametrize("planes", [5, 7, 10, 16, 32])
def test_a_strip_holds_no_more_bytes_than_a_tile_high_strip_of_4_planes(tile, planes):
    rows = strip_rows_for(tile, planes)
    assert rows % 64 == 0 and 64 <= rows <= tile
    if rows > 64:
        assert rows * _strip_pixel_bytes(planes) <= tile * _strip_pixel_bytes(4)
    # and not needlessly lower: one more step of 64 rows would exceed it
    assert (rows + 64) * _strip_pixel_bytes(planes) > tile * _strip_pixel_bytes(4)


def test_more_planes_never_make_higher_strips():
    heights = [strip_rows_for(1024, planes) for planes in range(1, 40)]
    assert heights == sorted(heights, reverse=True)


def test_cosmic_ray_tasks_write_their_masks(tmp_path):
    # each task writes its chip's _crmask file and hands back the file, so that a
    # mosaic's masks are never all in memory at once; the values are the step's
    import numpy as np

    from multidrizzle import Multidrizzle
    from multidrizzle.demo.datasets import make_demo_dataset
    from multidrizzle.io.intermediates import StoredCosmicRayMask
    from multidrizzle.session import pipeline
    from multidrizzle.steps.cosmic_rays import run_driz_cr

    make_demo_dataset(tmp_path / "data", n_exposures=2, chip_shape=(64, 96), seed=3)
    md = Multidrizzle(f"@{tmp_path / 'data' / 'inputs.lst'}", output=str(tmp_path / "final"),
                      runfile="", verbose=False)
    md.build()
    md.run(driz_cr=False, driz_combine=False)
    step = pipeline.STEPS["driz_cr"]
    split = step.split(md, step.make_inputs(md), md.run_plan)
    task_inputs, mask_files = split.arguments[0]
    (name, stored), = split.function(task_inputs, mask_files).items()
    assert isinstance(stored, StoredCosmicRayMask) and stored.path == mask_files[name]
    assert stored.path.is_file()
    assert np.array_equal(np.asarray(stored, dtype=bool), run_driz_cr(task_inputs)[name])
    md.run(only="driz_cr")
    assert all(isinstance(md.cr_masks.stored(chip.name), StoredCosmicRayMask)
               for chip in md._all_chips())
