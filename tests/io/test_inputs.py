"""Every form of the ``input`` parameter, and every input error."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError
from multidrizzle.io.inputs import parse_group, resolve_inputs


def _exposure(path: Path) -> Path:
    hdul = fits.HDUList([fits.PrimaryHDU(),
                         fits.ImageHDU(np.zeros((4, 5), np.float32), name="SCI", ver=1)])
    hdul.writeto(path)
    return path


@pytest.fixture
def three(tmp_path) -> list[Path]:
    return [_exposure(tmp_path / f"j8cw03a{i}q_flt.fits") for i in (1, 2, 3)]


def test_single_file_uses_its_rootname(three):
    result = resolve_inputs(str(three[0]))
    assert result.files == [three[0]]
    assert result.default_output == "j8cw03a1q"


def test_wildcard_sorted(three, tmp_path):
    result = resolve_inputs(str(tmp_path / "*_flt.fits"))
    assert result.files == sorted(three)
    assert result.default_output == "final"


def test_comma_separated_and_python_list(three):
    text = ",".join(str(p) for p in three[::-1])
    assert resolve_inputs(text).files == three[::-1]
    assert resolve_inputs(three).files == three
    assert resolve_inputs([str(p) for p in three[:2]]).files == three[:2]


def test_at_file_with_ivm_column(three, tmp_path):
    ivm = _exposure(tmp_path / "ivm1.fits")
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{three[0].name} {ivm.name}\n# a comment\n\n{three[1]}\n")
    result = resolve_inputs(f"@{listing}")
    assert result.files == [three[0], three[1]]
    assert result.ivm_files == [ivm, None]


def test_association_table(three, tmp_path):
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="MEMNAME", format="14A",
                    array=["J8CW03A1Q", "J8CW03A2Q", "J8CW03A3Q", "J8CW03011"]),
        fits.Column(name="MEMTYPE", format="14A",
                    array=["EXP-DTH", "EXP-DTH", "EXP-DTH", "PROD-DTH"]),
        fits.Column(name="MEMPRSNT", format="L", array=[True, False, True, True]),
    ])
    asn = tmp_path / "j8cw03011_asn.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(asn)
    result = resolve_inputs(str(asn))
    assert result.files == [three[0], three[2]]
    assert result.default_output == "j8cw03011"
    assert result.source == "association"


def test_association_member_missing_names_it(tmp_path):
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="MEMNAME", format="14A", array=["J8CW03A9Q"]),
        fits.Column(name="MEMTYPE", format="14A", array=["EXP-DTH"]),
        fits.Column(name="MEMPRSNT", format="L", array=[True]),
    ])
    asn = tmp_path / "x_asn.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(asn)
    with pytest.raises(InputError, match="J8CW03A9Q"):
        resolve_inputs(str(asn))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="nothere_flt.fits"):
        resolve_inputs(str(tmp_path / "nothere_flt.fits"))


def test_missing_file_in_list_is_named(three, tmp_path):
    with pytest.raises(InputError, match="gone_flt.fits"):
        resolve_inputs([three[0], tmp_path / "gone_flt.fits"])


def test_wildcard_matching_nothing(tmp_path):
    with pytest.raises(InputError, match="matches no files"):
        resolve_inputs(str(tmp_path / "*_flc.fits"))


def test_not_fits_is_named(tmp_path):
    bad = tmp_path / "notes_flt.fits"
    bad.write_text("this is not FITS")
    with pytest.raises(InputError, match="notes_flt.fits"):
        resolve_inputs(str(bad))


def test_fits_without_image_is_named(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column(name="A", format="E", array=[1.0])])
    path = tmp_path / "table_flt.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(InputError, match="table_flt.fits.*no SCI"):
        resolve_inputs(str(path))


def test_unreadable_file_is_named(three, monkeypatch):
    # chmod 0 does not stop root, so refuse the open the check makes instead
    from multidrizzle.io import inputs

    def refuse(file, *args, **kwargs):
        if Path(file) == three[0]:
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(inputs, "open", refuse, raising=False)
    with pytest.raises(InputError, match=r"j8cw03a1q_flt.fits: is not readable \(permission"):
        resolve_inputs(str(three[0]))
    with pytest.raises(InputError, match="j8cw03a1q_flt.fits: is not readable"):
        resolve_inputs([str(p) for p in three])
    assert resolve_inputs(str(three[1])).files == [three[1]]  # others still open


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_named_without_root(three):
    three[0].chmod(0)
    try:
        with pytest.raises(InputError, match="not readable"):
            resolve_inputs(str(three[0]))
    finally:
        three[0].chmod(0o644)


def test_empty_input_and_duplicates(three):
    with pytest.raises(InputError, match="'input'"):
        resolve_inputs("")
    with pytest.raises(InputError, match="more than once"):
        resolve_inputs([three[0], three[0]])


def test_at_file_bad_line(three, tmp_path):
    listing = tmp_path / "bad.lst"
    listing.write_text(f"{three[0]} a b\n")
    with pytest.raises(InputError, match="line 1"):
        resolve_inputs(f"@{listing}")


@pytest.mark.parametrize("group, expected", [
    (None, None), (1, [1]), ("2", [2]), ("1,2", [1, 2]), ("sci,2", [2]), ("SCI, 1", [1]),
])
def test_parse_group(group, expected):
    assert parse_group(group) == expected


def test_parse_group_rejects_nonsense():
    with pytest.raises(InputError, match="'group'"):
        parse_group("chip one")
