"""MultiDrizzle shift files: small corrections to each input's WCS.

Format (text)::

    # units: pixels          (or arcseconds)
    # frame: output          (or input)
    # form: delta            (only delta is supported)
    # refimage: ref.fits[1]  (optional: the frame 'output' refers to)
    j8cw03a1q_flt.fits   0.00   0.00
    j8cw03a2q_flt.fits   2.31  -1.07   0.01   1.0

Each line names an exposure (file name, with or without a folder, or
rootname), then its x and y shift and optionally a rotation (degrees,
counter-clockwise in the frame) and a scale factor.  The shifts are added to
what the headers give: the image moves by (xshift, yshift) in the chosen
frame.  An input without a line is not shifted (as in MultiDrizzle); a line
naming no input is an error, so that a typo cannot silently mean "no shift".

The 'output' frame is the shift file's ``refimage`` when it names one, else
the final output grid: the reference image of ``final_refimage`` /
``refimage`` when set, else ``final_scale`` / ``final_rot`` or the first
chip's native scale and orientation (see :func:`output_frame`).

``form: absolute`` (PyDrizzle's total offsets relative to the reference
frame) is not supported: its zero point was never specified beyond
PyDrizzle's own code, and TweakReg and tweakshifts write delta shifts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from astropy.wcs import WCS

from multidrizzle.errors import InputError, ParameterError, UnsupportedError
from multidrizzle.model.geometry import (
    GridRequest, native_orientation, native_scale, read_reference_wcs, reference_grid,
)
from multidrizzle.model import Chip, Exposure

__all__ = ["ShiftEntry", "ShiftFile", "read_shiftfile", "apply_shifts", "output_frame"]

log = logging.getLogger(__name__)

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
    """A parsed shift file.

    Attributes
    ----------
    path : Path
        The file read.
    units, frame, form : str
        From the ``# units:``, ``# frame:`` and ``# form:`` header lines.
    refimage : str
        From ``# refimage:`` (or PyDrizzle's older ``# reference:``); '' if
        absent.
    refimage_line : int
        The line of ``refimage`` (0 if absent), for messages.
    entries : dict
        Shift of each exposure, keyed by the lower-case name given on its
        line without any folder.
    line_numbers : dict
        Line of each entry (same keys), for messages.
    names : dict
        Each entry's name as written in the file (same keys).
    """

    path: Path
    units: str = "pixels"
    frame: str = "output"
    form: str = "delta"
    refimage: str = ""
    refimage_line: int = 0
    entries: dict[str, ShiftEntry] = field(default_factory=dict)
    line_numbers: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def entry_for(self, exposure: Exposure) -> ShiftEntry | None:
        """The line naming this exposure, by file name or rootname."""
        key = self._key_for(exposure)
        return None if key is None else self.entries[key]

    def _key_for(self, exposure: Exposure) -> str | None:
        for key in (exposure.filename.name.lower(), exposure.rootname.lower()):
            if key in self.entries:
                return key
        return None


def read_shiftfile(path: str | Path) -> ShiftFile:
    """Parse a shift file (parameter ``shiftfile``).

    Parameters
    ----------
    path : str or Path
        The text file described in the module docstring.

    Returns
    -------
    ShiftFile

    Raises
    ------
    InputError
        Naming the file and line for anything not in the format above, or
        for an exposure named on two lines.
    UnsupportedError
        For ``# form: absolute`` (naming the file and line).
    """
    path = Path(path)
    where = f"shift file {path} (parameter 'shiftfile')"
    if not path.exists():
        raise InputError(f"{where}: does not exist")
    if not path.is_file():
        raise InputError(f"{where}: is not a regular file; expected a text file of shifts")
    shifts = ShiftFile(path=path)
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.readlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: is not a text file ({exc.reason} at byte "
                         f"{exc.start}); expected lines 'filename xshift yshift "
                         "[rotation [scale]]'") from exc
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            _read_header_line(shifts, text[1:], path, number)
            continue
        words = text.split()
        if not 3 <= len(words) <= 5:
            raise InputError(f"shift file {path}, line {number}: expected "
                             "'filename xshift yshift [rotation [scale]]', got "
                             f"{text!r}")
        try:
            values = [float(w) for w in words[1:]]
        except ValueError as exc:
            raise InputError(f"shift file {path}, line {number}: shifts must be "
                             f"numbers, got {words[1:]}") from exc
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"shift file {path}, line {number}: shifts must be "
                             f"finite numbers, got {words[1:]}")
        if len(values) == 4 and not values[3] > 0:
            raise InputError(f"shift file {path}, line {number}: scale must be "
                             f"positive, got {values[3]}")
        key = Path(words[0]).name.lower()
        if key in shifts.entries:
            raise InputError(f"shift file {path}, line {number}: exposure {words[0]!r} "
                             f"already has a shift on line {shifts.line_numbers[key]}; "
                             "give one line per exposure")
        shifts.entries[key] = ShiftEntry(*values)
        shifts.line_numbers[key] = number
        shifts.names[key] = words[0]
    return shifts


def _read_header_line(shifts: ShiftFile, text: str, path: Path, number: int) -> None:
    if ":" not in text:
        return  # a plain comment
    key, value = (part.strip() for part in text.split(":", 1))
    key = key.lower()
    if key in ("refimage", "reference"):  # 'reference' is PyDrizzle's older spelling
        shifts.refimage = value
        shifts.refimage_line = number
        return
    if key not in _ALLOWED:
        return
    value = value.lower()
    if value not in _ALLOWED[key]:
        raise InputError(f"shift file {path}, line {number}: {key} {value!r} is not "
                         f"allowed; expected one of {', '.join(_ALLOWED[key])}")
    if key == "form" and value == "absolute":
        raise UnsupportedError(
            f"shift file {path}, line {number}: 'form: absolute' is not supported; "
            "multidrizzle supports only 'form: delta', shifts added to the registration "
            "given by each input's header WCS (as TweakReg and tweakshifts write them)")
    setattr(shifts, key, value)


def output_frame(chips: Sequence[Chip], request: GridRequest) -> tuple[float, float]:
    """Scale and orientation of the output frame that "frame: output" shifts refer to.

    This is the frame :func:`~multidrizzle.model.geometry.make_output_grid` will
    make for the same request, computed before the shifts are applied: the
    reference image's grid when ``request.refimage`` is set, else the
    requested ``scale`` / ``rotation`` with the first chip's native values
    for those not given.

    Parameters
    ----------
    chips : sequence of Chip
        Every chip to drizzle (the first one gives the native values).
    request : GridRequest
        The final grid request (``final_*`` parameters and ``refimage``).

    Returns
    -------
    scale : float
        Arcsec per output pixel.
    rotation : float
        Position angle of the output y axis, degrees east of north.

    Raises
    ------
    InputError, ParameterError
        If the reference image cannot be used (see
        :func:`~multidrizzle.model.geometry.reference_grid`).
    """
    if request.refimage:
        wcs, _ = reference_grid(request.refimage)
        matrix = wcs.pixel_scale_matrix
        # the same formulas make_output_grid uses for a reference grid
        scale = float(math.sqrt(abs(np.linalg.det(matrix))) * 3600.0)
        rotation = float(math.degrees(math.atan2(matrix[0, 1], matrix[1, 1])))
        return scale, rotation
    first = chips[0]
    scale = request.scale if request.scale is not None else native_scale(first)
    rotation = request.rotation if request.rotation is not None else native_orientation(first)
    return float(scale), float(rotation)


def apply_shifts(exposures: list[Exposure], shifts: ShiftFile, output_scale: float,
                 output_rotation: float) -> list[str]:
    """Move and turn each listed exposure's chip WCSs in place (in memory).

    The correction is a similarity transform about the first chip's
    reference point, done in a tangent frame with the output orientation and
    scale (or the shift file's reference image), so that all chips of an
    exposure move together.

    Parameters
    ----------
    exposures : list of Exposure
        Every input; the chip WCSs of those with a line are changed.
    shifts : ShiftFile
        As :func:`read_shiftfile` returns it.
    output_scale, output_rotation : float
        Arcsec/pixel and degrees east of north of the output frame, as
        :func:`output_frame` gives them; unused when the shift file names
        its own ``refimage``.

    Returns
    -------
    list of str
        One line per exposure that was shifted, for the log.

    Raises
    ------
    InputError
        If a line names no input (listing the names given and the inputs),
        or an exposure is named on two lines (by file name and rootname), or
        the shift file's ``refimage`` cannot be used.
    """
    _check_names(exposures, shifts)
    frame_matrix = _frame_matrix(shifts, output_scale, output_rotation)
    applied = []
    for exposure in exposures:
        entry = shifts.entry_for(exposure)
        if entry is None:
            log.info("shift file %s has no line for %s: it is not shifted", shifts.path,
                     exposure.filename.name)
            continue
        _shift_exposure(exposure, entry, shifts, frame_matrix)
        applied.append(f"{exposure.filename.name}: shift ({entry.xshift}, {entry.yshift}) "
                       f"{shifts.units} in the {shifts.frame} frame, rotation "
                       f"{entry.rotation} deg, scale {entry.scale}")
    return applied


def _check_names(exposures: list[Exposure], shifts: ShiftFile) -> None:
    """Every line must name an input, and no input may have two lines."""
    used: set[str] = set()
    for exposure in exposures:
        keys = [k for k in (exposure.filename.name.lower(), exposure.rootname.lower())
                if k in shifts.entries]
        if len(set(keys)) > 1:
            lines = " and ".join(str(shifts.line_numbers[k]) for k in keys)
            raise InputError(f"shift file {shifts.path}: exposure {exposure.filename.name} "
                             f"is named on lines {lines} (by file name and by rootname); "
                             "give one line per exposure")
        used.update(keys)
    unmatched = [k for k in shifts.entries if k not in used]
    if unmatched:
        names = ", ".join(f"{shifts.names[k]!r} (line {shifts.line_numbers[k]})"
                          for k in unmatched)
        inputs = ", ".join(f"{e.filename.name} (rootname {e.rootname})" for e in exposures)
        raise InputError(f"shift file {shifts.path}: no input matches {names}; each line "
                         "must give the file name or rootname of one of the inputs: "
                         f"{inputs}")


def _frame_matrix(shifts: ShiftFile, scale: float, rotation: float) -> np.ndarray:
    if shifts.refimage:
        source = f"shift file {shifts.path}, line {shifts.refimage_line}"
        try:
            wcs, _ = read_reference_wcs(shifts.refimage, source=source)
        except ParameterError as exc:  # the bad value is in a file, not a parameter
            raise InputError(str(exc)) from exc
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
