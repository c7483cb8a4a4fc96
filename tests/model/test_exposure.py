"""Reading the real HST headers into the exposure model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError
from multidrizzle.io.dataunits import file_state
from multidrizzle.model import ReadOptions, read_exposure

from support.hst_files import ACS_FLT, IR_FLT, UVIS_FLC, full_size_copy


def test_uvis_chips_gain_noise_signature(uvis_full):
    exposure = read_exposure(uvis_full, ReadOptions())
    assert (exposure.instrument, exposure.detector) == ("WFC3", "UVIS")
    assert exposure.exptime == 170.0
    assert exposure.is_cte_corrected
    first, second = exposure.chips
    primary = fits.getheader(UVIS_FLC, 0)
    # SCI,1 is CCDCHIP 2, read by amplifiers C and D
    assert first.signature == ("WFC3/UVIS", (4096, 2051), 2)
    assert first.gain == pytest.approx((primary["ATODGNC"] + primary["ATODGND"]) / 2)
    assert first.read_noise == pytest.approx((primary["READNSEC"] + primary["READNSED"]) / 2)
    assert second.signature == ("WFC3/UVIS", (4096, 2051), 1)
    assert second.read_noise == pytest.approx((primary["READNSEA"] + primary["READNSEB"]) / 2)
    assert first.bunit == "ELECTRONS" and first.to_electrons == 1.0


def test_uvis_wcs_has_all_distortions(uvis_full):
    chip = read_exposure(uvis_full, ReadOptions()).chips[0]
    assert chip.wcs.sip is not None
    assert chip.wcs.cpdis1 is not None and chip.wcs.det2im1 is not None


def test_coeffs_false_drops_distortion(uvis_full):
    with_distortion = read_exposure(uvis_full, ReadOptions()).chips[0].wcs
    linear = read_exposure(uvis_full, ReadOptions(coeffs=False)).chips[0].wcs
    assert linear.sip is None and linear.cpdis1 is None and linear.det2im1 is None
    corner = np.array([[0.0, 0.0]])
    offset = with_distortion.all_pix2world(corner, 0) - linear.all_pix2world(corner, 0)
    assert np.abs(offset).max() * 3600 > 0.1  # the distortion moves corners by > 0.1"


def test_wcskey_selects_alternate_and_unknown_key_is_named(uvis_full):
    primary = read_exposure(uvis_full, ReadOptions()).chips[0].wcs
    alternate = read_exposure(uvis_full, ReadOptions(wcskey="O")).chips[0].wcs
    assert not np.allclose(primary.wcs.crval, alternate.wcs.crval, atol=1e-9, rtol=0)
    with pytest.raises(InputError, match="wcskey"):
        read_exposure(uvis_full, ReadOptions(wcskey="Z"))


def test_group_selects_chip(uvis_full):
    exposure = read_exposure(uvis_full, ReadOptions(group=(2,)))
    assert [c.extver for c in exposure.chips] == [2]
    with pytest.raises(InputError, match="SCI,3"):
        read_exposure(uvis_full, ReadOptions(group=(3,)))


def test_overrides_and_keyword_errors(uvis_full):
    chip = read_exposure(uvis_full, ReadOptions(gain=2.0, rdnoise=5.0, exptime=10.0)).chips[0]
    assert (chip.gain, chip.read_noise, chip.exptime) == (2.0, 5.0, 10.0)
    chip = read_exposure(uvis_full, ReadOptions(gainkeyword="ATODGNA",
                                                expkeyword="EXPTIME")).chips[0]
    assert chip.gain == pytest.approx(fits.getval(UVIS_FLC, "ATODGNA"))
    with pytest.raises(InputError, match="NOSUCHKEY.*gainkeyword"):
        read_exposure(uvis_full, ReadOptions(gainkeyword="NOSUCHKEY"))


def test_ir_count_rate_units(tmp_path):
    path = full_size_copy(IR_FLT, tmp_path / "ib4606cpq_flt.fits")
    exposure = read_exposure(path, ReadOptions(proc_unit="electrons"))
    chip, = exposure.chips
    primary = fits.getheader(IR_FLT, 0)
    assert chip.bunit == "ELECTRONS/S"
    assert chip.is_rate
    assert chip.to_electrons == pytest.approx(primary["EXPTIME"])
    assert chip.gain == pytest.approx(np.mean([primary[f"ATODGN{a}"] for a in "ABCD"]))
    assert chip.signature == ("WFC3/IR", (1024, 1024), 1)
    assert chip.read_science().mean() == pytest.approx(0.0)


def test_acs_counts_and_proc_unit(tmp_path):
    path = full_size_copy(ACS_FLT, tmp_path / "j94f05bgq_flt.fits", fill=10.0)
    with fits.open(path, mode="update") as hdul:
        for ext in (1, 4):
            hdul[ext].header["BUNIT"] = "COUNTS"
    native = read_exposure(path, ReadOptions()).chips[0]
    electrons = read_exposure(path, ReadOptions(proc_unit="electrons")).chips[0]
    assert native.signature == ("ACS/WFC", (4096, 2048), 2)
    assert native.read_science()[0, 0] == pytest.approx(10.0)
    assert electrons.read_science()[0, 0] == pytest.approx(10.0 * electrons.gain)


def test_file_opened_read_only(uvis_full):
    before = uvis_full.read_bytes()
    exposure = read_exposure(uvis_full, ReadOptions())
    exposure.chips[0].read_science()
    exposure.chips[1].read_dq()
    assert uvis_full.read_bytes() == before


def test_bad_bunit_is_named(tmp_path):
    path = full_size_copy(ACS_FLT, tmp_path / "j94f05bgq_flt.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[1].header["BUNIT"] = "JANSKY"
    with pytest.raises(InputError, match=r"SCI,1.*JANSKY"):
        read_exposure(path, ReadOptions())


@pytest.mark.parametrize("options, pattern", [
    (ReadOptions(expkeyword="FILTER"),
     r"\(primary header\): keyword FILTER \(named by parameter 'expkeyword'\) has the value "
     r"'F555W', which is not a finite number; expected the exposure time"),
    (ReadOptions(gainkeyword="FILTER"),
     r"SCI,1 \(primary header\): keyword FILTER \(named by parameter 'gainkeyword'\) has "
     r"the value 'F555W'.*expected the gain"),
    (ReadOptions(rnkeyword="DETECTOR"),
     r"SCI,1 \(primary header\): keyword DETECTOR \(named by parameter 'rnkeyword'\) has "
     r"the value 'UVIS'.*expected the read noise"),
])
def test_keyword_parameters_naming_text_keywords(uvis_full, options, pattern):
    with pytest.raises(InputError, match=rf"input file .*{uvis_full.name}.*{pattern}"):
        read_exposure(uvis_full, options)


def test_text_in_numeric_header_keywords_is_named(tmp_path):
    path = full_size_copy(ACS_FLT, tmp_path / "j94f05bgq_flt.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["EXPTIME"] = "long"
    with pytest.raises(InputError, match=r"j94f05bgq_flt.fits \(primary header\): keyword "
                                         r"EXPTIME has the value 'long'"):
        read_exposure(path, ReadOptions())
    assert read_exposure(path, ReadOptions(exptime=5.0)).exptime == 5.0
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["EXPTIME"] = 100.0
        hdul[0].header["ATODGNC"] = "n/a"
    with pytest.raises(InputError, match=r"SCI,1 \(primary header\): keyword ATODGNC has the "
                                         r"value 'n/a'.*'gain'/'rdnoise'"):
        read_exposure(path, ReadOptions())
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["ATODGNC"] = 2.0
        hdul[1].header["CCDCHIP"] = 2.5
    with pytest.raises(InputError, match=r"SCI,1 header: keyword CCDCHIP has the value 2.5"):
        read_exposure(path, ReadOptions(gain=1.0, rdnoise=3.0))


def _one_exposure(folder):
    from multidrizzle.demo.datasets import make_demo_dataset
    make_demo_dataset(folder, n_exposures=1, chip_shape=(64, 128), seed=3)
    return sorted(folder.glob("*_flc.fits"))[0]


def _astropy_arrays(path, extver):
    with fits.open(path) as hdul:
        return {name: np.array(hdul[name, extver].data) for name in ("SCI", "ERR", "DQ")}


def test_pixels_read_at_their_offsets_equal_astropys(tmp_path):
    path = _one_exposure(tmp_path)
    for chip in read_exposure(path, ReadOptions()).chips:
        assert set(chip.data_units) == {"SCI", "ERR", "DQ"}
        expected = _astropy_arrays(path, chip.extver)
        np.testing.assert_array_equal(chip.read_science(), expected["SCI"])
        np.testing.assert_array_equal(chip.read_error(), expected["ERR"])
        np.testing.assert_array_equal(chip.read_dq(), expected["DQ"])
        assert chip.read_science().dtype == np.float32 and chip.read_dq().dtype == np.uint32
        # a window reads those pixels only (a final strip's chip part)
        window = (slice(5, 23), slice(17, 101))
        np.testing.assert_array_equal(chip.read_science(window), expected["SCI"][window])
        np.testing.assert_array_equal(chip.read_error(window), expected["ERR"][window])
        np.testing.assert_array_equal(chip.read_dq(window), expected["DQ"][window])


def test_a_file_changed_after_reading_is_read_again_through_its_headers(tmp_path):
    """workinplace rewrites headers: a header that grows moves the pixels."""
    path = _one_exposure(tmp_path)
    chips = read_exposure(path, ReadOptions()).chips
    with fits.open(path, mode="update") as hdul:
        for number in range(60):   # more than a header block of new cards
            hdul[0].header[f"NEWKEY{number:02d}"] = number
        hdul["DQ", 2].data[3, 4] = 512
    for chip in chips:
        expected = _astropy_arrays(path, chip.extver)
        np.testing.assert_array_equal(chip.read_science(), expected["SCI"])
        np.testing.assert_array_equal(chip.read_dq(), expected["DQ"])


def test_a_file_truncated_after_reading_is_named_with_its_extension(tmp_path):
    path = _one_exposure(tmp_path)
    chip = read_exposure(path, ReadOptions()).chips[1]
    size = path.stat().st_size
    with open(path, "r+b") as stream:
        stream.truncate(size - 3 * 2880)
    chip = dataclasses.replace(chip, read_state=file_state(path))   # as if read so
    with pytest.raises(InputError, match=rf"{path.name}.*DQ,2.*truncated"):
        chip.read_dq()


def test_scaled_images_are_read_through_astropy(tmp_path):
    path = _one_exposure(tmp_path)
    with fits.open(path, mode="update") as hdul:
        science = hdul["SCI", 1]
        science.scale("int16", bscale=0.5, bzero=10.0)
    chip = read_exposure(path, ReadOptions()).chips[0]
    assert "SCI" not in chip.data_units
    np.testing.assert_array_equal(chip.read_science(), _astropy_arrays(path, 1)["SCI"])
    window = (slice(3, 9), slice(0, 50))
    np.testing.assert_array_equal(chip.read_science(window),
                                  _astropy_arrays(path, 1)["SCI"][window])
