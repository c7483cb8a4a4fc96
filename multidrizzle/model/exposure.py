"""The data model: an exposure and its chips, read from HST multi-extension FITS.

A :class:`Chip` holds what every step needs to know about one SCI extension
(shape, WCS with its full distortion, exposure time, gain, read noise, units,
signature) and reads its pixel arrays on request.  Files are only ever
opened read-only here.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import InitVar, dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from multidrizzle.errors import InputError, MultidrizzleError
from multidrizzle.io.dataunits import DataUnit, FileState, file_state, read_data_unit
from multidrizzle.model.fits_structure import HeaderUnit, open_checked_exposure
from multidrizzle.model.instruments import cte_direction, detector_noise, header_number
from multidrizzle.model.wcs_header import wcs_header_text

__all__ = ["Chip", "Exposure", "ReadOptions", "read_exposure", "UNITS_PER_SECOND"]

log = logging.getLogger(__name__)

#: What astropy raises on a header or HDU it cannot make sense of (a card that
#: does not parse, an HDU of no known kind, data shorter than its header says).
_ASTROPY_READ_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError,
                        AttributeError, fits.VerifyError)

#: BUNIT values understood, mapped to (counts-like?, per-second?).
_KNOWN_UNITS = {
    "ELECTRONS": (False, False),
    "COUNTS": (True, False),
    "ELECTRONS/S": (False, True),
    "COUNTS/S": (True, True),
}
UNITS_PER_SECOND = {name for name, (_, rate) in _KNOWN_UNITS.items() if rate}

#: A part of a chip's arrays: ``(rows, columns)`` slices of steps of 1.
Window = tuple[slice, slice]


@dataclass(frozen=True)
class ReadOptions:
    """Parameters that change how exposures are read.

    Attributes mirror the session parameters of the same names
    (``resetbits`` as an integer: the DQ bits to clear, ``~`` already
    applied, so a negative value clears every bit but those it names).
    """

    group: tuple[int, ...] | None = None
    resetbits: int | None = None
    wcskey: str = ""
    coeffs: bool = True
    proc_unit: str = "native"
    gain: float | None = None
    gainkeyword: str = ""
    rdnoise: float | None = None
    rnkeyword: str = ""
    exptime: float | None = None
    expkeyword: str = ""


@dataclass
class Chip:
    """One SCI extension of an exposure, with everything the steps need.

    Attributes
    ----------
    filename : Path
        The exposure file this chip belongs to.
    extver : int
        EXTVER of the SCI/ERR/DQ extensions.
    shape : tuple of int
        ``(ny, nx)`` of the science array.
    wcs : astropy.wcs.WCS
        The chip's WCS, with SIP, NPOL and D2IM distortion unless
        ``coeffs=False``.
    exptime : float
        Exposure time in seconds.
    gain, read_noise : float
        In e-/DN and e-.
    bunit : str
        The file's BUNIT (``ELECTRONS``, ``COUNTS``, ``ELECTRONS/S``...).
    to_electrons : float
        Factor that turns a pixel value in ``bunit`` into electrons
        collected during the exposure.
    proc_scale : float
        Factor applied to the stored pixels to give values in the processing
        units (1 for ``proc_unit='native'``; ``to_electrons`` for
        ``'electrons'``).
    signature : tuple
        ``('INSTRUMENT/DETECTOR', (nx, ny), chip)``: chips with the same
        signature share a static mask.
    header : astropy.io.fits.Header
        The SCI header (the file stays untouched), read-only: kept as its
        FITS text (``header_text``) and parsed when asked for, so that a
        session of many inputs does not hold a parsed header per chip
        (``header.copy()`` to change it).  A caller that already has the
        text passes both ``header`` and ``header_text`` (the header's
        ``tostring()``): the header is then not serialised again.
    idcscale : float or None
        The header's IDCSCALE (the scale of the distortion solution), or
        None when it has none: the steps ask for it often.
    reset_bits : int
        DQ bits cleared whenever the DQ array is read (``resetbits``; 0 =
        none; negative = every bit but those of ``~reset_bits``), so every
        step sees the same DQ, as AstroDrizzle resets them at input.
    data_units : dict
        Where the SCI, ERR and DQ pixels lie in the file (by EXTNAME), for
        those stored unscaled, as found when the file was read.
    read_state : FileState or None
        The file's size and modification time then: the pixels are read
        straight from ``data_units`` while the file is unchanged, and through
        astropy once it has changed (``workinplace`` rewrites DQ and headers).
    """

    filename: Path
    extver: int
    shape: tuple[int, int]
    wcs: WCS
    exptime: float
    gain: float
    read_noise: float
    bunit: str
    to_electrons: float
    proc_scale: float
    signature: tuple
    header: InitVar[fits.Header | None] = None
    has_error: bool = True
    has_dq: bool = True
    reset_bits: int = 0
    data_units: dict[str, DataUnit] = field(default_factory=dict, repr=False)
    read_state: FileState | None = field(default=None, repr=False)
    header_text: str = field(default="", repr=False)
    idcscale: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self, header: fits.Header | None) -> None:
        if header is not None:
            if not self.header_text:
                self.header_text = header.tostring()
        else:
            header = parsed_header(self.header_text)
        value = header.get("IDCSCALE")
        self.idcscale = float(value) if value else None

    @property
    def name(self) -> str:
        """``'file.fits[SCI,1]'``: how messages and tables name this chip."""
        return f"{self.filename.name}[SCI,{self.extver}]"

    @property
    def is_rate(self) -> bool:
        """True when the pixels are per second (``ELECTRONS/S``, ``COUNTS/S``)."""
        return self.bunit in UNITS_PER_SECOND

    @property
    def processing_is_rate(self) -> bool:
        """True when :meth:`read_science` returns values per second.

        :attr:`is_rate` describes the file; this describes the processing
        units.  ``proc_unit='native'`` keeps the file's units (``proc_scale``
        is 1), while ``proc_unit='electrons'`` multiplies by ``to_electrons``
        and so gives electrons collected during the exposure, never a rate.
        The chip does not keep ``proc_unit`` itself, so a rate file whose
        ``to_electrons`` is exactly 1 reads as native; the numbers are then
        the same in both readings unless the file is ``COUNTS/S`` with
        ``gain * exptime == 1`` and ``exptime != 1``.
        """
        return self.is_rate and self.proc_scale == 1.0

    def read_science(self, window: Window | None = None) -> np.ndarray:
        """The SCI array in processing units, as float32 (only ``window``'s
        ``(rows, columns)`` slices of it when given: the pages of the other
        rows are not read)."""
        return self._in_processing_units(self._read("SCI", window))

    def read_error(self, window: Window | None = None) -> np.ndarray | None:
        """The ERR array (or its ``window``) in processing units, or None if the
        file has none."""
        if not self.has_error:
            return None
        return self._in_processing_units(self._read("ERR", window))

    @property
    def cte_direction(self) -> int:
        """Readout direction along y (+1, -1, or 0 if unknown); see
        :func:`multidrizzle.model.instruments.cte_direction`."""
        instrument, detector = self.signature[0].split("/")
        return cte_direction(instrument, detector, self.extver)

    def read_dq(self, window: Window | None = None) -> np.ndarray:
        """The DQ array (or its ``window``) as uint32, ``reset_bits`` cleared (zeros
        when the file has no DQ)."""
        if not self.has_dq:
            return np.zeros(self.shape, dtype=np.uint32)[window or ...]
        dq = self._read("DQ", window).astype(np.uint32)
        if self.reset_bits:
            dq &= np.uint32(~self.reset_bits & 0xFFFFFFFF)
        return dq

    def _in_processing_units(self, data: np.ndarray) -> np.ndarray:
        if self.proc_scale != 1.0:
            data *= np.float32(self.proc_scale)  # _read returned a private copy
        return data

    def _read(self, extname: str, window: Window | None = None) -> np.ndarray:
        """A private, native-endian copy of one extension's array (or its ``window``).

        The file is mapped rather than read into a buffer first: the one
        copy that converts from FITS's big-endian order is the only one.
        """
        unit = self.data_units.get(extname)
        if unit is not None and self.read_state == _state_or_none(self.filename):
            try:
                return read_data_unit(self.filename, unit, window or ...).astype(
                    np.float32 if extname != "DQ" else unit.file_dtype.newbyteorder("="),
                    copy=False)
            except EOFError as error:
                raise InputError(f"input file {self.filename}, {extname},{self.extver}: "
                                 f"the file is truncated ({error})") from None
        try:
            with warnings.catch_warnings(), \
                    fits.open(self.filename, mode="readonly") as hdul:
                warnings.simplefilter("ignore", AstropyWarning)
                data = hdul[extname, self.extver].data
                shape = None if data is None else data.shape
                if shape == self.shape:
                    dtype = np.float32 if extname != "DQ" else data.dtype.newbyteorder("=")
                    return np.array(data[window or ...], dtype=dtype)
        except _ASTROPY_READ_ERRORS as exc:  # the file changed since it was checked
            raise InputError(f"input file {self.filename}, {extname},{self.extver}: cannot "
                             f"be read ({type(exc).__name__}: {exc}); was it changed or "
                             "cut short after build()?") from exc
        raise InputError(f"input file {self.filename}, {extname},{self.extver}: "
                         f"expected an array of shape {self.shape}, found {shape}")


def parsed_header(text: str) -> fits.Header:
    """The header of a FITS header's text, parsed (read-only: ``copy()`` to change it).

    The few headers in use at a time are kept parsed (a step asks for a
    chip's header several times in a row), not every input's.
    """
    return _parsed_header(text)


@functools.lru_cache(maxsize=16)
def _parsed_header(text: str) -> fits.Header:
    return fits.Header.fromstring(text)


def _header_property(attribute: str, doc: str) -> property:
    return property(lambda self: parsed_header(getattr(self, attribute)), doc=doc)


Chip.header = _header_property(  # type: ignore[assignment]
    "header_text", "The SCI header (read-only; kept as text, parsed when asked for).")


@dataclass
class Exposure:
    """One input exposure and its selected chips.

    ``primary_header`` is kept as its FITS text (``primary_header_text``)
    and parsed when asked for (read-only), as :attr:`Chip.header`.
    """

    filename: Path
    rootname: str
    instrument: str
    detector: str
    filter_name: str
    exptime: float
    chips: list[Chip]
    primary_header: InitVar[fits.Header | None] = None
    ivm_file: Path | None = None
    primary_header_text: str = field(default="", repr=False)

    def __post_init__(self, primary_header: fits.Header | None) -> None:
        if primary_header is not None:
            self.primary_header_text = primary_header.tostring()

    @property
    def is_cte_corrected(self) -> bool:
        """True for FLC input (products are then named ``_drc``)."""
        return self.filename.name.lower().endswith("_flc.fits")

    def read_ivm(self, chip: Chip) -> np.ndarray | None:
        """The chip's inverse-variance map from this exposure's IVM file (None without one).

        The map is the ``IVM,<extver>`` extension, or the primary array of an
        IVM file given for a one-chip exposure.

        Raises
        ------
        InputError
            Naming the IVM file when it has no image of the chip's shape.
        """
        if self.ivm_file is None:
            return None
        with fits.open(self.ivm_file, mode="readonly") as hdul:
            try:
                data = hdul["IVM", chip.extver].data
            except KeyError:
                data = hdul[0].data if len(self.chips) == 1 else None
        if data is None or data.shape != chip.shape:
            raise InputError(f"IVM file {self.ivm_file}: expected an IVM,{chip.extver} "
                             f"image of shape {chip.shape} for {chip.name}")
        return np.asarray(data, dtype=np.float32)


def read_exposure(path: Path, options: ReadOptions, ivm_file: Path | None = None) -> Exposure:
    """Read an exposure's headers and WCSs (not its pixels).

    Parameters
    ----------
    path : Path
        HST multi-extension FITS file with SCI (and ERR, DQ) extensions.
    options : ReadOptions
        Chip selection, WCS key, distortion and override parameters.
    ivm_file : Path, optional
        Inverse-variance map named for this exposure in an ``@file`` list.

    Raises
    ------
    InputError
        Naming the file and extension at fault: a file cut short, missing
        extensions or with chip arrays of different shapes (see
        :func:`~multidrizzle.model.fits_structure.check_exposure_structure`), a
        keyword that is missing or not understood, an unreadable or singular
        WCS.
    """
    with open_checked_exposure(path) as (hdul, units), warnings.catch_warnings():
        # the structure was checked; astropy's own notes about it add nothing
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            return _read_checked_exposure(hdul, path, options, ivm_file, units)
        except MultidrizzleError:
            raise
        except _ASTROPY_READ_ERRORS as exc:  # a card astropy cannot parse, an odd HDU
            raise InputError(f"input file {path}: cannot be read "
                             f"({type(exc).__name__}: {exc})") from exc


def _read_checked_exposure(hdul: fits.HDUList, path: Path, options: ReadOptions,
                           ivm_file: Path | None, units: list[HeaderUnit]) -> Exposure:
    primary = hdul[0].header  # only read: the exposure keeps its text
    # the HDUs by (EXTNAME, EXTVER), as the structure check read them (it refused
    # duplicates): astropy's hdul["SCI", 2] compares the name of every HDU anew
    hdus = _ExposureHDUs(hdul, {(unit.name, unit.ver): unit for unit in units})
    extvers = _science_extvers(units, path)
    if options.group is not None:
        missing = [v for v in options.group if v not in extvers]
        if missing:
            raise InputError(f"input file {path}: parameter 'group' selects SCI,"
                             f"{missing[0]} but the file has SCI extensions "
                             f"{extvers}")
        extvers = [v for v in extvers if v in options.group]
    exptime = _exposure_time(primary, hdus.hdu("SCI", extvers[0]).header, path, options)
    chips = [_read_chip(hdus, path, extver, primary, exptime, options) for extver in extvers]
    return Exposure(
        filename=path,
        rootname=str(primary.get("ROOTNAME", path.name.split("_")[0])).strip().lower(),
        instrument=str(primary.get("INSTRUME", "")).strip().upper(),
        detector=str(primary.get("DETECTOR", "")).strip().upper(),
        filter_name=_filter_name(primary),
        exptime=exptime,
        chips=chips,
        primary_header=primary,
        ivm_file=ivm_file,
    )


@dataclass(frozen=True)
class _ExposureHDUs:
    """An open exposure file and its HDUs by ``(EXTNAME, EXTVER)``."""

    hdul: fits.HDUList
    units: dict[tuple[str, int], HeaderUnit]

    def hdu(self, extname: str, extver: int):
        """The HDU ``extname,extver`` (KeyError if the file has none)."""
        return self.hdul[self.units[extname, extver].index]


def _science_extvers(units: list[HeaderUnit], path: Path) -> list[int]:
    extvers = [unit.ver for unit in units if unit.name == "SCI"]
    if not extvers:
        raise InputError(f"input file {path}: has no SCI extension")
    return extvers


def _exposure_time(primary: fits.Header, science: fits.Header, path: Path,
                   options: ReadOptions) -> float:
    if options.exptime is not None:
        value = float(options.exptime)
    else:
        keyword = options.expkeyword or "EXPTIME"
        parameter = "expkeyword" if options.expkeyword else None
        raw, header_name = _keyword(primary, science, keyword, path, parameter)
        value = header_number(raw, where=f"input file {path} ({header_name})",
                              keyword=keyword, parameter=parameter,
                              expected="the exposure time in seconds")
    if not value > 0:
        raise InputError(f"input file {path}: exposure time {value} s is not positive; "
                         "set parameter 'exptime' or 'expkeyword' to override")
    return value


def _keyword(primary: fits.Header, science: fits.Header, name: str, path: Path,
             parameter: str | None) -> tuple[object, str]:
    """The value of keyword ``name`` and which header it came from (for messages)."""
    science_name = f"SCI,{science.get('EXTVER', 1)} header"
    for header, header_name in ((primary, "primary header"), (science, science_name)):
        if name in header:
            return header[name], header_name
    named_by = f" named by parameter '{parameter}'" if parameter else ""
    raise InputError(f"input file {path}: keyword {name}{named_by} is in neither the "
                     "primary nor the SCI header")


def _read_chip(hdus: _ExposureHDUs, path: Path, extver: int, primary: fits.Header,
               exptime: float, options: ReadOptions) -> Chip:
    # before any data is read: astropy then drops BSCALE
    units = _data_units(hdus, extver)
    sci = hdus.hdu("SCI", extver)
    header = sci.header  # only read: the chip keeps its text
    where = f"input file {path}, SCI,{extver}"
    if sci.data is None or sci.data.ndim != 2:
        raise InputError(f"{where}: expected a 2-D image, found "
                         f"{'no data' if sci.data is None else f'{sci.data.ndim}-D data'}")
    shape = tuple(int(n) for n in sci.data.shape)
    bunit = str(header.get("BUNIT", primary.get("BUNIT", ""))).strip().upper()
    if bunit not in _KNOWN_UNITS:
        raise InputError(f"{where}: BUNIT {bunit!r} is not understood; expected one of "
                         f"{', '.join(_KNOWN_UNITS)}")
    noise = detector_noise(primary, header, str(path), extver, gain=options.gain,
                           gainkeyword=options.gainkeyword, rdnoise=options.rdnoise,
                           rnkeyword=options.rnkeyword)
    counts, per_second = _KNOWN_UNITS[bunit]
    to_electrons = (noise.gain if counts else 1.0) * (exptime if per_second else 1.0)
    proc_scale = 1.0 if options.proc_unit == "native" else to_electrons
    instrument = str(primary.get("INSTRUME", "")).strip().upper()
    detector = str(primary.get("DETECTOR", "")).strip().upper()
    chip_id = _chip_number(header, extver, where)
    wcs, header_text = _chip_wcs(header, hdus.hdul, options, where)
    return Chip(
        filename=path,
        extver=extver,
        shape=shape,
        wcs=wcs,
        exptime=exptime,
        gain=noise.gain,
        read_noise=noise.read_noise,
        bunit=bunit,
        to_electrons=to_electrons,
        proc_scale=proc_scale,
        signature=(f"{instrument}/{detector}", (shape[1], shape[0]), chip_id),
        header=header,
        header_text=header_text,
        has_error=_has_data(hdus, "ERR", extver, shape),
        has_dq=_has_data(hdus, "DQ", extver, shape),
        reset_bits=int(options.resetbits or 0),
        data_units={name: unit for name, unit in units.items() if unit.shape == shape},
        read_state=_state_or_none(path),
    )


#: FITS BITPIX of the pixel types read straight from the file.
_BITPIX_TYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _data_units(hdus: _ExposureHDUs, extver: int) -> dict[str, DataUnit]:
    """Where the SCI, ERR and DQ pixels of chip ``extver`` lie, for those that are
    plain 2-D images (not scaled, not compressed).

    The offsets are those the structure check found: astropy's
    ``HDUList.fileinfo`` would serialise every header of the file again to
    see whether it changed (a third of ``build()`` for a mosaic of small
    exposures).
    """
    units = {}
    for extname in ("SCI", "ERR", "DQ"):
        unit = hdus.units.get((extname, extver))
        if unit is None:
            continue
        hdu = hdus.hdul[unit.index]
        header = hdu.header
        plain = (type(hdu) in (fits.ImageHDU, fits.PrimaryHDU)
                 and header.get("BITPIX") in _BITPIX_TYPES
                 and header.get("BSCALE", 1) == 1 and header.get("BZERO", 0) == 0
                 and header.get("NAXIS") == 2)
        if plain:
            units[extname] = DataUnit(int(unit.data_start),
                                      np.dtype(_BITPIX_TYPES[header["BITPIX"]]),
                                      (int(header["NAXIS2"]), int(header["NAXIS1"])))
    return units


def _state_or_none(path: Path) -> FileState | None:
    try:
        return file_state(path)
    except OSError:
        return None


def _chip_number(header: fits.Header, extver: int, where: str) -> int:
    """CCDCHIP of a SCI header (EXTVER when absent), checked to be an integer."""
    if "CCDCHIP" not in header:
        return extver
    number = header_number(header["CCDCHIP"], where=f"{where} header", keyword="CCDCHIP",
                           expected="the integer chip number")
    if not number.is_integer():
        raise InputError(f"{where} header: keyword CCDCHIP has the value {number!r}, "
                         "which is not an integer; expected the chip number")
    return int(number)


def _has_data(hdus: _ExposureHDUs, extname: str, extver: int, shape: tuple) -> bool:
    try:
        hdu = hdus.hdu(extname, extver)
    except KeyError:
        return False
    return hdu.header.get("NAXIS", 0) == 2 and (
        hdu.header["NAXIS2"], hdu.header["NAXIS1"]) == shape


def _chip_wcs(header: fits.Header, hdul: fits.HDUList, options: ReadOptions,
              where: str) -> tuple[WCS, str]:
    """The chip's WCS, and the header's text (``tostring()``) made on the way.

    astropy's WCS is given only the cards it reads (:mod:`.wcs_header`): it
    parses and serialises its header several times over, and the SCI header
    of an HST exposure is mostly other keywords.  The text is the one astropy
    makes of the whole header, so the cards it is given are the same.
    """
    key = options.wcskey.strip().upper() or " "
    _check_wcs_numbers(header, key, where)
    try:
        header_text = header.tostring()
        wcs = WCS(wcs_header_text(header_text), fobj=hdul, key=key)
    except KeyError as exc:
        raise InputError(f"{where}: has no WCS with key {options.wcskey!r} "
                         "(parameter 'wcskey')") from exc
    except Exception as exc:  # astropy raises several unrelated types here
        raise InputError(f"{where}: its WCS cannot be read ({exc})") from exc
    if wcs.naxis != 2 or not wcs.has_celestial:
        raise InputError(f"{where}: expected a 2-D celestial WCS, found "
                         f"{wcs.naxis} axes {list(wcs.wcs.ctype)}")
    if not options.coeffs:
        wcs.sip = None
        wcs.cpdis1 = wcs.cpdis2 = None
        wcs.det2im1 = wcs.det2im2 = None
        wcs.wcs.ctype = [c.replace("-SIP", "") for c in wcs.wcs.ctype]
    _check_linear_part(wcs, where)
    wcs.pixel_shape = (header["NAXIS1"], header["NAXIS2"])
    return wcs, header_text


#: The numeric keywords of the linear part of a celestial WCS (``{key}``: the
#: WCS key letter, empty for the primary WCS).
_WCS_NUMBERS = ("CRVAL1{key}", "CRVAL2{key}", "CRPIX1{key}", "CRPIX2{key}", "CD1_1{key}",
                "CD1_2{key}", "CD2_1{key}", "CD2_2{key}", "CDELT1{key}", "CDELT2{key}",
                "PC1_1{key}", "PC1_2{key}", "PC2_1{key}", "PC2_2{key}")


def _check_wcs_numbers(header: fits.Header, key: str, where: str) -> None:
    """InputError naming the keyword when a WCS number is text or undefined.

    astropy's WCS would replace it by 0 with a warning, and the chip would
    then land at RA 0 or on a collapsed grid.
    """
    for template in _WCS_NUMBERS:
        keyword = template.format(key=key.strip())
        if keyword in header:
            header_number(header[keyword], where=f"{where} header", keyword=keyword,
                          expected="a WCS number")


#: Below this sine of the angle between the rows of the CD matrix, the matrix
#: is singular for any practical purpose: the pixel grid collapses to a line.
_SINGULAR_SINE = 1e-6


def _check_linear_part(wcs: WCS, where: str) -> None:
    """InputError naming the chip when its WCS has a non-finite or singular linear part."""
    matrix = np.asarray(wcs.pixel_scale_matrix, dtype=float)
    values = {"CRVAL": wcs.wcs.crval, "CRPIX": wcs.wcs.crpix, "CD (or PC x CDELT)": matrix}
    for name, value in values.items():
        if not np.all(np.isfinite(value)):
            raise InputError(f"{where}: the WCS has a non-finite {name} "
                             f"({np.asarray(value).tolist()}); expected finite numbers")
    rows = np.linalg.norm(matrix, axis=1)
    determinant = float(np.linalg.det(matrix))
    if not (rows.min() > 0 and abs(determinant) > _SINGULAR_SINE * rows.prod()):
        raise InputError(f"{where}: the WCS's CD matrix {matrix.tolist()} is singular "
                         f"(determinant {determinant:.3g}); expected a matrix whose rows "
                         "point in different directions (check CD1_1, CD1_2, CD2_1, CD2_2)")


def _filter_name(primary: fits.Header) -> str:
    for key in ("FILTER", "FILTER1", "FILTER2"):
        value = str(primary.get(key, "")).strip().upper()
        if value and not value.startswith("CLEAR"):
            return value
    return ""


Exposure.primary_header = _header_property(  # type: ignore[assignment]
    "primary_header_text", "The primary header (read-only; kept as text, parsed when "
                           "asked for).")
