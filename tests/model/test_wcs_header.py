"""The reduced WCS header gives astropy's WCS of the whole header, to the last bit.

Every SCI header of the real HST files in ``tests/data`` (SIP, NPOL and D2IM
lookup tables, alternate WCSs), and synthetic headers holding the keywords a
careless selection would drop (PVi_m, LONPOLE/LATPOLE, CUNIT, time keywords,
alternate keys, CROTA, TPV, CONTINUE and HIERARCH cards), are read both ways
and compared on everything the package uses: the FITS description, the
distortion tables and sky positions over the whole detector.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from multidrizzle.model.wcs_header import wcs_header_text

from support.hst_files import ACS_FLT, ACS_LOOKUP, IR_FLT, UVIS_FLC, UVIS_FLC_SHORT

#: Pixel positions (0-based) spanning a 4096 x 4096 detector, corners included.
_COLUMNS, _ROWS = np.meshgrid(np.linspace(-0.5, 4095.5, 41), np.linspace(-0.5, 4095.5, 37))


def _alternate_keys(header: fits.Header) -> list[str]:
    """The WCS keys the header describes (' ' and every letter with a CTYPE1)."""
    return [" "] + [key for key in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if f"CTYPE1{key}" in header]


def _wcs_both_ways(header: fits.Header, hdul: fits.HDUList | None,
                   key: str) -> tuple[WCS, WCS]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = WCS(header.copy(), fobj=hdul, key=key)
        reduced = WCS(wcs_header_text(header.tostring()), fobj=hdul, key=key)
    return whole, reduced


def _lookup_tables(wcs: WCS) -> list:
    return [None if table is None else [np.asarray(values).tolist() for values in (
        table.data, table.crpix, table.crval, table.cdelt)]
            for table in (wcs.cpdis1, wcs.cpdis2, wcs.det2im1, wcs.det2im2)]


def _sip_arrays(wcs: WCS) -> list:
    if wcs.sip is None:
        return []
    return [None if array is None else array.tolist()
            for array in (wcs.sip.a, wcs.sip.b, wcs.sip.ap, wcs.sip.bp)] + [wcs.sip.crpix.tolist()]


def _described(wcs: WCS) -> str:
    """Every field of the wcsprm (time and frame included), memory addresses left out."""
    return re.sub(r"0x[0-9a-f]{5,}", "<address>", str(wcs.wcs))


def assert_same_wcs(whole: WCS, reduced: WCS) -> None:
    assert reduced.naxis == whole.naxis
    assert reduced.pixel_shape == whole.pixel_shape
    assert reduced.to_header_string(relax=True) == whole.to_header_string(relax=True)
    assert _described(reduced) == _described(whole)
    assert _sip_arrays(reduced) == _sip_arrays(whole)
    assert _lookup_tables(reduced) == _lookup_tables(whole)
    for exact, given in zip(whole.all_pix2world(_COLUMNS, _ROWS, 0),
                            reduced.all_pix2world(_COLUMNS, _ROWS, 0)):
        np.testing.assert_array_equal(given, exact)
    for exact, given in zip(whole.wcs_pix2world(_COLUMNS, _ROWS, 0),
                            reduced.wcs_pix2world(_COLUMNS, _ROWS, 0)):
        np.testing.assert_array_equal(given, exact)


_REAL_HEADERS = [(path, index) for path, indices in [
    (UVIS_FLC, (1, 4)), (UVIS_FLC_SHORT, (1, 4)), (IR_FLT, (1,)), (ACS_FLT, (1, 4)),
    (ACS_LOOKUP, (1,))] for index in indices]


@pytest.mark.parametrize("path, index", _REAL_HEADERS,
                         ids=[f"{path.name}[{index}]" for path, index in _REAL_HEADERS])
def test_real_hst_headers_give_the_same_wcs_for_every_key(path, index):
    with fits.open(path) as hdul:
        header = hdul[index].header
        keys = _alternate_keys(header)
        for key in keys:
            whole, reduced = _wcs_both_ways(header, hdul, key)
            assert_same_wcs(whole, reduced)
        if path in (UVIS_FLC, ACS_LOOKUP):  # the lookup tables are really read
            assert whole.cpdis1 is not None and whole.det2im1 is not None
    assert len(keys) > 1 or path == ACS_LOOKUP  # the archive's headers carry key O


def test_hst_header_keeps_its_wcs_cards_and_drops_the_others():
    header = fits.getheader(UVIS_FLC, 1)
    kept = fits.Header.fromstring(wcs_header_text(header.tostring()))
    for keyword in ("NAXIS1", "CRVAL1", "CRVAL1O", "CD1_1", "CTYPE2O", "A_ORDER", "B_3_1",
                    "CPDIS1", "DP1", "D2IMDIS2", "D2IMERR1", "WCSNAMEO", "WCSAXES",
                    "MJD-OBS" if "MJD-OBS" in header else "CRPIX1"):
        assert keyword in kept, keyword
    for keyword in ("PHOTFLAM", "BUNIT", "CCDCHIP", "EXTNAME", "IDCSCALE", "ORIENTAT"):
        assert keyword in header and keyword not in kept, keyword
    assert len(kept) < 0.6 * len(header)  # though it describes four WCSs (keys ' ', A, B, C)


def _synthetic_header(**extra) -> fits.Header:
    """A 2-D celestial header with SIP and the keywords given (name=value)."""
    header = fits.Header()
    for keyword, value in [
            ("NAXIS", 2), ("NAXIS1", 512), ("NAXIS2", 256), ("BUNIT", "ELECTRONS"),
            ("CRPIX1", 256.0), ("CRPIX2", 128.5), ("CRVAL1", 150.1), ("CRVAL2", 2.2),
            ("CTYPE1", "RA---TAN-SIP"), ("CTYPE2", "DEC--TAN-SIP"),
            ("CD1_1", 7.4e-6), ("CD1_2", 8.2e-6), ("CD2_1", 8.2e-6), ("CD2_2", -7.5e-6),
            ("A_ORDER", 2), ("A_2_0", 2.3e-5), ("A_1_1", -2.4e-5), ("B_ORDER", 2),
            ("B_0_2", -2.4e-5), ("B_1_1", 2.3e-5), ("PHOTFLAM", 1.1e-19),
            ("GOODMEAN", 34.7)]:
        header[keyword] = value
    header.add_history("calibrated")
    for keyword, value in extra.items():
        header[keyword.replace("__", "-")] = value
    return header


_SYNTHETIC = {
    "projection parameters": dict(CTYPE1="RA---ZPN", CTYPE2="DEC--ZPN", PV2_1=1.0,
                                  PV2_3=220.0, A_ORDER=0, B_ORDER=0),
    "native poles": dict(LONPOLE=170.0, LATPOLE=10.0),
    "axis units": dict(CUNIT1="arcsec", CUNIT2="arcsec", CD1_1=0.0266, CD2_2=-0.027),
    "time and frame": dict(MJD__OBS=55000.5, DATE__OBS="2009-06-18T12:00:00",
                           EQUINOX=1950.0, RADESYS="FK4", MJDREF=0.0, TIMESYS="UTC",
                           OBSGEO__X=1.0e6, OBSGEO__Y=2.0e6, OBSGEO__Z=3.0e6),
    "old-style rotation": dict(CROTA2=12.0, CDELT1=-1e-5, CDELT2=1e-5, CD1_1=None),
    "scamp tpv": dict(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", PV1_0=0.0, PV1_1=1.0,
                      PV1_5=1e-4, PV2_0=0.0, PV2_1=1.0, PV2_5=-1e-4),
    "inverse sip": dict(AP_ORDER=2, AP_2_0=-2.3e-5, BP_ORDER=2, BP_0_2=2.4e-5, A_DMAX=1.5),
    "axis count": dict(WCSAXES=2),
    "spectral frame": dict(SPECSYS="TOPOCENT", VELOSYS=12.0, RESTFRQ=1.4e9),
}


@pytest.mark.parametrize("extra", list(_SYNTHETIC.values()), ids=list(_SYNTHETIC))
def test_synthetic_headers_give_the_same_wcs(extra):
    header = _synthetic_header(**{k: v for k, v in extra.items() if v is not None})
    if None in extra.values():  # CDELT and CROTA instead of the CD matrix
        for name in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
            del header[name]
    assert_same_wcs(*_wcs_both_ways(header, None, " "))


def test_alternate_key_long_names_and_hierarch_cards_give_the_same_wcs():
    header = _synthetic_header(CRVAL1A=150.2, CRVAL2A=2.3, CRPIX1A=255.0, CRPIX2A=128.0,
                               CTYPE1A="RA---TAN", CTYPE2A="DEC--TAN", CD1_1A=7.5e-6,
                               CD2_2A=-7.5e-6, CUNIT1A="deg", CUNIT2A="deg",
                               RADESYSA="ICRS")
    header["WCSNAMEA"] = "a WCS name long enough to need CONTINUE cards " * 3
    header["HIERARCH ESO DET CHIP NAME"] = "not a WCS keyword"
    text = wcs_header_text(header.tostring())
    assert "CONTINUE" in text and "HIERARCH" in text
    for key in (" ", "A"):
        assert_same_wcs(*_wcs_both_ways(header, None, key))


@pytest.mark.parametrize("change", [
    dict(B_ORDER=None),                      # SIP of one axis only
    dict(CTYPE1="RA---XYZ-SIP"),              # unknown projection
    dict(A_ORDER="four"),                     # text where a number belongs
    dict(WCSAXES=3),                          # SIP on more than two axes
], ids=["A_ORDER without B_ORDER", "unknown projection", "text order", "three axes"])
def test_bad_headers_raise_the_same_error(change):
    header = _synthetic_header()
    for keyword, value in change.items():
        if value is None:
            del header[keyword]
        else:
            header[keyword] = value
    errors = []
    for given in (header.copy(), wcs_header_text(header.tostring())):
        with pytest.raises(Exception) as caught, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            WCS(given, key=" ")
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]


def test_missing_alternate_key_raises_the_same_error():
    with fits.open(UVIS_FLC) as hdul:
        errors = []
        for given in (hdul[1].header.copy(), wcs_header_text(hdul[1].header.tostring())):
            with pytest.raises(KeyError) as caught:
                WCS(given, fobj=hdul, key="Z")
            errors.append(str(caught.value))
    assert errors[0] == errors[1]
