"""The final product as an AstroDrizzle user opens it: primary header, HDRTAB, S_REGION.

Products made from the real WFC3/UVIS headers in ``tests/data`` (their 10x10
stand-in pixels are enough: only the final drizzle runs).  Expected values
are read from the input files themselves, not from the code under test.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from datetime import datetime, timezone

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import multidrizzle
from multidrizzle import Multidrizzle
from multidrizzle.model.geometry import OutputGrid
from multidrizzle.io import products
from multidrizzle.model import ReadOptions, read_exposure

from support.geometry import tan_wcs
from support.hst_files import ACS_FLT, UVIS_FLC, UVIS_FLC_SHORT

#: Only the final drizzle: the inputs' 10x10 stand-in pixels are enough for it.
FINAL_ONLY = dict(static=False, skysub=False, driz_separate=False, median=False, blot=False,
                  driz_cr=False)


def _copy_inputs(folder, *sources):
    folder.mkdir(parents=True, exist_ok=True)
    return [shutil.copy(source, folder / source.name.split("_", 2)[-1])
            for source in sources]


def _final_only(inputs, output, **params) -> Multidrizzle:
    md = Multidrizzle([str(p) for p in inputs], output=str(output), runfile="",
                      final_wcs=True, final_scale=0.2, **params)
    md.build()
    md.run(**FINAL_ONLY)
    return md


@pytest.fixture(scope="module")
def uvis(tmp_path_factory):
    """Two real WFC3/UVIS exposures (c6q first, then the earlier, shorter c5q)."""
    folder = tmp_path_factory.mktemp("uvis")
    inputs = _copy_inputs(folder / "in", UVIS_FLC, UVIS_FLC_SHORT)
    md = _final_only(inputs, folder / "out" / "uvis", final_kernel="gaussian",
                     final_pixfrac=0.7, final_wt_scl="expsq", final_fillval=-1.0)
    return md, inputs


def test_primary_header_has_the_first_inputs_identity_and_photometry(uvis):
    md, inputs = uvis
    product, = md.products
    assert product.name == "uvis_drc.fits"
    first_primary = fits.getheader(inputs[0], 0)
    first_sci = fits.getheader(inputs[0], ("SCI", 1))
    with fits.open(product) as hdul:
        header = hdul[0].header
        for keyword in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "TARGNAME", "RA_TARG",
                        "DEC_TARG", "PROPOSID", "APERTURE", "PR_INV_L"):
            assert header[keyword] == first_primary[keyword], keyword
        for keyword in ("PHOTFLAM", "PHOTPLAM", "PHOTZPT", "PHOTMODE", "PHOTFNU", "PHOTBW"):
            assert header[keyword] == first_sci[keyword], keyword
            assert hdul["SCI"].header[keyword] == first_sci[keyword], keyword
        assert header["INSTRUME"] == "WFC3" and header["FILTER"] == "F555W"
        assert header["PHOTFLAM"] == pytest.approx(1.8379346e-19)


def test_times_cover_every_input(uvis):
    md, inputs = uvis
    primaries = [fits.getheader(path, 0) for path in inputs]
    earliest = min(primaries, key=lambda h: h["EXPSTART"])
    assert earliest["ROOTNAME"] == "ib4606c5q"      # the second input started first
    header = fits.getheader(md.products[0], 0)
    assert header["EXPSTART"] == min(h["EXPSTART"] for h in primaries)
    assert header["EXPEND"] == max(h["EXPEND"] for h in primaries)
    assert (header["DATE-OBS"], header["TIME-OBS"]) == (earliest["DATE-OBS"],
                                                        earliest["TIME-OBS"])
    assert header["EXPTIME"] == header["TEXPTIME"] == sum(h["EXPTIME"] for h in primaries)


def test_software_date_and_file_name(uvis):
    md, _ = uvis
    header = fits.getheader(md.products[0], 0)
    assert header["PROD_VER"] == f"multidrizzle {multidrizzle.__version__}"
    written = datetime.fromisoformat(header["DATE"]).replace(tzinfo=timezone.utc)
    age = (datetime.now(timezone.utc) - written).total_seconds()
    assert -5 < age < 600
    assert header["FILENAME"] == "uvis_drc.fits" and header["ROOTNAME"] == "uvis"
    assert header["NDRIZIM"] == 2
    assert any("final_pixfrac = 0.7" in str(card) for card in header["HISTORY"])


def test_drizzle_cards_of_every_input(uvis):
    md, inputs = uvis
    header = fits.getheader(md.products[0], 0)
    for number, path in enumerate(inputs, start=1):
        prefix = f"D{number:03d}"
        exptime = fits.getval(path, "EXPTIME", 0)
        assert header[f"{prefix}DATA"] == path.name
        assert header[f"{prefix}DEXP"] == exptime
        assert header[f"{prefix}WTSC"] == pytest.approx(exptime ** 2)   # wt_scl='expsq'
        assert header[f"{prefix}KERN"] == "gaussian"
        assert header[f"{prefix}PIXF"] == 0.7
        assert header[f"{prefix}FVAL"] == -1.0
        assert header[f"{prefix}OUUN"] == "cps"
        assert header[f"{prefix}SCAL"] == pytest.approx(0.2)
        assert header[f"{prefix}ISCL"] == fits.getval(path, "IDCSCALE", ("SCI", 1))
        assert header[f"{prefix}OUDA"] == "uvis_drc.fits[SCI,1]"
        assert header[f"{prefix}OUCO"] == "uvis_drc.fits[CTX,1]"
        assert header[f"{prefix}VER"].startswith("multidrizzle")
    assert "D003DATA" not in header


def test_extensions_keep_the_output_wcs(uvis):
    md, _ = uvis
    with fits.open(md.products[0]) as hdul:
        # ERR (final_err) after the three AstroDrizzle extensions, which keep their places
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "WHT", "CTX", "ERR", "HDRTAB"]
        x, y = np.array([0.0, 2.0]), np.array([0.0, 100.0])
        for name in ("SCI", "WHT", "CTX", "ERR"):
            np.testing.assert_allclose(WCS(hdul[name].header).pixel_to_world_values(x, y),
                                       md.output_grid.wcs.pixel_to_world_values(x, y),
                                       rtol=0, atol=1e-10)
        assert hdul["SCI"].header["BUNIT"] == "ELECTRONS/S"
        assert hdul["ERR"].header["BUNIT"] == "ELECTRONS/S"
        assert "BUNIT" not in hdul["WHT"].header and "BUNIT" not in hdul[0].header


def test_hdrtab_has_one_row_per_input_chip_with_its_keywords(uvis):
    md, inputs = uvis
    table = Table.read(md.products[0], hdu="HDRTAB")
    assert table.colnames[:4] == ["ROOTNAME", "FILENAME", "EXTNAME", "EXTVER"]
    assert [(row["FILENAME"], row["EXTVER"]) for row in table] == [
        (path.name, extver) for path in inputs for extver in (1, 2)]
    for row in table:
        path = next(p for p in inputs if p.name == row["FILENAME"])
        primary = fits.getheader(path, 0)
        science = fits.getheader(path, ("SCI", int(row["EXTVER"])))
        assert row["ROOTNAME"] == primary["ROOTNAME"]
        for keyword in ("INSTRUME", "DETECTOR", "FILTER", "DATE-OBS", "TIME-OBS",
                        "EXPSTART", "EXPEND", "PROPOSID"):
            assert row[keyword] == primary[keyword], keyword
        for keyword in ("PHOTMODE", "PHOTFLAM", "PHOTPLAM", "PHOTFNU", "CCDCHIP", "BUNIT"):
            assert row[keyword] == science[keyword], keyword
        assert row["EXPTIME"] == primary["EXPTIME"]
        assert row["MDRIZSKY"] == 0.0                     # the sky step did not run
    # the two chips of one exposure have their own photometric keywords
    assert table["PHOTMODE"][0] != table["PHOTMODE"][1]


def _polygon_pixels(region: str, wcs: WCS) -> np.ndarray:
    words = region.split()
    assert words[:2] == ["POLYGON", "ICRS"]
    values = np.array(words[2:], dtype=float).reshape(-1, 2)
    x, y = wcs.world_to_pixel_values(values[:, 0], values[:, 1])
    return np.column_stack([x, y])


def _outside_distance(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How far each point lies outside a counter-clockwise convex polygon (0 inside)."""
    distance = np.zeros(len(points))
    for start, end in zip(polygon, np.roll(polygon, -1, axis=0)):
        edge = end - start
        cross = edge[0] * (points[:, 1] - start[1]) - edge[1] * (points[:, 0] - start[0])
        distance = np.maximum(distance, -cross / np.hypot(*edge))
    return distance


def _signed_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_s_region_outlines_the_pixels_with_data(uvis):
    md, _ = uvis
    header = fits.getheader(md.products[0], 0)
    polygon = _polygon_pixels(header["S_REGION"], md.output_grid.wcs)
    y, x = np.nonzero(md.final_wht > 0)
    corners = np.concatenate([np.column_stack([x + dx, y + dy])
                              for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])
    assert _outside_distance(polygon, corners).max() <= 0.5 + 1e-6
    assert _signed_area(polygon) > 0           # counter-clockwise as the sky is seen


def _grid(shape=(200, 300)) -> OutputGrid:
    wcs = tan_wcs(0.1)
    wcs.pixel_shape = shape[::-1]
    return OutputGrid(wcs=wcs, shape=shape, scale=0.1, rotation=0.0)


def test_footprint_of_a_tilted_rectangle_has_few_vertices_and_its_area():
    grid = _grid()
    yy, xx = np.mgrid[0:200, 0:300].astype(float)
    # a 150 x 80 pixel rectangle turned by 30 degrees about (150, 100)
    angle = np.radians(30.0)
    u = (xx - 150) * np.cos(angle) + (yy - 100) * np.sin(angle)
    v = -(xx - 150) * np.sin(angle) + (yy - 100) * np.cos(angle)
    weight = ((np.abs(u) <= 75) & (np.abs(v) <= 40)).astype(np.float32)
    polygon = _polygon_pixels(products.footprint_region(grid, weight), grid.wcs)
    assert 4 <= len(polygon) <= 12      # its corners, cut by the pixel staircase
    y, x = np.nonzero(weight)
    assert _outside_distance(polygon, np.column_stack([x, y])).max() <= 1.0
    assert _signed_area(polygon) == pytest.approx(weight.sum(), rel=0.03)


def test_footprint_without_weight_is_the_grid_and_none_without_data():
    grid = _grid()
    polygon = _polygon_pixels(products.footprint_region(grid), grid.wcs)
    # 7 decimals of a degree: 0.36 mas, under 0.004 of these 0.1" pixels
    assert sorted(map(tuple, np.round(polygon, 2))) == [
        (-0.5, -0.5), (-0.5, 199.5), (299.5, -0.5), (299.5, 199.5)]
    assert products.footprint_region(grid, np.zeros(grid.shape)) is None


def test_footprint_of_a_mirrored_grid_is_still_counter_clockwise_on_the_sky():
    grid = _grid()
    grid.wcs.wcs.cd = grid.wcs.wcs.cd @ np.diag([-1.0, 1.0])   # east to the right
    grid.wcs.wcs.set()
    polygon = _polygon_pixels(products.footprint_region(grid), grid.wcs)
    assert _signed_area(polygon) < 0     # clockwise in the mirrored pixel frame


def test_simple_files_carry_the_header_and_hdrtab_goes_with_sci(uvis, tmp_path):
    _, inputs = uvis
    md = _final_only(inputs, tmp_path / "simple", build_mef=False)
    assert [p.name for p in md.products] == ["simple_drc_sci.fits", "simple_drc_wht.fits",
                                            "simple_drc_ctx.fits", "simple_drc_err.fits"]
    for path in md.products:
        with fits.open(path) as hdul:
            header = hdul[0].header
            assert header["FILENAME"] == path.name and header["INSTRUME"] == "WFC3"
            assert header["D001OUDA"] == "simple_drc_sci.fits"
            assert header["D001OUWE"] == "simple_drc_wht.fits"
            assert WCS(header).pixel_shape == (md.output_grid.nx, md.output_grid.ny)
            assert [hdu.name for hdu in hdul[1:]] == (
                ["HDRTAB"] if path.name.endswith("_sci.fits") else [])
            assert ("BUNIT" in header) == path.name.endswith(("_sci.fits", "_err.fits"))
    assert len(Table.read(md.products[0], hdu="HDRTAB")) == 4


def test_inputs_with_another_filter_are_named_in_a_warning(uvis, tmp_path, caplog):
    _, inputs = uvis
    other = tmp_path / "in" / "other_flc.fits"
    other.parent.mkdir()
    shutil.copy(inputs[1], other)
    with fits.open(other, mode="update") as hdul:
        hdul[0].header["FILTER"] = "F814W"
        for extver in (1, 2):
            science = hdul["SCI", extver].header
            science["PHOTMODE"] = science["PHOTMODE"].replace("F555W", "F814W")
            science["PHOTFLAM"] = 1.5e-19
    with caplog.at_level(logging.WARNING, logger="multidrizzle"):
        md = _final_only([inputs[0], other], tmp_path / "out" / "mixed",
                         allow_mixed_inputs=True)
    warned = {record.getMessage() for record in caplog.records
              if record.levelno == logging.WARNING}
    for keyword in ("FILTER", "PHOTMODE", "PHOTFLAM"):
        message, = [m for m in warned if f"inputs differ in {keyword}:" in m]
        assert inputs[0].name in message and "other_flc.fits" in message
    message, = [m for m in warned if "inputs differ in FILTER:" in m]
    assert "'F555W'" in message and "'F814W'" in message
    header = fits.getheader(md.products[0], 0)
    assert header["FILTER"] == "F555W"                          # the first input's
    assert header["PHOTFLAM"] == fits.getval(inputs[0], "PHOTFLAM", ("SCI", 1))
    table = Table.read(md.products[0], hdu="HDRTAB")
    assert list(table["FILTER"]) == ["F555W", "F555W", "F814W", "F814W"]


def test_exposures_of_one_filter_on_different_dates_do_not_warn(uvis, caplog):
    md, inputs = uvis
    modes = [fits.getval(path, "PHOTMODE", ("SCI", 1)) for path in inputs]
    assert modes[0] != modes[1]            # they differ only by the MJD# date
    assert products.keyword_conflicts(md.exposures) == []


def test_conflicts_compare_chips_of_the_same_extver():
    acs = read_exposure(ACS_FLT, ReadOptions())
    uvis = read_exposure(UVIS_FLC, ReadOptions())
    conflicts = {c.keyword: c for c in products.keyword_conflicts([uvis, acs])}
    assert {"INSTRUME", "DETECTOR", "FILTER", "FILTER1", "FILTER2", "PHOTMODE",
            "PHOTFLAM"} <= set(conflicts)
    assert conflicts["INSTRUME"].kept == (UVIS_FLC.name, "WFC3")
    assert conflicts["INSTRUME"].others == [(ACS_FLT.name, "ACS")]
    assert conflicts["FILTER1"].kept == (UVIS_FLC.name, None)
    assert str(conflicts["FILTER1"]) == (
        f"inputs differ in FILTER1: the product keeps no value of {UVIS_FLC.name}; "
        f"{ACS_FLT.name} has 'F606W'")


def test_photflam_follows_the_product_units():
    chip = read_exposure(UVIS_FLC, ReadOptions()).chips[0]
    primary = fits.getheader(UVIS_FLC, 0)
    native = products.photometric_cards(chip, primary, "ELECTRONS/S")
    assert native["PHOTFLAM"] == chip.header["PHOTFLAM"]
    # a DN file processed in electrons: the inverse sensitivity per e- is per DN / gain
    dn = dataclasses.replace(chip, bunit="COUNTS", to_electrons=chip.gain,
                             proc_scale=chip.gain)
    converted = products.photometric_cards(dn, primary, products.product_bunit([dn]))
    assert products.product_bunit([dn]) == "ELECTRONS/S"
    assert converted["PHOTFLAM"] == pytest.approx(chip.header["PHOTFLAM"] / chip.gain)
    assert converted["PHOTFNU"] == pytest.approx(chip.header["PHOTFNU"] / chip.gain)
    assert converted["PHOTZPT"] == chip.header["PHOTZPT"]
    assert converted["PHOTPLAM"] == chip.header["PHOTPLAM"]
    assert "gain" in str(converted["COMMENT"])
    kept_in_dn = dataclasses.replace(chip, bunit="COUNTS", to_electrons=chip.gain)
    same = products.photometric_cards(kept_in_dn, primary,
                                      products.product_bunit([kept_in_dn]))
    assert same["PHOTFLAM"] == chip.header["PHOTFLAM"]


def test_user_final_step_leaves_out_the_drizzle_settings(uvis, tmp_path):
    _, inputs = uvis
    md = Multidrizzle([str(p) for p in inputs], output=str(tmp_path / "user"), runfile="",
                      final_wcs=True, final_scale=0.2)
    md.build()
    from multidrizzle.steps.drizzle import run_driz_combine

    md.replace_step("driz_combine", lambda inputs: run_driz_combine(inputs))
    md.run(**FINAL_ONLY)
    header = fits.getheader(md.products[0], 0)
    assert "D001KERN" not in header and "D001WTSC" not in header
    assert header["D001DEXP"] == fits.getval(inputs[0], "EXPTIME")
    assert "user step function" in str(header["COMMENT"])


def test_bunit_unit():
    import astropy.units as u

    assert products.bunit_unit("ELECTRONS/S") == u.electron / u.s
    assert products.bunit_unit("COUNTS") == u.count
    with pytest.raises(multidrizzle.InputError, match="BUNIT 'JY'"):
        products.bunit_unit("JY")


@pytest.mark.parametrize("drizzle", [True, False], ids=["builtin", "user_step"])
def test_footprint_patched_in_is_the_header_built_with_it(uvis, drizzle):
    """A product allocated before its pixels has its footprint patched in at the end
    (with_footprint): the header must be the one a build with the weight makes,
    card for card, whether the weight has data or none."""
    md, _ = uvis
    exposures = md.exposures
    record = products.DrizzleRecord(kernel="square", pixfrac=1.0, weight_scales=[1.0, 1.0],
                                    fillval=None, wcskey="") if drizzle else None
    grid = md.output_grid
    some = np.zeros(grid.shape, dtype=np.float32)
    some[2:5, 3:9] = 1.0

    def build(weight):
        return products.product_headers(
            grid, exptime=10.0, n_images=2, units="cps", parameters={"a": "1"},
            exposures=exposures, sky_values={}, drizzle=record, weight=weight)

    for start, end in ((None, some), (None, np.zeros_like(some)), (np.zeros_like(some), some)):
        patched = products.with_footprint(build(start), grid, end).primary
        expected = build(end).primary
        assert patched.tostring() == expected.tostring()
    assert "S_REGION" not in build(np.zeros_like(some)).primary
