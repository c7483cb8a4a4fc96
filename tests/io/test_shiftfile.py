"""Shift files: each mistake is a typed error naming the file and line; the shifts
move exposures, in the output frame by pixels of the reference grid."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError, MultidrizzleError, UnsupportedError
from multidrizzle.model.geometry import GridRequest
from multidrizzle.io.shiftfile import apply_shifts, output_frame, read_shiftfile

from support.geometry import write_reference_image


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

    write_reference_image(tmp_path / "ref.fits")
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
    ref = write_reference_image(tmp_path / "ref.fits", scale=0.1, rotation=30.0)
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
    write_reference_image(ref, scale=0.08,
                          rotation=still.chips[0].header.get("ORIENTAT", 0.0) + 40.0,
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
