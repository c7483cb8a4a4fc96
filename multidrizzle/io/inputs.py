"""Resolve the ``input`` parameter into a list of exposure files.

The forms accepted are those of MultiDrizzle and AstroDrizzle: a single file,
a wildcard, a comma-separated list, a Python list, an ``@file`` list (with an
optional second column naming an inverse-variance map) and an association
table (``*_asn.fits``).  Nothing is opened for writing here.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from astropy.io import fits

from multidrizzle.errors import InputError

__all__ = ["InputList", "resolve_inputs", "parse_group"]

_WILDCARD_CHARACTERS = set("*?[")
_DEFAULT_OUTPUT_ROOT = "final"
_EXPOSURE_SUFFIXES = ("_flc.fits", "_flt.fits")


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
            _check_readable(path)
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


def _expand_one(text: str) -> list[Path]:
    if _WILDCARD_CHARACTERS & set(text):
        matches = sorted(glob.glob(text))
        if not matches:
            raise InputError(f"parameter 'input': wildcard {text!r} matches no files")
        return [Path(m) for m in matches]
    path = Path(text)
    _check_readable(path)
    return [path]


def _read_at_file(list_path: Path) -> InputList:
    _check_readable(list_path)
    files: list[Path] = []
    ivms: list[Path | None] = []
    base = list_path.parent
    with open(list_path, encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, start=1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) > 2:
                raise InputError(f"{list_path}, line {line_number}: expected "
                                 f"'exposure [ivm_file]', got {line.strip()!r}")
            files.append(_relative_to(base, words[0]))
            ivms.append(_relative_to(base, words[1]) if len(words) == 2 else None)
    for path in files + [p for p in ivms if p is not None]:
        _check_readable(path)
    return InputList(files=files, ivm_files=ivms, source="@file")


def _relative_to(base: Path, name: str) -> Path:
    path = Path(name)
    if path.is_absolute() or path.exists():
        return path
    return base / path


def _is_association(path: Path) -> bool:
    try:
        with fits.open(path, mode="readonly") as hdul:
            for hdu in hdul[1:]:
                if isinstance(hdu, fits.BinTableHDU) and "MEMNAME" in hdu.columns.names:
                    return True
    except OSError as exc:
        raise InputError(f"input file {path}: cannot be read as FITS ({exc})") from exc
    return False


def _read_association(path: Path) -> InputList:
    with fits.open(path, mode="readonly") as hdul:
        table = next(h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)
                     and "MEMNAME" in h.columns.names)
        names = [str(n).strip() for n in table.data["MEMNAME"]]
        types = [str(t).strip().upper() for t in table.data["MEMTYPE"]]
        present = (list(table.data["MEMPRSNT"]) if "MEMPRSNT" in table.columns.names
                   else [True] * len(names))
    files = []
    product = None
    for name, kind, is_present in zip(names, types, present):
        if kind.startswith("EXP") and bool(is_present):
            files.append(_association_member(path.parent, name, path))
        elif kind.startswith("PROD-DTH") and product is None:
            product = name.lower()
    if not files:
        raise InputError(f"association {path}: no EXP-* member is marked present")
    return InputList(files=files, source="association",
                     default_output=product or _DEFAULT_OUTPUT_ROOT)


def _association_member(folder: Path, memname: str, asn_path: Path) -> Path:
    candidates = [folder / (memname.lower() + suffix) for suffix in _EXPOSURE_SUFFIXES]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise InputError(f"association {asn_path}: member {memname} has no file; "
                     f"looked for {tried}")


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"input file {path}: does not exist")
    if not path.is_file():
        raise InputError(f"input file {path}: is not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"input file {path}: is not readable")


def _check_image_file(path: Path) -> None:
    try:
        with fits.open(path, mode="readonly") as hdul:
            has_science = any(h.name == "SCI" for h in hdul) or (
                hdul[0].header.get("NAXIS", 0) == 2)
    except (OSError, ValueError) as exc:
        raise InputError(f"input file {path}: cannot be read as FITS ({exc})") from exc
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
