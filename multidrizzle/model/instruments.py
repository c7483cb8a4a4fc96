"""What multidrizzle knows about HST instruments: amplifiers, gain, read noise, readout.

The calibrated exposures of ACS and WFC3 carry one gain (``ATODGNx``) and one
read noise (``READNSEx``) keyword per amplifier in the primary header, and the
``CCDAMP`` keyword says which amplifiers read the exposure.  A chip's gain and
read noise are the means over the amplifiers that read that chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from astropy.io import fits

from multidrizzle.errors import InputError

__all__ = ["DetectorNoise", "detector_noise", "AMPLIFIERS_BY_CHIP", "header_number",
           "CTE_READOUT_DIRECTION", "cte_direction"]

#: Amplifiers that read each chip, keyed by (instrument, detector) then by the
#: CCDCHIP value.  ``None`` as chip key means every amplifier reads the single
#: chip (WFC3/IR quadrants, ACS/HRC).
AMPLIFIERS_BY_CHIP: dict[tuple[str, str], dict[int | None, str]] = {
    ("ACS", "WFC"): {1: "AB", 2: "CD"},
    ("WFC3", "UVIS"): {1: "AB", 2: "CD"},
    ("WFC3", "IR"): {None: "ABCD"},
    ("ACS", "HRC"): {None: "ABCD"},
    ("ACS", "SBC"): {None: "ABCD"},
}


#: Instruments whose CCD read-out leaves CTE tails along y, by SCI EXTVER
#: (drizzlepac's ``cte_dir``, as :mod:`multidrizzle.kernels.cosmic_rays`
#: reads it).  SCI,1 (-1) is read out towards row 0, so its tails trail
#: towards higher rows: a cosmic ray at row y also masks rows y+1 .. y+ctegrow.
#: SCI,2 (+1) is read out towards its last row, so its tails trail towards
#: lower rows: rows y-ctegrow .. y-1.
CTE_READOUT_DIRECTION: dict[tuple[str, str], dict[int, int]] = {
    ("ACS", "WFC"): {1: -1, 2: 1},
    ("WFC3", "UVIS"): {1: -1, 2: 1},
}


def cte_direction(instrument: str, detector: str, extver: int) -> int:
    """+1, -1 or 0: the readout direction along y of one chip, which sets its CTE tail side.

    +1 puts the tail at lower rows than the cosmic ray, -1 at higher rows
    (see :func:`multidrizzle.kernels.cosmic_rays.grow_cosmic_rays`); 0 means
    no tail is known for this instrument, detector and chip.
    """
    return CTE_READOUT_DIRECTION.get((instrument.upper(), detector.upper()), {}).get(extver, 0)


@dataclass(frozen=True)
class DetectorNoise:
    """Gain (e-/DN) and read noise (e-) of one chip, and where they came from."""

    gain: float
    read_noise: float
    source: str


def detector_noise(primary: fits.Header, science: fits.Header, filename: str,
                   extver: int, *, gain: float | None = None,
                   gainkeyword: str = "", rdnoise: float | None = None,
                   rnkeyword: str = "") -> DetectorNoise:
    """Gain and read noise for one chip, from overrides or amplifier keywords.

    Parameters
    ----------
    primary, science : astropy.io.fits.Header
        Primary header and the chip's SCI header.
    filename, extver : str, int
        Used in error messages.
    gain, gainkeyword, rdnoise, rnkeyword
        The session's override parameters; a value wins over a keyword,
        which wins over the instrument's amplifier keywords.

    Raises
    ------
    InputError
        If a named keyword is missing or the instrument is unknown and no
        override is given.
    """
    where = f"input file {filename}, SCI,{extver}"
    gain_value = _override(gain, gainkeyword, primary, science, where, "gainkeyword")
    noise_value = _override(rdnoise, rnkeyword, primary, science, where, "rnkeyword")
    source = "parameters"
    if gain_value is None or noise_value is None:
        amp_gain, amp_noise = _amplifier_means(primary, science, where)
        gain_value = amp_gain if gain_value is None else gain_value
        noise_value = amp_noise if noise_value is None else noise_value
        source = "amplifier keywords"
    if not gain_value > 0:
        raise InputError(f"{where}: gain {gain_value!r} is not positive")
    if not noise_value >= 0:
        raise InputError(f"{where}: read noise {noise_value!r} is negative")
    return DetectorNoise(float(gain_value), float(noise_value), source)


def header_number(value: object, *, where: str, keyword: str,
                  parameter: str | None = None, expected: str = "a number") -> float:
    """A header keyword's value as a finite float, or an InputError saying why not.

    Parameters
    ----------
    value : object
        The value as astropy read it from the header.
    where : str
        The file and header it was read from, e.g. ``'input file x.fits,
        SCI,1 (primary header)'``; starts the error message.
    keyword : str
        The keyword's name.
    parameter : str, optional
        The parameter that named the keyword (``'expkeyword'``...), if any.
    expected : str
        What the value should be, for the message (``'the exposure time
        in seconds'``).

    Returns
    -------
    float

    Raises
    ------
    InputError
        If the value is text, a boolean, complex, undefined, NaN or infinite.
    """
    named_by = f" (named by parameter '{parameter}')" if parameter else ""
    # bool is an int subclass, and a FITS logical T/F is no exposure time or gain
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    shown = "no value" if isinstance(value, fits.card.Undefined) else f"the value {value!r}"
    raise InputError(f"{where}: keyword {keyword}{named_by} has {shown}, which is not "
                     f"a finite number; expected {expected}")


def _override(value: float | None, keyword: str, primary: fits.Header,
              science: fits.Header, where: str, parameter: str) -> float | None:
    if value is not None:
        return float(value)
    if not keyword:
        return None
    expected = ("the gain in e-/DN" if parameter == "gainkeyword"
                else "the read noise in e-")
    for header, header_name in ((science, "SCI header"), (primary, "primary header")):
        if keyword in header:
            return header_number(header[keyword], where=f"{where} ({header_name})",
                                 keyword=keyword, parameter=parameter, expected=expected)
    raise InputError(f"{where}: keyword {keyword!r} named by parameter "
                     f"'{parameter}' is in neither the primary nor the SCI header")


def chip_amplifiers(primary: fits.Header, science: fits.Header, where: str) -> str:
    """Letters of the amplifiers that read this chip (e.g. ``'CD'``)."""
    key = (str(primary.get("INSTRUME", "")).strip().upper(),
           str(primary.get("DETECTOR", "")).strip().upper())
    layout = AMPLIFIERS_BY_CHIP.get(key)
    if layout is None:
        raise InputError(f"{where}: instrument {key[0]}/{key[1]} has no known "
                         "amplifier layout; set parameters 'gain' and 'rdnoise' "
                         "(or 'gainkeyword' and 'rnkeyword')")
    if None in layout:
        chip_amps = layout[None]
    else:
        ccdchip = science.get("CCDCHIP", primary.get("CCDCHIP"))
        if ccdchip not in layout:
            raise InputError(f"{where}: CCDCHIP={ccdchip!r} is not a chip of "
                             f"{key[0]}/{key[1]} (expected one of {sorted(layout)})")
        chip_amps = layout[ccdchip]
    used = str(primary.get("CCDAMP", chip_amps)).strip().upper()
    amps = "".join(a for a in chip_amps if a in used)
    if not amps:
        raise InputError(f"{where}: CCDAMP={used!r} names no amplifier of this chip "
                         f"(expected some of {chip_amps})")
    return amps


def _amplifier_means(primary: fits.Header, science: fits.Header,
                     where: str) -> tuple[float, float]:
    amps = chip_amplifiers(primary, science, where)
    gains, noises = [], []
    for amp in amps:
        for prefix, values in (("ATODGN", gains), ("READNSE", noises)):
            keyword = prefix + amp
            if keyword not in primary:
                raise InputError(f"{where}: primary header lacks {keyword}; set "
                                 "parameters 'gain'/'rdnoise' to override")
            values.append(header_number(
                primary[keyword], where=f"{where} (primary header)", keyword=keyword,
                expected="a number; or set parameters 'gain'/'rdnoise' to override"))
    return sum(gains) / len(gains), sum(noises) / len(noises)
