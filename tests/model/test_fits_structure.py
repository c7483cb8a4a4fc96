"""The exposure reader on damaged files: only the package's own errors, never astropy's.

Unit checks of :mod:`multidrizzle.model.fits_structure` and a ``hypothesis``
fuzz test: a small demo exposure cut at any byte, or with a header card of
any HDU overwritten (in the raw bytes, so values astropy would refuse to
write get through), is either read whole (pixels included) or refused with a
:class:`~multidrizzle.errors.MultidrizzleError`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings, strategies as st

from multidrizzle.errors import InputError, MultidrizzleError
from multidrizzle.model import ReadOptions, read_exposure
from multidrizzle.model.fits_structure import check_exposure_structure

from support import bad_inputs

#: Keywords a damaged or hand-edited header gets wrong, structural ones first.
MUTATED_KEYWORDS = ("NAXIS", "NAXIS1", "NAXIS2", "BITPIX", "PCOUNT", "GCOUNT", "NEXTEND",
                    "EXTVER", "EXTNAME", "XTENSION", "BUNIT", "EXPTIME", "CCDCHIP",
                    "CRVAL1", "CRPIX2", "CD1_1", "CD2_2", "CTYPE1", "A_ORDER", "IDCSCALE")

#: Values of every kind, as FITS card value text.
CARD_VALUES = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: f"{v!r}"[:20]),
    st.sampled_from(["T", "F", "''", "'SCI'", "'DQ'", "'IMAGE'", "'RA---TAN'", "' '",
                     "0", "-1", "1e300", "-32", "8", "9999", "", "(1, 2)", "'abc"]),
    st.text(alphabet="ABCXYZ019 -+.'", max_size=12),
)


#: Fast and reproducible: a fixed seed, no example database written into the
#: checkout, no shrinking phase beyond what a failure report needs.
FUZZ_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def exposure(small_demo_set) -> Path:
    return small_demo_set / (small_demo_set / "inputs.lst").read_text().split()[0]


def _read_everything(path: Path) -> None:
    exposure = read_exposure(path, ReadOptions())
    for chip in exposure.chips:
        chip.read_science()
        chip.read_error()
        chip.read_dq()


def _overwrite_card(data: bytearray, hdu_start: int, keyword: str, value: str) -> bool:
    """Replace the card of ``keyword`` in the header that starts at ``hdu_start``."""
    position = hdu_start
    while position + 80 <= len(data):
        card = bytes(data[position:position + 80])
        if card[:8].rstrip() == keyword.encode():
            text = f"{keyword:<8}= {value:>20}"[:80].ljust(80)
            data[position:position + 80] = text.encode("ascii", "replace")
            return True
        if card[:8].rstrip() == b"END":
            return False
        position += 80
    return False


def test_a_whole_exposure_passes(exposure):
    units = check_exposure_structure(exposure)
    assert [(unit.name, unit.ver) for unit in units[1:]] == [
        ("SCI", 1), ("ERR", 1), ("DQ", 1), ("SCI", 2), ("ERR", 2), ("DQ", 2)]


def test_only_the_padding_of_the_last_unit_missing_is_accepted(exposure, tmp_path):
    copy = Path(shutil.copy(exposure, tmp_path / exposure.name))
    start, end = bad_inputs.data_location(copy, "DQ", 2)
    bad_inputs.truncate(copy, end)
    _read_everything(copy)
    bad_inputs.truncate(copy, end - 1)
    with pytest.raises(InputError, match=r"DQ,2: its data unit needs bytes .* ends at byte"):
        check_exposure_structure(copy)


def test_a_repeated_extension_is_named(exposure, tmp_path):
    copy = tmp_path / exposure.name
    with fits.open(exposure) as hdul:
        fits.HDUList([hdu.copy() for hdu in hdul] + [hdul["DQ", 1].copy()]).writeto(copy)
    with pytest.raises(InputError, match="DQ,1 appears twice"):
        check_exposure_structure(copy)


def test_a_gap_in_the_extver_sequence_is_named(exposure, tmp_path):
    copy = Path(shutil.copy(exposure, tmp_path / exposure.name))
    for name in ("SCI", "ERR", "DQ"):
        bad_inputs.set_keywords(copy, [(name, 2)], EXTVER=3)
    bad_inputs.set_keywords(copy, [0], NEXTEND=6)
    with pytest.raises(InputError, match=r"EXTVER 1, 3 but not SCI,2"):
        check_exposure_structure(copy)


@settings(max_examples=40, **FUZZ_SETTINGS)
@given(cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_fuzz_truncated_files_raise_only_our_errors(exposure, tmp_path, cut):
    data = exposure.read_bytes()
    damaged = tmp_path / exposure.name
    size = int(cut * len(data))
    damaged.write_bytes(data[:size])
    if size >= bad_inputs.data_location(exposure, "DQ", 2)[1]:
        _read_everything(damaged)  # only padding is missing: the pixels are whole
        return
    with pytest.raises(MultidrizzleError):
        _read_everything(damaged)


@settings(max_examples=120, **FUZZ_SETTINGS)
@given(hdu=st.integers(min_value=0, max_value=6), keyword=st.sampled_from(MUTATED_KEYWORDS),
       value=CARD_VALUES)
def test_fuzz_mutated_headers_raise_only_our_errors(exposure, tmp_path, hdu, keyword, value):
    with fits.open(exposure) as hdul:
        start = hdul.fileinfo(hdu)["hdrLoc"]
    data = bytearray(exposure.read_bytes())
    if not _overwrite_card(data, start, keyword, value):
        return
    damaged = tmp_path / exposure.name
    damaged.write_bytes(bytes(data))
    try:
        _read_everything(damaged)
    except MultidrizzleError:
        pass
    else:  # read: what was read must be the file's own pixels
        with fits.open(exposure) as original:
            assert np.isfinite(original["SCI", 1].data).all()
