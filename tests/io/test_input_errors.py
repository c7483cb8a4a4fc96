"""User mistakes in input files and paths: each is a typed error naming what is wrong.

Association tables without the member columns or with text MEMPRSNT, IVM
files that are not images, and output folders or run logs that cannot be
written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError
from multidrizzle.io.inputs import check_runfile, prepare_output_folder, resolve_inputs


def _exposure(path: Path) -> Path:
    hdul = fits.HDUList([fits.PrimaryHDU(),
                         fits.ImageHDU(np.zeros((4, 5), np.float32), name="SCI", ver=1)])
    hdul.writeto(path)
    return path


@pytest.fixture
def three(tmp_path) -> list[Path]:
    return [_exposure(tmp_path / f"j8cw03a{i}q_flt.fits") for i in (1, 2, 3)]


def _association(path: Path, **columns) -> Path:
    formats = {"MEMNAME": "14A", "MEMTYPE": "14A"}
    table = fits.BinTableHDU.from_columns([
        fits.Column(name=name, format=formats.get(name, fmt), array=values)
        for name, (fmt, values) in ((n, v if isinstance(v, tuple) else ("14A", v))
                                    for n, v in columns.items())])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return path


_NAMES = ["J8CW03A1Q", "J8CW03A2Q", "J8CW03A3Q", "J8CW03011"]
_TYPES = ["EXP-DTH", "EXP-DTH", "EXP-DTH", "PROD-DTH"]


# ------------------------------------------------------------ associations


@pytest.mark.parametrize("columns, missing", [
    ({"MEMNAME": _NAMES}, "MEMTYPE"),
    ({"MEMTYPE": _TYPES}, "MEMNAME"),
])
def test_association_without_member_column_names_file_and_column(three, tmp_path,
                                                                columns, missing):
    asn = _association(tmp_path / "j8cw03011_asn.fits", **columns)
    with pytest.raises(InputError, match=rf"j8cw03011_asn.fits.*has no {missing} column"):
        resolve_inputs(str(asn))


def test_association_table_without_any_member_column(three, tmp_path):
    asn = _association(tmp_path / "odd_asn.fits", OTHER=["x"])
    with pytest.raises(InputError, match="odd_asn.fits.*MEMNAME or MEMTYPE"):
        resolve_inputs(str(asn))


@pytest.mark.parametrize("fmt, present", [
    ("1A", ["T", "F", "T", "T"]),
    ("3A", ["YES", "NO", "yes", "YES"]),
    ("5A", ["true", "false", "T ", "T"]),
    ("I", [1, 0, 1, 1]),
    ("L", [True, False, True, True]),
])
def test_memprsnt_text_integer_and_logical(three, tmp_path, fmt, present):
    asn = _association(tmp_path / "j8cw03011_asn.fits", MEMNAME=_NAMES, MEMTYPE=_TYPES,
                       MEMPRSNT=(fmt, present))
    result = resolve_inputs(str(asn))
    assert result.files == [three[0], three[2]]  # the 'F' / 'NO' / 0 member is left out
    assert result.default_output == "j8cw03011"


def test_memprsnt_without_column_means_present(three, tmp_path):
    asn = _association(tmp_path / "j8cw03011_asn.fits", MEMNAME=_NAMES, MEMTYPE=_TYPES)
    assert resolve_inputs(str(asn)).files == three


@pytest.mark.parametrize("fmt, present, shown", [
    ("5A", ["T", "maybe", "T", "T"], "'maybe'"),
    ("I", [1, 2, 1, 1], "2"),
])
def test_memprsnt_not_understood_names_file_row_and_value(three, tmp_path, fmt, present,
                                                          shown):
    asn = _association(tmp_path / "j8cw03011_asn.fits", MEMNAME=_NAMES, MEMTYPE=_TYPES,
                       MEMPRSNT=(fmt, present))
    with pytest.raises(InputError, match=rf"j8cw03011_asn.fits, row 2: MEMPRSNT value "
                                         rf"(np\.\w+\()?{shown}"):
        resolve_inputs(str(asn))


# --------------------------------------------------------------- @file IVM


def test_ivm_not_fits_names_at_file_line_and_ivm(three, tmp_path):
    (tmp_path / "notes_ivm.fits").write_text("not FITS")
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"# exposures\n{three[0].name}\n{three[1].name} notes_ivm.fits\n")
    with pytest.raises(InputError, match=r"inputs.lst, line 3: IVM file .*notes_ivm.fits: "
                                         r"cannot be read as FITS"):
        resolve_inputs(f"@{listing}")


def test_ivm_without_image_is_refused(three, tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column(name="A", format="E", array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "table_ivm.fits")
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{three[0].name} table_ivm.fits\n")
    with pytest.raises(InputError, match=r"line 1: IVM file .*table_ivm.fits: has no 2-D "
                                         r"image"):
        resolve_inputs(f"@{listing}")


def test_missing_ivm_is_reported_as_ivm_file(three, tmp_path):
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{three[0].name}\n{three[1].name} gone_ivm.fits\n")
    with pytest.raises(InputError, match=r"inputs.lst, line 2: IVM file .*gone_ivm.fits: "
                                         r"does not exist") as caught:
        resolve_inputs(f"@{listing}")
    assert "input file" not in str(caught.value)


def test_missing_exposure_in_at_file_names_line(three, tmp_path):
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{three[0].name}\nj8cw03a9q_flt.fits\n")
    with pytest.raises(InputError, match=r"inputs.lst, line 2: input file "
                                         r".*j8cw03a9q_flt.fits: does not exist"):
        resolve_inputs(f"@{listing}")


def test_good_ivm_images_accepted(three, tmp_path):
    fits.PrimaryHDU(np.ones((4, 5), np.float32)).writeto(tmp_path / "primary_ivm.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 5), np.float32), name="IVM",
                                                   ver=1)]).writeto(tmp_path / "ext_ivm.fits")
    listing = tmp_path / "inputs.lst"
    listing.write_text(f"{three[0].name} primary_ivm.fits\n{three[1].name} ext_ivm.fits\n")
    result = resolve_inputs(f"@{listing}")
    assert result.ivm_files == [tmp_path / "primary_ivm.fits", tmp_path / "ext_ivm.fits"]


# ------------------------------------------------------ output and run log


def test_output_folder_created_and_checked(tmp_path):
    folder = prepare_output_folder(tmp_path / "a" / "b", value=str(tmp_path / "a" / "b" / "x"))
    assert folder.is_dir()
    blocker = tmp_path / "plain"
    blocker.write_text("a file")
    with pytest.raises(InputError, match=r"parameter 'output' = '.*plain/sub/x': output "
                                         r"folder .*plain/sub cannot be created: .*plain is "
                                         r"a file"):
        prepare_output_folder(blocker / "sub", value=str(blocker / "sub" / "x"))
    with pytest.raises(InputError, match=r"parameter 'output': output folder .*plain is a "
                                         r"file, not a folder"):
        prepare_output_folder(blocker)


def test_output_folder_not_writable(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(InputError, match=r"parameter 'output'.* is not writable \(Permission "
                                         r"denied\)"):
        prepare_output_folder(tmp_path)


def test_runfile_checked(tmp_path):
    with pytest.raises(InputError, match=r"parameter 'runfile' = '.*nodir/run.log': folder "
                                         r".*nodir does not exist"):
        check_runfile(tmp_path / "nodir" / "run.log")
    with pytest.raises(InputError, match=r"parameter 'runfile' = .* is a folder"):
        check_runfile(tmp_path)
    assert check_runfile(tmp_path / "run.log") == tmp_path / "run.log"
    assert (tmp_path / "run.log").exists()
