"""What a session hands back: md.final_image, md.sky_table and the cosmic-ray masks kept."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table

from multidrizzle.demo.datasets import make_demo_dataset


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    make_demo_dataset(folder, n_exposures=3, chip_shape=(64, 128), seed=4)
    return folder


@pytest.fixture(scope="module")
def files_run(demo, tmp_path_factory, demo_session):
    """Every step with default parameters, intermediates as files (in_memory=False)."""
    output = tmp_path_factory.mktemp("files")
    md = demo_session(demo, output / "final", in_memory=False)
    before = (md.final_image, md.sky_table)
    md.run()
    return md, output, before


def _crmask_names(md) -> set[str]:
    return {f"{chip.filename.name[:-len('.fits')]}_sci{chip.extver}_crmask.fits"
            for exposure in md.exposures for chip in exposure.chips}


def test_accessors_are_none_before_their_steps(files_run):
    _, _, before = files_run
    assert before == (None, None)


def test_final_image_is_the_product_as_ccddata(files_run):
    md, _, _ = files_run
    image = md.final_image
    assert isinstance(image, CCDData)
    np.testing.assert_array_equal(image.data, md.final_sci)
    assert image.unit == u.electron / u.s
    np.testing.assert_array_equal(image.mask, md.final_wht == 0)
    assert 0 < image.mask.sum() < image.mask.size
    x, y = np.array([0.0, 40.0, 150.0]), np.array([0.0, 75.0, 20.0])
    np.testing.assert_allclose(image.wcs.pixel_to_world_values(x, y),
                               md.output_grid.wcs.pixel_to_world_values(x, y), rtol=0,
                               atol=1e-12)
    with fits.open(md.products[0]) as hdul:
        for keyword in ("INSTRUME", "FILTER", "PHOTFLAM", "EXPSTART", "D001KERN", "S_REGION"):
            assert image.meta[keyword] == hdul[0].header[keyword], keyword
        assert image.meta["BUNIT"] == hdul["SCI"].header["BUNIT"]
    assert "CRVAL1" not in image.meta             # the WCS is image.wcs


def test_final_image_round_trips_through_a_fits_file(files_run, tmp_path):
    md, _, _ = files_run
    path = tmp_path / "final_image.fits"
    md.final_image.write(path)
    back = CCDData.read(path)
    assert back.unit == u.electron / u.s
    np.testing.assert_array_equal(back.data, md.final_sci)
    x, y = np.array([3.0, 90.0]), np.array([7.0, 50.0])
    np.testing.assert_allclose(back.wcs.pixel_to_world_values(x, y),
                               md.output_grid.wcs.pixel_to_world_values(x, y), rtol=0,
                               atol=1e-10)
    assert back.header["PHOTFLAM"] == md.final_image.meta["PHOTFLAM"]


def test_final_image_in_counts(files_run):
    md, _, _ = files_run
    md.final_units = "counts"
    try:
        image = md.final_image
        assert image.unit == u.electron
        np.testing.assert_allclose(image.data, np.asarray(md.final.sci) * md.final.exptime,
                                   rtol=1e-6)
    finally:
        md.final_units = "cps"


def test_sky_table_has_one_row_per_chip(files_run):
    md, _, _ = files_run
    table = md.sky_table
    assert isinstance(table, Table)
    assert table.colnames == ["file", "extver", "chip", "sky", "units", "subtracted"]
    chips = [chip for exposure in md.exposures for chip in exposure.chips]
    assert len(table) == len(chips) == 6
    for row, chip in zip(table, chips):
        assert (row["file"], row["extver"], row["chip"]) == (chip.filename.name, chip.extver,
                                                            chip.name)
        assert row["sky"] == md.sky_values[chip.name] > 0
        assert row["units"] == chip.bunit == "ELECTRONS"
        assert row["subtracted"]


def test_sky_table_says_when_the_sky_was_not_subtracted(demo, tmp_path, demo_session):
    md = demo_session(demo, tmp_path / "final", skysub=False)
    md.run(driz_separate=False, median=False, blot=False, driz_cr=False, driz_combine=False)
    table = md.sky_table
    assert not any(table["subtracted"])
    assert list(table["sky"]) == [md.sky_values[name] for name in table["chip"]]


def test_cosmic_ray_masks_written_by_default(files_run):
    md, output, _ = files_run
    assert not md.driz_cr_corr and not md.in_memory and not md.clean
    names = {path.name for path in output.iterdir()}
    assert _crmask_names(md) <= names
    assert not any(name.endswith("_crclean.fits") for name in names)
    for exposure in md.exposures:
        for chip in exposure.chips:
            stem = chip.filename.name[:-len(".fits")]
            good = fits.getdata(output / f"{stem}_sci{chip.extver}_crmask.fits")
            assert good.dtype == np.uint8
            np.testing.assert_array_equal(good == 0, md.cr_masks[chip.name])
            assert md.cr_masks[chip.name].any()
            # the session keeps the file, not the mask: a mosaic's masks stay on disk
            assert md.cr_masks.stored(chip.name).path == \
                output / f"{stem}_sci{chip.extver}_crmask.fits"


def test_clean_removes_the_cosmic_ray_masks(demo, tmp_path, demo_session):
    md = demo_session(demo, tmp_path / "final", in_memory=False, clean=True)
    md.run()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["final_drc.fits",
                                                                "final_manifest.json"]
    assert md.cr_masks is not None           # the masks stay on the session


def test_in_memory_writes_no_cosmic_ray_mask(demo, tmp_path, demo_session):
    md = demo_session(demo, tmp_path / "final", in_memory=True)
    md.run()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["final_drc.fits",
                                                                "final_manifest.json"]
    md.driz_cr_corr = True
    md.run(static=False, skysub=False, driz_separate=False, median=False, blot=False)
    names = {path.name for path in tmp_path.iterdir()}
    assert _crmask_names(md) <= names
