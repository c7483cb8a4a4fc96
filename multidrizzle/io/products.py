"""Writing products: atomic FITS writes, product headers, input archiving.

Every file is written to a temporary name in its destination folder and
renamed into place, so a crash never leaves a half-written product.  Input
files are only touched here, and only when the user asked for
``workinplace``.

Headers say what the pixels are: BUNIT follows the processing units of the
chips (``COUNTS/S`` for data in DN processed natively), the drizzled images
carry their grid's WCS and the chip images their chip's, and the sky that
was subtracted (MDRIZSKY) is recorded in the units of the image that carries
it; the final product records every input chip's sky as ``DnnnSKYv``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from astropy.io import fits

from multidrizzle.errors import InputError, ParameterError
from multidrizzle.geometry import OutputGrid, native_scale
from multidrizzle.model import Chip, Exposure

__all__ = [
    "atomic_writeto", "write_image", "processing_bunit", "product_bunit",
    "sky_keyword", "product_header", "single_headers", "median_header", "blot_header",
    "crclean_header", "write_drizzle_product", "ARCHIVE_FOLDER", "archive_inputs",
    "restore_inputs", "write_back_to_input",
]

log = logging.getLogger("multidrizzle")

#: Where AstroDrizzle and MultiDrizzle keep copies of the original inputs.
ARCHIVE_FOLDER = "OrIg_files"

#: Keywords that describe an HDU's structure, not its content: dropped from a
#: header before it goes into a new primary HDU.
_STRUCTURAL_KEYWORDS = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2",
                        "EXTEND", "PCOUNT", "GCOUNT", "EXTNAME", "EXTVER", "BSCALE", "BZERO",
                        "INHERIT")

#: Prefixes of the lookup-table distortion records (NPOL, D2IM).  They point
#: at WCSDVARR / D2IMARR extensions, which a one-image file does not have:
#: left in, they would make the file's WCS unreadable.
_LOOKUP_TABLE_PREFIXES = ("CPDIS", "CPERR", "DP1", "DP2", "D2IMDIS", "D2IMERR", "D2IM1",
                          "D2IM2")

#: Final-product values of ``final_units``.
_FINAL_UNITS = ("cps", "counts")

_CARD_LENGTH = 80
_VALUE_FIELD = 30  # "KEYWORD = " plus a 20-character value
_COMMENT_SEPARATOR = 3  # " / "


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
        os.chmod(temporary, mode)  # mkstemp makes it private (0600); no fchmod on Windows
        with os.fdopen(handle, "wb") as stream:
            hdul.writeto(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_image(path: str | os.PathLike, data: np.ndarray,
                header: fits.Header | None = None) -> Path:
    """A simple one-image FITS file, written atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced if it exists).
    data : numpy.ndarray
        The image.
    header : astropy.io.fits.Header, optional
        Cards to write with it (WCS, BUNIT, EXPTIME, MDRIZSKY...; see
        :func:`single_headers`, :func:`median_header`, :func:`blot_header`).
        Structural keywords (``XTENSION``, ``NAXISn``, ``EXTNAME``...) are
        dropped, so an extension's header may be given; the caller's header
        is not modified.
    """
    content = fits.Header() if header is None else header.copy()
    for keyword in _STRUCTURAL_KEYWORDS:
        content.remove(keyword, ignore_missing=True, remove_all=True)
    return atomic_writeto(fits.HDUList([fits.PrimaryHDU(data=data, header=content)]), path)


def processing_bunit(chip: Chip) -> str:
    """The BUNIT of ``chip.read_science()`` values (its processing units).

    ``ELECTRONS`` for ``proc_unit='electrons'``, else the file's own BUNIT
    (``ELECTRONS``, ``COUNTS``, ``ELECTRONS/S`` or ``COUNTS/S``).
    """
    native = chip.proc_scale == 1.0
    base = "COUNTS" if native and chip.bunit.startswith("COUNTS") else "ELECTRONS"
    return base + ("/S" if chip.processing_is_rate else "")


def product_bunit(chips: Iterable[Chip], final_units: str = "cps") -> str:
    """BUNIT of an image drizzled from ``chips``: their processing units, per second or not.

    Parameters
    ----------
    chips : iterable of Chip
        Every chip that went into the image.
    final_units : {'cps', 'counts'}
        Per second (every drizzled image but a final product with
        ``final_units='counts'``) or per total exposure.

    Returns
    -------
    str
        ``ELECTRONS/S``, ``COUNTS/S``, ``ELECTRONS`` or ``COUNTS``.

    Raises
    ------
    ParameterError
        If ``final_units`` is neither ``'cps'`` nor ``'counts'``.
    InputError
        If no chip is given, or some chips are processed in DN and others in
        electrons (their drizzled sum has no unit; ``proc_unit='electrons'``
        puts every input in electrons).
    """
    if final_units not in _FINAL_UNITS:
        raise ParameterError(f"parameter 'final_units' must be one of {_FINAL_UNITS}; "
                             f"got {final_units!r}")
    bases: dict[str, str] = {}
    for chip in chips:
        bases.setdefault(processing_bunit(chip).split("/")[0], chip.name)
    if not bases:
        raise InputError("no input chip: the units of a drizzled product come from its "
                         "inputs")
    if len(bases) > 1:
        raise InputError(f"inputs mix units: {bases['COUNTS']} is processed in COUNTS and "
                         f"{bases['ELECTRONS']} in ELECTRONS, so their drizzled sum has no "
                         "unit; set parameter 'proc_unit' to 'electrons'")
    base, = bases
    return base + ("/S" if final_units == "cps" else "")


def sky_keyword(exposure_number: int, extver: int) -> str:
    """Product-header keyword of the sky of input chip ``extver`` of exposure ``exposure_number``.

    ``D001SKY1`` for SCI,1 of the first exposure, shortened to stay within
    FITS's 8 characters: ``D001SK12``, ``D001S123``, ``D0011234``.

    Raises
    ------
    InputError
        If the numbers do not fit in 8 characters (more than 999 exposures or
        EXTVER above 9999).
    """
    number, version = f"{int(exposure_number):03d}", str(int(extver))
    if len(number) > 3 or len(version) > 4 or exposure_number < 1 or extver < 1:
        raise InputError(f"exposure {exposure_number}, SCI,{extver}: the sky keyword "
                         "D<exposure><SKY extver> needs 1 <= exposure <= 999 and "
                         "1 <= EXTVER <= 9999")
    return f"D{number}{'SKY'[:4 - len(version)]}{version}"


def _fitted_comment(comment: str) -> str:
    """``comment`` cut, at its end, to what fits on a card with a number value.

    astropy writes a number in a 20-character field after ``KEYWORD = ``, so
    the comment has 47 characters; longer ones it would cut with a warning.
    """
    room = _CARD_LENGTH - _VALUE_FIELD - _COMMENT_SEPARATOR
    return comment if len(comment) <= room else comment[:room]


def _sky_of(sky_values: Mapping[str, float] | None, chip: Chip) -> float:
    """A chip's sky in native units; chips without one had no sky subtracted."""
    return float(sky_values.get(chip.name, 0.0)) if sky_values else 0.0


def product_header(grid: OutputGrid, *, exptime: float, n_images: int, units: str,
                   parameters: Mapping[str, str], exposures: Sequence[Exposure],
                   sky_values: Mapping[str, float] | None = None,
                   sky_subtracted: bool = True) -> fits.Header:
    """Header of a drizzled product: output WCS, exposure, units, inputs, skies, parameters.

    Every parameter is recorded as ``HISTORY name = value`` so that the run
    can be repeated from the header alone.

    Parameters
    ----------
    grid : OutputGrid
        The product's grid.
    exptime : float
        Total exposure time of the inputs (s).
    n_images : int
        Number of exposures drizzled.
    units : {'cps', 'counts'}
        ``final_units``.
    parameters : mapping
        Parameter name -> text of its value.
    exposures : sequence of Exposure
        The inputs, in context order (``D001DATA``...).  BUNIT follows their
        processing units (:func:`product_bunit`: ``COUNTS/S`` for data in DN
        processed natively) and each chip's sky is recorded.
    sky_values : mapping, optional
        Chip name -> sky in the chip's native units (the session's
        ``sky_values``, MDRIZSKY); chips missing from it (or all chips, when
        it is empty or None) had no sky subtracted and are recorded as 0.
    sky_subtracted : bool
        Whether multidrizzle subtracted those skies (False for ``skyuser``
        or a sky file marked as applied: the data came without it).

    Returns
    -------
    astropy.io.fits.Header
        With one ``DnnnSKYv`` card per input chip (:func:`sky_keyword`),
        commented with the file and extension, when ``exposures`` is given.

    Raises
    ------
    ParameterError
        If ``units`` is unknown.
    InputError
        From :func:`product_bunit` and :func:`sky_keyword`.
    """
    bunit = product_bunit((c for e in exposures for c in e.chips), units)
    header = grid.wcs.to_header()
    header["EXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    header["TEXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    header["NDRIZIM"] = (int(n_images), "number of images drizzled")
    header["BUNIT"] = (bunit, "units of SCI")
    header["D001SCAL"] = (float(grid.scale), "output pixel scale (arcsec/pixel)")
    header["ORIENTAT"] = (float(grid.rotation), "position angle of y axis (deg)")
    for number, exposure in enumerate(exposures, start=1):
        header[f"D{number:03d}DATA"] = (exposure.filename.name, "input exposure")
    _add_sky_cards(header, exposures, sky_values, sky_subtracted)
    header["HISTORY"] = "multidrizzle parameters:"
    for name, value in parameters.items():
        header["HISTORY"] = f"{name} = {value}"
    return header


def _add_sky_cards(header: fits.Header, exposures: Sequence[Exposure],
                   sky_values: Mapping[str, float] | None, sky_subtracted: bool) -> None:
    how = ("subtracted by multidrizzle" if sky_subtracted
           else "removed before multidrizzle, not subtracted by it")
    header["COMMENT"] = (f"DnnnSKYv: sky (MDRIZSKY) of SCI,v of input exposure nnn, in "
                         f"that chip's BUNIT per input pixel; {how}")
    for number, exposure in enumerate(exposures, start=1):
        for chip in exposure.chips:
            keyword = sky_keyword(number, chip.extver)
            value = _sky_of(sky_values, chip)
            comment = f"MDRIZSKY {chip.name} {chip.bunit}"
            header[keyword] = (value, _fitted_comment(comment))


def single_headers(grid: OutputGrid, exposure: Exposure,
                   sky_values: Mapping[str, float] | None) -> tuple[fits.Header, fits.Header]:
    """Headers of an exposure's ``_single_sci`` and ``_single_wht`` files.

    Both carry the separate grid's WCS and the exposure time; the science
    header also BUNIT (the processing units per second) and MDRIZSKY: the
    sky of the exposure as the median step takes it (that of the chip with
    the lowest sky in electrons), in the single image's own units, i.e. per
    second and per separate-drizzle pixel, so that adding it back restores
    the unsubtracted image.

    Parameters
    ----------
    grid : OutputGrid
        The separate-drizzle grid.
    exposure : Exposure
    sky_values : mapping or None
        Chip name -> sky in native units (the session's ``sky_values``);
        missing chips had no sky subtracted.

    Returns
    -------
    (astropy.io.fits.Header, astropy.io.fits.Header)
        Science header, weight header.

    Raises
    ------
    InputError
        If the exposure's chips mix DN and electrons (:func:`product_bunit`).
    """
    weight_header = grid.wcs.to_header()
    weight_header["EXPTIME"] = (float(exposure.exptime), "exposure time (s)")
    science_header = weight_header.copy()
    science_header["BUNIT"] = (product_bunit(exposure.chips), "units of the image")
    lowest = min(exposure.chips, key=lambda c: _sky_of(sky_values, c) * c.to_electrons)
    per_second = 1.0 if lowest.processing_is_rate else lowest.exptime
    pixel_ratio = grid.scale / native_scale(lowest)
    sky = _sky_of(sky_values, lowest) * lowest.proc_scale / per_second * pixel_ratio ** 2
    science_header["MDRIZSKY"] = (sky, _fitted_comment(
        f"sky of {exposure.filename.name}, in BUNIT"))
    return science_header, weight_header


def median_header(grid: OutputGrid, exposures: Sequence[Exposure]) -> fits.Header:
    """Header of the ``_med`` file: the separate grid's WCS, BUNIT and NCOMBINE.

    Raises
    ------
    InputError
        If the chips mix DN and electrons (:func:`product_bunit`).
    """
    header = grid.wcs.to_header()
    header["BUNIT"] = (product_bunit(c for e in exposures for c in e.chips),
                       "units of the image")
    header["NCOMBINE"] = (len(exposures), "number of separate drizzles combined")
    return header


def _chip_cards(header: fits.Header, chip: Chip, sky: float, sky_comment: str) -> None:
    header["BUNIT"] = (processing_bunit(chip), "units of the image (processing units)")
    header["EXPTIME"] = (float(chip.exptime), "exposure time (s)")
    header["MDRIZSKY"] = (float(sky), sky_comment)


def blot_header(chip: Chip, *, sky: float) -> fits.Header:
    """Header of a ``_blt`` file: the chip's WCS, BUNIT, EXPTIME and MDRIZSKY.

    Parameters
    ----------
    chip : Chip
        The chip the median was blotted onto.
    sky : float
        What the blot step added to the blotted median, in the chip's
        processing units (:func:`multidrizzle.pipeline.blot_sky`).

    Notes
    -----
    The WCS is the chip's with its SIP polynomial; NPOL and D2IM lookup
    tables need extensions that a one-image file does not have, so they are
    left out (a COMMENT card says so when the chip has them).
    """
    header = chip.wcs.to_header(relax=True)
    if _has_lookup_tables(chip):
        header["COMMENT"] = ("WCS without the input's NPOL/D2IM lookup-table "
                             "distortion (SIP only)")
    _chip_cards(header, chip, sky, "sky added to the blotted median, in BUNIT")
    return header


def crclean_header(chip: Chip, *, sky: float) -> fits.Header:
    """Header of a ``_crclean`` file: the chip's SCI header, in the image's units.

    A copy of the SCI header, as AstroDrizzle writes it, with BUNIT set to
    the processing units of the cleaned image, MDRIZSKY to the chip's sky in
    those units, and without the lookup-table distortion records (their
    WCSDVARR / D2IMARR extensions are not in the file).

    Parameters
    ----------
    chip : Chip
    sky : float
        The chip's sky in its native units (the session's ``sky_values``,
        as written to the input's MDRIZSKY); it is still in the image.
    """
    header = chip.header.copy()
    lookup = [card.keyword for card in header.cards
              if card.keyword.startswith(_LOOKUP_TABLE_PREFIXES)]
    for keyword in lookup:
        header.remove(keyword, ignore_missing=True, remove_all=True)
    if lookup:
        header["COMMENT"] = ("WCS without the input's NPOL/D2IM lookup-table "
                             "distortion (SIP only)")
    _chip_cards(header, chip, float(sky) * chip.proc_scale,
                "sky of this chip (not subtracted), in BUNIT")
    return header


def _has_lookup_tables(chip: Chip) -> bool:
    wcs = chip.wcs
    return any(table is not None for table in (wcs.cpdis1, wcs.cpdis2, wcs.det2im1,
                                               wcs.det2im2))


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
    # BUNIT describes SCI only; weights and context bits have no unit.
    other = header.copy()
    other.remove("BUNIT", ignore_missing=True, remove_all=True)
    if build:
        hdus = [fits.PrimaryHDU(header=_primary_cards(header)),
                fits.ImageHDU(sci, header=header, name="SCI"),
                fits.ImageHDU(wht, header=other, name="WHT")]
        if context is not None:
            hdus.append(fits.ImageHDU(context, header=other, name="CTX"))
        return [atomic_writeto(fits.HDUList(hdus), f"{root}_{suffix}.fits")]
    written = [write_image(f"{root}_{suffix}_sci.fits", sci, header),
               write_image(f"{root}_{suffix}_wht.fits", wht, other)]
    if context is not None:
        written.append(write_image(f"{root}_{suffix}_ctx.fits", context, other))
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
    """Record MDRIZSKY and/or a new DQ array in an input file (workinplace only).

    The file is rewritten through a temporary file and a rename, as every
    product is: a crash leaves the previous version whole.
    """
    with fits.open(path, mode="readonly", memmap=False) as hdul:
        if sky is not None:
            hdul["SCI", extver].header["MDRIZSKY"] = (float(sky), "sky value (multidrizzle)")
        if dq is not None:
            hdul["DQ", extver].data = dq.astype(hdul["DQ", extver].data.dtype)
        atomic_writeto(hdul, path)
