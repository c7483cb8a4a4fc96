"""MultiDrizzle shift files: small corrections to each input's WCS.

Format (text)::

    # units: pixels          (or arcseconds)
    # frame: output          (or input)
    # form: delta            (only delta is supported)
    # refimage: ref.fits[1]  (optional: the frame 'output' refers to)
    j8cw03a1q_flt.fits   0.00   0.00
    j8cw03a2q_flt.fits   2.31  -1.07   0.01   1.0

Each line names an exposure (file name or rootname), then its x and y shift
and optionally a rotation (degrees, counter-clockwise in the frame) and a
scale factor.  The shifts are added to what the headers give: the image
moves by (xshift, yshift) in the chosen frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.wcs import WCS

from multidrizzle.errors import InputError
from multidrizzle.model import Exposure

__all__ = ["ShiftEntry", "ShiftFile", "read_shiftfile", "apply_shifts"]

_ALLOWED = {"units": ("pixels", "arcseconds"), "frame": ("output", "input"),
            "form": ("delta", "absolute")}


@dataclass(frozen=True)
class ShiftEntry:
    """One exposure's correction."""

    xshift: float
    yshift: float
    rotation: float = 0.0
    scale: float = 1.0


@dataclass
class ShiftFile:
    """A parsed shift file."""

    path: Path
    units: str = "pixels"
    frame: str = "output"
    form: str = "delta"
    refimage: str = ""
    entries: dict[str, ShiftEntry] = field(default_factory=dict)

    def entry_for(self, exposure: Exposure) -> ShiftEntry | None:
        """The line naming this exposure, by file name or rootname."""
        for key in (exposure.filename.name, exposure.rootname):
            if key.lower() in self.entries:
                return self.entries[key.lower()]
        return None


def read_shiftfile(path: str | Path) -> ShiftFile:
    """Parse a shift file.

    Raises
    ------
    InputError
        Naming the file and line for anything not in the format above.
    NotImplementedError
        For ``form: absolute``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"shift file {path} (parameter 'shiftfile'): does not exist")
    shifts = ShiftFile(path=path)
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("#"):
                _read_header_line(shifts, text[1:], path, number)
                continue
            words = text.split()
            if not 3 <= len(words) <= 5:
                raise InputError(f"shift file {path}, line {number}: expected "
                                 "'filename xshift yshift [rotation [scale]]'")
            try:
                values = [float(w) for w in words[1:]]
            except ValueError as exc:
                raise InputError(f"shift file {path}, line {number}: shifts must be "
                                 f"numbers, got {words[1:]}") from exc
            if len(values) == 4 and not values[3] > 0:
                raise InputError(f"shift file {path}, line {number}: scale must be "
                                 f"positive, got {values[3]}")
            shifts.entries[words[0].lower()] = ShiftEntry(*values)
    if shifts.form == "absolute":
        raise NotImplementedError(f"shift file {path}: 'form: absolute' is not supported; "
                                  "give delta shifts relative to the header WCS")
    return shifts


def _read_header_line(shifts: ShiftFile, text: str, path: Path, number: int) -> None:
    if ":" not in text:
        return  # a plain comment
    key, value = (part.strip() for part in text.split(":", 1))
    key = key.lower()
    if key == "refimage":
        shifts.refimage = value
        return
    if key not in _ALLOWED:
        return
    value = value.lower()
    if value not in _ALLOWED[key]:
        raise InputError(f"shift file {path}, line {number}: {key} {value!r} is not "
                         f"allowed; expected one of {', '.join(_ALLOWED[key])}")
    setattr(shifts, key, value)


def apply_shifts(exposures: list[Exposure], shifts: ShiftFile, output_scale: float,
                 output_rotation: float) -> list[str]:
    """Move and turn each listed exposure's chip WCSs in place (in memory).

    The correction is a similarity transform about the first chip's
    reference point, done in a tangent frame with the output orientation and
    scale (or the shift file's reference image), so that all chips of an
    exposure move together.

    Returns
    -------
    list of str
        One line per exposure that was shifted, for the log.
    """
    frame_matrix = _frame_matrix(shifts, output_scale, output_rotation)
    applied = []
    for exposure in exposures:
        entry = shifts.entry_for(exposure)
        if entry is None:
            continue
        _shift_exposure(exposure, entry, shifts, frame_matrix)
        applied.append(f"{exposure.filename.name}: shift ({entry.xshift}, {entry.yshift}) "
                       f"{shifts.units} in the {shifts.frame} frame, rotation "
                       f"{entry.rotation} deg, scale {entry.scale}")
    return applied


def _frame_matrix(shifts: ShiftFile, scale: float, rotation: float) -> np.ndarray:
    if shifts.refimage:
        from multidrizzle.geometry import read_reference_wcs

        wcs, _ = read_reference_wcs(shifts.refimage)
        return np.array(wcs.pixel_scale_matrix)
    theta = math.radians(rotation)
    degrees = scale / 3600.0
    return degrees * np.array([[-math.cos(theta), math.sin(theta)],
                               [math.sin(theta), math.cos(theta)]])


def _shift_exposure(exposure: Exposure, entry: ShiftEntry, shifts: ShiftFile,
                    frame_matrix: np.ndarray) -> None:
    reference = exposure.chips[0].wcs
    pole = reference.wcs.crval.copy()
    to_frame = np.linalg.inv(frame_matrix)
    delta = np.array([entry.xshift, entry.yshift], dtype=float)
    if shifts.frame == "input":
        input_matrix = np.array(reference.pixel_scale_matrix)
        if shifts.units == "arcseconds":
            delta = delta / (math.sqrt(abs(np.linalg.det(input_matrix))) * 3600.0)
        delta = to_frame @ input_matrix @ delta
    elif shifts.units == "arcseconds":
        delta = delta / (math.sqrt(abs(np.linalg.det(frame_matrix))) * 3600.0)
    theta = math.radians(entry.rotation)
    similarity = entry.scale * np.array([[math.cos(theta), -math.sin(theta)],
                                         [math.sin(theta), math.cos(theta)]])
    tangent = _tangent_frame(pole, frame_matrix)
    for chip in exposure.chips:
        x, y = tangent.wcs_world2pix([chip.wcs.wcs.crval[0]], [chip.wcs.wcs.crval[1]], 0)
        moved = similarity @ np.array([x[0], y[0]]) + delta
        ra, dec = tangent.wcs_pix2world([moved[0]], [moved[1]], 0)
        in_frame = to_frame @ np.array(chip.wcs.pixel_scale_matrix)
        new_matrix = frame_matrix @ similarity @ in_frame
        _set_linear_wcs(chip.wcs, (float(ra[0]), float(dec[0])), new_matrix)


def _tangent_frame(pole: np.ndarray, matrix: np.ndarray) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(pole)
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.cd = matrix
    wcs.wcs.set()
    return wcs


def _set_linear_wcs(wcs: WCS, crval: tuple[float, float], matrix: np.ndarray) -> None:
    wcs.wcs.crval = list(crval)
    if wcs.wcs.has_cd():
        wcs.wcs.cd = matrix
    else:
        wcs.wcs.pc = matrix / np.asarray(wcs.wcs.cdelt)[:, None]
    wcs.wcs.set()
