"""Resolve the ``input`` parameter into a list of exposure files, and check paths.

The forms accepted are those of MultiDrizzle and AstroDrizzle: a single file,
a wildcard, a comma-separated list, a Python list, an ``@file`` list (with an
optional second column naming an inverse-variance map) and an association
table (``*_asn.fits``).  Input files are only opened read-only here.

:func:`prepare_output_folder` and :func:`check_runfile` check, before a run
writes anything, that the folder of ``output`` and the ``runfile`` can be
written, so that a mistyped path is reported with the parameter's name.
"""

from __future__ import annotations

import glob
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from multidrizzle.errors import InputError

__all__ = ["InputList", "resolve_inputs", "parse_group", "prepare_output_folder",
           "check_runfile"]

_WILDCARD_CHARACTERS = set("*?[")
_DEFAULT_OUTPUT_ROOT = "final"
_EXPOSURE_SUFFIXES = ("_flc.fits", "_flt.fits")

#: Columns an association table must have (MEMPRSNT is optional: all present).
_ASSOCIATION_COLUMNS = ("MEMNAME", "MEMTYPE")
#: MEMPRSNT text values understood (upper case, stripped).
_PRESENT_WORDS = {"T": True, "TRUE": True, "YES": True, "Y": True, "1": True,
                  "F": False, "FALSE": False, "NO": False, "N": False, "0": False}


@dataclass
class InputList:
    """The exposures named by ``input``, in processing order.

    Attributes
    ----------
    files : list of Path
        Exposure files (FLT/FLC multi-extension FITS).
    ivm_files : list of Path or None
        Inverse-variance map named beside each exposure in an ``@file``
        list, or None.
    default_output : str
        Output root name to use when ``output`` is not set: the PROD-DTH
        member of an association, the rootname of a single exposure, else
        ``'final'``.
    source : str
        Which form the input had ('file', 'wildcard', 'list', '@file',
        'association'), for the build summary.
    """

    files: list[Path]
    ivm_files: list[Path | None] = field(default_factory=list)
    default_output: str = _DEFAULT_OUTPUT_ROOT
    source: str = "file"

    def __post_init__(self) -> None:
        if not self.ivm_files:
            self.ivm_files = [None] * len(self.files)


def resolve_inputs(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> InputList:
    """Turn an ``input`` specification into checked exposure file names.

    Parameters
    ----------
    spec : str, path or sequence of them
        See the module docstring for the forms accepted.

    Returns
    -------
    InputList

    Raises
    ------
    InputError
        If the specification is empty, a named file is missing or
        unreadable, a wildcard matches nothing, or a file is not a FITS
        image file.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise InputError("parameter 'input': no input files given; expected a file "
                         "name, wildcard, comma-separated list, @file list or "
                         "association table")
    if isinstance(spec, (list, tuple)):
        files = [_expand_one(str(item)) for item in spec]
        result = InputList(files=[f for group in files for f in group], source="list")
    else:
        text = os.fspath(spec).strip()
        if text.startswith("@"):
            result = _read_at_file(Path(text[1:]))
        elif "," in text:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            files = [f for part in parts for f in _expand_one(part)]
            result = InputList(files=files, source="list")
        elif _WILDCARD_CHARACTERS & set(text):
            result = InputList(files=_expand_one(text), source="wildcard")
        else:
            path = Path(text)
            _check_readable(path, f"input file {path}")
            if _is_association(path):
                result = _read_association(path)
            else:
                result = InputList(files=[path], source="file",
                                   default_output=_rootname(path))
    if not result.files:
        raise InputError(f"parameter 'input': {spec!r} names no exposure files")
    _check_unique(result.files)
    for path in result.files:
        _check_image_file(path)
    return result


def parse_group(group: int | str | None) -> list[int] | None:
    """Interpret the ``group`` parameter as a list of SCI extension versions.

    ``None`` selects every chip.  An integer or digit string such as ``'1'``
    or ``'1,2'`` selects ``SCI`` extensions by version (the GEIS-group
    meaning AstroDrizzle gives it); ``'sci,2'`` selects ``SCI,2``.

    Raises
    ------
    InputError
        If the text is not one of these forms.
    """
    if group is None:
        return None
    if isinstance(group, int):
        return [group]
    text = str(group).strip().lower()
    if not text or text == "none":
        return None
    if text.startswith("sci"):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) == 2 and parts[1].isdigit():
            return [int(parts[1])]
    else:
        parts = [p.strip() for p in text.split(",")]
        if all(p.isdigit() for p in parts):
            return [int(p) for p in parts]
    raise InputError(f"parameter 'group': {group!r} is not understood; expected an "
                     "extension version such as 1 or '1,2', or a name such as 'sci,1'")


def prepare_output_folder(folder: str | os.PathLike, parameter: str = "output",
                          value: str | None = None) -> Path:
    """Create the folder products are written to, if needed, and check it is writable.

    Parameters
    ----------
    folder : str or path-like
        The folder, e.g. ``Path(output_root).parent``.
    parameter : str
        The parameter whose value gives the folder, for messages.
    value : str, optional
        That parameter's value, for messages.

    Returns
    -------
    Path
        The folder, which exists and accepts new files.

    Raises
    ------
    InputError
        Naming the parameter and folder if the folder (or a folder above it)
        is a file, cannot be created, or cannot be written.
    """
    folder = Path(folder)
    given = f" = {value!r}" if value is not None else ""
    where = f"parameter '{parameter}'{given}: output folder {folder}"
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{where} is a file, not a folder; expected a folder for the "
                         "products")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocking = next((part for part in folder.parents
                         if part.exists() and not part.is_dir()), folder)
        raise InputError(f"{where} cannot be created: {blocking} is a file, not a "
                         "folder") from exc
    except OSError as exc:
        raise InputError(f"{where} cannot be created ({exc.strerror or exc})") from exc
    try:  # a nameless file that vanishes on close: the only honest test of writing
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"{where} is not writable ({exc.strerror or exc})") from exc
    return folder


def check_runfile(runfile: str | os.PathLike, parameter: str = "runfile") -> Path:
    """Check that the run log can be appended to, before the run starts.

    The file is opened for appending (and so created, empty, if missing),
    exactly as the run's log handler will open it; its folder is not
    created.

    Parameters
    ----------
    runfile : str or path-like
        The log file name.
    parameter : str
        The parameter that names it, for messages.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        Naming the parameter and path if the path is a folder, its folder
        does not exist, or the file cannot be opened for appending.
    """
    path = Path(runfile)
    where = f"parameter '{parameter}' = {os.fspath(runfile)!r}"
    if path.is_dir():
        raise InputError(f"{where}: {path} is a folder; expected a log file name")
    if not path.parent.is_dir():
        raise InputError(f"{where}: folder {path.parent} does not exist; create it or "
                         "give a log file in an existing folder ('' for no log file)")
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise InputError(f"{where}: {path} cannot be written ({exc.strerror or exc})") from exc
    return path


def _expand_one(text: str) -> list[Path]:
    if _WILDCARD_CHARACTERS & set(text):
        matches = sorted(glob.glob(text))
        if not matches:
            raise InputError(f"parameter 'input': wildcard {text!r} matches no files")
        return [Path(m) for m in matches]
    path = Path(text)
    _check_readable(path, f"input file {path}")
    return [path]


def _read_at_file(list_path: Path) -> InputList:
    where = f"@file list {list_path} (parameter 'input')"
    _check_readable(list_path, where)
    files: list[Path] = []
    ivms: list[Path | None] = []
    base = list_path.parent
    try:
        with open(list_path, encoding="utf-8") as stream:
            lines = stream.readlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: is not a text file ({exc.reason} at byte {exc.start}); "
                         "expected one 'exposure [ivm_file]' per line") from exc
    for line_number, line in enumerate(lines, start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        at_line = f"@file list {list_path}, line {line_number}"
        if len(words) > 2:
            raise InputError(f"{at_line}: expected 'exposure [ivm_file]', got "
                             f"{line.strip()!r}")
        exposure = _relative_to(base, words[0])
        _check_readable(exposure, f"{at_line}: input file {exposure}")
        files.append(exposure)
        if len(words) == 2:
            ivm = _relative_to(base, words[1])
            _check_ivm_file(ivm, f"{at_line}: IVM file {ivm}")
            ivms.append(ivm)
        else:
            ivms.append(None)
    return InputList(files=files, ivm_files=ivms, source="@file")


def _check_ivm_file(path: Path, label: str) -> None:
    """An IVM file must be a readable FITS file with at least one 2-D image."""
    _check_readable(path, label)
    try:
        with fits.open(path, mode="readonly") as hdul:
            has_image = any(hdu.is_image and hdu.header.get("NAXIS", 0) == 2
                            for hdu in hdul)
    except (OSError, ValueError, fits.VerifyError) as exc:
        raise InputError(f"{label}: cannot be read as FITS ({exc}); expected an "
                         "inverse-variance map image") from exc
    if not has_image:
        raise InputError(f"{label}: has no 2-D image; expected an inverse-variance map "
                         "(an IVM extension per chip, or a primary image for a "
                         "single-chip exposure)")


def _relative_to(base: Path, name: str) -> Path:
    path = Path(name)
    if path.is_absolute() or path.exists():
        return path
    return base / path


def _is_association(path: Path) -> bool:
    """A FITS file whose table has a MEMNAME or MEMTYPE column, or any ``*_asn.fits`` table."""
    try:
        with fits.open(path, mode="readonly") as hdul:
            for hdu in hdul[1:]:
                if isinstance(hdu, fits.BinTableHDU) and (
                        {"MEMNAME", "MEMTYPE"} & {n.upper() for n in hdu.columns.names}
                        or path.name.lower().endswith("_asn.fits")):
                    return True
    except (OSError, ValueError, fits.VerifyError) as exc:
        raise InputError(f"input file {path}: cannot be read as FITS ({exc})") from exc
    return False


def _association_table(hdul: fits.HDUList, path: Path) -> fits.BinTableHDU:
    """The member table; InputError naming any required column it lacks."""
    tables = [(i, h) for i, h in enumerate(hdul) if isinstance(h, fits.BinTableHDU)]
    for index, table in tables:
        if {"MEMNAME", "MEMTYPE"} & {n.upper() for n in table.columns.names}:
            break
    else:
        index, table = tables[0]
    columns = {n.upper() for n in table.columns.names}
    missing = [c for c in _ASSOCIATION_COLUMNS if c not in columns]
    if missing:
        extension = f"{index} ({table.name})" if table.name else str(index)
        raise InputError(f"association {path}, extension {extension}: has no "
                         f"{' or '.join(missing)} column; expected an HST association "
                         f"table with columns MEMNAME, MEMTYPE and MEMPRSNT (found "
                         f"{', '.join(table.columns.names) or 'no columns'})")
    return table


def _read_association(path: Path) -> InputList:
    try:
        with fits.open(path, mode="readonly") as hdul:
            table = _association_table(hdul, path)
            names = [_text(n) for n in table.data["MEMNAME"]]
            types = [_text(t).upper() for t in table.data["MEMTYPE"]]
            if "MEMPRSNT" in {n.upper() for n in table.columns.names}:
                present = [_is_present(value, path, row)
                           for row, value in enumerate(table.data["MEMPRSNT"], start=1)]
            else:
                present = [True] * len(names)
    except InputError:
        raise
    except (OSError, ValueError, fits.VerifyError) as exc:
        raise InputError(f"association {path}: its member table cannot be read "
                         f"({exc})") from exc
    files = []
    product = None
    for name, kind, is_present in zip(names, types, present):
        if kind.startswith("EXP") and is_present:
            files.append(_association_member(path.parent, name, path))
        elif kind.startswith("PROD-DTH") and product is None:
            product = name.lower()
    if not files:
        raise InputError(f"association {path}: no EXP-* member is marked present")
    return InputList(files=files, source="association",
                     default_output=product or _DEFAULT_OUTPUT_ROOT)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return str(value).strip()


def _is_present(value: object, path: Path, row: int) -> bool:
    """MEMPRSNT as a bool: a logical, 0/1, or text T/F, YES/NO (TRUE/FALSE, Y/N, 1/0)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, (str, bytes)):
        word = _text(value).upper()
        if word in _PRESENT_WORDS:
            return _PRESENT_WORDS[word]
    raise InputError(f"association {path}, row {row}: MEMPRSNT value {value!r} is not "
                     "understood; expected a logical, 0 or 1, or text T/F or YES/NO")


def _association_member(folder: Path, memname: str, asn_path: Path) -> Path:
    candidates = [folder / (memname.lower() + suffix) for suffix in _EXPOSURE_SUFFIXES]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise InputError(f"association {asn_path}: member {memname} has no file; "
                     f"looked for {tried}")


def _check_readable(path: Path, label: str) -> None:
    """InputError starting with ``label`` unless ``path`` is a file we can open.

    Opening the file (rather than asking ``os.access``) also tells the truth
    for root, ACLs and read-only network file systems.
    """
    if not path.exists():
        raise InputError(f"{label}: does not exist")
    if not path.is_file():
        raise InputError(f"{label}: is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise InputError(f"{label}: is not readable (permission denied)") from exc
    except OSError as exc:
        raise InputError(f"{label}: is not readable ({exc.strerror or exc})") from exc


def _check_image_file(path: Path) -> None:
    try:
        # a short file is named by the structure check of build(), not by astropy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(path, mode="readonly") as hdul:
                has_science = any(h.name == "SCI" for h in hdul) or (
                    hdul[0].header.get("NAXIS", 0) == 2)
    except (OSError, ValueError) as exc:
        size = path.stat().st_size
        hint = (f"; its size, {size} bytes, is not a multiple of 2880: the file is "
                "probably truncated") if size % 2880 else ""
        raise InputError(f"input file {path}: cannot be read as FITS ({exc}){hint}") \
            from exc
    if not has_science:
        raise InputError(f"input file {path}: has no SCI image extension; expected "
                         "an HST calibrated exposure (FLT/FLC)")


def _check_unique(files: list[Path]) -> None:
    seen: set[Path] = set()
    for path in files:
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"parameter 'input': file {path} is named more than once")
        seen.add(resolved)


def _rootname(path: Path) -> str:
    name = path.name
    for suffix in _EXPOSURE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
