"""Files users write for multidrizzle: file specifications, sky files, masks.

Everything here parses text or FITS written by a user (not by a pipeline)
and names the file, line or extension at fault in its errors:

* ``file.fits[ext]`` specifications (:func:`split_file_spec`,
  :func:`parse_extension`), the one parser for every parameter and list
  that names an extension (reference images, sky masks);
* sky files (``skyfile``, ``skyuser='@file'``): :func:`read_sky_file`,
  :func:`user_sky_values`;
* sky mask catalogs (``skymask_cat``): :func:`read_skymask_catalog`;
* MultiDrizzle static mask files (``staticfile``): :func:`read_user_static_mask`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from astropy.io import fits

from multidrizzle.errors import InputError, ParameterError
from multidrizzle.model import Chip

__all__ = [
    "FileSpec", "split_file_spec", "parse_extension", "chip_key", "SkyFileLine", "read_sky_file",
    "user_sky_values", "read_skymask_catalog", "read_user_static_mask", "USER_MASK_EXTNAME",
]

log = logging.getLogger(__name__)

#: A value in a sky file that says the values were already subtracted.
_APPLIED_WORDS = frozenset({"yes", "true", "y", "t"})

#: EXTNAME of the per-chip images of a MultiDrizzle ``staticfile``.
USER_MASK_EXTNAME = "MASK"

_FILE_SPEC = re.compile(r"^(?P<path>[^\[\{]+?)\s*(?:[\[\{](?P<ext>[^\]\}]*)[\]\}])?$")


class FileSpec(NamedTuple):
    """A file name with an optional extension, as a user wrote it."""

    path: Path
    extension: int | str | tuple[str, int] | None
    extension_text: str | None


def split_file_spec(text: str, where: str) -> FileSpec:
    """``'file.fits[sci,1]'`` -> ``FileSpec(Path('file.fits'), ('SCI', 1), 'sci,1')``.

    The extension may be given in square or curly brackets; without one it
    is None.  Quotes around the name are dropped.

    Raises
    ------
    ParameterError
        If the text is not of that form or its extension is not understood
        (see :func:`parse_extension`), naming ``where``.
    """
    match = _FILE_SPEC.match(str(text).strip())
    if match is None:
        raise ParameterError(f"{where}: {text!r} is not understood; expected a file name, "
                             "optionally followed by [extension]")
    path = Path(match.group("path").strip().strip("'\""))
    extension = match.group("ext")
    return FileSpec(path, None if extension is None else parse_extension(extension, where),
                    extension)


def parse_extension(text: str, where: str) -> int | str | tuple[str, int]:
    """``'1'`` -> 1, ``'sci'`` -> ``'SCI'``, ``'sci,2'`` -> ``('SCI', 2)``.

    Parentheses and quotes are ignored (``[('sci', 2)]``).

    Raises
    ------
    ParameterError
        For anything else, naming ``where`` and the forms accepted.
    """
    parts = [p.strip().strip("'\"") for p in text.replace("(", "").replace(")", "").split(",")]
    if len(parts) == 1 and parts[0].isdigit():
        return int(parts[0])
    if len(parts) == 1 and parts[0] and parts[0].replace("_", "").isalnum():
        return parts[0].upper()
    if (len(parts) == 2 and parts[0] and parts[0].replace("_", "").isalnum()
            and parts[1].isdigit()):
        return parts[0].upper(), int(parts[1])
    raise ParameterError(f"{where}: extension [{text}] is not understood; expected "
                         "[number], [name] or [name,version], e.g. [1] or [sci,1]")


def chip_key(chip: Chip) -> tuple[str, int]:
    """How the user files' results are keyed: ``(str(chip.filename), extver)``."""
    return str(chip.filename), chip.extver


# ---------------------------------------------------------------------------
# sky files



@dataclass(frozen=True)
class SkyFileLine:
    """One line of a sky file: its number and its sky values."""

    line: int
    values: tuple[float, ...]


def read_sky_file(path: str | Path, parameter: str = "skyfile"
                  ) -> tuple[dict[str, SkyFileLine], bool]:
    """Read a sky file: ``image_name sky1 [sky2 ...]`` per line.

    Blank lines and lines starting with ``#`` are skipped, except that a
    comment such as ``# applied = yes`` (or ``applied: yes``) says the
    values were already subtracted from the data, as AstroDrizzle reads it.

    Parameters
    ----------
    path : path
        The file.
    parameter : str
        The parameter that named it, for error messages.

    Returns
    -------
    lines : dict
        ``image name as written -> SkyFileLine``.
    applied : bool
        Whether the file says the values were already subtracted.

    Raises
    ------
    InputError
        Naming the file and line for a missing value, a value that is not
        a number, or an image listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{parameter} {path}: does not exist")
    lines: dict[str, SkyFileLine] = {}
    applied = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if text.startswith("#"):
            setting = re.match(r"#\s*applied\s*[=:]\s*(\S+)", text, flags=re.IGNORECASE)
            if setting:
                applied = setting.group(1).lower() in _APPLIED_WORDS
            continue
        if not text:
            continue
        name, *numbers = text.split()
        where = f"{parameter} {path}, line {number}"
        if not numbers:
            raise InputError(f"{where}: {name} has no sky value; expected "
                             "'image_name sky1 [sky2 ...]'")
        try:
            skies = tuple(float(n) for n in numbers)
        except ValueError as exc:
            raise InputError(f"{where}: sky values {numbers} are not all numbers") from exc
        if not all(math.isfinite(s) for s in skies):
            raise InputError(f"{where}: sky values {numbers} must be finite")
        if name in lines:
            raise InputError(f"{where}: {name} is listed a second time (first on line "
                             f"{lines[name].line})")
        lines[name] = SkyFileLine(number, skies)
    return lines, applied


def user_sky_values(exposures: list[list[Chip]], path: str, parameter: str
                    ) -> tuple[dict[str, float], bool]:
    """Per-chip values from a sky file, one value for all chips or one per SCI."""
    lines, applied = read_sky_file(path, parameter)
    values: dict[str, float] = {}
    for chips in exposures:
        filename = chips[0].filename
        entry = _entry_for(filename, lines)
        if entry is None:
            raise InputError(f"{parameter} {path}: has no line for input {filename.name}")
        skies = entry.values
        where = f"{parameter} {path}, line {entry.line}"
        if len(skies) > 1:
            science_count = _science_extension_count(filename)
            if len(skies) != science_count:
                raise InputError(f"{where}: gives {len(skies)} sky values but "
                                 f"{filename.name} has {science_count} SCI extensions; give "
                                 "one value for all or one per SCI extension")
        for chip in chips:
            if len(skies) > 1 and not 1 <= chip.extver <= len(skies):
                raise InputError(f"{where}: gives {len(skies)} sky values, none for "
                                 f"SCI,{chip.extver}")
            values[chip.name] = skies[0] if len(skies) == 1 else skies[chip.extver - 1]
    return values, applied


def _entry_for(filename: Path, lines: dict[str, SkyFileLine]) -> SkyFileLine | None:
    for name, entry in lines.items():
        listed_path = Path(name)
        if listed_path.name != filename.name:
            continue
        if listed_path.parent == Path(".") or _same_file(listed_path, filename):
            return entry
    return None


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return False


def _exposure_named(name: str, exposures: list[list[Chip]]) -> list[Chip] | None:
    wanted = Path(name)
    for chips in exposures:
        filename = chips[0].filename
        if wanted.name == filename.name and (wanted.parent == Path(".")
                                             or _same_file(wanted, filename)):
            return chips
    return None


def _science_extension_count(filename: Path) -> int:
    with fits.open(filename, mode="readonly") as hdul:
        return sum(1 for hdu in hdul if hdu.name == "SCI")


# ---------------------------------------------------------------------------
# sky mask catalogs


def read_skymask_catalog(catalog: str, chips_by_exposure: Sequence[Sequence[Chip]]
                         ) -> dict[tuple[str, int], np.ndarray]:
    """User masks for the sky computation, from a ``skymask_cat`` catalog.

    Each non-blank line not starting with ``#`` names an input image and
    then one mask per selected chip of that image, in chip order, separated
    by commas (``skymatch``'s @-file form) or blanks::

        j8bt06nyq_flt.fits, mask_chip1.fits, mask_chip2.fits[1]
        j8bt06nzq_flt.fits  None  mask2.fits[MASK,2]

    An empty field or ``None`` means no mask for that chip.  A mask is a FITS
    image (extension 0 unless given in brackets) of the chip's shape whose
    nonzero pixels may be used for the sky and zero pixels may not.  An
    extension given after the image name is ignored, as AstroDrizzle does:
    masks go to the selected chips in order.  Relative paths are relative to
    the current directory.

    Returns
    -------
    dict
        ``(str(chip.filename), extver) -> good-pixel mask``.

    Raises
    ------
    InputError
        Naming the catalog and line for a missing file, more masks than
        chips, or a mask whose shape differs from its chip's.
    """
    path = Path(catalog)
    if not path.is_file():
        raise InputError(f"skymask_cat {path}: does not exist")
    exposures = [list(chips) for chips in chips_by_exposure]
    masks: dict[tuple[str, int], np.ndarray] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"skymask_cat {path}, line {number}"
        fields = _split_catalog_line(text)
        image_name = str(split_file_spec(fields[0], where).path)
        chips = _exposure_named(image_name, exposures)
        if chips is None:
            log.warning("%s: %s is not one of the inputs; line ignored", where, image_name)
            continue
        mask_fields = fields[1:]
        if len(mask_fields) > len(chips):
            raise InputError(f"{where}: lists {len(mask_fields)} masks but {image_name} has "
                             f"{len(chips)} selected chips")
        for chip, mask_field in zip(chips, mask_fields):
            mask = _read_user_mask(mask_field, chip, where)
            if mask is not None:
                masks[chip_key(chip)] = mask
    return masks


def _split_catalog_line(text: str) -> list[str]:
    """Fields of a catalog line: commas if any outside brackets, else blanks."""
    depth = 0
    has_comma = False
    for character in text:
        depth += character in "[{("
        depth -= character in "]})"
        has_comma |= character == "," and depth == 0
    fields, current, depth = [], [], 0
    for character in text:
        depth += character in "[{("
        depth -= character in "]})"
        separator = (character == ",") if has_comma else character.isspace()
        if separator and depth == 0:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    fields.append("".join(current).strip())
    return fields if has_comma else [f for f in fields if f]


def _read_user_mask(field: str, chip: Chip, where: str) -> np.ndarray | None:
    if not field or field.upper() == "NONE":
        return None
    mask_path, extension, _ = split_file_spec(field, where)
    if extension is None:
        extension = 0
    if not mask_path.is_file():
        raise InputError(f"{where}: mask {mask_path} does not exist")
    try:
        data = fits.getdata(mask_path, extension)
    except (KeyError, IndexError) as exc:
        raise InputError(f"{where}: mask {mask_path} has no extension {extension!r}") from exc
    if data is None or data.shape != chip.shape:
        raise InputError(f"{where}: mask {mask_path}[{extension}] has shape "
                         f"{None if data is None else data.shape} but chip {chip.name} has "
                         f"shape {chip.shape}")
    return np.asarray(data) != 0


# ---------------------------------------------------------------------------
# static masks


def read_user_static_mask(staticfile: str | os.PathLike, chip: Chip) -> np.ndarray:
    """The good pixels (True) of a user static mask for one chip.

    The file holds either exactly one 2-D image (primary or extension), used
    for every chip, or one ``MASK`` extension per chip with the chip's EXTVER,
    as MultiDrizzle expects.  Nonzero pixels are good, zero pixels bad.

    Raises
    ------
    InputError
        Naming the file and extension when the file is missing, has no
        image for the chip, or the image's shape differs from the chip's.
    """
    path = Path(staticfile)
    if not path.is_file():
        raise InputError(f"staticfile {path}: does not exist")
    with fits.open(path, mode="readonly", memmap=False) as hdul:
        images = [(index, hdu) for index, hdu in enumerate(hdul)
                  if hdu.is_image and hdu.header.get("NAXIS", 0) == 2]
        named = [(index, hdu) for index, hdu in images if hdu.name == USER_MASK_EXTNAME]
        if named:
            matches = [(index, hdu) for index, hdu in named if hdu.ver == chip.extver]
            where = f"{USER_MASK_EXTNAME},{chip.extver}"
            if not matches:
                raise InputError(f"staticfile {path}: has no {where} extension for chip "
                                 f"{chip.name}; found {USER_MASK_EXTNAME} extensions "
                                 f"{sorted(hdu.ver for _, hdu in named)}")
        elif len(images) == 1:
            matches = images
            where = f"extension {images[0][0]}"
        else:
            raise InputError(f"staticfile {path}: expected one 2-D image for every chip or "
                             f"one {USER_MASK_EXTNAME} extension per chip, found "
                             f"{len(images)} 2-D images and no {USER_MASK_EXTNAME} extension")
        data = matches[0][1].data
        if data.shape != chip.shape:
            raise InputError(f"staticfile {path}[{where}]: has shape {data.shape} but chip "
                             f"{chip.name} has shape {chip.shape}")
        return np.asarray(data) != 0
