"""Product headers: units, skies (MDRIZSKY) and WCS of the products and intermediates."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.errors import InputError, ParameterError
from multidrizzle.model.geometry import GridRequest, make_output_grid, native_scale
from multidrizzle.io import products
from multidrizzle.io.atomic import FileSet
from multidrizzle.model import ReadOptions, read_exposure

from support.hst_files import UVIS_FLC

SMALL_CHIP = (64, 128)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    dataset = make_demo_dataset(folder, n_exposures=2, chip_shape=SMALL_CHIP, seed=2)
    exposures = [read_exposure(path, ReadOptions()) for path in dataset.input_files]
    grid = make_output_grid([c for e in exposures for c in e.chips],
                            GridRequest(scale=0.08))
    sky_values = {chip.name: 10.0 * number + chip.extver
                  for number, exposure in enumerate(exposures, start=1)
                  for chip in exposure.chips}
    return exposures, grid, sky_values


def _as(chip, **changes):
    """The chip with other units (a dataclass copy)."""
    return dataclasses.replace(chip, **changes)


def test_processing_bunit_of_each_kind_of_chip(demo):
    chip = demo[0][0].chips[0]
    assert chip.bunit == "ELECTRONS"
    assert products.processing_bunit(chip) == "ELECTRONS"
    gain, exptime = chip.gain, chip.exptime
    cases = [("COUNTS", gain, 1.0, "COUNTS"), ("COUNTS", gain, gain, "ELECTRONS"),
             ("ELECTRONS/S", exptime, 1.0, "ELECTRONS/S"),
             ("ELECTRONS/S", exptime, exptime, "ELECTRONS"),
             ("COUNTS/S", gain * exptime, 1.0, "COUNTS/S"),
             ("COUNTS/S", gain * exptime, gain * exptime, "ELECTRONS")]
    for bunit, to_electrons, proc_scale, expected in cases:
        other = _as(chip, bunit=bunit, to_electrons=to_electrons, proc_scale=proc_scale)
        assert products.processing_bunit(other) == expected, (bunit, proc_scale)


def test_product_bunit(demo):
    chips = [c for e in demo[0] for c in e.chips]
    assert products.product_bunit(chips) == "ELECTRONS/S"
    assert products.product_bunit(chips, "counts") == "ELECTRONS"
    dn = [_as(c, bunit="COUNTS", to_electrons=c.gain) for c in chips]
    assert products.product_bunit(dn, "cps") == "COUNTS/S"
    with pytest.raises(InputError, match=r"\[SCI,2\] is processed in COUNTS.*proc_unit"):
        products.product_bunit(chips[:1] + dn[1:])
    with pytest.raises(InputError, match="no input chip"):
        products.product_bunit([])
    with pytest.raises(ParameterError, match="final_units"):
        products.product_bunit(chips, "electrons/s")


def test_sky_keyword_fits_in_eight_characters():
    assert products.sky_keyword(1, 1) == "D001SKY1"
    assert products.sky_keyword(12, 2) == "D012SKY2"
    assert products.sky_keyword(3, 45) == "D003SK45"
    assert products.sky_keyword(3, 456) == "D003S456"
    assert products.sky_keyword(999, 9999) == "D9999999"
    for exposure, extver in ((1000, 1), (1, 10000), (0, 1), (1, 0)):
        with pytest.raises(InputError, match="sky keyword"):
            products.sky_keyword(exposure, extver)


def _final_headers(demo, **options):
    exposures, grid, sky_values = demo
    return products.product_headers(
        grid, exptime=sum(e.exptime for e in exposures), n_images=len(exposures),
        units=options.pop("units", "cps"), parameters={"final_pixfrac": "1.0"}, **options)


def _final_header(demo, **options):
    """The primary header, with BUNIT from the SCI header."""
    headers = _final_headers(demo, **options)
    header = headers.primary.copy()
    header["BUNIT"] = headers.science["BUNIT"]
    return header


def test_final_header_records_every_chip_sky(demo):
    exposures, _, sky_values = demo
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no card too long for its comment
        headers = _final_headers(demo, exposures=exposures, sky_values=sky_values,
                                 sky_subtracted=True)
        for part in (headers.primary, headers.science, headers.weight):
            fits.PrimaryHDU(header=part).header.tostring()
    header = _final_header(demo, exposures=exposures, sky_values=sky_values,
                           sky_subtracted=True)
    assert header["BUNIT"] == "ELECTRONS/S"
    for number, exposure in enumerate(exposures, start=1):
        for chip in exposure.chips:
            keyword = f"D{number:03d}SKY{chip.extver}"
            assert header[keyword] == sky_values[chip.name]
            assert f"{exposure.filename.name}[SCI,{chip.extver}]" in header.comments[keyword]
    assert "subtracted by multidrizzle" in str(header["COMMENT"])


def test_final_header_units_follow_the_inputs(demo):
    exposures, _, _ = demo
    dn = [dataclasses.replace(e, chips=[_as(c, bunit="COUNTS", to_electrons=c.gain)
                                        for c in e.chips]) for e in exposures]
    assert _final_header(demo, exposures=dn)["BUNIT"] == "COUNTS/S"
    assert _final_header(demo, exposures=dn, units="counts")["BUNIT"] == "COUNTS"
    header = _final_header(demo, exposures=exposures, sky_values={})
    assert header["D001SKY1"] == 0.0 and "not subtracted" not in str(header["COMMENT"])
    header = _final_header(demo, exposures=exposures, sky_values=demo[2],
                           sky_subtracted=False)
    assert "not subtracted by it" in str(header["COMMENT"])


def test_wht_and_ctx_have_no_bunit(demo, tmp_path):
    exposures, grid, sky_values = demo
    headers = _final_headers(demo, exposures=exposures, sky_values=sky_values)
    image = np.zeros(grid.shape, np.float32)
    context = np.zeros((1,) + grid.shape, np.int32)
    path, = products.write_drizzle_product(str(tmp_path / "out"), image, image, context,
                                           headers, build=True)
    with fits.open(path) as hdul:
        assert hdul["SCI"].header["BUNIT"] == "ELECTRONS/S"
        assert "BUNIT" not in hdul["WHT"].header and "BUNIT" not in hdul["CTX"].header
        assert "BUNIT" not in hdul[0].header
        assert hdul[0].header["D002SKY2"] == sky_values[exposures[1].chips[1].name]
    written = products.write_drizzle_product(str(tmp_path / "simple"), image, image,
                                             context, headers, build=False)
    assert [fits.getheader(p).get("BUNIT") for p in written] == ["ELECTRONS/S", None, None]
    assert [fits.getheader(p)["D002SKY2"] for p in written] == [
        sky_values[exposures[1].chips[1].name]] * 3


def test_single_headers(demo, tmp_path):
    exposures, grid, sky_values = demo
    exposure = exposures[1]
    science, weight = products.single_headers(grid, exposure, sky_values)
    lowest = min(exposure.chips, key=lambda c: sky_values[c.name] * c.to_electrons)
    ratio = grid.scale / native_scale(lowest)
    assert science["MDRIZSKY"] == pytest.approx(
        sky_values[lowest.name] / exposure.exptime * ratio ** 2)
    assert science["BUNIT"] == "ELECTRONS/S" and "BUNIT" not in weight
    assert science["EXPTIME"] == weight["EXPTIME"] == exposure.exptime
    path = products.write_image(tmp_path / "single_sci.fits",
                                np.zeros(grid.shape, np.float32), science)
    written = fits.getheader(path)
    assert written["MDRIZSKY"] == science["MDRIZSKY"]
    wcs = WCS(written)
    assert wcs.pixel_shape == (grid.nx, grid.ny)
    np.testing.assert_allclose(wcs.pixel_to_world_values(5.0, 9.0),
                               grid.wcs.pixel_to_world_values(5.0, 9.0), atol=1e-12)
    science, _ = products.single_headers(grid, exposure, {})
    assert science["MDRIZSKY"] == 0.0


def test_median_header(demo):
    exposures, grid, _ = demo
    header = products.median_header(grid, exposures)
    assert header["BUNIT"] == "ELECTRONS/S" and header["NCOMBINE"] == 2
    np.testing.assert_allclose(WCS(header).pixel_to_world_values(5.0, 9.0),
                               grid.wcs.pixel_to_world_values(5.0, 9.0), atol=1e-12)


def test_blot_header_has_the_chip_wcs(demo, tmp_path):
    chip = demo[0][0].chips[1]
    header = products.blot_header(chip, sky=12.5)
    assert header["MDRIZSKY"] == 12.5 and header["BUNIT"] == "ELECTRONS"
    assert header["EXPTIME"] == chip.exptime
    path = products.write_image(tmp_path / "blt.fits", np.zeros(chip.shape, np.float32),
                                header)
    wcs = WCS(fits.getheader(path))
    x, y = np.array([3.0, 50.0]), np.array([7.0, 20.0])
    np.testing.assert_allclose(wcs.all_pix2world(x, y, 0), chip.wcs.all_pix2world(x, y, 0),
                               atol=1e-10)


def test_lookup_table_distortion_left_out_of_one_image_files():
    chip = read_exposure(UVIS_FLC, ReadOptions()).chips[0]
    assert chip.wcs.cpdis1 is not None and "CPDIS1" in chip.header
    blot = products.blot_header(chip, sky=0.0)
    clean = products.crclean_header(chip, sky=3.0)
    for header in (blot, clean):
        assert not any(k.startswith(("CPDIS", "DP1.", "DP2.", "D2IMDIS", "D2IM1.",
                                     "D2IM2.")) for k in header)
        assert "NPOL/D2IM" in str(header["COMMENT"])
        wcs = WCS(header)   # readable without the lookup-table extensions
        assert wcs.sip is not None
    assert clean["MDRIZSKY"] == 3.0 * chip.proc_scale
    assert clean["BUNIT"] == "ELECTRONS" and clean["ROOTNAME"] == chip.header["ROOTNAME"]
    assert "CPDIS1" in chip.header  # the chip's own header is untouched


def test_crclean_header_in_processing_units(demo):
    chip = demo[0][0].chips[0]
    dn = _as(chip, bunit="COUNTS", to_electrons=chip.gain, proc_scale=chip.gain)
    header = products.crclean_header(dn, sky=4.0)
    assert header["BUNIT"] == "ELECTRONS"
    assert header["MDRIZSKY"] == pytest.approx(4.0 * chip.gain)


def test_write_image_drops_structural_keywords(tmp_path):
    header = fits.Header([("XTENSION", "IMAGE"), ("EXTNAME", "SCI"), ("EXTVER", 2),
                          ("NAXIS1", 999), ("MDRIZSKY", 1.5)])
    path = products.write_image(tmp_path / "x.fits", np.ones((3, 4), np.float32), header)
    with fits.open(path) as hdul:
        assert len(hdul) == 1 and hdul[0].data.shape == (3, 4)
        assert hdul[0].header["MDRIZSKY"] == 1.5 and "EXTNAME" not in hdul[0].header
    assert header["EXTNAME"] == "SCI"  # the caller's header is not modified


def _without_date(content: bytes) -> bytes:
    """A product's bytes with its DATE (when it was written) blanked."""
    return re.sub(rb"DATE    = '[0-9T:-]+'", b"DATE    = 'written'", content)


@pytest.mark.parametrize("build, planes, error, change", [
    (True, 1, True, "region"), (True, 3, False, "grown"), (True, 2, True, "shrunk"),
    (False, 3, True, "grown"), (False, 1, False, "shrunk"), (False, 2, True, "region")])
def test_product_written_in_place_is_the_streamed_product(demo, tmp_path, build, planes,
                                                          error, change):
    """ProductInProgress (allocated with provisional headers, written strip by strip,
    finished with the final ones) makes the same bytes as write_drizzle_product from
    whole images, whether the final primary header takes the allocated number of
    blocks or more or fewer (then the data are moved in place)."""
    exposures, grid, sky_values = demo
    rng = np.random.default_rng(11)
    ny, nx = grid.shape
    sci = rng.normal(size=grid.shape).astype(np.float32)
    wht = np.zeros(grid.shape, np.float32)
    wht[ny // 5:ny - 3, 7:nx // 2] = rng.random((ny - 3 - ny // 5, nx // 2 - 7))
    ctx = rng.integers(0, 2**31 - 1, size=(planes, ny, nx), dtype=np.int32)
    err = rng.random(grid.shape).astype(np.float32) if error else None
    final = _final_headers(demo, exposures=exposures, sky_values=sky_values, weight=wht)
    allocation = _final_headers(demo, exposures=exposures, sky_values=sky_values)
    assert allocation.primary["S_REGION"] != final.primary["S_REGION"]
    longer = {"grown": final, "shrunk": allocation}.get(change)
    if longer is not None:  # three blocks more in one of them
        for line in range(100):
            longer.primary["HISTORY"] = f"a line of the parameters, number {line}"
    file_set = FileSet()
    product = products.ProductInProgress(
        str(tmp_path / "placed" / "out"), "drz", allocation, build=build, shape=grid.shape,
        context_planes=planes, error=error, file_set=file_set)
    assert not list((tmp_path / "placed").glob("out*"))    # temporary names until the commit
    for start in range(0, ny, 7):                          # strips, as the final drizzle's
        rows = (slice(start, start + 7), slice(None))
        for name, values in (("SCI", sci), ("WHT", wht), ("ERR", err)):
            if values is not None:
                product.images[name].write(rows, values[rows])
        product.images["CTX"].write((slice(None), *rows), ctx[(slice(None), *rows)])
    np.testing.assert_array_equal(product.images["WHT"].read(), wht)
    placed = product.finish(final)
    file_set.commit()
    streamed = products.write_drizzle_product(str(tmp_path / "streamed" / "out"), sci, wht,
                                              ctx, final, build=build, err=err)
    assert [path.name for path in placed] == [path.name for path in streamed]
    assert len(placed) == (1 if build else 3 + error)
    for path, reference in zip(placed, streamed):
        content = path.read_bytes()
        assert _without_date(content) == _without_date(reference.read_bytes()), path.name
        assert file_set.sizes[path] == len(content)
        assert file_set.checksums[path] == hashlib.sha256(content).hexdigest()
        with fits.open(path, checksum=True) as hdul:
            hdul.verify("exception")
            assert hdul[0].header["S_REGION"] == products.footprint_region(grid, wht)
    assert sorted(path.name for path in (tmp_path / "placed").iterdir()) == \
        sorted(path.name for path in placed)


def test_product_in_progress_discarded_leaves_nothing(demo, tmp_path):
    exposures, grid, sky_values = demo
    headers = _final_headers(demo, exposures=exposures, sky_values=sky_values)
    for build in (True, False):
        product = products.ProductInProgress(
            str(tmp_path / "out"), "drz", headers, build=build, shape=grid.shape,
            context_planes=1, error=True, file_set=FileSet())
        assert {path.name.startswith(".out_drz") for path in tmp_path.iterdir()} == {True}
        product.images["SCI"].write((slice(0, 3), slice(None)),
                                    np.ones((3, grid.nx), np.float32))
        product.discard()
        assert list(tmp_path.iterdir()) == []
