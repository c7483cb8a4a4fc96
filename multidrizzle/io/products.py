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

The final product is what an AstroDrizzle user opens first, so its headers
say what an AstroDrizzle product says (:func:`product_headers`): the first
input's identity and photometric keywords, the observation's start and end,
the software, AstroDrizzle's ``Dnnn`` cards for every input, the footprint
(``S_REGION``), the parameters (HISTORY), and an ``HDRTAB`` table of every
input chip's keywords.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping, Sequence

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Column, MaskedColumn, Table

from multidrizzle import __version__
from multidrizzle.errors import InputError, ParameterError
from multidrizzle.kernels.drizzle import noise_correlation_ratio
from multidrizzle.model.geometry import OutputGrid, native_scale
from multidrizzle.model.instruments import header_number
from multidrizzle.io.atomic import FileSet, atomic_copy, atomic_write, atomic_writeto
from multidrizzle.model import Chip, Exposure

__all__ = [
    "atomic_writeto", "write_image", "STRUCTURAL_KEYWORDS", "processing_bunit", "product_bunit",
    "sky_keyword", "DrizzleRecord", "KeywordConflict", "ProductHeaders", "product_headers",
    "with_footprint",
    "photometric_cards", "footprint_region", "header_table", "keyword_conflicts",
    "bunit_unit", "IDENTITY_KEYWORDS", "PHOTOMETRY_KEYWORDS", "CONFLICT_KEYWORDS",
    "TABLE_KEYWORDS", "single_headers", "median_header", "blot_header", "crclean_header",
    "final_product_names", "write_drizzle_product", "ProductInProgress", "stored_product_images",
    "ARCHIVE_FOLDER", "archive_inputs",
    "restore_inputs", "write_back_to_input",
]

log = logging.getLogger(__name__)

#: Where AstroDrizzle and MultiDrizzle keep copies of the original inputs.
ARCHIVE_FOLDER = "OrIg_files"

#: Keywords that describe an HDU's structure, not its content: dropped from a
#: header before it goes into a new primary HDU.
STRUCTURAL_KEYWORDS = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2",
                       "EXTEND", "PCOUNT", "GCOUNT", "EXTNAME", "EXTVER", "BSCALE", "BZERO",
                       "INHERIT")

#: Prefixes of the lookup-table distortion records (NPOL, D2IM).  They point
#: at WCSDVARR / D2IMARR extensions, which a one-image file does not have:
#: left in, they would make the file's WCS unreadable.
_LOOKUP_TABLE_PREFIXES = ("CPDIS", "CPERR", "DP1", "DP2", "D2IMDIS", "D2IMERR", "D2IM1",
                          "D2IM2")

#: Final-product values of ``final_units``.
_FINAL_UNITS = ("cps", "counts")

#: Keywords that say what was observed, copied from the first input's primary
#: header into the product's.
IDENTITY_KEYWORDS = ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "FILTER1", "FILTER2",
                     "APERTURE", "OBSTYPE", "OBSMODE", "SUBARRAY", "CCDAMP", "CCDGAIN",
                     "TARGNAME", "RA_TARG", "DEC_TARG", "PROPOSID", "LINENUM", "PR_INV_L",
                     "PR_INV_F", "PR_INV_M", "ASN_ID", "ASN_TAB", "PA_V3", "CAL_VER")

#: Photometric keywords (SCI header, else primary), copied into the product's
#: primary and SCI headers.
PHOTOMETRY_KEYWORDS = ("PHOTMODE", "PHOTFLAM", "PHOTFNU", "PHOTPLAM", "PHOTBW", "PHOTZPT",
                       "PHTFLAM1", "PHTFLAM2", "PHTRATIO")

#: Inverse sensitivities: per unit of the input's BUNIT.
_SENSITIVITY_KEYWORDS = ("PHOTFLAM", "PHOTFNU", "PHTFLAM1", "PHTFLAM2")

#: Keywords a product can hold only one value of: inputs that differ get a
#: warning (see :func:`keyword_conflicts`).
CONFLICT_KEYWORDS = ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "FILTER1", "FILTER2",
                     "PHOTMODE", "PHOTFLAM", "PHOTFNU", "PHOTPLAM", "PHOTBW", "PHOTZPT")

#: Keywords of the HDRTAB columns (after ROOTNAME, FILENAME, EXTNAME, EXTVER).
TABLE_KEYWORDS = ("INSTRUME", "DETECTOR", "FILTER", "FILTER1", "FILTER2", "APERTURE",
                  "TARGNAME", "RA_TARG", "DEC_TARG", "PROPOSID", "LINENUM", "ASN_ID",
                  "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPEND", "PA_V3", "CCDCHIP",
                  "CCDGAIN", "BUNIT", "ORIENTAT") + PHOTOMETRY_KEYWORDS

#: Relative difference below which two photometric values agree.
_PHOTOMETRY_REL_TOL = 1e-4
_MJD_IN_PHOTMODE = re.compile(r"\s*MJD#\s*[0-9.]+")

_UNITS_OF_BUNIT = {"ELECTRONS": u.electron, "ELECTRONS/S": u.electron / u.s,
                   "COUNTS": u.count, "COUNTS/S": u.count / u.s}

_CARD_LENGTH = 80
_VALUE_FIELD = 30  # "KEYWORD = " plus a 20-character value
_COMMENT_SEPARATOR = 3  # " / "


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
    for keyword in STRUCTURAL_KEYWORDS:
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


@dataclass
class DrizzleRecord:
    """How the final drizzle combined the inputs, for the ``Dnnn`` cards.

    Attributes
    ----------
    kernel : str
        The kernel actually used (``point`` for a pixfrac below 0.001).
    pixfrac : float
    weight_scales : sequence of float
        The ``wt_scl`` factor each exposure was weighted by, in context order.
    fillval : float or None
        Value of pixels with no weight (None: left at 0, AstroDrizzle's INDEF).
    wcskey : str
        The input WCS used (``''``: the primary WCS).
    """

    kernel: str
    pixfrac: float
    weight_scales: Sequence[float]
    fillval: float | None
    wcskey: str = ""


@dataclass(frozen=True)
class KeywordConflict:
    """A keyword whose value differs between inputs; the product keeps the first one.

    Attributes
    ----------
    keyword : str
    kept : tuple of (str, object)
        The first input's file name and value.
    others : list of (str, object)
        Every other input (file name, value) that differs from it.
    """

    keyword: str
    kept: tuple[str, object]
    others: list[tuple[str, object]]

    def __str__(self) -> str:
        def shown(value: object) -> str:
            return "no value" if value is None else repr(value)

        differing = ", ".join(f"{name} has {shown(value)}" for name, value in self.others)
        return (f"inputs differ in {self.keyword}: the product keeps {shown(self.kept[1])} "
                f"of {self.kept[0]}; {differing}")


@dataclass
class ProductHeaders:
    """Headers of a final product, and its table of input keywords.

    Attributes
    ----------
    primary : astropy.io.fits.Header
        Who and what (first input's identity and photometric keywords), when
        (EXPSTART, EXPEND, DATE-OBS), how (software, ``Dnnn`` cards of each
        input, skies, HISTORY of the parameters) and where (``S_REGION``).
    science : astropy.io.fits.Header
        The SCI image: output WCS, BUNIT, EXPTIME, photometric keywords.
    weight : astropy.io.fits.Header
        The WHT and CTX images: output WCS and EXPTIME (no BUNIT: weights
        and context bits have no unit).
    error : astropy.io.fits.Header or None
        The ERR image: the SCI header (same units) and the noise-correlation
        factor ``NCORRFAC`` with comments on its use; None without a
        drizzle record (a user's final-drizzle function).
    table : astropy.table.Table
        Written as the ``HDRTAB`` extension: one row per input chip with its
        header keywords (:func:`header_table`).
    conflicts : list of KeywordConflict
        Keywords that differ between inputs (:func:`keyword_conflicts`),
        for the caller to report.
    """

    primary: fits.Header
    science: fits.Header
    weight: fits.Header
    table: Table
    conflicts: list[KeywordConflict] = field(default_factory=list)
    error: fits.Header | None = None


def product_headers(grid: OutputGrid, *, exptime: float, n_images: int, units: str,
                    parameters: Mapping[str, str], exposures: Sequence[Exposure],
                    sky_values: Mapping[str, float] | None = None,
                    sky_subtracted: bool = True, drizzle: DrizzleRecord | None = None,
                    weight: np.ndarray | None = None) -> ProductHeaders:
    """Headers of a drizzled product, as an AstroDrizzle user expects to find them.

    The primary header holds:

    - the first input's identity keywords (:data:`IDENTITY_KEYWORDS`:
      TELESCOP, INSTRUME, DETECTOR, FILTER..., TARGNAME, PROPOSID...) from
      its primary header;
    - its photometric keywords (:data:`PHOTOMETRY_KEYWORDS`: PHOTFLAM,
      PHOTPLAM, PHOTZPT, PHOTMODE, PHOTFNU, PHOTBW, and WFC3's PHTFLAM1,
      PHTFLAM2, PHTRATIO) from the SCI header of its first chip, or its
      primary header where the SCI header lacks them.  PHOTFLAM and PHOTFNU
      are per unit of that file's BUNIT; when the product is in electrons
      and the file in DN (``proc_unit='electrons'``) they are divided by the
      chip's gain, so they stay right for the product;
    - EXPTIME and TEXPTIME (total exposure time), EXPSTART of the earliest
      input and EXPEND of the latest, and DATE-OBS / TIME-OBS of the input
      that started first (they describe the start of the observation, as
      EXPSTART does);
    - NDRIZIM, ``PROD_VER`` (``multidrizzle <version>``);
    - per input exposure ``nnn`` (context order) the cards AstroDrizzle
      writes: ``DnnnVER``, ``DnnnGEOM``, ``DnnnDATA``, ``DnnnDEXP``,
      ``DnnnOUUN``, ``DnnnSCAL``, ``DnnnISCL`` and, when ``drizzle`` says how
      the images were combined, ``DnnnKERN``, ``DnnnPIXF``, ``DnnnWTSC``,
      ``DnnnFVAL``, ``DnnnWKEY``; ``DnnnOUDA``, ``DnnnOUWE``, ``DnnnOUCO``
      (the output files) are added by :func:`write_drizzle_product`, as are
      DATE, FILENAME and ROOTNAME; and the sky of every chip,
      ``DnnnSKYv`` (:func:`sky_keyword`);
    - ``S_REGION``: the footprint of the data, see :func:`footprint_region`;
    - every parameter as ``HISTORY name = value``, so that the run can be
      repeated from the header alone.

    Where inputs differ (:func:`keyword_conflicts`), the product keeps the
    first input's value and the conflicts are returned for the caller to
    report; every input's value is in the HDRTAB table.

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
    drizzle : DrizzleRecord, optional
        How the built-in final drizzle ran; None (a user's step function)
        leaves the kernel, pixfrac, weight and fill cards out, with a COMMENT
        saying so.
    weight : numpy.ndarray, optional
        The final weight image, whose non-zero pixels make ``S_REGION``; None
        takes the whole grid.

    Returns
    -------
    ProductHeaders

    Raises
    ------
    ParameterError
        If ``units`` is unknown.
    InputError
        From :func:`product_bunit` and :func:`sky_keyword`.
    """
    bunit = product_bunit((c for e in exposures for c in e.chips), units)
    first = exposures[0]
    # Keyword cards, then the comments, then HISTORY: the order that
    # `header[keyword] = value` gives (a keyword card goes before trailing
    # commentary), made with the comments held back so that every card can
    # be appended at the end (_append_new).
    primary = fits.Header()
    comments: list[tuple[str, str]] = []
    _copy_cards(primary, first.primary_header, IDENTITY_KEYWORDS)
    _add_observation_times(primary, exposures)
    photometry = photometric_cards(first.chips[0], first.primary_header, bunit)
    for card in photometry.cards:
        if card.keyword in _COMMENTARY:
            comments.append((card.keyword, card.value))
        else:
            primary.append(card)
    primary["EXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    primary["TEXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    primary["NDRIZIM"] = (int(n_images), "number of images drizzled")
    primary["PROD_VER"] = (f"multidrizzle {__version__}", "software that made this product")
    comments += _add_input_cards(primary, grid, exposures, units, drizzle)
    comments += _add_sky_cards(primary, exposures, sky_values, sky_subtracted)
    region = footprint_region(grid, weight)
    if region is None:
        comments.append(("COMMENT", _NO_FOOTPRINT))
    else:
        primary["S_REGION"] = (region, _FOOTPRINT_COMMENT)
    _append_new(primary, comments)
    _append_new(primary, [("HISTORY", "multidrizzle parameters:")] + [
        ("HISTORY", f"{name} = {value}") for name, value in parameters.items()])

    weight_header = grid.wcs.to_header()
    weight_header["EXPTIME"] = (float(exptime), "total exposure time of the inputs (s)")
    weight_header["ORIENTAT"] = (float(grid.rotation), "position angle of y axis (deg)")
    science = weight_header.copy()
    science["BUNIT"] = (bunit, "units of SCI")
    for card in photometry.cards:
        science.append(card)
    error = None
    if drizzle is not None:
        error = _error_header(science, drizzle, grid.scale / native_scale(first.chips[0]))
        science["NCORRFAC"] = error["NCORRFAC"], error.comments["NCORRFAC"]
    return ProductHeaders(primary=primary, science=science, weight=weight_header,
                          table=header_table(exposures, sky_values),
                          conflicts=keyword_conflicts(exposures), error=error)


def _error_header(science: fits.Header, drizzle: DrizzleRecord,
                  pixel_scale_ratio: float) -> fits.Header:
    """The ERR image's header: the SCI one, ``NCORRFAC`` and how to use it."""
    header = science.copy()
    header["BUNIT"] = (science["BUNIT"], "units of ERR (standard deviation of SCI)")
    ratio = noise_correlation_ratio(drizzle.kernel, drizzle.pixfrac, pixel_scale_ratio)
    header["NCORRFAC"] = (round(ratio, 6), "noise correlation R (Fruchter & Hook 2002)")
    header["NCORRSCL"] = (round(float(pixel_scale_ratio), 8),
                          "output / input pixel scale used for NCORRFAC")
    for line in ("ERR: standard deviation of SCI from the inputs' variance (ERR or",
                 "noise model) drizzled with the weights squared:",
                 "var = sum(w_i^2 var_i) / sum(w_i)^2.",
                 "Neighbouring pixels are correlated: for a sum over an aperture much",
                 "larger than the drop, error = NCORRFAC * sqrt(sum of ERR^2).",
                 "NCORRFAC is for the first input's pixel scale, kernel and pixfrac."):
        header["COMMENT"] = line
    return header


def _copy_cards(target: fits.Header, source: fits.Header, keywords: Iterable[str]) -> None:
    """Copy ``keywords`` that ``source`` has, with their comments."""
    for keyword in keywords:
        if keyword in source:
            target[keyword] = (source[keyword], source.comments[keyword])


def _header_float(header: fits.Header, keyword: str) -> float | None:
    """A keyword's value as a float, or None when it is missing or not a number."""
    value = header.get(keyword)
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _add_observation_times(header: fits.Header, exposures: Sequence[Exposure]) -> None:
    """EXPSTART of the earliest input, EXPEND of the latest, DATE-OBS/TIME-OBS of the earliest."""
    starts = [_header_float(e.primary_header, "EXPSTART") for e in exposures]
    ends = [_header_float(e.primary_header, "EXPEND") for e in exposures]
    if None in starts or None in ends:
        missing = next(e.filename.name for e, start, end in zip(exposures, starts, ends)
                       if start is None or end is None)
        log.info("product header: EXPSTART/EXPEND not written, %s has no numeric "
                 "EXPSTART or EXPEND in its primary header", missing)
        _copy_cards(header, exposures[0].primary_header, ("DATE-OBS", "TIME-OBS"))
        return
    earliest = exposures[int(np.argmin(starts))]
    _copy_cards(header, earliest.primary_header, ("DATE-OBS", "TIME-OBS"))
    header["EXPSTART"] = (min(starts), "start of the earliest input exposure (MJD)")
    header["EXPEND"] = (max(ends), "end of the latest input exposure (MJD)")


def photometric_cards(chip: Chip, primary: fits.Header, bunit: str) -> fits.Header:
    """The photometric keywords of ``chip`` (:data:`PHOTOMETRY_KEYWORDS`), for a product in ``bunit``.

    Each keyword comes from the chip's SCI header, or the exposure's primary
    header where the SCI header lacks it.  PHOTFLAM, PHOTFNU, PHTFLAM1 and
    PHTFLAM2 are per unit of the input's BUNIT; a product in electrons made
    from DN (``proc_unit='electrons'``) gets them divided by the chip's gain.

    Parameters
    ----------
    chip : Chip
    primary : astropy.io.fits.Header
        The primary header of the chip's exposure.
    bunit : str
        BUNIT of the product (:func:`product_bunit`).

    Raises
    ------
    InputError
        If a sensitivity keyword that has to be converted is not a number.
    """
    to_electrons = (chip.bunit.startswith("COUNTS")
                    and bunit.split("/")[0] == "ELECTRONS")
    cards = fits.Header()
    for keyword in PHOTOMETRY_KEYWORDS:
        source = chip.header if keyword in chip.header else primary
        if keyword not in source:
            continue
        value, comment = source[keyword], source.comments[keyword]
        if to_electrons and keyword in _SENSITIVITY_KEYWORDS:
            where = (f"input file {chip.filename}, "
                     f"{'SCI,' + str(chip.extver) if source is chip.header else 'primary'} header")
            value = header_number(value, where=where, keyword=keyword,
                                  expected="an inverse sensitivity") / chip.gain
            comment = _fitted_comment(f"{keyword} of {chip.filename.name} / gain (per e-)")
        cards[keyword] = (value, comment)
    if to_electrons and any(k in cards for k in _SENSITIVITY_KEYWORDS):
        cards["COMMENT"] = (f"PHOTFLAM, PHOTFNU: {chip.name} is in {chip.bunit}; divided by its "
                            f"gain {chip.gain:g} e-/DN for this product in {bunit}")
    return cards


def _add_input_cards(header: fits.Header, grid: OutputGrid, exposures: Sequence[Exposure],
                     units: str, drizzle: DrizzleRecord | None) -> list[tuple[str, str]]:
    """The ``Dnnn`` cards AstroDrizzle writes, one set per input exposure; returns the
    comment to add with them, if any."""
    comments = []
    if drizzle is None:
        comments.append(("COMMENT", "final drizzle made by a user step function: DnnnKERN, "
                                    "PIXF, WTSC, FVAL, WKEY not recorded"))
    version = f"multidrizzle {__version__}"
    for number, exposure in enumerate(exposures, start=1):
        cards = [("VER", version, "Drizzle, task version"),
                 ("GEOM", "wcs", "Drizzle, source of geometric information"),
                 ("DATA", exposure.filename.name, "Drizzle, input data image"),
                 ("DEXP", float(exposure.exptime), "Drizzle, input image exposure time (s)"),
                 ("OUUN", units, "Drizzle, units of output image - counts or cps")]
        if drizzle is not None:
            cards += [("WTSC", float(drizzle.weight_scales[number - 1]),
                       "Drizzle, weighting factor for input image"),
                      ("KERN", drizzle.kernel, "Drizzle, form of weight distribution kernel"),
                      ("PIXF", float(drizzle.pixfrac), "Drizzle, linear size of drop"),
                      ("FVAL", "INDEF" if drizzle.fillval is None else float(drizzle.fillval),
                       "Drizzle, fill value for zero weight output pix"),
                      ("WKEY", drizzle.wcskey, "Input image WCS Version used")]
        cards += [("SCAL", float(grid.scale), "Drizzle, pixel size (arcsec) of output image"),
                  ("ISCL", native_scale(exposure.chips[0]),
                   "Drizzle, default IDCTAB pixel size(arcsec)")]
        _append_new(header, [(f"D{number:03d}{suffix}", value, comment)
                             for suffix, value, comment in cards])
    return comments


def _append_new(header: fits.Header, cards: Iterable[tuple]) -> None:
    """Append cards of keywords ``header`` does not have yet (or commentary cards) at
    its end.  ``header[keyword] = value`` would look for trailing commentary
    and reindex the header for each card: quadratic for a mosaic's thousands
    of ``Dnnn`` cards."""
    for card in cards:
        header.append(card, end=True)


_NO_FOOTPRINT = "S_REGION not written: no output pixel has weight"
_FOOTPRINT_COMMENT = "footprint of the pixels with data (ICRS, deg)"
_COMMENTARY = ("COMMENT", "HISTORY", "")


def _set_footprint(primary: fits.Header, region: str | None) -> None:
    """Put ``S_REGION`` (or the COMMENT saying there is none) in a finished primary
    header where :func:`product_headers` puts it: after the keyword cards
    (``S_REGION``) or after the other comments (the COMMENT)."""
    if region is not None and "S_REGION" in primary:
        primary["S_REGION"] = (region, _FOOTPRINT_COMMENT)   # in place
        return
    primary.remove("S_REGION", ignore_missing=True)
    for index, card in enumerate(primary.cards):
        if (card.keyword, card.value) == ("COMMENT", _NO_FOOTPRINT):
            del primary[index]
            break
    kinds = [card.keyword for card in primary.cards]
    if region is None:
        place = kinds.index("HISTORY") if "HISTORY" in kinds else len(kinds)
        primary.insert(place, ("COMMENT", _NO_FOOTPRINT))
    else:
        place = next((i for i, kind in enumerate(kinds) if kind in _COMMENTARY), len(kinds))
        primary.insert(place, ("S_REGION", region, _FOOTPRINT_COMMENT))


def with_footprint(headers: ProductHeaders, grid: OutputGrid,
                   weight: np.ndarray | None) -> ProductHeaders:
    """``headers`` with the ``S_REGION`` of ``weight`` (see :func:`footprint_region`).

    For a product allocated before its pixels existed: its headers are
    final but for the footprint, so they need not be built again (that
    parses every input's headers for HDRTAB).  The other headers and the
    table are shared with ``headers``, not copied.
    """
    primary = headers.primary.copy()
    _set_footprint(primary, footprint_region(grid, weight))
    return dataclasses.replace(headers, primary=primary)


def footprint_region(grid: OutputGrid, weight: np.ndarray | None = None, *,
                     tolerance: float = 0.5) -> str | None:
    """``S_REGION``: ``POLYGON ICRS ra1 dec1 ra2 dec2 ...`` around the data.

    The footprint chosen is the convex hull of the output pixels that have
    weight (the outer edges of those pixels), not the rectangle of the
    output grid: the grid's corners are often empty (a rotated or padded
    grid), and an archive search by position should find only where data
    are.  Being convex, the hull spans gaps between chips and between the
    tiles of a mosaic.  Hull vertices that bend the outline by less than
    ``tolerance`` output pixels are dropped, so the polygon has a handful of
    vertices and data pixels lie within ``tolerance`` pixels of it.
    Vertices go counter-clockwise as the sky is seen (north up, east left),
    in the frame of the grid's RADESYS (ICRS for HST).

    Parameters
    ----------
    grid : OutputGrid
    weight : numpy.ndarray, optional
        The product's weight image (``grid.shape``); None takes every pixel.
    tolerance : float
        In output pixels.

    Returns
    -------
    str or None
        None when no pixel has weight.
    """
    if weight is None:
        rows = np.arange(grid.ny)
        first = np.zeros(grid.ny, dtype=int)
        last = np.full(grid.ny, grid.nx - 1)
    else:
        rows, first, last = _covered_rows(weight)
        if rows.size == 0:
            return None
    left, right = first - 0.5, last + 0.5
    bottom, top = rows - 0.5, rows + 0.5
    corners = np.concatenate([np.column_stack(pair) for pair in (
        (left, bottom), (left, top), (right, bottom), (right, top))])
    hull = _simplified_convex_polygon(_convex_hull(np.unique(corners, axis=0)), tolerance)
    if np.linalg.det(grid.wcs.pixel_scale_matrix) > 0:
        hull = hull[::-1]  # the sky seen mirrored in the pixel frame
    ra, dec = grid.wcs.pixel_to_world_values(hull[:, 0], hull[:, 1])
    frame = (grid.wcs.wcs.radesys or "ICRS").strip().upper()
    return f"POLYGON {frame} " + " ".join(f"{a % 360.0:.7f} {d:.7f}" for a, d in zip(ra, dec))


def _covered_rows(weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with weight, and the first and last column with weight in each.

    Read a band of rows at a time, so that a weight image kept in a file is
    never whole in memory.
    """
    n_rows, n_cols = weight.shape
    band = max(1, _COPY_BYTES // (4 * n_cols))
    rows, first, last = [], [], []
    for start in range(0, n_rows, band):
        covered = np.asarray(weight[start:start + band]) > 0
        some = np.flatnonzero(covered.any(axis=1))
        rows.append(some + start)
        first.append(covered[some].argmax(axis=1))
        last.append(n_cols - 1 - covered[some, ::-1].argmax(axis=1))
    return np.concatenate(rows), np.concatenate(first), np.concatenate(last)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of sorted, unique ``points``, counter-clockwise.

    Andrew's monotone chain; collinear points are left out.
    """
    if len(points) < 3:
        return points
    lower: list[np.ndarray] = []
    for point in points:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    upper: list[np.ndarray] = []
    for point in points[::-1]:
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    return np.array(lower[:-1] + upper[:-1])


def _simplified_convex_polygon(vertices: np.ndarray, tolerance: float) -> np.ndarray:
    """Drop vertices of a convex polygon while every dropped one stays within ``tolerance``
    of the chord that replaces it (so the polygon shrinks by less than that)."""
    count = len(vertices)
    if count <= 4:
        return vertices
    closed = np.vstack([vertices, vertices[:1]])

    def worst_distance(start: int, end: int) -> float:
        chord = closed[end] - closed[start]
        between = closed[start + 1:end] - closed[start]
        cross = np.abs(chord[0] * between[:, 1] - chord[1] * between[:, 0])
        return float(cross.max() / np.hypot(*chord))

    kept, anchor = [0], 0
    while anchor < count:
        end = anchor + 1
        while end < count and worst_distance(anchor, end + 1) <= tolerance:
            end += 1
        kept.append(end)
        anchor = end
    simplified = vertices[kept[:-1]]
    return simplified if len(simplified) >= 3 else vertices


def _table_value(value: object) -> object:
    """A header value as a table cell; None for an undefined value."""
    return None if isinstance(value, fits.card.Undefined) else value


def _table_column(name: str, values: list) -> Column:
    """A column of header values: bool, int, float or text, masked where missing."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        dtype, fill = bool, False
    elif present and all(isinstance(v, Integral) and not isinstance(v, (bool, np.bool_))
                         for v in present):
        dtype, fill = np.int64, 0
    elif present and all(isinstance(v, Real) and not isinstance(v, (bool, np.bool_))
                         for v in present):
        dtype, fill = np.float64, np.nan
    else:
        dtype, fill = str, ""
        values = [None if v is None else str(v) for v in values]
    data = [fill if v is None else v for v in values]
    if any(v is None for v in values):
        return MaskedColumn(data, name=name, dtype=dtype, mask=[v is None for v in values])
    return Column(data, name=name, dtype=dtype)


def header_table(exposures: Sequence[Exposure],
                 sky_values: Mapping[str, float] | None = None) -> Table:
    """HDRTAB: one row per input chip with the header keywords that describe it.

    As AstroDrizzle's HDRTAB, the rows are the SCI extensions of the inputs
    (their photometric keywords are per chip), in context order; the first
    columns say which: ROOTNAME, FILENAME, EXTNAME, EXTVER.  Then every
    keyword of :data:`TABLE_KEYWORDS` that at least one input has (from the
    chip's SCI header, else its primary header; masked where an input lacks
    it), EXPTIME (the exposure time used, which is the header's unless the
    ``exptime`` parameter overrides it) and MDRIZSKY (the chip's sky in its
    BUNIT; 0 where none was measured).

    Parameters
    ----------
    exposures : sequence of Exposure
    sky_values : mapping, optional
        Chip name -> sky in the chip's native units.

    Returns
    -------
    astropy.table.Table
        Named ``HDRTAB`` (``meta['EXTNAME']``).
    """
    rows: list[dict[str, object]] = []
    for exposure in exposures:
        for chip in exposure.chips:
            row: dict[str, object] = {"ROOTNAME": exposure.rootname,
                                      "FILENAME": exposure.filename.name,
                                      "EXTNAME": "SCI", "EXTVER": int(chip.extver)}
            for keyword in TABLE_KEYWORDS:
                source = chip.header if keyword in chip.header else exposure.primary_header
                row[keyword] = _table_value(source.get(keyword))
            row["EXPTIME"] = float(chip.exptime)
            row["MDRIZSKY"] = _sky_of(sky_values, chip)
            rows.append(row)
    names = list(rows[0])
    columns = [_table_column(name, [row[name] for row in rows]) for name in names]
    return Table([c for c in columns if not (isinstance(c, MaskedColumn) and c.mask.all())],
                 meta={"EXTNAME": "HDRTAB"})


def _comparable(keyword: str, value: object) -> object:
    """What of a keyword's value must agree across inputs."""
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().upper()
    # PHOTMODE names the observation date ("... MJD#55611.0279"); only the
    # configuration before it has to agree
    return _MJD_IN_PHOTMODE.sub("", text) if keyword == "PHOTMODE" else text


def _agree(keyword: str, first: object, other: object) -> bool:
    if first is None or other is None:
        return first is None and other is None
    first, other = _comparable(keyword, first), _comparable(keyword, other)
    if isinstance(first, float) and isinstance(other, float):
        return math.isclose(first, other, rel_tol=_PHOTOMETRY_REL_TOL)
    return first == other


def keyword_conflicts(exposures: Sequence[Exposure]) -> list[KeywordConflict]:
    """The keywords of :data:`CONFLICT_KEYWORDS` whose values differ between inputs.

    A product can have only one instrument, detector, filter and set of
    photometric keywords; where inputs differ, the product keeps the first
    input's value and its photometry is wrong for the others.  Chips are
    compared with the chip of the same EXTVER of the first input (the two
    chips of one exposure have their own PHOTMODE and PHOTPLAM); PHOTMODE
    is compared without its ``MJD#`` date; numbers agree within a relative
    1e-4 (well below the calibration's accuracy, above rounding).  Target,
    proposal and dates may differ freely (mosaics, several visits): each
    input's values are in HDRTAB.

    Returns
    -------
    list of KeywordConflict
        Empty when the inputs agree (or there is only one).
    """
    conflicts = []
    first = exposures[0]
    # input by input: each one's headers (kept as text) are parsed once
    values_of = [{keyword: _values_by_extver(exposure, keyword) for keyword in CONFLICT_KEYWORDS}
                 for exposure in exposures]
    for keyword in CONFLICT_KEYWORDS:
        reference = values_of[0][keyword]
        others: list[tuple[str, object]] = []
        kept: object = None
        for exposure, values_by_keyword in zip(exposures[1:], values_of[1:]):
            values = values_by_keyword[keyword]
            extvers = sorted(set(reference) | set(values))
            differ = [v for v in extvers
                      if not _agree(keyword, reference.get(v), values.get(v))]
            if differ:
                if not others:
                    kept = reference.get(differ[0])
                others.append((exposure.filename.name, values.get(differ[0])))
        if others:
            conflicts.append(KeywordConflict(keyword, (first.filename.name, kept), others))
    return conflicts


def _values_by_extver(exposure: Exposure, keyword: str) -> dict[int, object]:
    values = {}
    for chip in exposure.chips:
        source = chip.header if keyword in chip.header else exposure.primary_header
        values[chip.extver] = _table_value(source.get(keyword))
    return values


def bunit_unit(bunit: str) -> u.UnitBase:
    """The astropy unit of an HST BUNIT (``ELECTRONS/S`` -> ``electron / s``).

    ``COUNTS`` (HST's data numbers) becomes astropy's ``count``.

    Raises
    ------
    InputError
        For a BUNIT other than ELECTRONS, COUNTS, ELECTRONS/S, COUNTS/S.
    """
    try:
        return _UNITS_OF_BUNIT[bunit.strip().upper()]
    except KeyError:
        raise InputError(f"BUNIT {bunit!r} is not understood; expected one of "
                         f"{', '.join(_UNITS_OF_BUNIT)}") from None


def _add_sky_cards(header: fits.Header, exposures: Sequence[Exposure],
                   sky_values: Mapping[str, float] | None,
                   sky_subtracted: bool) -> list[tuple[str, str]]:
    """``DnnnSKYv``: each input chip's sky; returns the comment saying what they are."""
    how = ("subtracted by multidrizzle" if sky_subtracted
           else "removed before multidrizzle, not subtracted by it")
    _append_new(header, [(sky_keyword(number, chip.extver), _sky_of(sky_values, chip),
                          _fitted_comment(f"MDRIZSKY {chip.name} {chip.bunit}"))
                         for number, exposure in enumerate(exposures, start=1)
                         for chip in exposure.chips])
    return [("COMMENT", f"DnnnSKYv: sky (MDRIZSKY) of SCI,v of input exposure nnn, in "
                        f"that chip's BUNIT per input pixel; {how}")]


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
        processing units (:func:`multidrizzle.session.pipeline.blot_sky`).

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


def stored_product_images(paths: Sequence[Path]) -> dict[str, Any]:
    """The SCI, WHT, CTX and ERR images of a written product, read from it on demand."""
    from multidrizzle.io.intermediates import StoredImage

    images = {}
    for path in paths:
        with fits.open(path, mode="readonly", memmap=False, lazy_load_hdus=True) as hdul:
            for index, hdu in enumerate(hdul):
                name = hdu.name if hdu.name in ("SCI", "WHT", "CTX", "ERR") else None
                if name is None and index == 0 and hdu.header.get("NAXIS", 0) >= 2:
                    name = {"sci": "SCI", "wht": "WHT", "ctx": "CTX", "err": "ERR"}.get(
                        Path(path).stem.rsplit("_", 1)[-1])
                if name is None or hdu.header.get("NAXIS", 0) < 2:
                    continue
                shape = tuple(hdu.header[f"NAXIS{axis}"]
                              for axis in range(hdu.header["NAXIS"], 0, -1))
                if name == "CTX" and len(shape) == 2:
                    shape = (1, *shape)  # a single plane is written as an image
                dtype = _dtype_of(hdu.header["BITPIX"])
                images[name] = StoredImage(path, shape, dtype.newbyteorder(">"),
                                           hdul.fileinfo(index)["datLoc"])
    return images


def _dtype_of(bitpix: int) -> np.dtype:
    return np.dtype({-32: np.float32, -64: np.float64, 8: np.uint8, 16: np.int16,
                     32: np.int32, 64: np.int64}[int(bitpix)])


def final_product_names(root: str, suffix: str, *, build: bool,
                        context: bool = True, error: bool = False) -> dict[str, str]:
    """Where each image of the final product goes: ``{'SCI': ..., 'WHT': ..., 'CTX': ...}``.

    ``build=True``: ``<root>_<suffix>.fits[SCI,1]`` and so on; False:
    ``<root>_<suffix>_sci.fits``, ``_wht.fits``, ``_ctx.fits``.  ``CTX`` is
    left out without a context image, ``ERR`` (``_err.fits``) included with
    an error image.
    """
    extensions = (("SCI", "WHT", "CTX") if context else ("SCI", "WHT")) + (
        ("ERR",) if error else ())
    if build:
        return {name: f"{root}_{suffix}.fits[{name},1]" for name in extensions}
    return {name: f"{root}_{suffix}_{name.lower()}.fits" for name in extensions}


def write_drizzle_product(root: str, sci: np.ndarray, wht: np.ndarray,
                          ctx: np.ndarray | None, headers: ProductHeaders, *, build: bool,
                          suffix: str = "drz", err: np.ndarray | None = None,
                          file_set: FileSet | None = None) -> list[Path]:
    """Write the final SCI/WHT/CTX (and ERR) as one MEF file or one simple file each.

    Parameters
    ----------
    root : str
        Output root name (may include a folder).
    headers : ProductHeaders
        From :func:`product_headers`.  Each file also gets DATE (UTC, when
        it was written), FILENAME, ROOTNAME (of ``root``) and the
        ``DnnnOUDA``, ``DnnnOUWE``, ``DnnnOUCO`` cards naming the outputs.
    build : bool
        True (MultiDrizzle's default): ``<root>_<suffix>.fits`` with an empty
        primary HDU and SCI, WHT, CTX and HDRTAB extensions.  False:
        ``<root>_<suffix>_sci.fits`` (the image in the primary HDU, with the
        primary and SCI cards, and HDRTAB as its one extension, where
        AstroDrizzle puts it), ``_wht.fits`` and ``_ctx.fits`` (the image
        with the primary cards and the WCS).
    suffix : str
        ``drz``, or ``drc`` for CTE-corrected (FLC) input.
    err : array, optional
        The error image (standard deviation of ``sci``, same units): an
        ``ERR`` extension after ``CTX`` (the first three extensions stay
        where AstroDrizzle puts them), or ``<root>_<suffix>_err.fits``, with
        ``headers.error`` (the SCI header if that is None).
    file_set : FileSet, optional
        Write the files into this set (temporary names until it is
        committed) instead of each by its own atomic write.

    Returns
    -------
    list of pathlib.Path
        The files written.

    See Also
    --------
    ProductInProgress : the same files, allocated first and written region by
        region (a final image larger than memory).
    """
    context = None if ctx is None else (ctx[0] if ctx.shape[0] == 1 else ctx)
    files = _product_files(root, suffix, headers,
                           {"SCI": sci, "WHT": wht, "CTX": context, "ERR": err},
                           build=build, written_at=_utc_now())
    return [write_images(path, parts, table, file_set=file_set)
            for path, parts, table in files]


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _product_files(root: str, suffix: str, headers: ProductHeaders,
                   images: Mapping[str, Any], *, build: bool, written_at: str
                   ) -> list[tuple[Path, list[tuple[fits.Header, Any, str]],
                                   fits.BinTableHDU | None]]:
    """The files of a product: each file's name, its HDUs ``(header, data, name)``
    (the first the primary HDU) and the HDRTAB table it ends with, if any.

    ``images`` maps ``SCI``, ``WHT``, ``CTX`` and ``ERR`` to their data (or
    anything with ``shape`` and ``dtype``), None for an image left out.
    """
    names = final_product_names(root, suffix, build=build,
                                context=images.get("CTX") is not None,
                                error=images.get("ERR") is not None)
    error_header = headers.science if headers.error is None else headers.error
    primary = _with_output_cards(headers.primary, names)
    primary["ROOTNAME"] = (Path(root).name, "root name of the product")
    table = fits.table_to_hdu(headers.table)
    table.name = "HDRTAB"
    cards = {"SCI": headers.science, "WHT": headers.weight, "CTX": headers.weight,
             "ERR": error_header}
    if build:
        path = Path(f"{root}_{suffix}.fits")
        parts = [(_file_cards(primary, path, written_at), None, "PRIMARY")]
        parts += [(cards[name], images[name], name) for name in names]
        return [(path, parts, table)]
    files = []
    for name, file_name in names.items():
        path = Path(file_name)
        header = _file_cards(_merged(primary, cards[name]), path, written_at)
        files.append((path, [(header, images[name], "PRIMARY")],
                      table if name == "SCI" else None))
    return files


#: Bytes of image data copied at a time when a product is written from
#: images kept in files: the product is never whole in memory.
_COPY_BYTES = 16 * 2**20
_BLOCK = 2880


def write_images(path: str | os.PathLike,
                 parts: Sequence[tuple[fits.Header, Any, str]],
                 table: fits.BinTableHDU | None = None, *,
                 file_set: FileSet | None = None) -> Path:
    """Write a FITS file of images, streamed a few rows at a time, atomically.

    Parameters
    ----------
    path : path
        The file.
    parts : sequence of (header, data, name)
        The HDUs in order: the first is the primary HDU (``data`` None for
        an empty one), the others image extensions named ``name``.  ``data``
        is an array or an image kept in a file
        (:class:`~multidrizzle.io.intermediates.StoredImage`), 2-D or a stack
        of planes, read ``_COPY_BYTES`` at a time.
    table : astropy.io.fits.BinTableHDU, optional
        A table extension written last (HDRTAB).
    file_set : FileSet, optional
        Write into this set (renamed when it is committed) rather than by
        :func:`~multidrizzle.io.atomic.atomic_write`.
    """
    def write(stream: BinaryIO) -> None:
        for index, (header, data, name) in enumerate(parts):
            _write_image_hdu(stream, header, data, name, primary=index == 0)
        if table is not None:
            stream.write(_table_bytes(table))
    if file_set is not None:
        return file_set.write(path, write)
    return atomic_write(path, write)


def _table_bytes(table: fits.BinTableHDU) -> bytes:
    """A table extension as written after other HDUs."""
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    return buffer.getvalue()[len(fits.PrimaryHDU().header.tostring()):]


def _hdu_header_bytes(header: fits.Header, data: Any, name: str, primary: bool) -> bytes:
    """The header of an image HDU of ``data`` (only its shape and dtype are used; None
    for an empty primary HDU) as written to the file, padded to whole blocks."""
    content = header.copy()
    for keyword in STRUCTURAL_KEYWORDS:
        content.remove(keyword, ignore_missing=True, remove_all=True)
    if data is None:
        return fits.PrimaryHDU(header=content).header.tostring().encode("ascii")
    dtype = np.dtype(data.dtype).newbyteorder("=")
    shape = tuple(int(n) for n in data.shape)
    template = np.zeros((1,) * len(shape), dtype=dtype)
    hdu = (fits.PrimaryHDU(data=template, header=content) if primary
           else fits.ImageHDU(data=template, header=content, name=name))
    for axis, length in enumerate(reversed(shape), start=1):
        hdu.header[f"NAXIS{axis}"] = length
    return hdu.header.tostring().encode("ascii")


def _write_image_hdu(stream: BinaryIO, header: fits.Header, data: Any, name: str,
                     primary: bool) -> None:
    stream.write(_hdu_header_bytes(header, data, name, primary))
    if data is None:
        return
    dtype = np.dtype(data.dtype).newbyteorder("=")
    shape = tuple(int(n) for n in data.shape)
    big_endian = dtype.newbyteorder(">")
    rows = max(1, _COPY_BYTES // max(1, shape[-1] * dtype.itemsize))
    planes = [()] if len(shape) == 2 else [(plane,) for plane in range(shape[0])]
    written = 0
    for plane in planes:
        for start in range(0, shape[-2], rows):
            chunk = np.asarray(data[plane + (slice(start, start + rows),)])
            stream.write(chunk.astype(big_endian, copy=False).tobytes())
            written += chunk.size * dtype.itemsize
    stream.write(b"\0" * (-written % _BLOCK))


@dataclass(frozen=True)
class _Allocated:
    """An image not written yet: its shape and (native-endian) type."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass
class _PlacedHDU:
    """Where an HDU of a product in progress lies in its file."""

    header_offset: int
    header_length: int
    data_length: int   # with its padding to whole blocks

    @property
    def end(self) -> int:
        return self.header_offset + self.header_length + self.data_length


class ProductInProgress:
    """A final product allocated under its temporary names and written in place.

    The files :func:`write_drizzle_product` writes (the same names, HDUs,
    headers and data layout), but made before their pixels exist: the
    headers are written from ``headers`` (the final ones but for values
    known only at the end, such as ``S_REGION``), the data areas are
    allocated (sparse: they read as zeros), and the caller writes the images
    region by region through :attr:`images`.  :meth:`finish` then writes the
    final headers, moving the data in place when a header's length in blocks
    changed (an ``S_REGION`` polygon longer than the allocated one: the file
    grows by that many blocks, no copy is made), appends HDRTAB and records
    the files in ``file_set``, which the caller commits.  So a final image
    larger than memory is written once, and no other copy of it is made on
    disk.

    Parameters
    ----------
    root, suffix, build
        As for :func:`write_drizzle_product`.
    headers : ProductHeaders
        The headers to allocate with.
    shape : tuple of int
        ``(ny, nx)`` of the output grid.
    context_planes : int or None
        Number of 32-bit context planes (a single plane is written as a 2-D
        image, as :func:`write_drizzle_product` does), None for no CTX.
    error : bool
        Whether there is an ERR image.
    file_set : FileSet
        The set the files are made in (temporary names until it is
        committed; :meth:`~multidrizzle.io.atomic.FileSet.discard` removes
        them).

    Attributes
    ----------
    images : dict of str to StoredImage
        ``SCI``, ``WHT``, ``CTX`` (always ``(planes, ny, nx)``) and ``ERR``
        in the temporary files, to write into (and read back) until
        :meth:`finish`.
    headers : ProductHeaders
        The headers it was allocated with: :func:`with_footprint` makes the
        final ones from them.
    """

    def __init__(self, root: str, suffix: str, headers: ProductHeaders, *, build: bool,
                 shape: tuple[int, int], context_planes: int | None, error: bool,
                 file_set: FileSet) -> None:
        shape = tuple(int(n) for n in shape)
        self._root, self._suffix, self._build = root, suffix, bool(build)
        self.file_set = file_set
        self.headers = headers
        context = None if context_planes is None else _Allocated(
            shape if context_planes == 1 else (int(context_planes), *shape),
            np.dtype(np.int32))
        self._images = {"SCI": _Allocated(shape, np.dtype(np.float32)),
                        "WHT": _Allocated(shape, np.dtype(np.float32)),
                        "CTX": context,
                        "ERR": _Allocated(shape, np.dtype(np.float32)) if error else None}
        self.images: dict[str, Any] = {}
        self._files: list[tuple[Path, Path, list[_PlacedHDU]]] = []
        try:
            self._allocate(headers, shape)
        except BaseException:
            file_set.discard()
            raise

    def _allocate(self, headers: ProductHeaders, shape: tuple[int, ...]) -> None:
        from multidrizzle.io.intermediates import StoredImage

        for path, parts, _ in _product_files(self._root, self._suffix, headers, self._images,
                                             build=self._build, written_at=_utc_now()):
            temporary = self.file_set.create(path)
            placed: list[_PlacedHDU] = []
            with open(temporary, "r+b") as stream:
                for header, data, name in parts:
                    header_bytes = _hdu_header_bytes(header, data, name, primary=not placed)
                    offset = placed[-1].end if placed else 0
                    stream.seek(offset)
                    stream.write(header_bytes)
                    data_length = 0 if data is None else data.nbytes + (-data.nbytes % _BLOCK)
                    placed.append(_PlacedHDU(offset, len(header_bytes), data_length))
                    if data is not None:
                        image = next(key for key, value in self._images.items()
                                     if value is data)
                        stored_shape = (1, *shape) if image == "CTX" and len(
                            data.shape) == 2 else data.shape
                        self.images[image] = StoredImage(
                            temporary, stored_shape, data.dtype.newbyteorder(">"),
                            offset + len(header_bytes))
                stream.truncate(placed[-1].end)
            self._files.append((path, temporary, placed))

    @property
    def paths(self) -> list[Path]:
        """The products' names (after the commit)."""
        return [path for path, _, _ in self._files]

    def finish(self, headers: ProductHeaders) -> list[Path]:
        """Write the final ``headers`` (DATE now), append HDRTAB, and record each file's
        size and sha256 in the file set; returns the products' names.

        :attr:`images` may point at moved data afterwards: read the product
        through :func:`stored_product_images` once committed.
        """
        files = _product_files(self._root, self._suffix, headers, self._images,
                               build=self._build, written_at=_utc_now())
        for (path, temporary, placed), (_, parts, table) in zip(self._files, files):
            header_bytes = [_hdu_header_bytes(header, data, name, primary=index == 0)
                            for index, (header, data, name) in enumerate(parts)]
            with open(temporary, "r+b") as stream:
                end = _rewrite_headers(stream, placed, header_bytes)
                stream.truncate(end)
                if table is not None:
                    stream.seek(end)
                    stream.write(_table_bytes(table))
            self.file_set.seal(path)
        return self.paths

    def discard(self) -> None:
        """Remove the temporary files (a failed or interrupted final step)."""
        self.file_set.discard()


def _rewrite_headers(stream: BinaryIO, placed: list[_PlacedHDU],
                     header_bytes: list[bytes]) -> int:
    """Write new headers over a file's HDUs, moving their data in place when a header's
    length changed; returns where the last HDU now ends."""
    shifts, shift = [], 0
    for hdu, header in zip(placed, header_bytes):
        shift += len(header) - hdu.header_length
        shifts.append(shift)
    if any(s > 0 for s in shifts) and any(s < 0 for s in shifts):
        raise RuntimeError("product headers grew in one HDU and shrank in another; "
                           "cannot move their data in place")
    order = range(len(placed))
    if any(s > 0 for s in shifts):
        order = reversed(order)   # to the end of the file: the last HDU moves first
    for index in order:
        hdu = placed[index]
        if shifts[index] and hdu.data_length:
            log.debug("product header %d is %+d bytes: moving its data", index,
                      shifts[index])
            _move_bytes(stream, hdu.header_offset + hdu.header_length, hdu.data_length,
                        shifts[index])
    offset = 0
    for hdu, header in zip(placed, header_bytes):
        stream.seek(offset)
        stream.write(header)
        offset += len(header) + hdu.data_length
    return offset


def _move_bytes(stream: BinaryIO, start: int, length: int, shift: int) -> None:
    """Move ``length`` bytes at ``start`` by ``shift`` within the file, a block at a time
    (from the end when moving towards it, so that nothing is overwritten before read)."""
    starts = range(start, start + length, _COPY_BYTES)
    for chunk in (reversed(starts) if shift > 0 else starts):
        stream.seek(chunk)
        data = stream.read(min(_COPY_BYTES, start + length - chunk))
        stream.seek(chunk + shift)
        stream.write(data)


def _with_output_cards(header: fits.Header, names: Mapping[str, str]) -> fits.Header:
    """``header`` with ``DnnnOUDA``, ``DnnnOUWE``, ``DnnnOUCO`` after each input's
    ``DnnnDEXP`` (a new header made from the list of cards: inserting them one
    by one would reindex the header every time)."""
    outputs = [("OUDA", "SCI", "Drizzle, output data image"),
               ("OUWE", "WHT", "Drizzle, output weighting image"),
               ("OUCO", "CTX", "Drizzle, output context image")]
    cards = []
    for card in header.copy().cards:
        cards.append(card)
        keyword = card.keyword
        if len(keyword) == 8 and keyword[0] == "D" and keyword.endswith("DEXP") \
                and keyword[1:4].isdigit() and f"D{keyword[1:4]}DATA" in header:
            cards += [fits.Card(f"D{keyword[1:4]}{suffix}", Path(names.get(name, "")).name,
                                comment) for suffix, name, comment in outputs]
    return fits.Header(cards)


def _merged(primary: fits.Header, image: fits.Header) -> fits.Header:
    """The primary cards, then the image's (its values win; commentary cards once)."""
    header = primary.copy()
    for card in image.cards:
        if card.keyword in ("COMMENT", "HISTORY", ""):
            if str(card.value) not in [str(v) for v in header.get(card.keyword, [])]:
                header.append(card)
        else:
            header[card.keyword] = (card.value, card.comment)
    return header


def _file_cards(header: fits.Header, path: Path, written_at: str) -> fits.Header:
    header = header.copy()
    header["DATE"] = (written_at, "UTC date and time this file was written")
    header["FILENAME"] = (path.name, "name of this file")
    return header


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
        atomic_copy(path, archive)
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
        atomic_copy(archive, path)
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
