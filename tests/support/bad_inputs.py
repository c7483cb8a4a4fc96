"""Damaged and degenerate copies of the demo exposures, for the reliability tests.

Each helper changes one file the way a user's file goes wrong (a copy cut short,
an extension lost, a DQ array of another shape, a singular CD matrix...), with
astropy's plain writer: the package's own writer is what is under test.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits

#: The image extensions of one chip in an HST FLT/FLC file, in file order.
CHIP_EXTENSIONS = ("SCI", "ERR", "DQ")


def copy_demo_set(source: Path, folder: Path, count: int | None = None) -> list[Path]:
    """Copy the first ``count`` exposures of the demo set in ``source`` to ``folder``,
    with an ``inputs.lst`` naming them; returns the copies."""
    folder.mkdir(parents=True, exist_ok=True)
    names = (source / "inputs.lst").read_text().split()
    copies = [Path(shutil.copy2(source / name, folder / name)) for name in names[:count]]
    (folder / "inputs.lst").write_text("".join(f"{path.name}\n" for path in copies))
    return copies


def sha256_of(paths) -> dict[str, str]:
    """The sha256 of each file, by name."""
    return {Path(path).name: hashlib.sha256(Path(path).read_bytes()).hexdigest()
            for path in paths}


def data_location(path: Path, extname: str, extver: int) -> tuple[int, int]:
    """``(start, end)`` byte offsets of an extension's data (padding excluded)."""
    with fits.open(path) as hdul:
        index = hdul.index_of((extname, extver))
        start = hdul.fileinfo(index)["datLoc"]
        return start, start + hdul[index].header["NAXIS1"] * hdul[index].header["NAXIS2"] \
            * abs(hdul[index].header["BITPIX"]) // 8


def header_location(path: Path, extname: str, extver: int) -> int:
    """Byte offset of an extension's header."""
    with fits.open(path) as hdul:
        return hdul.fileinfo(hdul.index_of((extname, extver)))["hdrLoc"]


def truncate(path: Path, size: int) -> None:
    """Cut the file to its first ``size`` bytes, as an interrupted copy does."""
    data = path.read_bytes()
    path.write_bytes(data[:size])


def drop_extension(path: Path, extname: str, extver: int) -> None:
    """Rewrite the file without one extension (NEXTEND keeps its promise of more)."""
    with fits.open(path) as hdul:
        kept = fits.HDUList([hdu.copy() for hdu in hdul
                             if (hdu.name, hdu.ver) != (extname, extver)])
        kept.writeto(path, overwrite=True, output_verify="silentfix")


def replace_data(path: Path, extname: str, extver: int, data: np.ndarray) -> None:
    """Rewrite one extension with other data (another shape, values, type)."""
    with fits.open(path) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    hdul[extname, extver].data = data
    hdul.writeto(path, overwrite=True)


def set_keywords(path: Path, extensions, **cards) -> None:
    """Set keywords in the given extensions (``0``, or ``('SCI', 1)`` ...)."""
    with fits.open(path, mode="update") as hdul:
        for extension in extensions:
            for keyword, value in cards.items():
                hdul[extension].header[keyword] = value


def chip_extensions(path: Path) -> list[tuple[str, int]]:
    """Every SCI/ERR/DQ extension of the file, as ``(name, ver)``."""
    with fits.open(path) as hdul:
        return [(hdu.name, hdu.ver) for hdu in hdul if hdu.name in CHIP_EXTENSIONS]


def mask_everything(path: Path, bit: int = 4) -> None:
    """Flag every pixel of every chip in DQ with ``bit`` (a bad pixel by default)."""
    with fits.open(path, mode="update") as hdul:
        for hdu in hdul:
            if hdu.name == "DQ":
                hdu.data[...] = bit


def move_on_sky(path: Path, degrees: float) -> None:
    """Move the exposure's WCS ``degrees`` in declination (every chip)."""
    with fits.open(path, mode="update") as hdul:
        for hdu in hdul:
            if hdu.name in CHIP_EXTENSIONS and "CRVAL2" in hdu.header:
                hdu.header["CRVAL2"] += degrees


def make_cd_singular(path: Path, extver: int = 1) -> None:
    """Make one chip's CD matrix singular: its second row a multiple of the first."""
    with fits.open(path, mode="update") as hdul:
        for extname in CHIP_EXTENSIONS:
            header = hdul[extname, extver].header
            header["CD2_1"] = 2.0 * header["CD1_1"]
            header["CD2_2"] = 2.0 * header["CD1_2"]


def folder_files(folder: Path) -> set[str]:
    """Every file under ``folder`` (relative names), hidden ones included."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}
