"""What a session hands back: md.final_image, md.sky_table and the cosmic-ray masks kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table

from multidrizzle import Multidrizzle
from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.io import products
from multidrizzle.io.intermediates import StoredImage
from multidrizzle.session.tasks import make_run_plan


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


def test_clean_removes_each_steps_files_once_no_later_step_reads_them(
        demo, tmp_path, demo_session, monkeypatch):
    """clean=True: the separate drizzles go once the median is made, the median once
    blotted, the blotted medians once the cosmic rays are found; so the run never
    holds every intermediate on disk at once."""
    md = demo_session(demo, tmp_path / "final", in_memory=False, clean=True)
    seen: dict[str, set[str]] = {}
    started = Multidrizzle._step_started

    def recorded(session, step):
        seen[step] = {name for name in _folder_files(tmp_path) if name.endswith(".fits")}
        started(session, step)
    monkeypatch.setattr(Multidrizzle, "_step_started", recorded)
    md.run()

    def kinds(names):
        return {kind for kind in ("_single_sci", "_single_wht", "_med", "_blt", "_crmask")
                if any(kind in name for name in names)}
    assert kinds(seen["median"]) == {"_single_sci", "_single_wht"}
    assert kinds(seen["blot"]) == {"_med"}
    assert kinds(seen["driz_cr"]) == {"_blt"}
    assert kinds(seen["driz_combine"]) == {"_crmask"}
    assert sorted(_folder_files(tmp_path)) == ["final_drc.fits", "final_manifest.json"]
    assert [md.step_records[step].status for step in ("driz_separate", "median", "blot")] \
        == ["removed"] * 3


def test_in_memory_writes_no_cosmic_ray_mask(demo, tmp_path, demo_session):
    md = demo_session(demo, tmp_path / "final", in_memory=True)
    md.run()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["final_drc.fits",
                                                                "final_manifest.json"]
    md.driz_cr_corr = True
    md.run(static=False, skysub=False, driz_separate=False, median=False, blot=False)
    names = {path.name for path in tmp_path.iterdir()}
    assert _crmask_names(md) <= names


def _folder_files(folder) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_final_strips_are_written_into_the_product_itself(files_run, monkeypatch):
    """in_memory=False: each strip of the final drizzle goes straight into the product,
    made under its temporary name; no other file (no assembly of the final images)
    exists during the final step, and none is left after it."""
    md, output, _ = files_run
    md.tile_size = 16                   # several strips
    md.final_pixfrac = 0.9              # the final drizzle again, on the files kept
    before = _folder_files(output)
    writes: list[tuple[str, set[str]]] = []
    write = StoredImage.write

    def recorded(image, key, values):
        write(image, key, values)
        writes.append((image.path.name, _folder_files(output) - before))
    monkeypatch.setattr(StoredImage, "write", recorded)
    md.run(only="driz_combine")
    strips = len(make_run_plan(md).final_strips)
    assert strips > 2
    assert len(writes) == strips * 4    # SCI, WHT, CTX and ERR of each strip
    temporary, = {name for name, _ in writes}
    assert temporary.startswith(".final_drc.fits.") and temporary.endswith(".tmp")
    assert {frozenset(new) for _, new in writes} == {frozenset({temporary})}
    assert _folder_files(output) == before
    assert md.products == [output / "final_drc.fits"]
    with fits.open(md.products[0]) as hdul:
        assert hdul[0].header["D001PIXF"] == 0.9
        np.testing.assert_array_equal(hdul["WHT"].data, md.final_wht)
    md.tile_size = None
    md.final_pixfrac = 1.0
    md.run(only="driz_combine")


def _cards(header: fits.Header) -> list[tuple[str, object]]:
    """A header's cards but DATE (when the file was written) and the HISTORY of the
    parameters that differ between the runs compared (in_memory, tile_size)."""
    return [(card.keyword, card.value) for card in header.cards
            if card.keyword != "DATE" and not (
                card.keyword == "HISTORY" and str(card.value).startswith(
                    ("in_memory =", "tile_size =")))]


@pytest.mark.parametrize("build_mef, final_units", [(True, "cps"), (False, "counts")])
def test_product_written_in_place_equals_the_streamed_one(demo, tmp_path, demo_session,
                                                          build_mef, final_units):
    """The product made in place from strips (in_memory=False) has the headers (S_REGION
    from the whole weight image included) and the data of the product streamed from
    whole images (in_memory=True), and is a valid FITS file."""
    runs, streamed = {}, []
    for in_memory in (True, False):
        md = demo_session(demo, tmp_path / "out" / "final", in_memory=in_memory,
                          build_mef=build_mef, final_units=final_units,
                          tile_size=None if in_memory else 16)
        md.run()
        runs[in_memory] = md
        if in_memory:      # kept aside: the second run replaces them
            (tmp_path / "streamed").mkdir()
            for path in md.products:
                streamed.append(Path(shutil.copy(path, tmp_path / "streamed")))
    placed = runs[False].products
    assert [path.name for path in placed] == [path.name for path in streamed]
    assert len(placed) == (1 if build_mef else 4)
    for path, reference in zip(placed, streamed):
        with fits.open(path, checksum=True) as hdul, fits.open(reference) as expected:
            hdul.verify("exception")
            assert [hdu.name for hdu in hdul] == [hdu.name for hdu in expected]
            assert hdul[0].header["S_REGION"] == expected[0].header["S_REGION"]
            assert hdul[0].header["S_REGION"] == products.footprint_region(
                runs[False].output_grid, runs[True].final_wht)
            for hdu, reference_hdu in zip(hdul, expected):
                assert _cards(hdu.header) == _cards(reference_hdu.header), hdu.name
                if hdu.data is not None:
                    assert hdu.data.tobytes() == reference_hdu.data.tobytes(), hdu.name
    np.testing.assert_array_equal(runs[False].final_sci, runs[True].final_sci)
    np.testing.assert_array_equal(runs[False].final_error, runs[True].final_error)
    assert not [name for name in _folder_files(tmp_path / "out") if name.startswith(".")]
