"""User mistakes in input files and paths: each is a typed error naming what is wrong.

Association tables without the member columns or with text MEMPRSNT, IVM
files that are not images, reference images that are not FITS or have a
bad extension, header keywords that are not numbers, shift files that name
no input or ask for absolute shifts, and output folders or run logs that
cannot be written.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from multidrizzle.errors import (
    InputError, MultidrizzleError, ParameterError, UnsupportedError,
)
from multidrizzle.model.geometry import GridRequest, read_reference_wcs
from multidrizzle.model.instruments import header_number
from multidrizzle.io.inputs import check_runfile, prepare_output_folder, resolve_inputs
from multidrizzle.io.shiftfile import apply_shifts, output_frame, read_shiftfile


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


# -------------------------------------------------------- reference images


def _reference(path: Path, scale: float = 0.1, rotation: float = 30.0,
               shape: tuple[int, int] = (50, 60)) -> Path:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [30.0, 25.0]
    theta, degrees = math.radians(rotation), scale / 3600.0
    wcs.wcs.cd = [[-degrees * math.cos(theta), degrees * math.sin(theta)],
                  [degrees * math.sin(theta), degrees * math.cos(theta)]]
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(np.zeros(shape, np.float32), header=wcs.to_header(),
                                name="SCI", ver=1)]).writeto(path)
    return path


def test_reference_image_not_fits(tmp_path):
    bad = tmp_path / "ref.txt"
    bad.write_text("a text file")
    with pytest.raises(InputError, match=r"reference image '.*ref.txt' \(parameter "
                                         r"'refimage', 'final_refimage' or "
                                         r"'driz_sep_refimage'\).*cannot be read as FITS"):
        read_reference_wcs(str(bad))


@pytest.mark.parametrize("extension", ["foo,x", "sci,1,2", "1.5", ","])
def test_reference_image_bad_extension_is_a_parameter_error(tmp_path, extension):
    ref = _reference(tmp_path / "ref.fits")
    with pytest.raises(ParameterError, match=rf"ref.fits\[{extension}\]'.*extension "
                                             rf"\[{extension}\] is not understood; expected "
                                             r"\[number\], \[name\] or \[name,version\]"):
        read_reference_wcs(f"{ref}[{extension}]")


@pytest.mark.parametrize("extension", ["sci,1", "SCI", "1", "'sci',1"])
def test_reference_image_extension_forms(tmp_path, extension):
    ref = _reference(tmp_path / "ref.fits")
    wcs, shape = read_reference_wcs(f"{ref}[{extension}]")
    assert shape == (50, 60) and wcs.pixel_shape == (60, 50)


def test_reference_image_missing_extension_and_not_an_image(tmp_path):
    ref = _reference(tmp_path / "ref.fits")
    with pytest.raises(InputError, match=r"has no extension \[sci,2\]; it has \[0\] PRIMARY"):
        read_reference_wcs(f"{ref}[sci,2]")
    with pytest.raises(InputError, match=r"extension \[0\] is not a 2-D image"):
        read_reference_wcs(f"{ref}[0]")
    with pytest.raises(InputError, match=r"gone.fits does not exist"):
        read_reference_wcs(str(tmp_path / "gone.fits"), source="parameter 'final_refimage'")


def test_reference_wcs_extension_without_data(tmp_path):
    """TweakReg's tweak_wcs.fits[wcs]: a header-only HDU sized by NPIX1/NPIX2."""
    header = WCS(fits.getheader(_reference(tmp_path / "ref.fits"), 1)).to_header()
    header["NPIX1"], header["NPIX2"] = 60, 50
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(header=header, name="WCS")]).writeto(
        tmp_path / "tweak_wcs.fits")
    wcs, shape = read_reference_wcs(f"{tmp_path / 'tweak_wcs.fits'}[wcs]")
    assert shape == (50, 60)
    assert wcs.wcs.crval[0] == pytest.approx(150.0)


# ---------------------------------------------------------- header numbers


@pytest.mark.parametrize("value", ["F555W", True, float("nan"), float("inf"), 1j,
                                   fits.card.UNDEFINED])
def test_header_number_refuses_non_numbers(value):
    with pytest.raises(InputError, match=r"x.fits \(primary header\): keyword GAINX \(named "
                                         r"by parameter 'gainkeyword'\) has .*expected the "
                                         r"gain"):
        header_number(value, where="input file x.fits (primary header)", keyword="GAINX",
                      parameter="gainkeyword", expected="the gain in e-/DN")


@pytest.mark.parametrize("value", [2, 1.5, np.float32(2.5), np.int16(3)])
def test_header_number_accepts_numbers(value):
    assert header_number(value, where="w", keyword="K") == pytest.approx(float(value))


# ------------------------------------------------------------- shift files


class _FakeExposure:
    """What the shift file checks need of an exposure."""

    def __init__(self, filename: str, rootname: str) -> None:
        self.filename = Path(filename)
        self.rootname = rootname
        self.chips = []


def test_absolute_shift_form_is_unsupported_and_a_multidrizzle_error(tmp_path):
    shifts = tmp_path / "shifts.txt"
    shifts.write_text("# units: pixels\n# form: absolute\nj8cw03a1q_flt.fits 1 2\n")
    with pytest.raises(UnsupportedError, match=r"shifts.txt, line 2: 'form: absolute' is not "
                                               r"supported.*only 'form: delta'") as caught:
        read_shiftfile(shifts)
    assert isinstance(caught.value, MultidrizzleError)
    assert isinstance(caught.value, NotImplementedError)


def test_shift_line_naming_no_input_lists_names_and_inputs(tmp_path):
    shifts = tmp_path / "shifts.txt"
    shifts.write_text("j8cw03a1q_flt.fits 1 2\nj8cw03x2q_flt.fits 0.5 0.5\n")
    exposures = [_FakeExposure("j8cw03a1q_flt.fits", "j8cw03a1q"),
                 _FakeExposure("j8cw03a2q_flt.fits", "j8cw03a2q")]
    with pytest.raises(InputError, match=r"shifts.txt: no input matches 'j8cw03x2q_flt.fits' "
                                         r"\(line 2\).*j8cw03a1q_flt.fits \(rootname "
                                         r"j8cw03a1q\), j8cw03a2q_flt.fits"):
        apply_shifts(exposures, read_shiftfile(shifts), 0.04, 0.0)


def test_shift_names_with_folder_and_rootname_match(tmp_path):
    shifts = read_shiftfile(_write(tmp_path / "s.txt", "/data/raw/J8CW03A1Q_FLT.fits 1 2\n"
                                                      "j8cw03a2q 0 0\n"))
    one = _FakeExposure("j8cw03a1q_flt.fits", "j8cw03a1q")
    two = _FakeExposure("j8cw03a2q_flt.fits", "j8cw03a2q")
    assert shifts.entry_for(one).xshift == 1.0 and shifts.entry_for(two).xshift == 0.0


def test_exposure_named_twice_in_shift_file(tmp_path):
    with pytest.raises(InputError, match=r"s.txt, line 2: exposure 'x_flt.fits' already has "
                                         r"a shift on line 1"):
        read_shiftfile(_write(tmp_path / "s.txt", "x_flt.fits 1 2\nx_flt.fits 3 4\n"))
    shifts = read_shiftfile(_write(tmp_path / "t.txt", "x_flt.fits 1 2\nx 3 4\n"))
    with pytest.raises(InputError, match=r"x_flt.fits is named on lines 1 and 2"):
        apply_shifts([_FakeExposure("x_flt.fits", "x")], shifts, 0.04, 0.0)


def test_input_without_shift_line_is_logged(uvis_full, tmp_path, caplog):
    from multidrizzle.model import ReadOptions, read_exposure

    exposure = read_exposure(uvis_full, ReadOptions())
    other = _FakeExposure("ib4606c5q_flc.fits", "ib4606c5q")
    shifts = read_shiftfile(_write(tmp_path / "s.txt", f"{uvis_full.name} 1 2\n"))
    with caplog.at_level(logging.INFO, logger="multidrizzle"):
        notes = apply_shifts([exposure, other], shifts, 0.04, 0.0)
    assert len(notes) == 1 and uvis_full.name in notes[0]
    assert "has no line for ib4606c5q_flc.fits: it is not shifted" in caplog.text


def test_shift_file_refimage_with_bad_extension_is_an_input_error(uvis_full, tmp_path):
    from multidrizzle.model import ReadOptions, read_exposure

    _reference(tmp_path / "ref.fits")
    shifts = read_shiftfile(_write(tmp_path / "s.txt", f"# refimage: {tmp_path}/ref.fits[a,b]"
                                                      f"\n{uvis_full.name} 1 2\n"))
    with pytest.raises(InputError, match=r"shift file .*s.txt, line 1\): extension \[a,b\]"):
        apply_shifts([read_exposure(uvis_full, ReadOptions())], shifts, 0.04, 0.0)


def test_shift_file_problems_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"shift file .*nothere.txt \(parameter 'shiftfile'\): "
                                         r"does not exist"):
        read_shiftfile(tmp_path / "nothere.txt")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(InputError, match="binary.txt.*is not a text file"):
        read_shiftfile(tmp_path / "binary.txt")
    with pytest.raises(InputError, match=r"s.txt, line 1: shifts must be finite"):
        read_shiftfile(_write(tmp_path / "s.txt", "x_flt.fits nan 0\n"))


def test_output_frame_uses_the_reference_grid(tmp_path, uvis_full):
    from multidrizzle.model import ReadOptions, read_exposure

    chips = read_exposure(uvis_full, ReadOptions()).chips
    ref = _reference(tmp_path / "ref.fits", scale=0.1, rotation=30.0)
    scale, rotation = output_frame(chips, GridRequest(scale=0.05, rotation=0.0,
                                                      refimage=f"{ref}[sci,1]"))
    assert (scale, rotation) == (pytest.approx(0.1), pytest.approx(30.0))
    assert output_frame(chips, GridRequest(scale=0.05, rotation=10.0)) == (0.05, 10.0)
    scale, rotation = output_frame(chips, GridRequest())
    assert scale == pytest.approx(chips[0].header["IDCSCALE"])


def test_output_frame_shifts_move_by_reference_pixels(tmp_path, uvis_full):
    """'frame: output' shifts are pixels of the reference grid, whatever its scale and angle."""
    from multidrizzle.model.geometry import compute_pixel_map, make_output_grid
    from multidrizzle.model import ReadOptions, read_exposure

    still = read_exposure(uvis_full, ReadOptions())
    moved = read_exposure(uvis_full, ReadOptions())
    # a reference grid coarser and turned with respect to the native one
    ra, dec = still.chips[0].wcs.wcs.crval
    ref = tmp_path / "ref.fits"
    _reference(ref, scale=0.08, rotation=still.chips[0].header.get("ORIENTAT", 0.0) + 40.0,
               shape=(3000, 3000))
    with fits.open(ref, mode="update") as hdul:
        hdul[1].header["CRVAL1"], hdul[1].header["CRVAL2"] = ra, dec
        hdul[1].header["CRPIX1"] = hdul[1].header["CRPIX2"] = 1500.0
    request = GridRequest(scale=0.04, refimage=str(ref))
    shifts = read_shiftfile(_write(tmp_path / "s.txt", f"# frame: output\n{uvis_full.name} "
                                                      "10.0 -4.0\n"))
    apply_shifts([moved], shifts, *output_frame(moved.chips, request))
    grid = make_output_grid(still.chips, request)
    for before, after in zip(still.chips, moved.chips):
        difference = (compute_pixel_map(after, grid, 50).evaluate()[::211, ::211]
                      - compute_pixel_map(before, grid, 50).evaluate()[::211, ::211])
        np.testing.assert_allclose(difference, np.broadcast_to([10.0, -4.0], difference.shape),
                                   atol=0.02)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


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
