"""Writing products: atomic FITS writes, drizzled products, input archiving.

Every file is written to a temporary name in its destination folder and
renamed into place, so a crash never leaves a half-written product.  Input
files are only touched here, and only when the user asked for
``workinplace``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from astropy.io import fits

from multidrizzle.geometry import OutputGrid

__all__ = [
    "atomic_writeto", "write_image", "product_header", "write_drizzle_product",
    "ARCHIVE_FOLDER", "archive_inputs", "restore_inputs", "write_back_to_input",
]

log = logging.getLogger("multidrizzle")

#: Where AstroDrizzle and MultiDrizzle keep copies of the original inputs.
ARCHIVE_FOLDER = "OrIg_files"


def atomic_writeto(hdul: fits.HDUList, path: str | os.PathLike) -> Path:
    """Write ``hdul`` to ``path`` through a temporary file and a rename.

    Readers never see a partial file, and a failed write leaves any earlier
    file in place and no temporary file behind.  The new file gets the mode
    of the file it replaces, or 0644.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        os.fchmod(handle, mode)  # mkstemp makes the file private (0600)
        with os.fdopen(handle, "wb") as stream:
            hdul.writeto(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_image(path: str | os.PathLike, data: np.ndarray,
                header: fits.Header | None = None) -> Path:
    """A simple one-image FITS file, written atomically."""
    return atomic_writeto(fits.HDUList([fits.PrimaryHDU(data=data, header=header)]), path)


def product_header(grid: OutputGrid, *, exptime: float, n_images: int, units: str,
                   parameters: Mapping[str, str], inputs: Iterable[str]) -> fits.Header:
    """Header of a drizzled product: output WCS, exposure, inputs, parameters.

    Every parameter is recorded as ``HISTORY name = value`` so that the run
    can be repeated from the header alone.
    """
    header = grid.wcs.to_header()
    header["EXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    header["TEXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    header["NDRIZIM"] = (int(n_images), "number of images drizzled")
    header["BUNIT"] = ("ELECTRONS/S" if units == "cps" else "ELECTRONS", "units of SCI")
    header["D001SCAL"] = (float(grid.scale), "output pixel scale (arcsec/pixel)")
    header["ORIENTAT"] = (float(grid.rotation), "position angle of y axis (deg)")
    for number, name in enumerate(inputs, start=1):
        header[f"D{number:03d}DATA"] = (Path(name).name, "input exposure")
    header["HISTORY"] = "multidrizzle parameters:"
    for name, value in parameters.items():
        header["HISTORY"] = f"{name} = {value}"
    return header


def write_drizzle_product(root: str, sci: np.ndarray, wht: np.ndarray,
                          ctx: np.ndarray | None, header: fits.Header, *, build: bool,
                          suffix: str = "drz") -> list[Path]:
    """Write the final SCI/WHT/CTX as one MEF file or three simple files.

    Parameters
    ----------
    root : str
        Output root name (may include a folder).
    build : bool
        True: ``<root>_<suffix>.fits`` with SCI, WHT and CTX extensions;
        False: ``<root>_<suffix>_sci.fits``, ``_wht.fits``, ``_ctx.fits``.
    suffix : str
        ``drz``, or ``drc`` for CTE-corrected (FLC) input.
    """
    context = None if ctx is None else (ctx[0] if ctx.shape[0] == 1 else ctx)
    if build:
        hdus = [fits.PrimaryHDU(header=_primary_cards(header)),
                fits.ImageHDU(sci, header=header, name="SCI"),
                fits.ImageHDU(wht, header=header, name="WHT")]
        if context is not None:
            hdus.append(fits.ImageHDU(context, header=header, name="CTX"))
        return [atomic_writeto(fits.HDUList(hdus), f"{root}_{suffix}.fits")]
    written = [write_image(f"{root}_{suffix}_sci.fits", sci, header),
               write_image(f"{root}_{suffix}_wht.fits", wht, header)]
    if context is not None:
        written.append(write_image(f"{root}_{suffix}_ctx.fits", context, header))
    return written


def _primary_cards(header: fits.Header) -> fits.Header:
    primary = fits.Header()
    for key in ("EXPTIME", "TEXPTIME", "NDRIZIM"):
        primary[key] = (header[key], header.comments[key])
    return primary


def archive_inputs(files: Iterable[Path], *, preserve: bool, overwrite: bool) -> list[Path]:
    """Copy inputs to ``OrIg_files/`` beside them before they are changed.

    ``preserve`` copies only files not archived yet; ``overwrite`` replaces
    existing copies.  Returns the copies made.
    """
    copies = []
    for path in files:
        archive = path.parent / ARCHIVE_FOLDER / path.name
        if archive.exists() and not overwrite:
            continue
        if not (preserve or overwrite):
            continue
        archive.parent.mkdir(exist_ok=True)
        temporary = archive.with_name(f".{archive.name}.tmp")
        shutil.copy2(path, temporary)
        os.replace(temporary, archive)
        copies.append(archive)
        log.info("archived %s to %s", path, archive)
    return copies


def restore_inputs(files: Iterable[Path]) -> list[Path]:
    """Copy archived originals back over the inputs (``restore=True``)."""
    restored = []
    for path in files:
        archive = path.parent / ARCHIVE_FOLDER / path.name
        if not archive.exists():
            log.info("restore: %s has no archived copy; using it as it is", path)
            continue
        temporary = path.with_name(f".{path.name}.tmp")
        shutil.copy2(archive, temporary)
        os.replace(temporary, path)
        restored.append(path)
        log.info("restored %s from %s", path, archive)
    return restored


def write_back_to_input(path: Path, extver: int, *, sky: float | None = None,
                        dq: np.ndarray | None = None) -> None:
    """Record MDRIZSKY and/or a new DQ array in an input file (workinplace only)."""
    with fits.open(path, mode="update") as hdul:
        if sky is not None:
            hdul["SCI", extver].header["MDRIZSKY"] = (float(sky), "sky value (multidrizzle)")
        if dq is not None:
            hdul["DQ", extver].data = dq.astype(hdul["DQ", extver].data.dtype)
