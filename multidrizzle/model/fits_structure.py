"""Check that an HST exposure file is whole before anything is read from it.

astropy opens a file cut short without complaint (a warning at most) and
fails only when the missing pixels are read, with ``TypeError: buffer is too
small for requested array`` and no file name; a file that lost whole
extensions opens as a shorter file, and its chips are then processed without
their DQ.  :func:`check_exposure_structure` reads the headers only and
refuses, with an :class:`~multidrizzle.errors.InputError` naming the file and
extension, a file whose

* data units are not all on disk (the size of the file does not cover
  ``BITPIX x NAXIS1 x NAXIS2 ...`` bytes after a header),
* extensions are fewer than its primary header's ``NEXTEND`` promises,
* SCI extensions do not run ``EXTVER`` 1, 2, ... without a gap,
* chips lack the ERR or DQ extension its other chips have, or have an ERR
  or DQ array of another shape than their SCI array.

The padding of the last data unit to 2880 bytes is not required: the data
are whole without it.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from multidrizzle.errors import InputError, MultidrizzleError

__all__ = ["HeaderUnit", "check_exposure_structure", "open_checked_exposure",
           "read_header_units"]

#: The extensions of one chip (ERR and DQ follow SCI in HST FLT/FLC files).
CHIP_EXTENSIONS = ("SCI", "ERR", "DQ")
#: FITS block size: headers and data units are padded to it.
FITS_BLOCK = 2880


@dataclass(frozen=True)
class HeaderUnit:
    """One HDU of a file as its header describes it.

    Attributes
    ----------
    index : int
        Position in the file (0 = primary).
    name, ver : str, int
        EXTNAME and EXTVER.
    header : astropy.io.fits.Header
    data_start : int
        Byte offset of the data unit.
    data_bytes : int
        Bytes of data the header announces (padding excluded).
    shape : tuple of int
        ``(NAXISn, ..., NAXIS1)``; ``()`` without data.
    """

    index: int
    name: str
    ver: int
    header: fits.Header
    data_start: int
    data_bytes: int
    shape: tuple[int, ...]

    @property
    def label(self) -> str:
        """``'SCI,1'``, ``'PRIMARY'`` or ``'extension 7'``: how messages name it."""
        if self.index == 0:
            return "PRIMARY"
        return f"{self.name},{self.ver}" if self.name else f"extension {self.index}"


def read_header_units(path: Path) -> tuple[list[HeaderUnit], int]:
    """The headers of every HDU of ``path`` (no data is read), and the file's size.

    Raises
    ------
    InputError
        Naming the file when it is not FITS or a header cannot be read, and
        the header and keyword when a structural keyword has a bad value.
    """
    path = Path(path)
    size = os.path.getsize(path)
    with _opened(path, size, memmap=False) as (_, units):
        return units, size


@contextlib.contextmanager
def _opened(path: Path, size: int, *, memmap: bool | None
            ) -> Iterator[tuple[fits.HDUList, list[HeaderUnit]]]:
    """``path`` open with astropy and its header units; what astropy raises while
    reading the headers becomes an InputError naming the file."""
    headers_read = 0
    try:
        # astropy's warnings about a short file are replaced by the errors below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            hdul = fits.open(path, mode="readonly", memmap=memmap)
            try:
                for _ in hdul:  # every header first: a damaged one stops here
                    headers_read += 1
                units = [_header_unit(path, index, hdu) for index, hdu in enumerate(hdul)]
            except BaseException:
                hdul.close()
                raise
    except MultidrizzleError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, VerifyError, ...
        if size % FITS_BLOCK:
            hint = (f"; its size, {size} bytes, is not a multiple of {FITS_BLOCK}: the "
                    "file is probably truncated")
        elif headers_read:
            hint = (f"; the header of HDU {headers_read} is cut short or damaged: the file "
                    "is probably truncated")
        else:
            hint = ""
        raise InputError(f"input file {path}: cannot be read as FITS "
                         f"({type(exc).__name__}: {exc}){hint}") from exc
    with hdul:
        if not units:
            raise InputError(f"input file {path}: cannot be read as FITS (no header found)")
        yield hdul, units


def _header_unit(path: Path, index: int, hdu: Any) -> HeaderUnit:
    header = hdu.header
    where = f"input file {path}, HDU {index}"
    shape = _shape(header, where)
    return HeaderUnit(index=index, name=str(getattr(hdu, "name", "") or "").upper(),
                      ver=int(getattr(hdu, "ver", 1) or 1), header=header,
                      data_start=int(hdu.fileinfo()["datLoc"]),
                      data_bytes=_data_bytes(header, shape, where), shape=shape)


@contextlib.contextmanager
def open_checked_exposure(path: Path) -> Iterator[tuple[fits.HDUList, list[HeaderUnit]]]:
    """The exposure file open with astropy (its data mapped when read, where astropy
    can) and its header units, once :func:`check_exposure_structure`'s checks
    passed: one reading of the headers serves the checks and the caller.

    Raises
    ------
    InputError
        As :func:`check_exposure_structure`.
    """
    path = Path(path)
    size = os.path.getsize(path)
    with _opened(path, size, memmap=None) as (hdul, units):
        _checked(path, units, size)
        yield hdul, units


def check_exposure_structure(path: Path) -> list[HeaderUnit]:
    """Refuse an exposure file that is cut short, lacks extensions or mixes chip shapes.

    Parameters
    ----------
    path : Path
        An HST multi-extension FITS exposure (FLT/FLC).

    Returns
    -------
    list of HeaderUnit
        Every HDU of the file as its header describes it.

    Raises
    ------
    InputError
        Naming the file and the extension at fault and what was expected.
    """
    path = Path(path)
    units, size = read_header_units(path)
    _checked(path, units, size)
    return units


def _checked(path: Path, units: list[HeaderUnit], size: int) -> None:
    try:
        _check_units(path, units, size)
    except fits.VerifyError as exc:  # a card that does not parse, met on the way
        raise InputError(f"input file {path}: a header cannot be read ({exc})") from exc


def _check_units(path: Path, units: list[HeaderUnit], size: int) -> None:
    for unit in units:
        end = unit.data_start + unit.data_bytes
        if end > size:
            raise InputError(
                f"input file {path}, {unit.label}: its data unit needs bytes "
                f"{unit.data_start} to {end} ({_shape_text(unit.shape)}, BITPIX "
                f"{unit.header.get('BITPIX')}) but the file ends at byte {size}; the file "
                "is truncated (copy or download it again)")
    _check_chips(path, units)
    _check_extension_count(path, units, size)


def _check_extension_count(path: Path, units: list[HeaderUnit], size: int) -> None:
    promised = units[0].header.get("NEXTEND")
    if promised is None:
        return
    if isinstance(promised, bool) or not isinstance(promised, int) or promised < 0:
        raise InputError(f"input file {path}, PRIMARY: keyword NEXTEND has the value "
                         f"{promised!r}; expected the number of extensions, an integer")
    found = len(units) - 1
    if found < promised:
        last = units[-1].label
        ragged = (f"; the file size, {size} bytes, is not a multiple of {FITS_BLOCK}"
                  if size % FITS_BLOCK else "")
        raise InputError(
            f"input file {path}: the primary header promises NEXTEND = {promised} "
            f"extensions but the file has {found} (the last is {last}){ragged}; the file "
            "is truncated or extensions were removed (copy it again, or correct NEXTEND "
            "if the extensions were removed on purpose)")


def _check_chips(path: Path, units: list[HeaderUnit]) -> None:
    chips: dict[str, dict[int, HeaderUnit]] = {name: {} for name in CHIP_EXTENSIONS}
    for unit in units[1:]:
        if unit.name in chips:
            if unit.ver in chips[unit.name]:
                raise InputError(f"input file {path}: extension {unit.label} appears twice "
                                 f"(HDUs {chips[unit.name][unit.ver].index} and "
                                 f"{unit.index}); expected one of each EXTVER")
            chips[unit.name][unit.ver] = unit
    science = chips["SCI"]
    if not science:
        return  # reported by the reader, which knows what a single-image file may be
    expected = list(range(1, max(science) + 1))
    gaps = [ver for ver in expected if ver not in science]
    if gaps:
        raise InputError(f"input file {path}: has SCI extensions with EXTVER "
                         f"{', '.join(map(str, sorted(science)))} but not SCI,{gaps[0]}; "
                         "expected EXTVER 1, 2, ... without a gap (an extension is "
                         "missing)")
    for name in ("ERR", "DQ"):
        present = chips[name]
        if not present:
            continue  # a file without any ERR (DQ) is read without it, as before
        for ver, sci in sorted(science.items()):
            if ver not in present:
                raise InputError(f"input file {path}: has SCI,{ver} but no {name},{ver}, "
                                 f"while other chips have their {name}; expected a "
                                 f"{name},{ver} extension (the file lost one)")
            companion = present[ver]
            if companion.shape and companion.shape != sci.shape:
                raise InputError(
                    f"input file {path}, {name},{ver}: is {_shape_text(companion.shape)} "
                    f"but SCI,{ver} is {_shape_text(sci.shape)}; expected the same shape")


def _keyword_integer(header: fits.Header, keyword: str, where: str, default=None) -> int:
    value = header.get(keyword, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value != int(value) or value < 0:
        raise InputError(f"{where}: keyword {keyword} has the value {value!r}; expected a "
                         "non-negative integer")
    return int(value)


def _shape(header: fits.Header, where: str) -> tuple[int, ...]:
    naxis = _keyword_integer(header, "NAXIS", where, 0)
    if naxis > 999:
        raise InputError(f"{where}: keyword NAXIS has the value {naxis}; expected at most 999")
    return tuple(_keyword_integer(header, f"NAXIS{axis}", where)
                 for axis in range(naxis, 0, -1))


def _data_bytes(header: fits.Header, shape: tuple[int, ...], where: str) -> int:
    if not shape:
        return 0
    bitpix = header.get("BITPIX")
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise InputError(f"{where}: keyword BITPIX has the value {bitpix!r}; expected one "
                         "of 8, 16, 32, 64, -32, -64")
    pcount = _keyword_integer(header, "PCOUNT", where, 0)
    gcount = _keyword_integer(header, "GCOUNT", where, 1)
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(shape))


def _shape_text(shape: tuple[int, ...]) -> str:
    """``'128 x 64 pixels'`` (FITS order, NAXIS1 first) or ``'no data'``."""
    return " x ".join(str(n) for n in reversed(shape)) + " pixels" if shape else "no data"
