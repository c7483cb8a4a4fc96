"""The demo data writer: file layout, headers, physics of the scene, truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS

from multidrizzle.demo import datasets
from multidrizzle.demo.datasets import (
    FULL_CHIP_SHAPE, PIXEL_SCALE_ARCSEC, DemoDataset, load_demo_truth, make_demo_dataset,
)
from multidrizzle.errors import ParameterError

CHIP_SHAPE = (256, 512)
N_EXPOSURES = 4
STAMP = 16

PRIMARY_KEYWORDS = (
    ["INSTRUME", "DETECTOR", "TELESCOP", "EXPTIME", "EXPSTART", "EXPEND", "ROOTNAME",
     "PA_V3", "FILTER", "CCDAMP", "NEXTEND", "FILENAME"]
    + [f"ATODGN{amp}" for amp in "ABCD"] + [f"READNSE{amp}" for amp in "ABCD"])
SCIENCE_KEYWORDS = ["EXTNAME", "EXTVER", "BUNIT", "NGOODPIX", "EXPNAME", "MEANDARK",
                    "CCDCHIP", "LTV1", "LTV2", "LTM1_1", "LTM2_2", "WCSNAME", "ORIENTAT",
                    "IDCSCALE", "PHOTFLAM", "PHOTPLAM", "A_ORDER", "B_ORDER"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoDataset:
    folder = tmp_path_factory.mktemp("demo")
    return make_demo_dataset(folder, n_exposures=N_EXPOSURES, chip_shape=CHIP_SHAPE, seed=3)


def _chip(path, extver):
    with fits.open(path) as hdul:
        return (hdul["SCI", extver].data.astype(float), hdul["DQ", extver].data.copy(),
                WCS(hdul["SCI", extver].header, fobj=hdul), hdul[0].header["EXPTIME"])


def test_files_and_list(demo):
    assert [p.name for p in demo.input_files] == [
        "mdz001a1q_flc.fits", "mdz001a2q_flc.fits", "mdz001a3q_flc.fits",
        "mdz001a4q_flc.fits"]
    assert all(p.is_file() for p in demo.input_files)
    listed = demo.list_file.read_text().split()
    assert listed == [p.name for p in demo.input_files]
    from multidrizzle.io.inputs import resolve_inputs

    assert [p.resolve() for p in resolve_inputs(f"@{demo.list_file}").files] == \
        [p.resolve() for p in demo.input_files]


def test_layout_and_keywords(demo):
    for path in demo.input_files:
        with fits.open(path) as hdul:
            assert [(h.name, h.ver) for h in hdul[1:]] == [
                ("SCI", 1), ("ERR", 1), ("DQ", 1), ("SCI", 2), ("ERR", 2), ("DQ", 2)]
            primary = hdul[0].header
            assert [k for k in PRIMARY_KEYWORDS if k not in primary] == []
            assert (primary["TELESCOP"], primary["INSTRUME"], primary["DETECTOR"]) == \
                ("HST", "WFC3", "UVIS")
            assert primary["FILENAME"] == path.name and primary["NEXTEND"] == 6
            assert primary["ROOTNAME"] == path.name.split("_")[0]
            assert 400 <= primary["EXPTIME"] <= 500
            for extver, ccdchip in ((1, 2), (2, 1)):
                science = hdul["SCI", extver].header
                assert [k for k in SCIENCE_KEYWORDS if k not in science] == []
                assert science["CCDCHIP"] == ccdchip
                assert science["BUNIT"] == "ELECTRONS"
                assert science["NGOODPIX"] > 0.9 * CHIP_SHAPE[0] * CHIP_SHAPE[1]
                assert science["EXPNAME"] == primary["ROOTNAME"]
                assert hdul["SCI", extver].data.shape == CHIP_SHAPE
                assert hdul["SCI", extver].data.dtype.newbyteorder("=") == np.float32
                assert hdul["ERR", extver].data.dtype.newbyteorder("=") == np.float32
                assert hdul["DQ", extver].data.dtype.newbyteorder("=") == np.int16
                assert np.all(hdul["ERR", extver].data > 0)


def test_wcs_is_tan_sip_with_hst_scale(demo):
    with fits.open(demo.input_files[0]) as hdul:
        for extver in (1, 2):
            wcs = WCS(hdul["SCI", extver].header, fobj=hdul)
            assert wcs.sip is not None and wcs.sip.a_order == 4
            assert list(wcs.wcs.ctype) == ["RA---TAN-SIP", "DEC--TAN-SIP"]
            scales = wcs.proj_plane_pixel_scales()
            assert np.allclose([s.to_value("arcsec") for s in scales], PIXEL_SCALE_ARCSEC,
                               rtol=0.02)
            corner = np.array([[0.0, 0.0], [CHIP_SHAPE[1] - 1.0, CHIP_SHAPE[0] - 1.0]])
            linear = wcs.wcs_world2pix(wcs.all_pix2world(corner, 0), 0)
            assert np.hypot(*(linear - corner).T).max() > 0.3


def test_full_size_distortion_and_chip_gap_are_hst_like():
    """Full-size geometry (not written): tens of pixels of distortion at the
    corners, a uniform gap of ~31 rows, chips side by side."""
    geometries = datasets._chip_geometries(FULL_CHIP_SHAPE)
    pointing = datasets._pointing_wcs(150.0, 2.0)
    wcs = {g.extver: WCS(fits.Header(datasets._chip_wcs_cards(pointing, g)))
           for g in geometries}
    ny, nx = FULL_CHIP_SHAPE
    corners = np.array([[0.0, 0.0], [nx - 1.0, 0.0], [0.0, ny - 1.0], [nx - 1.0, ny - 1.0]])
    linear = wcs[1].wcs_world2pix(wcs[1].all_pix2world(corners, 0), 0)
    assert 10 < np.hypot(*(linear - corners).T).max() < 50
    columns = np.array([0.0, nx / 2, nx - 1.0])
    top_of_lower = pointing.wcs_world2pix(
        wcs[1].all_pix2world(np.column_stack([columns, np.full(3, ny - 1.0)]), 0), 0)
    bottom_of_upper = pointing.wcs_world2pix(
        wcs[2].all_pix2world(np.column_stack([columns, np.zeros(3)]), 0), 0)
    gap = bottom_of_upper[:, 1] - top_of_lower[:, 1] - 1
    assert np.allclose(gap, datasets.CHIP_GAP_PIXELS, atol=1.0)
    assert np.allclose(bottom_of_upper[:, 0], top_of_lower[:, 0], atol=1.0)


def test_chips_of_one_exposure_sit_on_either_side_of_the_gap(demo):
    with fits.open(demo.input_files[0]) as hdul:
        lower = WCS(hdul["SCI", 1].header, fobj=hdul)
        upper = WCS(hdul["SCI", 2].header, fobj=hdul)
    ny, nx = CHIP_SHAPE
    bottom_middle = upper.all_pix2world([[nx / 2, 0.0]], 0)
    x, y = lower.all_world2pix(bottom_middle, 0)[0]
    assert abs(x - nx / 2) < 1.0
    assert abs(y - (ny - 1 + datasets.CHIP_GAP_PIXELS + 1)) < 1.5


def test_bright_isolated_stars_hold_their_flux(demo):
    """Counts in a stamp, less the true sky and the injected cosmic rays,
    equal flux * exptime / (relative pixel area) within the noise: the files
    are flat-fielded like HST FLT/FLC files."""
    bright = demo.stars[demo.stars["isolated"] & (demo.stars["flux_eps"] > 45)]
    pulls = []
    for path in demo.input_files:
        for extver in (1, 2):
            data, dq, wcs, exptime = _chip(path, extver)
            sky = demo.sky[path.name, extver]
            data = data - sky - demo.cosmic_ray_flux[path.name, extver]
            bad = demo.bad_pixel_mask[extver]
            area = datasets._relative_pixel_area(wcs, CHIP_SHAPE)
            x, y = wcs.all_world2pix(bright["ra"], bright["dec"], 0)
            for star, xc, yc in zip(bright, x, y):
                ix, iy = int(round(xc)), int(round(yc))
                if not (STAMP <= ix < CHIP_SHAPE[1] - STAMP
                        and STAMP <= iy < CHIP_SHAPE[0] - STAMP):
                    continue
                # Within the isolation radius (20 px) and holding > 99.99% of the PSF.
                stamp = np.s_[iy - 12:iy + 13, ix - 12:ix + 13]
                if bad[stamp].any() or dq[stamp].any():
                    continue
                expected = star["flux_eps"] * exptime / area[iy, ix]
                noise = np.sqrt(expected + data[stamp].size * (sky + 3.2 ** 2))
                pulls.append((data[stamp].sum() - expected) / noise)
    assert len(pulls) >= 5
    assert np.all(np.abs(pulls) < 5)
    assert abs(np.mean(pulls)) < 3 / np.sqrt(len(pulls)) + 0.5


def test_stars_are_where_the_wcs_puts_them_in_every_exposure(demo):
    """The same star is seen in several exposures, centred on its WCS position."""
    stars = demo.stars[demo.stars["isolated"] & (demo.stars["flux_eps"] > 45)
                       & (demo.stars["n_covered"] >= 3)]
    assert len(stars) >= 3
    star = stars[np.argmax(stars["flux_eps"])]
    seen = 0
    for path in demo.input_files:
        for extver in (1, 2):
            data, _, wcs, _ = _chip(path, extver)
            data = data - demo.sky[path.name, extver] - demo.cosmic_ray_flux[path.name, extver]
            xc, yc = wcs.all_world2pix([[star["ra"], star["dec"]]], 0)[0]
            if not (STAMP <= xc <= CHIP_SHAPE[1] - 1 - STAMP
                    and STAMP <= yc <= CHIP_SHAPE[0] - 1 - STAMP):
                continue
            ix, iy = int(round(xc)), int(round(yc))
            seen += 1
            window = data[iy - 4:iy + 5, ix - 4:ix + 5]
            offsets = np.arange(-4, 5)
            x_centroid = ix + (window.sum(axis=0) * offsets).sum() / window.sum()
            y_centroid = iy + (window.sum(axis=1) * offsets).sum() / window.sum()
            assert abs(x_centroid - xc) < 0.1 and abs(y_centroid - yc) < 0.1
    assert seen == star["n_covered"] >= 3


def test_sky_matches_truth_and_differs_between_exposures(demo):
    skies = []
    for path in demo.input_files:
        for extver in (1, 2):
            data, dq, _, _ = _chip(path, extver)
            usable = (dq == 0) & ~demo.cosmic_ray_masks[path.name, extver] \
                & ~demo.bad_pixel_mask[extver]
            _, median, _ = sigma_clipped_stats(data[usable], sigma=3)
            truth = demo.sky[path.name, extver]
            assert 30 <= truth <= 60
            assert abs(median - truth) < 0.01 * truth
        skies.append(truth)
    assert len(set(skies)) == N_EXPOSURES


def test_cosmic_rays_match_truth(demo):
    masks = []
    for path in demo.input_files:
        for extver in (1, 2):
            flux = demo.cosmic_ray_flux[path.name, extver]
            mask = demo.cosmic_ray_masks[path.name, extver]
            assert np.array_equal(mask, flux > 0)
            assert 0.003 < mask.mean() < 0.02
            assert np.mean(flux[mask] > 30) > 0.4 and flux.max() > 1000
            data, _, _, _ = _chip(path, extver)
            strong = flux > 500
            assert np.median(data[strong] - demo.sky[path.name, extver]) > 300
            masks.append(mask)
    assert not np.array_equal(masks[0], masks[2])


def test_negative_pixels_are_fixed_and_not_flagged(demo):
    for extver in (1, 2):
        bad = demo.bad_pixel_mask[extver]
        assert bad.sum() >= 20
        dqs = []
        for path in demo.input_files:
            data, dq, _, _ = _chip(path, extver)
            # A few may sit on a star; the rest are far below the sky.
            hit = bad & ~demo.cosmic_ray_masks[path.name, extver]
            assert np.mean(data[hit] < demo.sky[path.name, extver] - 50) > 0.9
            assert np.median(data[hit]) < -40
            assert np.all(dq[bad] & datasets.DQ_HOT_PIXEL == 0)
            dqs.append(dq & ~np.int16(datasets.DQ_SATURATED))
        # Static DQ only: cosmic rays differ between exposures but DQ does not.
        assert all(np.array_equal(dqs[0], other) for other in dqs[1:])


def test_dq_flags_hot_pixels_bad_column_and_saturation(demo):
    flags = 0
    for path in demo.input_files:
        for extver in (1, 2):
            data, dq, _, _ = _chip(path, extver)
            flags |= np.bitwise_or.reduce(dq.ravel())
            saturated = (dq & datasets.DQ_SATURATED) != 0
            if saturated.any():
                assert data[saturated].max() <= datasets.FULL_WELL_ELECTRONS
    assert flags & datasets.DQ_HOT_PIXEL and flags & datasets.DQ_BAD_COLUMN
    assert flags & datasets.DQ_SATURATED
    assert demo.stars["saturated"].any()
    assert not np.any(demo.stars["saturated"] & demo.stars["isolated"])


def test_galaxy_counts_are_flux_times_exptime():
    geometry = datasets._chip_geometries(CHIP_SHAPE)[0]
    wcs = WCS(fits.Header(datasets._chip_wcs_cards(datasets._pointing_wcs(150.0, 2.0),
                                                   geometry)))
    ra, dec = wcs.all_pix2world([[256.3, 128.7]], 0)[0]
    galaxies = Table({"ra": [ra], "dec": [dec], "flux_eps": [100.0],
                      "r_eff_arcsec": [0.3], "sersic_n": [1.5], "axis_ratio": [0.5],
                      "pa_deg": [30.0]})
    image = datasets._render_galaxies(CHIP_SHAPE, wcs, galaxies, 400.0)
    assert image.sum() == pytest.approx(100.0 * 400.0, rel=1e-9)
    # Elongated along PA=30 deg on the sky, so not round in pixels.
    y, x = np.indices(CHIP_SHAPE)
    xx = (image * (x - 256.3) ** 2).sum()
    yy = (image * (y - 128.7) ** 2).sum()
    assert not np.isclose(xx, yy, rtol=0.1)


def test_truth_round_trip(demo):
    loaded = load_demo_truth(demo.folder)
    assert loaded.input_files == demo.input_files
    assert loaded.sky == demo.sky
    assert loaded.exposure_times == demo.exposure_times
    for name in ("ra", "dec", "flux_eps", "isolated", "saturated", "n_covered"):
        assert np.array_equal(loaded.stars[name], demo.stars[name])
    assert np.array_equal(loaded.galaxies["flux_eps"], demo.galaxies["flux_eps"])
    assert loaded.stars.meta["psf"] == demo.stars.meta["psf"]
    assert loaded.cosmic_ray_masks.keys() == demo.cosmic_ray_masks.keys()
    for key, mask in demo.cosmic_ray_masks.items():
        assert np.array_equal(loaded.cosmic_ray_masks[key], mask)
        assert np.array_equal(loaded.cosmic_ray_flux[key], demo.cosmic_ray_flux[key])
    for extver, mask in demo.bad_pixel_mask.items():
        assert np.array_equal(loaded.bad_pixel_mask[extver], mask)


def test_refuses_to_overwrite(tmp_path):
    small = dict(n_exposures=2, chip_shape=(64, 128), seed=1)
    first = make_demo_dataset(tmp_path, **small)
    before = first.input_files[0].stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="mdz001a1q_flc.fits"):
        make_demo_dataset(tmp_path, **small)
    assert first.input_files[0].stat().st_mtime_ns == before
    make_demo_dataset(tmp_path, **small, overwrite=True)
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_seed_same_data(tmp_path):
    small = dict(n_exposures=2, chip_shape=(64, 128))
    one = make_demo_dataset(tmp_path / "one", seed=7, **small)
    two = make_demo_dataset(tmp_path / "two", seed=7, **small)
    other = make_demo_dataset(tmp_path / "other", seed=8, **small)
    for a, b, c in zip(one.input_files, two.input_files, other.input_files):
        with fits.open(a) as ha, fits.open(b) as hb, fits.open(c) as hc:
            for extver in (1, 2):
                assert np.array_equal(ha["SCI", extver].data, hb["SCI", extver].data)
                assert ha["SCI", extver].header == hb["SCI", extver].header
                assert not np.array_equal(ha["SCI", extver].data, hc["SCI", extver].data)
    assert np.array_equal(one.stars["ra"], two.stars["ra"])


@pytest.mark.parametrize("arguments", [
    dict(chip_shape=(10, 10)), dict(chip_shape=(4000, 512)), dict(n_exposures=0),
    dict(suffix="f-c")])
def test_bad_parameters(tmp_path, arguments):
    with pytest.raises(ParameterError):
        make_demo_dataset(tmp_path, **arguments)


def test_relative_pixel_area_matches_the_distortion():
    """The area map is the Jacobian determinant of the full-size distortion."""
    geometry = datasets._chip_geometries(datasets.FULL_CHIP_SHAPE)[0]
    wcs = WCS(fits.Header(datasets._chip_wcs_cards(datasets._pointing_wcs(150.0, 2.0),
                                                   geometry)))
    area = datasets._relative_pixel_area(wcs, datasets.FULL_CHIP_SHAPE)
    for x, y in ((100, 100), (2000, 1000), (4000, 2000)):
        sky = wcs.all_pix2world([[x - 0.5, y], [x + 0.5, y], [x, y - 0.5], [x, y + 0.5]], 0)
        cos_dec = np.cos(np.radians(sky[:, 1].mean()))
        dx = (sky[1] - sky[0]) * [cos_dec, 1] * 3600
        dy = (sky[3] - sky[2]) * [cos_dec, 1] * 3600
        direct = abs(dx[0] * dy[1] - dx[1] * dy[0]) / datasets.PIXEL_SCALE_ARCSEC ** 2
        assert area[y, x] == pytest.approx(direct, rel=2e-4)
    assert area.max() - area.min() > 0.01  # HST-like: pixel areas vary by per cent


@pytest.mark.parametrize("chip_shape", [(64, 64), (64, 96)])
def test_smallest_chips_are_accepted(tmp_path, chip_shape):
    # fewer well-separated bright-star positions fit than on larger chips
    dataset = make_demo_dataset(tmp_path, n_exposures=2, chip_shape=chip_shape, seed=3)
    assert len(dataset.stars) > 0
    with fits.open(dataset.input_files[0]) as hdul:
        assert hdul["SCI", 1].data.shape == chip_shape


# ------------------------------------------------------------------ variants

@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """The ACS/WFC camera with SIP, and WFC3/UVIS with NPOL and D2IM tables."""
    made = {}
    for camera, distortion in (("acs_wfc", "sip"), ("wfc3_uvis", "npol_d2im")):
        folder = tmp_path_factory.mktemp(f"{camera}_{distortion}")
        made[camera, distortion] = make_demo_dataset(folder, n_exposures=3, seed=5,
                                                     camera=camera, distortion=distortion)
    return made


def test_acs_wfc_variant_headers_and_geometry(variants):
    acs = variants["acs_wfc", "sip"]
    assert (acs.camera, acs.distortion) == ("acs_wfc", "sip")
    with fits.open(acs.input_files[0]) as hdul:
        primary = hdul[0].header
        assert (primary["INSTRUME"], primary["DETECTOR"]) == ("ACS", "WFC")
        assert (primary["FILTER1"], primary["FILTER2"]) == ("F606W", "CLEAR2L")
        assert "FILTER" not in primary
        assert all(1.8 < primary[f"ATODGN{amp}"] < 2.1 for amp in "ABCD")
        assert [hdul["SCI", v].header["CCDCHIP"] for v in (1, 2)] == [2, 1]
        assert hdul["SCI", 1].data.shape == (256, 512)   # an eighth of 2048 x 4096
        assert "MEANDARK" in hdul["SCI", 1].header       # AstroDrizzle reads it for ACS
        lower = WCS(hdul["SCI", 1].header, hdul)
        upper = WCS(hdul["SCI", 2].header, hdul)
    scales = [s.to_value("arcsec") for s in lower.proj_plane_pixel_scales()]
    assert np.allclose(scales, 0.05, rtol=0.03)
    # the pixel grid is skewed on the sky, as ACS/WFC's (a few degrees)
    cd = lower.wcs.cd
    cosine = cd[:, 0] @ cd[:, 1] / np.linalg.norm(cd[:, 0]) / np.linalg.norm(cd[:, 1])
    assert 0.02 < abs(cosine) < 0.12
    # the chips are 50 rows apart
    x, y = lower.all_world2pix(upper.all_pix2world([[256.0, 0.0]], 0), 0)[0]
    assert abs(y - (255 + 50 + 1)) < 1.5
    # multidrizzle reads the ACS amplifiers' gains and read noises
    from multidrizzle import Multidrizzle

    md = Multidrizzle([str(acs.input_files[0])], in_memory=True, runfile="")
    md.build()
    chips = md.exposures[0].chips
    assert [round(chip.gain, 4) for chip in chips] == [round((2.017 + 2.011) / 2, 4),
                                                      round((2.020 + 1.886) / 2, 4)]
    assert all(3.9 < chip.read_noise < 4.6 for chip in chips)


def _without_lookup_tables(header):
    """A copy of a SCI header with its NPOL and D2IM keywords removed (SIP only)."""
    copy = header.copy()
    for keyword in list(copy.keys()):
        if keyword.startswith(("CPDIS", "DP1", "DP2", "D2IM", "CPERR")):
            del copy[keyword]
    return copy


def test_lookup_tables_are_in_the_files_and_in_the_scene(variants):
    npol = variants["wfc3_uvis", "npol_d2im"]
    assert (npol.camera, npol.distortion) == ("wfc3_uvis", "npol_d2im")
    with fits.open(npol.input_files[0]) as hdul:
        assert hdul[0].header["NEXTEND"] == 12
        assert sorted((h.name, h.ver) for h in hdul if h.name in ("WCSDVARR", "D2IMARR")) == [
            ("D2IMARR", 1), ("D2IMARR", 2), ("WCSDVARR", 1), ("WCSDVARR", 2),
            ("WCSDVARR", 3), ("WCSDVARR", 4)]
        header = hdul["SCI", 2].header
        assert (header["CPDIS1"], header["DP1.EXTVER"], header["DP2.EXTVER"]) == ("Lookup", 3, 4)
        assert (header["D2IMDIS1"], header["D2IM1.EXTVER"]) == ("Lookup", 2)
        full = WCS(header, hdul)
        sip_only = WCS(_without_lookup_tables(header))
    assert full.cpdis1 is not None and full.det2im1 is not None
    assert sip_only.cpdis1 is None
    rows, cols = np.mgrid[0:256:17, 0:512:17]
    pixels = np.column_stack([cols.ravel(), rows.ravel()]).astype(float)
    shift = full.all_world2pix(sip_only.all_pix2world(pixels, 0), 0) - pixels
    # NPOL (<= 0.08 px per axis) and D2IM (<= 0.04 px along x) move the pixels
    assert 0.03 < np.abs(shift).max() < 0.13
    # the stars are rendered through the full WCS: a bright star's centroid
    # is where the tables put it, not where SIP alone does
    bright = npol.stars[npol.stars["isolated"] & (npol.stars["flux_eps"] > 100)
                        & (npol.stars["n_covered"] >= 2)]
    closer = 0
    for path in npol.input_files:
        for extver in (1, 2):
            data, _, wcs, _ = _chip(path, extver)
            with fits.open(path) as hdul:
                sip = WCS(_without_lookup_tables(hdul["SCI", extver].header))
            data = data - npol.sky[path.name, extver] - npol.cosmic_ray_flux[path.name, extver]
            for star in bright:
                xc, yc = wcs.all_world2pix([[star["ra"], star["dec"]]], 0)[0]
                xs, ys = sip.all_world2pix([[star["ra"], star["dec"]]], 0)[0]
                ix, iy = int(round(xc)), int(round(yc))
                if not (STAMP <= ix < 512 - STAMP and STAMP <= iy < 256 - STAMP):
                    continue
                window = data[iy - 4:iy + 5, ix - 4:ix + 5]
                offsets = np.arange(-4, 5)
                x_centroid = ix + (window.sum(axis=0) * offsets).sum() / window.sum()
                y_centroid = iy + (window.sum(axis=1) * offsets).sum() / window.sum()
                full_error = np.hypot(x_centroid - xc, y_centroid - yc)
                closer += int(full_error < np.hypot(x_centroid - xs, y_centroid - ys))
                assert full_error < 0.1
    assert closer >= 3


def test_load_demo_truth_says_which_variant(variants):
    for (camera, distortion), written in variants.items():
        read = load_demo_truth(written.folder)
        assert (read.camera, read.distortion) == (camera, distortion)


def test_default_variant_is_wfc3_uvis_with_sip(demo):
    assert (demo.camera, demo.distortion) == ("wfc3_uvis", "sip")
    assert datasets.FULL_CHIP_SHAPES == {"wfc3_uvis": FULL_CHIP_SHAPE, "acs_wfc": (2048, 4096)}


@pytest.mark.parametrize("arguments, message", [
    (dict(camera="nircam"), "camera='nircam'"),
    (dict(distortion="tps"), "distortion='tps'"),
    (dict(camera="acs_wfc", chip_shape=(2051, 4096)), "2048")])
def test_bad_variant_parameters(tmp_path, arguments, message):
    with pytest.raises(ParameterError, match=message):
        make_demo_dataset(tmp_path, **arguments)
