"""Static bad-pixel masks: detection, OR over exposures, user masks, files."""

from __future__ import annotations

import hashlib
import os
from math import erf, sqrt
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError
from multidrizzle.model import ReadOptions, read_exposure
from multidrizzle.steps.static_mask import (
    build_static_masks,
    chip_static_mask,
    merged_static_masks,
    static_masks_of,
    static_threshold,
)
from multidrizzle.io.intermediates import write_static_mask
from multidrizzle.io.layout import static_mask_filename

SHAPE = (120, 150)
SKY, NOISE = 50.0, 3.0


def _exposure_file(path: Path, chip_data: list[np.ndarray], *, instrument="WFC3",
                   detector="UVIS") -> Path:
    """A small multi-chip exposure with a TAN WCS (chip k sits above chip k-1)."""
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME=instrument, DETECTOR=detector, EXPTIME=100.0)
    hdus = [primary]
    for extver, data in enumerate(chip_data, start=1):
        ny, nx = data.shape
        header = fits.Header()
        header.update(BUNIT="ELECTRONS", CCDCHIP=extver, CTYPE1="RA---TAN",
                      CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0, CRPIX1=nx / 2.0,
                      CRPIX2=ny / 2.0 - (extver - 1) * (ny + 10), CD1_1=-1e-5, CD1_2=0.0,
                      CD2_1=0.0, CD2_2=1e-5)
        hdus.append(fits.ImageHDU(data.astype(np.float32), header=header, name="SCI",
                                  ver=extver))
        hdus.append(fits.ImageHDU(np.zeros(data.shape, np.int16), name="DQ", ver=extver))
    fits.HDUList(hdus).writeto(path)
    return path


def _read(path: Path):
    return read_exposure(path, ReadOptions(gain=1.0, rdnoise=3.0))


def _noise(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).normal(SKY, NOISE, shape)


def _positions(seed: int, count: int, shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    flat = np.random.default_rng(seed).choice(shape[0] * shape[1], count, replace=False)
    return np.unravel_index(flat, shape)


def _normal_below(sigmas: float) -> float:
    return 0.5 * (1.0 + erf(-sigmas / sqrt(2.0)))


def test_finds_injected_low_pixels_and_few_noise_pixels():
    science = _noise(1)
    rows, columns = _positions(2, 260)
    bad, hot = (rows[:60], columns[:60]), (rows[60:], columns[60:])
    science[bad] = SKY - 12.0 * NOISE
    # cosmic rays and stars far above the sky must not disturb the threshold
    science[hot] += 5000.0
    mask = chip_static_mask(science, 4.0)
    assert mask[bad].all()
    expected_noise = science.size * _normal_below(4.0)  # about 0.6 pixels
    assert mask.sum() - len(bad[0]) <= expected_noise + 5 * sqrt(expected_noise) + 1
    assert not mask[hot].any()


@pytest.mark.parametrize("static_sig", [1.5, 3.0])
def test_false_positive_rate_follows_static_sig(static_sig):
    science = np.random.default_rng(4).normal(SKY, NOISE, (400, 500))
    flagged = chip_static_mask(science, static_sig).sum()
    # The peak of a 0.1-sigma histogram is flat to within its Poisson noise,
    # so AstroDrizzle's mode wanders by ~0.1 sigma; 0.25 sigma bounds it.
    low = science.size * _normal_below(static_sig + 0.25)
    high = science.size * _normal_below(static_sig - 0.25)
    assert low < flagged < high


def test_threshold_is_below_the_mode_not_the_mean():
    # a skewed chip (extended source over a third of it) has mean >> mode
    rng = np.random.default_rng(5)
    science = rng.normal(SKY, NOISE, SHAPE)
    science[:40] += rng.exponential(40.0, (40, SHAPE[1]))
    mode, rms, threshold = static_threshold(science, 3.0)
    assert abs(mode - SKY) < 0.5 * NOISE
    assert science.mean() - mode > 2 * NOISE
    assert threshold == pytest.approx(mode - 3.0 * rms)
    assert np.array_equal(chip_static_mask(science, 3.0), science < threshold)


def test_usable_limits_the_statistics_but_every_low_pixel_is_flagged():
    science = _noise(6)
    science[:, :50] = -1000.0  # a vignetted strip would widen the clipped rms
    usable = np.ones(SHAPE, dtype=bool)
    usable[:, :50] = False
    with_usable = chip_static_mask(science, 4.0, usable=usable)
    assert with_usable[:, :50].all()
    noise_flags = with_usable[:, 50:].sum()
    assert noise_flags <= 5
    _, rms, _ = static_threshold(science, 4.0, usable=usable)
    assert rms == pytest.approx(NOISE, rel=0.05)
    with pytest.raises(ValueError):
        chip_static_mask(science, 4.0, usable=usable[:10])


def test_nan_pixels_and_flat_chips():
    science = _noise(7)
    science[5, 5] = np.nan
    mask = chip_static_mask(science, 4.0)
    assert not mask[5, 5]
    assert not chip_static_mask(np.full(SHAPE, 3.0), 4.0).any()


def test_masks_are_or_ed_over_exposures_per_signature(tmp_path):
    first_bad, second_bad = _positions(10, 30), _positions(11, 30)
    chip2_bad = _positions(12, 30)
    data = []
    for seed, bad in ((20, first_bad), (21, second_bad)):
        chip1 = _noise(seed)
        chip1[bad] = SKY - 15 * NOISE
        chip2 = _noise(seed + 100)
        if seed == 20:
            chip2[chip2_bad] = SKY - 15 * NOISE
        data.append([chip1, chip2])
    paths = [_exposure_file(tmp_path / f"ex{i}_flt.fits", chips) for i, chips in enumerate(data)]
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    chips = [chip for path in paths for chip in _read(path).chips]
    masks = build_static_masks(chips, 4.0)
    assert set(masks) == {("WFC3/UVIS", (150, 120), 1), ("WFC3/UVIS", (150, 120), 2)}
    chip1_mask = masks[("WFC3/UVIS", (150, 120), 1)]
    assert chip1_mask[first_bad].all() and chip1_mask[second_bad].all()
    chip2_mask = masks[("WFC3/UVIS", (150, 120), 2)]
    assert chip2_mask[chip2_bad].all()
    assert not chip2_mask[first_bad].all()
    # the inputs are only read
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths] == digests
    # per exposure, as the session's tasks make them, then OR-ed in any order
    parts = [static_masks_of(_read(path).chips, 4.0) for path in paths]
    for ordered in (parts, parts[::-1]):
        merged = merged_static_masks([{k: v.copy() for k, v in part.items()}
                                      for part in ordered])
        assert merged.keys() == masks.keys()
        for signature, mask in masks.items():
            np.testing.assert_array_equal(merged[signature], mask)


def _one_exposure(tmp_path, name="ex_flt.fits"):
    path = _exposure_file(tmp_path / name, [_noise(30), _noise(31)])
    return _read(path).chips


def test_staticfile_single_image_applies_to_every_chip(tmp_path):
    chips = _one_exposure(tmp_path)
    user = np.ones(SHAPE, dtype=np.uint8)
    user[7, 9] = 0
    user[100, 3] = 0
    fits.PrimaryHDU(user).writeto(tmp_path / "user.fits")
    masks = build_static_masks(chips, 4.0, staticfile=str(tmp_path / "user.fits"))
    for mask in masks.values():
        assert mask[7, 9] and mask[100, 3]
    without = build_static_masks(chips, 4.0)
    for signature, mask in masks.items():
        assert np.array_equal(mask, without[signature] | (user == 0))


def test_staticfile_mask_extensions_by_extver(tmp_path):
    chips = _one_exposure(tmp_path)
    hdus = [fits.PrimaryHDU()]
    for extver, (y, x) in ((1, (3, 4)), (2, (50, 60))):
        data = np.ones(SHAPE, dtype=np.int16)
        data[y, x] = 0
        hdus.append(fits.ImageHDU(data, name="MASK", ver=extver))
    fits.HDUList(hdus).writeto(tmp_path / "user_mef.fits")
    masks = build_static_masks(chips, 4.0, staticfile=str(tmp_path / "user_mef.fits"))
    first = masks[chips[0].signature]
    second = masks[chips[1].signature]
    assert first[3, 4] and not first[50, 60]
    assert second[50, 60] and not second[3, 4]


def test_staticfile_errors_name_file_and_extension(tmp_path):
    chips = _one_exposure(tmp_path)
    fits.PrimaryHDU(np.ones((10, 10), np.uint8)).writeto(tmp_path / "small.fits")
    with pytest.raises(InputError, match=r"small\.fits.*\(10, 10\)"):
        build_static_masks(chips, 4.0, staticfile=str(tmp_path / "small.fits"))
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones(SHAPE, np.uint8), name="MASK",
                                                   ver=1)]).writeto(tmp_path / "one.fits")
    with pytest.raises(InputError, match=r"one\.fits.*MASK,2"):
        build_static_masks(chips, 4.0, staticfile=str(tmp_path / "one.fits"))
    fits.HDUList([fits.PrimaryHDU(np.ones(SHAPE)), fits.ImageHDU(np.ones(SHAPE))]).writeto(
        tmp_path / "two.fits")
    with pytest.raises(InputError, match=r"two\.fits"):
        build_static_masks(chips, 4.0, staticfile=str(tmp_path / "two.fits"))
    with pytest.raises(InputError, match="missing"):
        build_static_masks(chips, 4.0, staticfile=str(tmp_path / "missing.fits"))


def test_filename_follows_astrodrizzle_convention(tmp_path):
    assert (static_mask_filename(("WFC3/UVIS", (4096, 2051), 1))
            == "WFC3UVIS_4096x2051_1_staticMask.fits")
    assert (static_mask_filename(("ACS/WFC", (4096, 2048), 2))
            == "ACSWFC_4096x2048_2_staticMask.fits")
    chip = _one_exposure(tmp_path)[1]
    assert static_mask_filename(chip.signature) == "WFC3UVIS_150x120_2_staticMask.fits"


def test_write_uses_one_good_zero_bad_and_replaces_atomically(tmp_path):
    signature = ("WFC3/UVIS", (150, 120), 1)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[4, 5] = True
    path = write_static_mask(mask, signature, tmp_path / static_mask_filename(signature))
    assert path == tmp_path / "WFC3UVIS_150x120_1_staticMask.fits"
    data = fits.getdata(path)
    assert data.dtype == np.uint8
    assert data[4, 5] == 0 and data.sum() == mask.size - 1
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()
    mask[6, 7] = True
    write_static_mask(mask, signature, tmp_path / static_mask_filename(signature))
    assert fits.getdata(path)[6, 7] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    signature = ("WFC3/UVIS", (150, 120), 1)
    path = write_static_mask(np.zeros(SHAPE, dtype=bool), signature,
                             tmp_path / static_mask_filename(signature))
    before = path.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", broken)
    with pytest.raises(OSError, match="disk full"):
        write_static_mask(np.ones(SHAPE, dtype=bool), signature,
                          tmp_path / static_mask_filename(signature))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    with pytest.raises(ValueError):
        write_static_mask(np.zeros((3, 3), dtype=bool), signature,
                          tmp_path / static_mask_filename(signature))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
