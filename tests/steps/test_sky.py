"""Sky values: every skymethod and skystat on chips with known skies, masks, user values."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle import Multidrizzle
from multidrizzle.errors import InputError, ParameterError
from multidrizzle.kernels.statistics import clipped_statistic
from multidrizzle.model import ReadOptions, read_exposure
from multidrizzle.model.overlap import chip_overlap
from multidrizzle.steps.sky import (
    SkyInputs, SkySettings, chip_sky_statistics, compute_sky, pixel_area,
)

from support.references import statistics as reference_statistics
from support.sessions import chips_of, run_only

SHAPE = (100, 120)
GAP = 10  # rows between the two chips of an exposure on the sky
DEGREES_PER_PIXEL = 0.1 / 3600.0
NOISE = 1.0

# Stars at fixed places on the sky (in the pixel frame of an unshifted chip 1),
# seen by every exposure that covers them.
_STAR_RNG = np.random.default_rng(99)
STARS = np.column_stack([_STAR_RNG.uniform(-20, 260, 40), _STAR_RNG.uniform(-40, 300, 40),
                         _STAR_RNG.uniform(50, 800, 40)])


def _sky_frame(sky: float, *, shift=(0.0, 0.0), chip_index=0, seed=0, stars=True,
               cosmic_rays=True, shape=SHAPE) -> np.ndarray:
    """Noise about ``sky``, plus compact stars fixed on the sky and cosmic rays."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    data = rng.normal(sky, NOISE, shape)
    if stars:
        y, x = np.mgrid[0:ny, 0:nx].astype(float)
        base_x = x + shift[0]
        base_y = y + shift[1] + chip_index * (ny + GAP)
        for star_x, star_y, amplitude in STARS:
            data += amplitude * np.exp(-((base_x - star_x) ** 2 + (base_y - star_y) ** 2) / 2.0)
    if cosmic_rays:
        hits = rng.choice(data.size, 40, replace=False)
        data.flat[hits] += rng.uniform(300.0, 5000.0, hits.size)
    return data


def _write(path: Path, chips: list[np.ndarray], *, shift=(0.0, 0.0), exptime=100.0,
           bunit="ELECTRONS", dq: list[np.ndarray] | None = None,
           scales: list[float] | None = None, headers: list[dict] | None = None,
           sip: dict | None = None) -> Path:
    """An exposure whose chip k sits ``k * (ny + GAP)`` rows above chip 1 on the sky.

    ``shift`` moves the pointing: pixel (x, y) sees what pixel
    (x + dx, y + dy) of an unshifted exposure sees.
    """
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="WFC3", DETECTOR="UVIS", EXPTIME=exptime)
    hdus = [primary]
    for index, data in enumerate(chips):
        extver = index + 1
        ny, nx = data.shape
        scale = DEGREES_PER_PIXEL * (scales[index] if scales else 1.0)
        header = fits.Header()
        header.update(BUNIT=bunit, CCDCHIP=extver, CTYPE1="RA---TAN", CTYPE2="DEC--TAN",
                      CRVAL1=150.0, CRVAL2=2.0, CRPIX1=nx / 2.0 - shift[0],
                      CRPIX2=ny / 2.0 - shift[1] - index * (ny + GAP),
                      CD1_1=-scale, CD1_2=0.0, CD2_1=0.0, CD2_2=scale)
        if sip:
            header["CTYPE1"], header["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
            header.update(sip)
        if headers:
            header.update(headers[index])
        hdus.append(fits.ImageHDU(data.astype(np.float32), header=header, name="SCI",
                                  ver=extver))
        quality = dq[index] if dq else np.zeros(data.shape, np.int16)
        hdus.append(fits.ImageHDU(quality.astype(np.int16), name="DQ", ver=extver))
    fits.HDUList(hdus).writeto(path)
    return path


def _read(path: Path, **options):
    return read_exposure(path, ReadOptions(gain=options.pop("gain", 1.0), rdnoise=3.0,
                                           **options)).chips


def _kwargs(**overrides):
    settings = dict(skymethod="localmin", skystat="median", skywidth=0.1, skylower=None,
                    skyupper=None, skyclip=5, skylsigma=4.0, skyusigma=4.0, sky_bits=0,
                    static_masks=None, use_static=False)
    settings.update(overrides)
    return settings


def _exposure(tmp_path, name, skies, *, shift=(0.0, 0.0), seed=0, **write_options):
    frames = [_sky_frame(sky, shift=shift, chip_index=k, seed=seed + k)
              for k, sky in enumerate(skies)]
    return _read(_write(tmp_path / name, frames, shift=shift, **write_options))


# --------------------------------------------------------------------------
# localmin, globalmin and the surface-brightness scaling


def test_localmin_takes_lowest_chip_of_each_exposure(tmp_path):
    first = _exposure(tmp_path, "a_flt.fits", [100.0, 80.0], seed=1)
    second = _exposure(tmp_path, "b_flt.fits", [60.0, 75.0], seed=3)
    result = compute_sky([first, second], **_kwargs())
    assert result.subtract and result.method == "localmin"
    for chip in first:
        assert result.values[chip.name] == pytest.approx(80.0, abs=0.06)
    for chip in second:
        assert result.values[chip.name] == pytest.approx(60.0, abs=0.06)
    raw = [result.details[chip.name] for chip in first + second]
    assert raw == pytest.approx([100.0, 80.0, 60.0, 75.0], abs=0.06)


def test_localmin_compares_sky_per_unit_area(tmp_path):
    # chip 2 has pixels twice as large: 300 per pixel is 75 per chip-1 pixel
    frames = [_sky_frame(100.0, seed=5, stars=False), _sky_frame(300.0, seed=6, stars=False)]
    chips = _read(_write(tmp_path / "scales_flt.fits", frames, scales=[1.0, 2.0]))
    assert pixel_area(chips[1]) == pytest.approx(4 * pixel_area(chips[0]), rel=1e-6)
    assert pixel_area(chips[0]) == pytest.approx(0.01, rel=1e-6)
    result = compute_sky([chips], **_kwargs())
    assert result.values[chips[0].name] == pytest.approx(75.0, abs=0.05)
    assert result.values[chips[1].name] == pytest.approx(300.0, abs=0.1)


def test_idcscale_gives_the_pixel_area_when_present(tmp_path):
    # AstroDrizzle uses the nominal IDCSCALE: equal for both chips here
    frames = [_sky_frame(100.0, seed=5, stars=False), _sky_frame(300.0, seed=6, stars=False)]
    headers = [{"IDCSCALE": 0.1}, {"IDCSCALE": 0.1}]
    chips = _read(_write(tmp_path / "idc_flt.fits", frames, scales=[1.0, 2.0],
                         headers=headers))
    assert pixel_area(chips[1]) == pytest.approx(0.01)
    result = compute_sky([chips], **_kwargs())
    assert [result.values[c.name] for c in chips] == pytest.approx([100.0, 100.0], abs=0.05)


def test_globalmin_compares_exposures_per_second(tmp_path):
    # electrons: 90 e in 100 s is brighter than 150 e in 200 s (0.75 e/s)
    first = _exposure(tmp_path, "a_flt.fits", [100.0, 90.0], seed=1, exptime=100.0)
    second = _exposure(tmp_path, "b_flt.fits", [150.0, 160.0], seed=3, exptime=200.0)
    result = compute_sky([first, second], **_kwargs(skymethod="globalmin"))
    assert [result.values[c.name] for c in first] == pytest.approx([75.0, 75.0], abs=0.05)
    assert [result.values[c.name] for c in second] == pytest.approx([150.0, 150.0], abs=0.1)
    localmin = compute_sky([first, second], **_kwargs(skymethod="localmin"))
    assert localmin.values[first[0].name] == pytest.approx(90.0, abs=0.06)


def test_count_rates_are_not_scaled_by_exposure_time(tmp_path):
    first = _exposure(tmp_path, "a_flt.fits", [100.0, 90.0], seed=1, exptime=100.0,
                      bunit="ELECTRONS/S")
    second = _exposure(tmp_path, "b_flt.fits", [150.0, 160.0], seed=3, exptime=200.0,
                       bunit="ELECTRONS/S")
    result = compute_sky([first, second], **_kwargs(skymethod="globalmin"))
    assert all(v == pytest.approx(90.0, abs=0.06) for v in result.values.values())


def test_values_and_limits_are_in_the_input_units(tmp_path):
    # COUNTS processed in electrons (gain 2): MDRIZSKY and skyupper stay in counts
    left = _sky_frame(100.0, seed=1, stars=False, cosmic_rays=False)
    left[:, 60:] += 100.0
    chips = _read(_write(tmp_path / "counts_flt.fits", [left], bunit="COUNTS"),
                  gain=2.0, proc_unit="electrons")
    assert chips[0].proc_scale == 2.0
    result = compute_sky([chips], **_kwargs(skystat="mean", skyclip=0, skyupper=150.0))
    assert result.values[chips[0].name] == pytest.approx(100.0, abs=0.05)


# --------------------------------------------------------------------------
# statistics, limits and clipping


def test_each_skystat_on_a_skewed_chip(tmp_path):
    rng = np.random.default_rng(8)
    data = rng.normal(100.0, 2.0, SHAPE)
    data[:30] += rng.exponential(15.0, (30, SHAPE[1]))
    chips = _read(_write(tmp_path / "skew_flt.fits", [data]))
    stored = chips[0].read_science()
    results = {}
    for skystat in ("mode", "median", "mean"):
        result = compute_sky([chips], **_kwargs(skystat=skystat, skywidth=0.3))
        results[skystat] = result.values[chips[0].name]
        expected, _ = clipped_statistic(stored, skystat, nclip=5, lsigma=4.0, usigma=4.0,
                                        binwidth=0.3)
        assert results[skystat] == pytest.approx(expected, rel=1e-12)
    assert results["mode"] < results["median"] < results["mean"]
    assert results["mode"] == pytest.approx(100.0, abs=0.5)


def test_skylower_and_skyupper_select_pixel_values(tmp_path):
    data = _sky_frame(100.0, seed=2, stars=False, cosmic_rays=False)
    data[:, 60:] += 100.0
    chips = _read(_write(tmp_path / "halves_flt.fits", [data]))
    name = chips[0].name

    def sky(**limits):
        return compute_sky([chips], **_kwargs(skystat="mean", skyclip=0, **limits)).values[name]

    assert sky() == pytest.approx(150.0, abs=0.05)
    assert sky(skyupper=150.0) == pytest.approx(100.0, abs=0.05)
    assert sky(skylower=150.0) == pytest.approx(200.0, abs=0.05)
    assert sky(skylower=95.0, skyupper=150.0) == pytest.approx(100.0, abs=0.05)


def test_skyclip_and_sigmas_reject_outliers(tmp_path):
    rng = np.random.default_rng(4)
    data = rng.normal(100.0, NOISE, SHAPE)
    high = rng.choice(data.size, data.size // 50, replace=False)
    data.flat[high] = 130.0
    chips = _read(_write(tmp_path / "outliers_flt.fits", [data]))
    name = chips[0].name
    stored = chips[0].read_science()

    def sky(**settings):
        return compute_sky([chips], **_kwargs(skystat="mean", **settings)).values[name]

    assert sky(skyclip=0) == pytest.approx(float(stored.mean(dtype=np.float64)), rel=1e-9)
    assert sky(skyclip=0) > 100.5
    assert sky(skyclip=5) == pytest.approx(100.0, abs=0.03)
    # an upper limit far above the outliers keeps them
    assert sky(skyclip=5, skyusigma=40.0) == pytest.approx(sky(skyclip=0), rel=1e-9)
    # low outliers: rejected with skylsigma=4, kept with a huge skylsigma
    data.flat[high] = 70.0
    chips = _read(_write(tmp_path / "low_flt.fits", [data]))
    low_name = chips[0].name
    clipped = compute_sky([chips], **_kwargs(skystat="mean")).values[low_name]
    kept = compute_sky([chips], **_kwargs(skystat="mean", skylsigma=40.0)).values[low_name]
    assert clipped == pytest.approx(100.0, abs=0.03)
    assert kept < 99.5


# --------------------------------------------------------------------------
# masks


def _flagged_chip(tmp_path, name="flagged_flt.fits"):
    """Sky 100; a bright block flagged DQ=4; a normal-sky strip flagged DQ=8 at 103."""
    data = _sky_frame(100.0, seed=9, stars=False, cosmic_rays=False)
    dq = np.zeros(SHAPE, np.int16)
    data[:40] = 500.0
    dq[:40] = 4
    data[90:] += 3.0
    dq[90:] = 8
    return _read(_write(tmp_path / name, [data], dq=[dq]))


@pytest.mark.parametrize("sky_bits, expected", [
    (0, 100.0),                                  # every flag is bad
    (None, 0.4 * 500 + 0.5 * 100 + 0.1 * 103),   # DQ ignored
    (4, (0.4 * 500 + 0.5 * 100) / 0.9),          # 4 is good, 8 bad
    (-5, (0.5 * 100 + 0.1 * 103) / 0.6),         # ~4: only 4 is bad
])
def test_sky_bits_exclude_flagged_pixels(tmp_path, sky_bits, expected):
    chips = _flagged_chip(tmp_path)
    result = compute_sky([chips], **_kwargs(skystat="mean", skyclip=0, sky_bits=sky_bits))
    assert result.values[chips[0].name] == pytest.approx(expected, abs=0.05)


def test_static_mask_excludes_pixels_when_use_static(tmp_path, caplog):
    data = _sky_frame(100.0, seed=9, stars=False, cosmic_rays=False)
    data[:40] = 500.0
    chips = _read(_write(tmp_path / "static_flt.fits", [data]))
    static = {chips[0].signature: np.zeros(SHAPE, dtype=bool)}
    static[chips[0].signature][:40] = True
    name = chips[0].name
    used = compute_sky([chips], **_kwargs(static_masks=static, use_static=True))
    ignored = compute_sky([chips], **_kwargs(skystat="mean", skyclip=0,
                                             static_masks=static, use_static=False))
    assert used.values[name] == pytest.approx(100.0, abs=0.05)
    assert ignored.values[name] == pytest.approx(0.4 * 500 + 0.6 * 100, abs=0.05)
    with caplog.at_level(logging.WARNING, logger="multidrizzle"):
        missing = compute_sky([chips], **_kwargs(skystat="mean", skyclip=0,
                                                 static_masks=None, use_static=True))
    assert missing.values[name] == pytest.approx(ignored.values[name])
    assert "use_static" in caplog.text


def _masked_pair(tmp_path):
    frames = []
    for k in range(2):
        data = _sky_frame(100.0 + 10 * k, seed=20 + k, stars=False, cosmic_rays=False)
        data[:50] = 900.0
        frames.append(data)
    chips = _read(_write(tmp_path / "user_flt.fits", frames))
    mask = np.ones(SHAPE, np.uint8)
    mask[:50] = 0
    fits.PrimaryHDU(mask).writeto(tmp_path / "mask0.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(mask, name="MASK", ver=2)]).writeto(
        tmp_path / "mask_mef.fits")
    return chips


@pytest.mark.parametrize("line", [
    "{image}, {folder}/mask0.fits, {folder}/mask_mef.fits[MASK,2]",
    "{image}{{'sci'}}  {folder}/mask0.fits[0]  {folder}/mask_mef.fits[1]",
])
def test_skymask_cat_masks_exclude_pixels(tmp_path, line):
    chips = _masked_pair(tmp_path)
    catalog = tmp_path / "masks.cat"
    catalog.write_text("# image and one mask per chip\n\n"
                       + line.format(image="user_flt.fits", folder=tmp_path) + "\n"
                       + "other_flt.fits mask0.fits\n")
    kwargs = _kwargs(skystat="mean", skyclip=0)
    result = compute_sky([chips], skymask_cat=str(catalog), **kwargs)
    assert result.details[chips[0].name] == pytest.approx(100.0, abs=0.05)
    assert result.details[chips[1].name] == pytest.approx(110.0, abs=0.05)
    unmasked = compute_sky([chips], **kwargs)
    assert unmasked.details[chips[0].name] > 400.0
    # measured apart (a task's part of the step), the catalog's masks apply too
    settings = SkySettings(**{**{k: v for k, v in kwargs.items() if k != "static_masks"},
                              "skysub": True, "skymask_cat": str(catalog), "skyfile": "",
                              "skyuser": ""})
    exposure = read_exposure(chips[0].filename, ReadOptions(gain=1.0, rdnoise=3.0))
    assert chip_sky_statistics(SkyInputs((exposure,), settings)) == result.details


def test_skymask_cat_none_entry_and_errors(tmp_path):
    chips = _masked_pair(tmp_path)
    catalog = tmp_path / "masks.cat"
    catalog.write_text(f"user_flt.fits, None, {tmp_path}/mask_mef.fits[MASK,2]\n")
    result = compute_sky([chips], skymask_cat=str(catalog), **_kwargs(skystat="mean",
                                                                       skyclip=0))
    assert result.details[chips[0].name] > 400.0
    assert result.details[chips[1].name] == pytest.approx(110.0, abs=0.05)
    catalog.write_text(f"user_flt.fits {tmp_path}/mask0.fits {tmp_path}/mask0.fits "
                       f"{tmp_path}/mask0.fits\n")
    with pytest.raises(InputError, match=r"masks\.cat, line 1.*3 masks"):
        compute_sky([chips], skymask_cat=str(catalog), **_kwargs())
    fits.PrimaryHDU(np.ones((5, 5), np.uint8)).writeto(tmp_path / "small.fits")
    catalog.write_text(f"user_flt.fits {tmp_path}/small.fits\n")
    with pytest.raises(InputError, match=r"small\.fits.*\(5, 5\)"):
        compute_sky([chips], skymask_cat=str(catalog), **_kwargs())
    catalog.write_text(f"user_flt.fits {tmp_path}/absent.fits\n")
    with pytest.raises(InputError, match=r"absent\.fits"):
        compute_sky([chips], skymask_cat=str(catalog), **_kwargs())
    with pytest.raises(InputError, match="skymask_cat"):
        compute_sky([chips], skymask_cat=str(tmp_path / "no.cat"), **_kwargs())


# --------------------------------------------------------------------------
# overlaps and matching


def _brute_force_inside(chip, other):
    ny, nx = chip.shape
    y, x = np.mgrid[0:ny, 0:nx]
    ra, dec = chip.wcs.all_pix2world(x.ravel(), y.ravel(), 0)
    ox, oy = other.wcs.all_world2pix(ra, dec, 0)
    other_ny, other_nx = other.shape
    return ((ox >= -0.5) & (ox < other_nx - 0.5) & (oy >= -0.5)
            & (oy < other_ny - 0.5)).reshape(chip.shape)


SIP = {"A_ORDER": 2, "B_ORDER": 2, "A_2_0": 2e-5, "A_1_1": -1.5e-5, "A_0_2": 1e-5,
       "B_2_0": -1e-5, "B_1_1": 2e-5, "B_0_2": 1.5e-5}


@pytest.mark.parametrize("sip", [None, SIP])
def test_chip_overlap_matches_per_pixel_wcs(tmp_path, sip):
    frame = np.zeros(SHAPE)
    first = _read(_write(tmp_path / "a_flt.fits", [frame, frame], sip=sip))
    second = _read(_write(tmp_path / "b_flt.fits", [frame, frame], shift=(47.3, 61.6),
                          sip=sip))
    overlapping = 0
    for chip in first:
        for other in second:
            overlap = chip_overlap(chip, other)
            expected = _brute_force_inside(chip, other)
            if not expected.any():
                assert overlap is None
                continue
            overlapping += 1
            assert np.array_equal(overlap[0], expected)
            assert np.array_equal(overlap[1], _brute_force_inside(other, chip))
    assert overlapping == 3  # chip 1 of b overlaps both chips of a; chip 2 of b one
    far = _read(_write(tmp_path / "far_flt.fits", [frame], shift=(5000.0, 0.0)))
    assert chip_overlap(first[0], far[0]) is None


SHIFTS = [(0.0, 0.0), (35.3, 22.7), (70.6, -15.2)]
SKIES = [110.0, 125.0, 100.0]


def _dithered(tmp_path):
    return [_exposure(tmp_path, f"d{i}_flt.fits", [sky, sky], shift=shift, seed=10 * i)
            for i, (shift, sky) in enumerate(zip(SHIFTS, SKIES))]


@pytest.mark.parametrize("skystat", ["median", "mean"])
def test_match_recovers_relative_offsets(tmp_path, skystat):
    exposures = _dithered(tmp_path)
    result = compute_sky(exposures, **_kwargs(skymethod="match", skystat=skystat))
    lowest = min(SKIES)
    for chips, sky in zip(exposures, SKIES):
        for chip in chips:
            if sky == lowest:
                assert result.values[chip.name] == 0.0
            else:
                offset = sky - lowest
                assert result.values[chip.name] == pytest.approx(offset, rel=0.005)


@pytest.mark.parametrize("skymethod", ["localmin", "match"])
def test_statistics_measured_apart_give_the_same_skies(tmp_path, skymethod):
    """The session's tasks measure each exposure's chips (chip_sky_statistics);
    compute_sky then compares them as if it had measured them itself."""
    exposures = _dithered(tmp_path)
    kwargs = _kwargs(skymethod=skymethod)
    whole = compute_sky(exposures, **kwargs)
    settings = SkySettings(**{**{k: v for k, v in kwargs.items() if k != "static_masks"},
                              "skysub": True, "skymask_cat": "", "skyfile": "",
                              "skyuser": ""})
    measured = {}
    for chips in exposures:
        exposure = read_exposure(chips[0].filename, ReadOptions(gain=1.0, rdnoise=3.0))
        measured.update(chip_sky_statistics(SkyInputs((exposure,), settings)))
    assert measured == whole.details
    apart = compute_sky(exposures, **kwargs, chip_statistics=measured)
    assert apart.values == whole.values and apart.details == whole.details
    # the statistics given are the ones used
    brighter = {name: value + 7.0 for name, value in measured.items()}
    shifted = compute_sky(exposures, **kwargs, chip_statistics=brighter)
    assert shifted.details == brighter
    if skymethod == "localmin":
        assert all(shifted.values[n] == pytest.approx(whole.values[n] + 7.0)
                   for n in whole.values)


def test_globalmin_plus_match_adds_the_global_minimum(tmp_path):
    exposures = _dithered(tmp_path)
    result = compute_sky(exposures, **_kwargs(skymethod="globalmin+match"))
    for chips, sky in zip(exposures, SKIES):
        for chip in chips:
            assert result.values[chip.name] == pytest.approx(sky, rel=0.005)
    # globalmin alone would give every chip the lowest sky
    globalmin = compute_sky(exposures, **_kwargs(skymethod="globalmin"))
    assert all(v == pytest.approx(min(SKIES), abs=0.1) for v in globalmin.values.values())


def test_match_without_overlap_gives_zero_offsets(tmp_path, caplog):
    near = _exposure(tmp_path, "near_flt.fits", [100.0], seed=1)
    far = _exposure(tmp_path, "far_flt.fits", [130.0], shift=(5000.0, 0.0), seed=2)
    with caplog.at_level(logging.WARNING, logger="multidrizzle"):
        result = compute_sky([near, far], **_kwargs(skymethod="match"))
    assert all(v == 0.0 for v in result.values.values())
    assert "far_flt.fits" in caplog.text


# --------------------------------------------------------------------------
# user sky values


def _two_exposures(tmp_path):
    first = _exposure(tmp_path, "u1_flt.fits", [100.0, 90.0], seed=1)
    second = _exposure(tmp_path, "u2_flt.fits", [80.0, 85.0], seed=3)
    return first, second


def test_skyfile_values_are_subtracted(tmp_path):
    first, second = _two_exposures(tmp_path)
    skyfile = tmp_path / "sky.txt"
    skyfile.write_text("# user skies\nu1_flt.fits 12.5\n\n"
                       f"{tmp_path}/u2_flt.fits 3.0 4.0\n")
    result = compute_sky([first, second], skyfile=str(skyfile), **_kwargs())
    assert result.subtract and result.method == "skyfile" and result.details == {}
    assert [result.values[c.name] for c in first + second] == [12.5, 12.5, 3.0, 4.0]
    skyfile.write_text("# applied = yes\nu1_flt.fits 1\nu2_flt.fits 2\n")
    applied = compute_sky([first, second], skyfile=str(skyfile), **_kwargs())
    assert not applied.subtract
    assert [applied.values[c.name] for c in first + second] == [1.0, 1.0, 2.0, 2.0]


def test_bad_skyfiles_name_file_and_line(tmp_path):
    first, second = _two_exposures(tmp_path)
    skyfile = tmp_path / "sky.txt"
    cases = [
        ("u1_flt.fits 1 2 3\nu2_flt.fits 1\n", r"sky\.txt, line 1.*3 sky values.*2 SCI"),
        ("u1_flt.fits 1\nu2_flt.fits one\n", r"sky\.txt, line 2.*not all numbers"),
        ("u1_flt.fits\nu2_flt.fits 1\n", r"sky\.txt, line 1.*no sky value"),
        ("u1_flt.fits 1\n", r"sky\.txt.*no line for input u2_flt\.fits"),
        ("u1_flt.fits 1\nu1_flt.fits 2\nu2_flt.fits 1\n", r"line 2.*second time"),
    ]
    for text, message in cases:
        skyfile.write_text(text)
        with pytest.raises(InputError, match=message):
            compute_sky([first, second], skyfile=str(skyfile), **_kwargs())
    with pytest.raises(InputError, match="nothere"):
        compute_sky([first, second], skyfile=str(tmp_path / "nothere.txt"), **_kwargs())


def test_skysub_false_records_skyuser_keyword_without_subtracting(tmp_path):
    frames = [_sky_frame(100.0, seed=1), _sky_frame(90.0, seed=2)]
    headers = [{"MYSKY": 97.5}, {"MYSKY": 88.25}]
    chips = _read(_write(tmp_path / "k_flt.fits", frames, headers=headers))
    skyfile = tmp_path / "ignored.txt"
    skyfile.write_text("k_flt.fits 1.0\n")
    result = compute_sky([chips], skysub=False, skyuser="MYSKY", skyfile=str(skyfile),
                         **_kwargs())
    assert not result.subtract
    assert [result.values[c.name] for c in chips] == [97.5, 88.25]
    with pytest.raises(InputError, match=r"k_flt\.fits, SCI,1.*NOSUCH.*skyuser"):
        compute_sky([chips], skysub=False, skyuser="NOSUCH", **_kwargs())


def test_skysub_false_with_skyuser_file_or_nothing(tmp_path):
    first, second = _two_exposures(tmp_path)
    skyfile = tmp_path / "user.txt"
    skyfile.write_text("u1_flt.fits 5\nu2_flt.fits 6 7\n")
    result = compute_sky([first, second], skysub=False, skyuser=f"@{skyfile}", **_kwargs())
    assert not result.subtract
    assert [result.values[c.name] for c in first + second] == [5.0, 5.0, 6.0, 7.0]
    nothing = compute_sky([first, second], skysub=False, **_kwargs())
    assert not nothing.subtract
    assert set(nothing.values.values()) == {0.0} and len(nothing.values) == 4
    skyfile.write_text("u1_flt.fits 5\n")
    with pytest.raises(InputError, match="skyuser file"):
        compute_sky([first, second], skysub=False, skyuser=f"@{skyfile}", **_kwargs())


def test_unknown_method_and_statistic_and_log_table(tmp_path, caplog):
    chips = _exposure(tmp_path, "t_flt.fits", [100.0], seed=1)
    with pytest.raises(ParameterError, match="skymethod"):
        compute_sky([chips], **_kwargs(skymethod="median"))
    with pytest.raises(ParameterError, match="skystat"):
        compute_sky([chips], **_kwargs(skystat="midpt"))
    with caplog.at_level(logging.INFO, logger="multidrizzle"):
        result = compute_sky([chips], **_kwargs())
    assert chips[0].name in caplog.text and "MDRIZSKY" in caplog.text
    assert f"{result.values[chips[0].name]:.6g}" in caplog.text


# --------------------------------------------------------------------------
# localmin and globalmin through the session against per-chip skies from the
# slow imagestats reference (``support.references.statistics``)


@pytest.fixture(scope="module")
def sky_run(small_demo_set, tmp_path_factory, demo_session) -> Multidrizzle:
    md = demo_session(small_demo_set, tmp_path_factory.mktemp("sky") / "final")
    run_only(md, "static")
    return md


def _reference_chip_sky(md: Multidrizzle, chip) -> float:
    """imagestats median after 5 clipping passes at 4 sigma, good pixels only."""
    good = (chip.read_dq() == 0) & ~md.static_masks[chip.signature]
    values = chip.read_science()[good]
    npix, _, _, low, high, _, _ = reference_statistics.reference_clipped_moments(
        values, nclip=5, lsigma=4.0, usigma=4.0)
    assert npix > 1000
    return float(reference_statistics.reference_median(values, low, high))


def test_localmin_is_the_lowest_chip_sky_of_each_exposure(sky_run):
    md = sky_run
    md.skymethod = "localmin"
    run_only(md, "sky")
    lows = []
    for exposure in md.exposures:
        skies = [_reference_chip_sky(md, c) for c in exposure.chips]
        assert max(skies) - min(skies) > 0.1        # the chips' skies do differ
        for chip in exposure.chips:
            assert md.sky_values[chip.name] == pytest.approx(min(skies), rel=1e-6)
        lows.append(min(skies))
    assert len({round(v, 3) for v in lows}) == len(lows)   # one value per exposure


def test_globalmin_is_the_lowest_sky_rate_of_all_chips(sky_run):
    md = sky_run
    md.skymethod = "globalmin"
    try:
        run_only(md, "sky")
        values = dict(md.sky_values)
    finally:
        md.skymethod = "localmin"
    lowest_rate = min(_reference_chip_sky(md, c) / c.exptime for c in chips_of(md))
    for chip in chips_of(md):
        assert values[chip.name] == pytest.approx(lowest_rate * chip.exptime, rel=1e-6)
