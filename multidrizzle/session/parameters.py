"""The parameters of a MultiDrizzle session, declared once as traitlets traits.

Every AstroDrizzle parameter is here under its AstroDrizzle name, with
AstroDrizzle's documented default, plus the MultiDrizzle-only parameters of
the MultiDrizzle user guide (Table 2).  Each trait carries metadata:

``step``
    The processing step it belongs to, one of :data:`STEPS`.
``origin``
    ``'both'``, ``'astrodrizzle'`` or ``'multidrizzle'``: which of the two
    programs documents it; ``'package'`` for this package's own (``verbose``).
``multidrizzle_default``
    Present only where MultiDrizzle's Table 2 documents a different default.
``alias_of``
    Present only on ``gnkeyword``, MultiDrizzle's spelling of ``gainkeyword``.

Values are converted at the boundary (``"3.5 3.0"`` becomes ``(3.5, 3.0)``,
``"INDEF"`` becomes ``None``) and a bad value raises
:class:`~multidrizzle.errors.ParameterError` naming the parameter, the value
and what is allowed.  Parameters are saved to and read from a plain text file
with one ``[section]`` per step (see :func:`save_pars` and :func:`load_pars`).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import inspect
import logging
import math
import numbers
import os
import re
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.nddata.bitmask import interpret_bit_flags
from astropy.wcs import WCS
from configobj import ConfigObj, ConfigObjError, DuplicateError
from traitlets import HasTraits, TraitError, TraitType, observe

from multidrizzle.errors import ParameterError
from multidrizzle.io.atomic import atomic_write_text, atomic_writeto
from multidrizzle.model.plan import parse_memory
from multidrizzle.steps.blot import BLOT_INTERPOLANTS
from multidrizzle.steps.drizzle import (
    DRIZZLE_KERNELS, POINT_KERNEL_PIXFRAC, WEIGHT_TYPES, effective_kernel,
)
from multidrizzle.steps.median import COMBINE_TYPES
from multidrizzle.steps.sky import SKY_METHODS, SKY_STATISTICS

__all__ = [
    "STEPS",
    "STEP_TITLES",
    "KERNELS",
    "DrizzleParameters",
    "ParameterWarning",
    "UnsupportedParameterError",
    "BitFlags",
    "FloatPair",
    "BoundedFloat",
    "BoundedInt",
    "OptionalFloat",
    "OptionalInt",
    "OptionalAngle",
    "ReferenceImage",
    "Flag",
    "Verbosity",
    "Choice",
    "Text",
    "save_pars",
    "load_pars",
    "reference_grid_file",
    "format_parameter_value",
    "parameter_table",
    "help_text",
    "describe",
]

logger = logging.getLogger(__name__)

#: Reference names that cannot be attributes of the session, and the
#: parameter they set: ``md.build`` is the ``build()`` method.
NAME_ALIASES: dict[str, str] = {"build": "build_mef"}


def canonical_name(name: str) -> str:
    """The parameter a (possibly AstroDrizzle-spelled) name refers to."""
    return NAME_ALIASES.get(name, name)

#: Step tags, in the order used for parameter files and the help table.
STEPS: tuple[str, ...] = (
    "init",
    "instrument",
    "static",
    "sky",
    "driz_sep",
    "driz_sep_wcs",
    "median",
    "blot",
    "driz_cr",
    "final",
    "final_wcs",
    "state",
)

#: Human-readable title of each step tag.
STEP_TITLES: dict[str, str] = {
    "init": "Initialization",
    "instrument": "Instrument parameter overrides",
    "static": "Step 1: static mask",
    "sky": "Step 2: sky subtraction",
    "driz_sep": "Step 3: drizzle separate images",
    "driz_sep_wcs": "Step 3a: custom WCS for separate outputs",
    "median": "Step 4: median image",
    "blot": "Step 5: blot the median image",
    "driz_cr": "Step 6: cosmic-ray masks",
    "final": "Step 7: final drizzle combination",
    "final_wcs": "Step 7a: custom WCS for the final output",
    "state": "State of input files",
}

#: Drizzle kernels accepted by ``driz_sep_kernel`` and ``final_kernel`` (the registry's).
KERNELS: tuple[str, ...] = DRIZZLE_KERNELS.names


#: AstroDrizzle bit-flag parameters that take MultiDrizzle's ``bits`` when 0,
#: and what they apply to.
_BITS_FOLLOWERS = {"driz_sep_bits": "separate drizzle", "final_bits": "final drizzle"}

#: The switch of each custom output WCS and the parameters that define it;
#: setting one of them switches the WCS on (see ``DrizzleParameters``).
CUSTOM_WCS_PARAMETERS: dict[str, tuple[str, ...]] = {
    "final_wcs": ("final_refimage", "final_rot", "final_scale", "final_outnx",
                  "final_outny", "final_ra", "final_dec", "final_crpix1", "final_crpix2"),
    "driz_sep_wcs": ("driz_sep_refimage", "driz_sep_rot", "driz_sep_scale",
                     "driz_sep_outnx", "driz_sep_outny", "driz_sep_ra", "driz_sep_dec",
                     "driz_sep_crpix1", "driz_sep_crpix2"),
}

#: What each ``origin`` tag means: which program documents the parameter.
ORIGIN_TEXT: dict[str, str] = {
    "both": "AstroDrizzle and MultiDrizzle", "astrodrizzle": "AstroDrizzle only",
    "multidrizzle": "MultiDrizzle only", "package": "this package only",
}

#: What each ``origin`` tag means: which program documents the parameter.
ORIGIN_TEXT: dict[str, str] = {
    "both": "AstroDrizzle and MultiDrizzle", "astrodrizzle": "AstroDrizzle only",
    "multidrizzle": "MultiDrizzle only", "package": "this package only",
}

# Text that stands for "no value" in IRAF/AstroDrizzle parameter files.
_NONE_WORDS = frozenset({"", "none", "indef"})
_TRUE_WORDS = frozenset({"true", "yes", "y", "t", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "f", "off", "0"})


class ParameterWarning(UserWarning):
    """A parameter combination that works but is probably not what was meant."""


class UnsupportedParameterError(ParameterError, NotImplementedError):
    """A parameter value that AstroDrizzle accepts but multidrizzle does not implement."""


class _RejectedValue(Exception):
    """Raised by a trait's ``convert`` when a value is not acceptable."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


# --------------------------------------------------------------------------
# Trait types
# --------------------------------------------------------------------------


class ParameterTrait(TraitType):
    """Base of the parameter trait types.

    Subclasses implement :meth:`convert`, a pure function from a user value
    (Python object or text read from a file) to the stored value, and
    :meth:`allowed_text`, the phrase used in error messages and the help
    table.  Validation errors are raised as
    :class:`~multidrizzle.errors.ParameterError` naming the parameter.
    """

    #: Short type name shown in the help table.
    type_label = "value"
    #: Whether ``None`` (or 'None'/'INDEF') is an acceptable value.
    accepts_none = False

    def convert(self, value: Any) -> Any:
        """Return ``value`` in stored form or raise ``_RejectedValue``."""
        raise NotImplementedError(f"{type(self).__name__} must implement convert()")

    def allowed_text(self) -> str:
        """Describe the accepted values, e.g. 'a number in [0, 1]'."""
        return self.type_label

    def check(self, value: Any) -> Any:
        """Convert ``value`` or raise ParameterError naming this parameter."""
        try:
            return self.convert(value)
        except _RejectedValue as rejected:
            detail = f" ({rejected.detail})" if rejected.detail else ""
            raise ParameterError(
                f"parameter {self.name!r}: value {_value_text(value)} is not allowed; "
                f"expected {self.allowed_text()}{detail}"
            ) from None

    def validate(self, obj: Any, value: Any) -> Any:
        return self.check(value)


def _value_text(value: Any) -> str:
    """A value as it is quoted in messages: its repr, on one line for a WCS."""
    if isinstance(value, WCS):
        return format_parameter_value(value)
    return repr(value)


def _is_none_word(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)


def _as_float(value: Any) -> float:
    """Convert a number or numeric text to float, rejecting bools and others."""
    if isinstance(value, (bool, np.bool_)):
        raise _RejectedValue("a boolean is not a number")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _RejectedValue() from None
    raise _RejectedValue(f"got {type(value).__name__}")


def _as_int(value: Any) -> int:
    """Convert an integer, an integral float or integer text to int."""
    if isinstance(value, (bool, np.bool_)):
        raise _RejectedValue("a boolean is not an integer")
    if isinstance(value, numbers.Integral):
        return int(value)
    number = _as_float(value)
    if not math.isfinite(number) or number != int(number):
        raise _RejectedValue("not a whole number")
    return int(number)


def _format_bound(number: float) -> str:
    return f"{number:g}"


class _Bounds:
    """Closed or open numeric bounds shared by the numeric trait types."""

    def __init__(self, minimum: float | None, maximum: float | None,
                 exclusive_minimum: bool, exclusive_maximum: bool) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.exclusive_minimum = exclusive_minimum
        self.exclusive_maximum = exclusive_maximum

    def contains(self, number: float) -> bool:
        if self.minimum is not None:
            if number < self.minimum or (self.exclusive_minimum and number == self.minimum):
                return False
        if self.maximum is not None:
            if number > self.maximum or (self.exclusive_maximum and number == self.maximum):
                return False
        return True

    def describe(self) -> str:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            left = "(" if self.exclusive_minimum else "["
            right = ")" if self.exclusive_maximum else "]"
            return f" in {left}{_format_bound(low)}, {_format_bound(high)}{right}"
        if low is not None:
            return f" {'>' if self.exclusive_minimum else '>='} {_format_bound(low)}"
        if high is not None:
            return f" {'<' if self.exclusive_maximum else '<='} {_format_bound(high)}"
        return ""


class BoundedFloat(ParameterTrait):
    """A finite float, optionally bounded; numeric text is accepted.

    Parameters
    ----------
    default_value : float
        Default value.
    minimum, maximum : float, optional
        Bounds of the accepted range.
    exclusive_minimum, exclusive_maximum : bool
        Whether the bounds themselves are excluded.
    help : str
        Help text of the parameter.
    """

    type_label = "float"

    def __init__(self, default_value: float | None = 0.0, *, minimum: float | None = None,
                 maximum: float | None = None, exclusive_minimum: bool = False,
                 exclusive_maximum: bool = False, help: str = "") -> None:
        self.bounds = _Bounds(minimum, maximum, exclusive_minimum, exclusive_maximum)
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "a number" + self.bounds.describe()

    def convert(self, value: Any) -> float:
        number = _as_float(value)
        if not math.isfinite(number):
            raise _RejectedValue("not finite")
        if not self.bounds.contains(number):
            raise _RejectedValue()
        return number


class _OrNone:
    """Mixin for a numeric trait: ``None``, 'None', 'INDEF', '' and NaN (number or
    text: NaN is how FITS tables spell INDEF) also mean None.  The default is None."""

    accepts_none = True

    def __init__(self, default_value: Any = None, **kwargs: Any) -> None:
        super().__init__(default_value, **kwargs)

    def allowed_text(self) -> str:
        return super().allowed_text() + " or None"

    def convert(self, value: Any) -> Any:
        if _is_none_word(value) or _is_nan(value):
            return None
        return super().convert(value)


def _is_nan(value: Any) -> bool:
    """A NaN number, or text that reads as one."""
    try:
        return not isinstance(value, (bool, np.bool_)) and math.isnan(float(value))
    except (TypeError, ValueError):
        return False


class OptionalFloat(_OrNone, BoundedFloat):
    """Like :class:`BoundedFloat`, but ``None``, 'None', 'INDEF', '' and NaN mean None."""

    type_label = "float|None"


class OptionalAngle(OptionalFloat):
    """An angle or pixel scale in fixed units: a number, or an astropy ``Quantity``.

    A number is taken in the parameter's units (degrees, or arcsec per
    pixel); a scalar :class:`astropy.units.Quantity` (an
    :class:`~astropy.coordinates.Angle` too) is converted to them, so
    ``final_rot=30 * u.deg``, ``final_ra=Angle("10h00m28.6s")`` and
    ``final_scale=0.04 * u.arcsec`` (or ``u.arcsec / u.pix``) all work.  A
    Quantity whose unit cannot be converted is rejected naming the parameter.

    Parameters
    ----------
    default_value : float, optional
        Default value, in ``unit``.
    unit : {'deg', 'arcsec/pix'}
        The unit of the stored number.  For ``'arcsec/pix'`` a plain angle
        (``0.04 * u.arcsec``) is read as the size of one pixel.
    **kwargs
        Bounds and help, as for :class:`OptionalFloat`.
    """

    _UNITS = {"deg": (u.deg,), "arcsec/pix": (u.arcsec / u.pix, u.arcsec)}

    def __init__(self, default_value: float | None = None, *, unit: str,
                 **kwargs: Any) -> None:
        if unit not in self._UNITS:
            raise ValueError(f"unit must be one of {', '.join(self._UNITS)}, got {unit!r}")
        self.unit = unit
        super().__init__(default_value, **kwargs)

    def allowed_text(self) -> str:
        word = "degrees" if self.unit == "deg" else "arcsec per pixel"
        return super().allowed_text() + f" ({word}), or an astropy Quantity"

    def convert(self, value: Any) -> float | None:
        if isinstance(value, u.Quantity):
            if not value.isscalar:
                raise _RejectedValue("expected a single value, not an array")
            for unit in self._UNITS[self.unit]:
                try:
                    value = float(value.to_value(unit))
                    break
                except u.UnitsError:
                    continue
            else:
                raise _RejectedValue(f"the unit {value.unit.to_string() or 'dimensionless'!r} "
                                     f"cannot be converted to {self.unit}")
        return super().convert(value)


class BoundedInt(ParameterTrait):
    """An integer, optionally bounded; integral floats and integer text accepted.

    Parameters
    ----------
    default_value : int
        Default value.
    minimum, maximum : int, optional
        Inclusive bounds.
    power_of_two : bool
        Require 0 or a power of two (a single DQ bit).
    help : str
        Help text of the parameter.
    """

    type_label = "int"

    def __init__(self, default_value: int | None = 0, *, minimum: int | None = None,
                 maximum: int | None = None, power_of_two: bool = False,
                 help: str = "") -> None:
        self.bounds = _Bounds(minimum, maximum, False, False)
        self.power_of_two = power_of_two
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        if self.power_of_two:
            return "0 or a power of two (a single DQ bit)"
        return "an integer" + self.bounds.describe()

    def convert(self, value: Any) -> int:
        number = _as_int(value)
        if not self.bounds.contains(number):
            raise _RejectedValue()
        if self.power_of_two and number != 0 and (number < 0 or number & (number - 1)):
            raise _RejectedValue()
        return number


class OptionalInt(_OrNone, BoundedInt):
    """Like :class:`BoundedInt`, but ``None``, 'None', 'INDEF', '' and NaN mean None."""

    type_label = "int|None"


class Flag(ParameterTrait):
    """A boolean; also accepts 'yes'/'no', 'true'/'false' and the integers 0 and 1.

    Parameters
    ----------
    default_value : bool
        Default value.
    true_words : sequence of str
        Extra words read as True (``coeffs`` accepts MultiDrizzle's 'header').
    help : str
        Help text of the parameter.
    """

    type_label = "bool"

    def __init__(self, default_value: bool = False, *, true_words: Sequence[str] = (),
                 help: str = "") -> None:
        self.true_words = frozenset(word.lower() for word in true_words)
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        extra = "".join(f", {word!r} (= True)" for word in sorted(self.true_words))
        return f"True or False (or yes/no){extra}"

    def convert(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, numbers.Integral) and int(value) in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS or word in self.true_words:
                return True
            if word in _FALSE_WORDS:
                return False
        raise _RejectedValue()


class Verbosity(ParameterTrait):
    """True, False or 'always': when a session shows its progress (see ``verbose``).

    Booleans are read as :class:`Flag` reads them (yes/no, true/false, 0/1).
    """

    type_label = "bool or 'always'"
    #: The value that shows progress even when the output is not a terminal.
    ALWAYS = "always"

    def allowed_text(self) -> str:
        return f"True, False (or yes/no) or {self.ALWAYS!r}"

    def convert(self, value: Any) -> bool | str:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, numbers.Integral) and int(value) in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word == self.ALWAYS:
                return self.ALWAYS
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        raise _RejectedValue()


class MemoryAmount(ParameterTrait):
    """An amount of memory: bytes, or text such as '2GB' or '512 MiB'; None: automatic.

    Stored as an integer number of bytes (see :func:`multidrizzle.model.plan.parse_memory`).
    """

    type_label = "bytes|str|None"
    accepts_none = True

    def allowed_text(self) -> str:
        return "a number of bytes, an amount such as '2GB' or '512 MiB', or None"

    def convert(self, value: Any) -> int | None:
        if _is_none_word(value):
            return None
        if isinstance(value, bool):
            raise _RejectedValue()
        try:
            return parse_memory(value, parameter="memory_limit")
        except ParameterError:
            raise _RejectedValue() from None


class Scheduler(ParameterTrait):
    """Where the tasks of a run execute: 'local', 'dask', or a Dask scheduler's address."""

    type_label = "str"

    def allowed_text(self) -> str:
        return "'local', 'dask' or the address of a Dask scheduler ('tcp://host:port')"

    def convert(self, value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in ("local", "dask"):
                return text.lower()
            if "://" in text and text.split("://", 1)[1]:
                return text
        raise _RejectedValue()


class UnsupportedFlag(Flag):
    """A boolean that must stay False because the feature is not implemented."""

    def __init__(self, *, reason: str, help: str = "") -> None:
        self.reason = reason
        super().__init__(False, help=help)

    def allowed_text(self) -> str:
        return "False"

    def check(self, value: Any) -> bool:
        flag = super().check(value)
        if flag:
            raise UnsupportedParameterError(f"parameter {self.name!r}: value {value!r} is not "
                                            f"supported; {self.reason}")
        return flag


class Choice(ParameterTrait):
    """One of a fixed set of words, matched case-insensitively, stored canonically.

    Parameters
    ----------
    choices : sequence of str
        The accepted words in their canonical spelling.
    default_value : str
        Default value (one of ``choices``).
    help : str
        Help text of the parameter.
    """

    type_label = "choice"

    def __init__(self, choices: Sequence[str], default_value: str, *, help: str = "") -> None:
        self.choices = tuple(choices)
        self._canonical = {choice.lower(): choice for choice in self.choices}
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "one of " + ", ".join(self.choices)

    def convert(self, value: Any) -> str:
        if isinstance(value, str):
            choice = self._canonical.get(value.strip().lower())
            if choice is not None:
                return choice
        raise _RejectedValue()


class Text(ParameterTrait):
    """Free text such as a file name or header keyword; None/'None'/'INDEF' mean ''."""

    type_label = "str"
    accepts_none = True

    def __init__(self, default_value: str = "", *, help: str = "") -> None:
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "text ('' for none)"

    def convert(self, value: Any) -> str:
        if _is_none_word(value):
            return ""
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            return value.strip()
        raise _RejectedValue(f"got {type(value).__name__}")


class ReferenceImage(Text):
    """A reference image: a FITS file name, or an ``astropy.wcs.WCS`` with a shape.

    The file name may name an extension (``'ref.fits[sci,1]'``).  A WCS must
    be two-dimensional and celestial, with ``pixel_shape`` set (the shape of
    the grid it defines); a copy is kept, so changing the caller's WCS later
    does not change the session.  See :func:`save_pars` for how a WCS is
    saved.
    """

    type_label = "str|WCS"

    def allowed_text(self) -> str:
        return ("a FITS file name such as 'ref.fits[sci,1]', an astropy.wcs.WCS with "
                "pixel_shape set, or '' for none")

    def convert(self, value: Any) -> str | WCS:
        if isinstance(value, WCS):
            if value.pixel_shape is None:
                raise _RejectedValue("the WCS has no pixel_shape; set wcs.pixel_shape = "
                                     "(nx, ny), the size of the output grid")
            if value.naxis != 2 or not value.has_celestial:
                raise _RejectedValue("the WCS is not a two-dimensional celestial WCS")
            return value.deepcopy()
        return super().convert(value)


class UnsupportedText(Text):
    """Text that must stay empty because the feature is not implemented."""

    def __init__(self, *, reason: str, help: str = "") -> None:
        self.reason = reason
        super().__init__("", help=help)

    def allowed_text(self) -> str:
        return "'' (empty)"

    def check(self, value: Any) -> str:
        text = super().check(value)
        if text:
            raise UnsupportedParameterError(f"parameter {self.name!r}: value {value!r} is not "
                                            f"supported; {self.reason}")
        return text


class WcsKey(ParameterTrait):
    """A FITS WCS key: '' for the primary WCS or a single letter A-Z."""

    type_label = "str"

    def __init__(self, default_value: str = "", *, help: str = "") -> None:
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "'' (primary WCS) or one letter A-Z"

    def convert(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            key = value.strip().upper()
            if key == "" or (len(key) == 1 and "A" <= key <= "Z"):
                return key
        raise _RejectedValue()


class WeightScale(ParameterTrait):
    """Drizzle weight scaling: 'exptime', 'expsq' or a positive number."""

    type_label = "str|float"
    keywords = ("exptime", "expsq")

    def __init__(self, default_value: str | float = "exptime", *, help: str = "") -> None:
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "'exptime', 'expsq' or a number > 0"

    def convert(self, value: Any) -> str | float:
        if isinstance(value, str) and value.strip().lower() in self.keywords:
            return value.strip().lower()
        number = _as_float(value)
        if not math.isfinite(number) or number <= 0:
            raise _RejectedValue()
        return number


class FloatPair(ParameterTrait):
    """Two floats, from '3.5 3.0', '3.5,3.0', [3.5, 3.0] or one number x (-> (x, x)).

    Parameters
    ----------
    default_value : tuple of float
        Default pair.
    minimum : float, optional
        Lower bound on both numbers.
    exclusive_minimum : bool
        Whether the bound is excluded.
    help : str
        Help text of the parameter.
    """

    type_label = "float pair"

    def __init__(self, default_value: tuple[float, float], *, minimum: float | None = None,
                 exclusive_minimum: bool = False, help: str = "") -> None:
        self.bounds = _Bounds(minimum, None, exclusive_minimum, False)
        super().__init__(default_value=tuple(float(v) for v in default_value), help=help)

    def allowed_text(self) -> str:
        return "one or two numbers" + self.bounds.describe() + " such as '3.5 3.0'"

    def convert(self, value: Any) -> tuple[float, float]:
        if isinstance(value, str):
            parts: Sequence[Any] = value.replace(",", " ").split()
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            parts = [value]
        elif isinstance(value, (Sequence, np.ndarray)):
            parts = list(np.ravel(np.asarray(value, dtype=object)))
        else:
            raise _RejectedValue(f"got {type(value).__name__}")
        if len(parts) not in (1, 2):
            raise _RejectedValue(f"got {len(parts)} numbers")
        numbers_read = [_as_float(part) for part in parts]
        if len(numbers_read) == 1:
            numbers_read *= 2
        for number in numbers_read:
            if not math.isfinite(number) or not self.bounds.contains(number):
                raise _RejectedValue()
        return (numbers_read[0], numbers_read[1])


class BitFlags(ParameterTrait):
    """A DQ bit-flag expression: an int, '4+8', '4,8', '~4,8', '~(4+8)' or None.

    The user's expression is kept (so it can be saved as typed); integer text
    is stored as an int and 'None'/'INDEF'/'' as None.  The expression is
    checked with :func:`astropy.nddata.bitmask.interpret_bit_flags`, which
    also gives its value (see :meth:`DrizzleParameters.bit_flags`).
    """

    type_label = "bit flags"
    accepts_none = True

    def __init__(self, default_value: int | str | None = 0, *, help: str = "") -> None:
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "an integer, a bit expression such as '4+8', '4,8' or '~4,8', or None"

    def convert(self, value: Any) -> int | str | None:
        if _is_none_word(value):
            return None
        if isinstance(value, (bool, np.bool_)):
            raise _RejectedValue("a boolean is not a bit mask")
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return _as_int(value)
        if isinstance(value, (list, tuple)) and value:
            value = ",".join(str(_as_int(part)) for part in value)
        if not isinstance(value, str):
            raise _RejectedValue(f"got {type(value).__name__}")
        expression = value.strip()
        if re.fullmatch(r"[+-]?\d+", expression):
            return int(expression)
        try:
            interpret_bit_flags(expression)
        except (ValueError, TypeError) as exc:
            raise _RejectedValue(f"astropy: {exc}") from None
        return expression


class GroupSpec(ParameterTrait):
    """Chips to process: None (all), an extension version, '1,2' or 'sci,1'."""

    type_label = "group"
    accepts_none = True

    def __init__(self, *, help: str = "") -> None:
        super().__init__(default_value=None, help=help)

    def allowed_text(self) -> str:
        return "None, an extension version >= 1, a list such as '1,2', or 'sci,1'"

    def convert(self, value: Any) -> int | str | None:
        if _is_none_word(value):
            return None
        if isinstance(value, (bool, np.bool_)):
            raise _RejectedValue()
        if isinstance(value, numbers.Real):
            version = _as_int(value)
            if version < 1:
                raise _RejectedValue()
            return version
        if not isinstance(value, str):
            raise _RejectedValue(f"got {type(value).__name__}")
        text = re.sub(r"\s+", "", value).lower().strip("[]")
        if re.fullmatch(r"\d+", text) and int(text) >= 1:
            return int(text)
        if re.fullmatch(r"\d+(,\d+)+", text) and all(int(p) >= 1 for p in text.split(",")):
            return text
        if re.fullmatch(r"sci,\d+", text) and int(text.split(",")[1]) >= 1:
            return text
        raise _RejectedValue()


class InputSpec(ParameterTrait):
    """The ``input`` parameter: a name, wildcard, comma list, '@file' or a list of names."""

    type_label = "files"

    def __init__(self, default_value: str = "*flt.fits", *, help: str = "") -> None:
        super().__init__(default_value=default_value, help=help)

    def allowed_text(self) -> str:
        return "a file name, wildcard, comma-separated list, '@file' or a list of file names"

    def convert(self, value: Any) -> str | list[str]:
        if isinstance(value, (str, os.PathLike)):
            text = os.fspath(value).strip()
            if text:
                return text
            raise _RejectedValue("empty")
        if isinstance(value, (list, tuple)) and value:
            names = []
            for item in value:
                if not isinstance(item, (str, os.PathLike)) or not os.fspath(item).strip():
                    raise _RejectedValue(f"list item {item!r} is not a file name")
                names.append(os.fspath(item).strip())
            return names
        raise _RejectedValue()


# --------------------------------------------------------------------------
# The parameters
# --------------------------------------------------------------------------

_SAME = object()


def _parameter(trait: ParameterTrait, step: str, origin: str = "both",
               multidrizzle_default: Any = _SAME, **extra: Any) -> ParameterTrait:
    """Attach the step, origin and (if different) MultiDrizzle default to a trait."""
    if step not in STEPS:
        raise ValueError(f"unknown step tag {step!r}")
    metadata: dict[str, Any] = {"step": step, "origin": origin, **extra}
    if multidrizzle_default is not _SAME:
        metadata["multidrizzle_default"] = trait.convert(multidrizzle_default)
    return trait.tag(**metadata)


def _custom_wcs_traits(prefix: str, product: str) -> dict[str, ParameterTrait]:
    """Parameters of a custom output WCS (steps 3a and 7a share their shape)."""
    return {
        f"{prefix}_rot": OptionalAngle(unit="deg", help=(
            f"Position angle of the {product} Y axis east of north, in degrees (or an "
            "astropy Quantity). 0 puts north up; None keeps the orientation of the first "
            "input's detector axes.")),
        f"{prefix}_scale": OptionalAngle(unit="arcsec/pix", minimum=0, exclusive_minimum=True,
                                         help=(
            f"Size of the {product} pixels in arcsec (or an astropy Quantity such as "
            "0.04 * u.arcsec / u.pix). None uses the undistorted pixel scale of the first "
            "input.")),
        f"{prefix}_outnx": OptionalInt(minimum=1, help=(
            f"Number of columns of the {product}. None uses the smallest size that holds "
            "the whole dithered field.")),
        f"{prefix}_outny": OptionalInt(minimum=1, help=(
            f"Number of rows of the {product}. None uses the smallest size that holds "
            "the whole dithered field.")),
        f"{prefix}_ra": OptionalAngle(unit="deg", minimum=-360, maximum=360, help=(
            f"Right ascension of the centre of the {product}, in decimal degrees (or an "
            "astropy Quantity or Angle). None centres it on the dithered field.")),
        f"{prefix}_dec": OptionalAngle(unit="deg", minimum=-90, maximum=90, help=(
            f"Declination of the centre of the {product}, in decimal degrees (or an "
            "astropy Quantity or Angle). None centres it on the dithered field.")),
        f"{prefix}_crpix1": OptionalFloat(help=(
            f"Reference pixel X position (CRPIX1, 1-based FITS pixels) of the {product}: "
            f"the pixel where {prefix}_ra / {prefix}_dec (or the default centre) falls. "
            f"Needs {prefix}_crpix2. None puts the centre in the middle of the image.")),
        f"{prefix}_crpix2": OptionalFloat(help=(
            f"Reference pixel Y position (CRPIX2, 1-based FITS pixels) of the {product}. "
            f"Needs {prefix}_crpix1. None puts the centre in the middle of the image.")),
    }


_SEPARATE_WCS = _custom_wcs_traits("driz_sep", "separate drizzled images")
_FINAL_WCS = _custom_wcs_traits("final", "final drizzled image")


class DrizzleParameters(HasTraits):
    """Every parameter of a MultiDrizzle/AstroDrizzle run, validated and typed.

    Parameters
    ----------
    configobj : str, Path or mapping, optional
        A parameter file (written by :meth:`save_pars`, or drizzlepac's
        ``astrodrizzle.cfg`` format) or a configobj mapping; its values are
        applied first, then ``values``.
    **values
        Parameter values by name.  Unknown names raise ParameterError.

    Notes
    -----
    Setting an attribute validates it: ``p.final_pixfrac = "abc"`` raises
    :class:`~multidrizzle.errors.ParameterError` naming the parameter, the
    value and what is allowed.  Setting a name that is neither a parameter
    nor a declared attribute (``p.final_pixfrc = 0.5``) raises it too, with
    the closest parameter names: a mistyped name is never accepted silently.
    Instance attributes are declared once, as class annotations (a subclass
    declares its own the same way).  Cross-parameter rules are checked by
    :meth:`check_consistency`, which the session calls before building.
    """

    # ---------------------------------------------------------------- init
    input = _parameter(InputSpec("*flt.fits", help=(
        "The exposures to combine: a file name, an association table (*_asn.fits), a "
        "wildcard, a comma-separated list, a Python list, or '@file' naming a text file "
        "with one exposure per line (and optionally its IVM file in a second column).")),
        "init")
    output = _parameter(Text(help=(
        "Root name of the output products. '' uses the association's product name, the "
        "rootname of a single exposure, or 'final' for lists and wildcards.")), "init")
    mdriztab = _parameter(Flag(False, help=(
        "Take parameter values from the MDRIZTAB reference table named in the first "
        "input's primary header. The row is chosen by number of inputs (and filter, if "
        "the table has a FILTER column); the values it sets are reported.")), "init")
    runfile = _parameter(Text("astrodrizzle.log", help=(
        "Log file receiving every message of the run (a superset of what is shown on "
        "screen).")), "init", multidrizzle_default="multidrizzle.run")
    verbose = _parameter(Verbosity(True, help=(
        "What build() and run() show while they work. True: a progress bar of the steps "
        "(and of the chips of long steps) when the output is a terminal or a Jupyter "
        "notebook, and warnings printed on standard error. False: nothing; messages go "
        "to the runfile and to the user's own logging handlers only. 'always': the "
        "progress bars even when standard error is not a terminal (a batch job's log).")),
        "init", origin="package")
    wcskey = _parameter(WcsKey(help=(
        "Key of the WCS to use from the input headers (Paper I alternate WCS). '' uses the "
        "primary WCS; only use a letter when every input carries that WCS consistently.")),
        "init", origin="astrodrizzle")
    proc_unit = _parameter(Choice(("native", "electrons"), "native", help=(
        "Units in which processing happens and in which user values such as sky limits "
        "are given: 'native' (units of the inputs) or 'electrons'.")),
        "init", origin="astrodrizzle")
    coeffs = _parameter(Flag(True, true_words=("header",), help=(
        "Apply the distortion model stored in each input header. False applies no "
        "distortion correction. MultiDrizzle's value 'header' means True.")), "init")
    context = _parameter(Flag(True, help=(
        "Create a context image in the final drizzle, recording which inputs contributed "
        "to each output pixel as a bit mask.")), "init")
    group = _parameter(GroupSpec(help=(
        "Drizzle only these chips: None for all, an extension version such as 1, a list "
        "such as '1,2', or an extension name such as 'sci,1'.")), "init")
    build_mef = _parameter(Flag(True, help=(
        "Write the final SCI, WHT, CTX and HDRTAB into one multi-extension FITS file "
        "(MultiDrizzle's default; AstroDrizzle's is False). False writes a separate simple "
        "FITS file for each image, with HDRTAB in the _sci file. AstroDrizzle and "
        "MultiDrizzle call it 'build', which is accepted as an alias in keyword "
        "arguments, parameter files and MDRIZTAB; md.build is the build() method.")), "init",
        multidrizzle_default=True, astrodrizzle_default=False)
    crbit = _parameter(BoundedInt(4096, minimum=0, power_of_two=True, help=(
        "DQ bit value set on pixels flagged as cosmic rays. 0 leaves the DQ arrays "
        "untouched.")), "init")
    stepsize = _parameter(BoundedInt(10, minimum=1, help=(
        "Spacing, in input pixels, of the grid on which the full WCS transformation is "
        "computed; pixels in between are interpolated bilinearly.")),
        "init", origin="astrodrizzle")
    resetbits = _parameter(BitFlags(4096, help=(
        "DQ bits reset to 0 in the working copy of each input before processing, such "
        "as cosmic-ray flags (4096) left by an earlier run. None or 0 resets nothing.")),
        "init", origin="astrodrizzle")
    num_cores = _parameter(OptionalInt(minimum=1, help=(
        "Number of CPU cores to use: threads of the pixel kernels, shared among the tasks "
        "that run at once (as many as the cores), or the worker processes of "
        "scheduler='dask'. None uses all cores; 1 disables parallel processing. Results "
        "are identical for any value.")),
        "init", origin="astrodrizzle")
    memory_limit = _parameter(MemoryAmount(None, help=(
        "Memory a task of the run may use, which bounds the tile size of the median and "
        "of the final drizzle unless tile_size is given: bytes, or an amount such as "
        "'2GB'. None: half the memory available when the run starts. Products do not "
        "depend on it.")), "init", origin="package")
    tile_size = _parameter(OptionalInt(minimum=16, help=(
        "Side, in pixels, of the tiles the median is combined in and height of the strips "
        "the final image is drizzled in. None: chosen at build() from the footprints, "
        "the side (64 times a power of two) with the least stacking work whose deepest "
        "tile fits memory_limit: one tile for a single pointing, tiles of about a "
        "pointing's size in a mosaic, and strips lower than the tiles when the context "
        "image has several planes (one per 32 inputs), so that a strip's memory does not "
        "grow with the number of inputs. Products do not depend on it.")), "init",
        origin="package")
    scheduler = _parameter(Scheduler("local", help=(
        "Where the run's tasks execute: 'local' (this process: num_cores threads, shared "
        "by the tasks that run at once), 'dask' (a Dask LocalCluster of num_cores single-threaded worker "
        "processes, started and closed by the run) or the address of a running Dask "
        "scheduler ('tcp://host:port'; every worker must see the input and output "
        "folders). Needs the 'dask' extra for anything but 'local'. Products do not "
        "depend on it.")), "init", origin="package")
    allow_mixed_inputs = _parameter(Flag(False, help=(
        "Combine exposures of different instruments, detectors or filters (with a "
        "warning). False: such inputs are refused in build(), since their sum has no "
        "single calibration.")), "init", origin="package")
    in_memory = _parameter(Flag(False, help=(
        "Keep intermediate products (single drizzles, median, blots, CR masks) in memory "
        "rather than writing them to disk.")), "init", origin="astrodrizzle")
    rules_file = _parameter(UnsupportedText(
        reason="header blending rules (fitsblender rules files) are not implemented; "
               "leave rules_file empty",
        help=("Rules file for blending input header keywords into the product header. Not "
              "supported: must be ''.")), "init", origin="astrodrizzle")
    updatewcs = _parameter(UnsupportedFlag(
        reason="multidrizzle never rewrites the WCS of input files; update them beforehand "
               "with stwcs.updatewcs if needed",
        help=("Run updatewcs on the inputs before processing. Not supported: must be "
              "False, the input WCS is used as it is.")), "init", origin="astrodrizzle")
    refimage = _parameter(ReferenceImage(help=(
        "Image whose WCS defines the final output frame (MultiDrizzle name; AstroDrizzle "
        "spells this final_wcs=True with final_refimage), or an astropy WCS with "
        "pixel_shape set.")), "init", origin="multidrizzle")
    bits = _parameter(BitFlags(0, help=(
        "DQ bits considered good when building the drizzle weight masks (MultiDrizzle "
        "name): sets driz_sep_bits and final_bits where those are 0; a different non-zero "
        "value in either is an error.")),
        "init", origin="multidrizzle")
    ra = _parameter(OptionalAngle(unit="deg", minimum=-360, maximum=360, help=(
        "Right ascension of the output frame centre, in decimal degrees or an astropy "
        "Quantity (MultiDrizzle name; AstroDrizzle uses driz_sep_ra and final_ra).")),
        "init", origin="multidrizzle")
    dec = _parameter(OptionalAngle(unit="deg", minimum=-90, maximum=90, help=(
        "Declination of the output frame centre, in decimal degrees or an astropy "
        "Quantity (MultiDrizzle name; AstroDrizzle uses driz_sep_dec and final_dec).")),
        "init", origin="multidrizzle")
    shiftfile = _parameter(Text(help=(
        "Text file of shifts added to the header-based registration of each input "
        "(MultiDrizzle only).")), "init", origin="multidrizzle")

    # --------------------------------------------------------------- state
    workinplace = _parameter(Flag(False, help=(
        "Process the original input files directly instead of copies (MultiDrizzle only; "
        "not recommended).")), "state", origin="multidrizzle")
    restore = _parameter(Flag(False, help=(
        "Restore the input files from the 'OrIg_files' archive directory before "
        "processing (in build()), if they were archived by an earlier run. Changes the "
        "inputs, so it needs workinplace=True.")),
        "state", origin="astrodrizzle")
    preserve = _parameter(Flag(True, help=(
        "Copy the input files to the 'OrIg_files' archive directory if no copy is there "
        "already.")), "state", origin="astrodrizzle")
    overwrite = _parameter(Flag(False, help=(
        "Copy the input files to the 'OrIg_files' archive directory, replacing copies "
        "made earlier.")), "state", origin="astrodrizzle")
    clean = _parameter(Flag(False, help=(
        "Remove intermediate files (masks, single drizzles, median, blots): each step's "
        "once the last step of the run that reads them is done, the rest at the end of "
        "the run.")), "state")

    # -------------------------------------------------------------- static
    static = _parameter(Flag(True, help=(
        "Create a static bad-pixel mask from the data: pixels more than static_sig sigma "
        "below the mode of a chip, usually dark over-subtraction.")), "static")
    static_sig = _parameter(BoundedFloat(4.0, minimum=0, exclusive_minimum=True, help=(
        "Number of sigma below the mode used as the clipping limit of the static "
        "mask.")), "static")
    staticfile = _parameter(Text(help=(
        "Optional bad-pixel mask image applied to every input in addition to the static "
        "mask (MultiDrizzle only).")), "static", origin="multidrizzle")

    # ----------------------------------------------------------------- sky
    skysub = _parameter(Flag(True, help=(
        "Compute and subtract the sky background of each input. With False, skyuser may "
        "name the sky already subtracted, used only for cosmic-ray detection.")), "sky")
    skymethod = _parameter(Choice(SKY_METHODS.names, "localmin", help=(
        "Sky algorithm: 'localmin' (minimum over the chips of each exposure), 'globalmin' "
        "(minimum over all exposures), 'match' (differences in overlaps) or "
        "'globalmin+match'.")), "sky", origin="astrodrizzle")
    skywidth = _parameter(BoundedFloat(0.3, minimum=0, exclusive_minimum=True, help=(
        "Bin width, in sigma, used to sample the pixel distribution when computing the "
        "sky statistics.")), "sky", multidrizzle_default=0.1)
    skystat = _parameter(Choice(SKY_STATISTICS.names, "median", help=(
        "Statistic giving the sky value from the clipped pixel distribution.")), "sky")
    skylower = _parameter(OptionalFloat(help=(
        "Lowest pixel value used for the sky, in the units of the inputs. None sets no "
        "limit.")), "sky", multidrizzle_default=-50.0)
    skyupper = _parameter(OptionalFloat(help=(
        "Highest pixel value used for the sky, in the units of the inputs. None sets no "
        "limit.")), "sky", multidrizzle_default=200.0)
    skyclip = _parameter(BoundedInt(5, minimum=0, help=(
        "Number of sigma-clipping iterations when computing the sky.")), "sky")
    skylsigma = _parameter(BoundedFloat(4.0, minimum=0, exclusive_minimum=True, help=(
        "Lower clipping limit, in sigma, when computing the sky.")), "sky")
    skyusigma = _parameter(BoundedFloat(4.0, minimum=0, exclusive_minimum=True, help=(
        "Upper clipping limit, in sigma, when computing the sky.")), "sky")
    skymask_cat = _parameter(Text(help=(
        "Catalog file listing user masks to exclude from the sky computation.")),
        "sky", origin="astrodrizzle")
    use_static = _parameter(Flag(True, help=(
        "Exclude pixels flagged by the static mask from the sky computation.")),
        "sky", origin="astrodrizzle")
    sky_bits = _parameter(BitFlags(0, help=(
        "DQ bits considered good for the sky computation, as an integer or an expression "
        "such as '4+8', '4,8' or '~4,8' ('~' lists bad bits instead). 0 treats every "
        "flagged pixel as bad; None ignores the DQ array.")), "sky", origin="astrodrizzle")
    skyfile = _parameter(Text(help=(
        "Text file of user sky values: exposure name, then one value per chip (or one for "
        "all chips); these are subtracted instead of computed values.")),
        "sky", origin="astrodrizzle")
    skyuser = _parameter(Text(help=(
        "Header keyword holding a sky value the user already subtracted (or '@file' of "
        "values). Only used when skysub is False, for cosmic-ray detection.")), "sky")

    # ------------------------------------------------------------ driz_sep
    driz_separate = _parameter(Flag(True, help=(
        "Drizzle each input onto its own image in the output frame; these single "
        "drizzles are combined into the median.")), "driz_sep")
    driz_sep_kernel = _parameter(Choice(KERNELS, "turbo", help=(
        "Drizzle kernel for the separate drizzles. 'turbo' is fast and adequate for the "
        "median. 'lanczos3' must only be used with pixfrac 1; 'gaussian' and 'lanczos3' "
        "do not conserve flux.")), "driz_sep")
    driz_sep_wt_scl = _parameter(WeightScale("exptime", help=(
        "Weight of each input in the separate drizzles: 'exptime' (exposure time), "
        "'expsq' (its square, for read-noise limited data) or a number.")),
        "driz_sep", origin="astrodrizzle")
    driz_sep_pixfrac = _parameter(BoundedFloat(1.0, minimum=0, maximum=1, help=(
        "Linear size of the drop as a fraction of an input pixel, for the separate "
        "drizzles. Below 0.001 the kernel becomes 'point'; 1 fills the single drizzles "
        "best.")), "driz_sep")
    driz_sep_fillval = _parameter(OptionalFloat(help=(
        "Value given to separate-drizzle pixels that receive no weight. None (INDEF) "
        "leaves the value they would have had.")), "driz_sep")
    driz_sep_bits = _parameter(BitFlags(0, help=(
        "DQ bits considered good when building the weight masks of the separate "
        "drizzles (same syntax as sky_bits).")), "driz_sep", origin="astrodrizzle")
    driz_sep_compress = _parameter(Flag(False, help=(
        "Write the separate drizzle files (_single_sci, _single_wht) with lossless FITS "
        "tile compression (GZIP_2, in the first extension): smaller files, the same "
        "values, slower to write and read. No effect with in_memory=True, which writes "
        "no such files.")), "driz_sep", origin="astrodrizzle")

    # -------------------------------------------------------- driz_sep_wcs
    driz_sep_wcs = _parameter(Flag(False, help=(
        "Use the custom WCS below (driz_sep_refimage, _rot, _scale, _outnx, _outny, _ra, "
        "_dec, _crpix1, _crpix2) for the separate drizzles.")), "driz_sep_wcs",
        origin="astrodrizzle")
    driz_sep_refimage = _parameter(ReferenceImage(help=(
        "Image whose WCS defines the frame of the separate drizzles; an extension such as "
        "'sci,1' may be given. An astropy WCS with pixel_shape set is also accepted.")),
        "driz_sep_wcs", origin="astrodrizzle")
    driz_sep_rot = _parameter(_SEPARATE_WCS["driz_sep_rot"], "driz_sep_wcs")
    driz_sep_scale = _parameter(_SEPARATE_WCS["driz_sep_scale"], "driz_sep_wcs")
    driz_sep_outnx = _parameter(_SEPARATE_WCS["driz_sep_outnx"], "driz_sep_wcs")
    driz_sep_outny = _parameter(_SEPARATE_WCS["driz_sep_outny"], "driz_sep_wcs")
    driz_sep_ra = _parameter(_SEPARATE_WCS["driz_sep_ra"], "driz_sep_wcs",
                             origin="astrodrizzle")
    driz_sep_dec = _parameter(_SEPARATE_WCS["driz_sep_dec"], "driz_sep_wcs",
                              origin="astrodrizzle")
    driz_sep_crpix1 = _parameter(_SEPARATE_WCS["driz_sep_crpix1"], "driz_sep_wcs",
                                 origin="astrodrizzle")
    driz_sep_crpix2 = _parameter(_SEPARATE_WCS["driz_sep_crpix2"], "driz_sep_wcs",
                                 origin="astrodrizzle")

    # -------------------------------------------------------------- median
    median = _parameter(Flag(True, help=(
        "Combine the separate drizzles into a median image, the 'truth' used for "
        "cosmic-ray detection.")), "median")
    median_newmasks = _parameter(Flag(True, help=(
        "Build masks from the separate-drizzle weights and exclude masked pixels from "
        "the median.")), "median")
    combine_maskpt = _parameter(BoundedFloat(0.3, minimum=0, maximum=1, help=(
        "Fraction of the typical weight below which a separate-drizzle pixel is masked "
        "out of the median.")), "median", origin="astrodrizzle")
    combine_type = _parameter(Choice(COMBINE_TYPES.names, "minmed", help=(
        "How to combine the separate drizzles: 'median', 'mean', or 'minmed' (median "
        "unless the minimum is significantly lower; good for 3-6 images). The 'i' forms "
        "keep the last value where every value is flagged.")), "median",
        multidrizzle_default="median")
    combine_nsigma = _parameter(FloatPair((4.0, 3.0), minimum=0, exclusive_minimum=True,
                                          help=(
        "Significance, in sigma, for taking the minimum instead of the median in "
        "'minmed': first for the initial choice, second for the grown neighbours.")),
        "median", multidrizzle_default=(6.0, 3.0))
    combine_nlow = _parameter(BoundedInt(0, minimum=0, help=(
        "Number of lowest values rejected at each pixel before combining.")), "median")
    combine_nhigh = _parameter(BoundedInt(0, minimum=0, help=(
        "Number of highest values rejected at each pixel before combining; 1 is advised "
        "for 'median' with four images.")), "median", multidrizzle_default=1)
    combine_lthresh = _parameter(OptionalFloat(help=(
        "Values below this are excluded from the median. None sets no threshold.")),
        "median")
    combine_hthresh = _parameter(OptionalFloat(help=(
        "Values above this are excluded from the median. None sets no threshold.")),
        "median")
    combine_grow = _parameter(BoundedInt(1, minimum=0, help=(
        "Radius, in pixels, around pixels rejected by 'minmed' within which neighbours "
        "are also tested; ignored by the other combine types.")), "median")
    combine_bufsize = _parameter(OptionalFloat(minimum=0, exclusive_minimum=True, help=(
        "Buffer size in MiB for reading sections of the separate drizzles. None uses "
        "1 MiB.")), "median", origin="astrodrizzle")

    # ---------------------------------------------------------------- blot
    blot = _parameter(Flag(True, help=(
        "Blot (reverse drizzle) the median back onto the frame of each input chip for "
        "cosmic-ray detection.")), "blot")
    blot_interp = _parameter(Choice(BLOT_INTERPOLANTS.names, "poly5", help=(
        "Interpolant used to blot the median: 'nearest', 'linear', 'poly3', 'poly5' "
        "(fast and accurate) or 'sinc' (accurate, slow).")), "blot")
    blot_sinscl = _parameter(BoundedFloat(1.0, minimum=0, exclusive_minimum=True, help=(
        "Size of the sinc interpolation kernel, in pixels, when blot_interp is "
        "'sinc'.")), "blot")
    blot_addsky = _parameter(Flag(True, help=(
        "Add each input's sky value back to its blotted median. When False, blot_skyval "
        "is added instead.")), "blot", origin="astrodrizzle")
    blot_skyval = _parameter(BoundedFloat(0.0, help=(
        "Sky value added to the blotted median when blot_addsky is False.")),
        "blot", origin="astrodrizzle")

    # ------------------------------------------------------------- driz_cr
    driz_cr = _parameter(Flag(True, help=(
        "Detect cosmic rays by comparing each input with its blotted median, and build "
        "cosmic-ray masks.")), "driz_cr")
    driz_cr_corr = _parameter(Flag(False, help=(
        "Also create a cosmic-ray cleaned copy of each input (_crclean) and its mask "
        "(_crmask).")), "driz_cr")
    driz_cr_snr = _parameter(FloatPair((3.5, 3.0), minimum=0, exclusive_minimum=True, help=(
        "Signal-to-noise thresholds for cosmic-ray detection: first for the initial "
        "detection, second for neighbours of detected pixels.")), "driz_cr",
        multidrizzle_default=(3.0, 2.5))
    driz_cr_grow = _parameter(BoundedInt(1, minimum=1, help=(
        "Radius, in pixels, around each cosmic ray within which the second, stricter "
        "threshold is applied.")), "driz_cr", origin="astrodrizzle")
    driz_cr_ctegrow = _parameter(BoundedInt(0, minimum=0, help=(
        "Length, in pixels, of the CTE tail masked behind each cosmic ray.")),
        "driz_cr", origin="astrodrizzle")
    driz_cr_scale = _parameter(FloatPair((1.2, 0.7), minimum=0, exclusive_minimum=True,
                                         help=(
        "Scale factors applied to the derivative of the blotted median when detecting "
        "cosmic rays: first for the initial detection, second for neighbours.")), "driz_cr")
    driz_cr_sharpness = _parameter(BoundedFloat(2.5, minimum=0, help=(
        "Sharpness test for cosmic rays on the slopes of stars and galaxies, where the "
        "derivative allowance (driz_cr_scale) hides them: a pixel whose excess over the "
        "blotted median passes the noise threshold is a cosmic ray when its contrast "
        "with its neighbours exceeds this many times the blotted median's contrast, by "
        "driz_cr_snr sigma. Larger values find fewer; 0 switches the test off "
        "(AstroDrizzle's behaviour). Not used in the cores of sources (see "
        "driz_cr_peak_ratio).")), "driz_cr", origin="package")
    driz_cr_peak_ratio = _parameter(BoundedFloat(1.0, minimum=0, help=(
        "Star cores spared: within a pixel of a local maximum of the blotted median that "
        "stands out of its surroundings (a source's core), a pixel is only a cosmic ray "
        "when its excess over the blotted median exceeds this fraction of the source's "
        "level there, above the local background (the median of drizzled images is "
        "smoother and, with few exposures, lower than a sharp core). 0 switches the "
        "protection off (AstroDrizzle's behaviour).")),
        "driz_cr", origin="package")

    # --------------------------------------------------------------- final
    driz_combine = _parameter(Flag(True, help=(
        "Drizzle all inputs, with their cosmic-ray masks, onto the final output "
        "image.")), "final")
    final_wht_type = _parameter(Choice(WEIGHT_TYPES.names, "EXP", help=(
        "Weighting of the final drizzle: 'EXP' (exposure time, the safe choice), 'ERR' "
        "(inverse variance from the ERR arrays) or 'IVM' (inverse-variance maps given "
        "with the input or generated).")), "final")
    final_kernel = _parameter(Choice(KERNELS, "square", help=(
        "Drizzle kernel for the final combination. 'lanczos3' must only be used with "
        "pixfrac 1; 'gaussian' and 'lanczos3' do not conserve flux.")), "final")
    final_wt_scl = _parameter(WeightScale("exptime", help=(
        "Weight of each input in the final drizzle: 'exptime', 'expsq' or a "
        "number.")), "final", origin="astrodrizzle")
    final_pixfrac = _parameter(BoundedFloat(1.0, minimum=0, maximum=1, help=(
        "Linear size of the drop as a fraction of an input pixel, for the final drizzle. "
        "Below 0.001 the kernel becomes 'point'; 0.7-0.8 sharpens well-dithered "
        "data.")), "final")
    final_fillval = _parameter(OptionalFloat(help=(
        "Value given to final pixels that receive no weight. None (INDEF) leaves them "
        "at final_maskval (NaN by default).")), "final")
    final_maskval = _parameter(OptionalFloat(help=(
        "Value the final science image starts at, which stays in every pixel that no "
        "input reaches with a non-zero weight. None (the default) means NaN, as in "
        "AstroDrizzle. final_fillval, when set, replaces it in every zero-weight "
        "pixel.")), "final", origin="astrodrizzle")
    final_bits = _parameter(BitFlags(0, help=(
        "DQ bits considered good when building the final weight masks (same syntax as "
        "sky_bits); add 4096 to ignore cosmic-ray flags of an earlier run.")),
        "final", origin="astrodrizzle")
    final_units = _parameter(Choice(("cps", "counts"), "cps", help=(
        "Units of the final image: 'cps' (per second) or 'counts'.")),
        "final", origin="astrodrizzle")
    final_err = _parameter(Flag(True, help=(
        "Propagate each input pixel's variance (its ERR squared, or the detector noise "
        "model sky + signal / gain + read noise^2 where ERR is missing or zero) through the "
        "final drizzle, weights squared, and write the standard deviation as an ERR "
        "extension (_err.fits without build_mef), in final_units like SCI. The header "
        "gives the noise-correlation factor R (NCORRFAC) for errors of large apertures. "
        "False saves the memory and time of the variance arrays.")),
        "final", origin="package")

    # ----------------------------------------------------------- final_wcs
    final_wcs = _parameter(Flag(False, help=(
        "Use the custom WCS below (final_refimage, _rot, _scale, _outnx, _outny, _ra, "
        "_dec, _crpix1, _crpix2) for the final output.")), "final_wcs", origin="astrodrizzle")
    final_refimage = _parameter(ReferenceImage(help=(
        "Image whose WCS defines the final output frame; an extension such as 'sci,1' "
        "may be given. An astropy WCS with pixel_shape set is also accepted.")),
        "final_wcs", origin="astrodrizzle")
    final_rot = _parameter(_FINAL_WCS["final_rot"], "final_wcs", multidrizzle_default=0.0)
    final_scale = _parameter(_FINAL_WCS["final_scale"], "final_wcs")
    final_outnx = _parameter(_FINAL_WCS["final_outnx"], "final_wcs")
    final_outny = _parameter(_FINAL_WCS["final_outny"], "final_wcs")
    final_ra = _parameter(_FINAL_WCS["final_ra"], "final_wcs", origin="astrodrizzle")
    final_dec = _parameter(_FINAL_WCS["final_dec"], "final_wcs", origin="astrodrizzle")
    final_crpix1 = _parameter(_FINAL_WCS["final_crpix1"], "final_wcs", origin="astrodrizzle")
    final_crpix2 = _parameter(_FINAL_WCS["final_crpix2"], "final_wcs", origin="astrodrizzle")

    # ---------------------------------------------------------- instrument
    gain = _parameter(OptionalFloat(minimum=0, exclusive_minimum=True, help=(
        "Gain in electrons per count, overriding the instrument value. Do not combine "
        "with gainkeyword.")), "instrument")
    gainkeyword = _parameter(Text(help=(
        "Header keyword giving the gain, overriding the instrument value. Do not combine "
        "with gain.")), "instrument")
    gnkeyword = _parameter(Text(help=(
        "MultiDrizzle spelling of gainkeyword; setting either sets both.")),
        "instrument", origin="multidrizzle", alias_of="gainkeyword")
    rdnoise = _parameter(OptionalFloat(minimum=0, help=(
        "Read noise in electrons, overriding the instrument value. Do not combine with "
        "rnkeyword.")), "instrument")
    rnkeyword = _parameter(Text(help=(
        "Header keyword giving the read noise, overriding the instrument value. Do not "
        "combine with rdnoise.")), "instrument")
    exptime = _parameter(OptionalFloat(minimum=0, exclusive_minimum=True, help=(
        "Exposure time in seconds, overriding the header value. Do not combine with "
        "expkeyword.")), "instrument")
    expkeyword = _parameter(Text(help=(
        "Header keyword giving the exposure time, overriding the usual one. Do not "
        "combine with exptime.")), "instrument")

    # ------------------------------------------------------------ behaviour

    def __init__(self, configobj: str | os.PathLike | Mapping[str, Any] | None = None,
                 **values: Any) -> None:
        super().__init__()
        if configobj is not None:
            self.update_from_configobj(configobj)
        self.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in NAME_ALIASES and not callable(value):
            raise ParameterError(f"{name!r} cannot be set: on a session it is the {name}() "
                                 f"method; the parameter AstroDrizzle calls {name!r} is "
                                 f"{NAME_ALIASES[name]!r} (md.{NAME_ALIASES[name]} = ...)")
        if name not in self._settable_names():
            traits = self.parameter_traits()
            raise ParameterError(
                f"{type(self).__name__} has no parameter or attribute {name!r}"
                f"{_closest_names_hint(name, traits)} (multidrizzle.help() lists the "
                "parameters; a subclass declares its own attributes as class annotations)")
        try:
            super().__setattr__(name, value)
        except TraitError as exc:
            # Our trait types raise ParameterError themselves; this catches
            # anything traitlets itself rejects so that callers see one type.
            if name in self.parameter_traits():
                raise ParameterError(f"parameter {name!r}: value {value!r} is not allowed; "
                                     f"{exc}") from exc
            raise

    @classmethod
    def _settable_names(cls) -> frozenset[str]:
        """Names that may be set on an instance: traits, declared attributes, class members.

        Declared attributes are the class annotations of every class in the
        MRO (traitlets declares its own instance attributes that way too);
        class members are methods, properties and class-level defaults.
        Anything else is taken for a mistyped parameter.
        """
        cached = cls.__dict__.get("_settable_names_cache")
        if cached is not None:
            return cached
        names = set(cls.class_trait_names()) | set(dir(cls))
        for klass in cls.__mro__:
            names.update(inspect.get_annotations(klass))
        settable = frozenset(names)
        type.__setattr__(cls, "_settable_names_cache", settable)
        return settable

    #: Custom-WCS switches given explicitly in the values being set together
    #: (see `_setting_together`): their custom values do not switch them on.
    _explicit_wcs_switches: frozenset[str] = frozenset()

    @contextlib.contextmanager
    def _setting_together(self, names: Sequence[str]):
        """Set several parameters as one change.

        A custom output-WCS value (``final_scale``, ...) set on its own
        switches its WCS on (``final_wcs``), as AstroDrizzle's interface
        does; set together with the switch (a parameter file, MDRIZTAB row,
        keyword arguments), the switch keeps the value given.
        """
        previous = self._explicit_wcs_switches
        self._explicit_wcs_switches = previous | {name for name in names
                                                  if name in CUSTOM_WCS_PARAMETERS}
        try:
            yield
        finally:
            self._explicit_wcs_switches = previous

    @observe(*CUSTOM_WCS_PARAMETERS["final_wcs"], *CUSTOM_WCS_PARAMETERS["driz_sep_wcs"])
    def _custom_wcs_value_set(self, change: Any) -> None:
        name = change["name"]
        switch = next(switch for switch, names in CUSTOM_WCS_PARAMETERS.items()
                      if name in names)
        if (change["new"] in (None, "") or getattr(self, switch)
                or switch in self._explicit_wcs_switches):
            return
        logger.info("%s set: %s switched on", name, switch)
        setattr(self, switch, True)

    @observe("gainkeyword")
    def _copy_gainkeyword_to_alias(self, change: Any) -> None:
        self.gnkeyword = change["new"]

    @observe("gnkeyword")
    def _copy_alias_to_gainkeyword(self, change: Any) -> None:
        self.gainkeyword = change["new"]

    # -- introspection --------------------------------------------------

    @classmethod
    def parameter_traits(cls) -> dict[str, ParameterTrait]:
        """Map parameter name to trait, in declaration order."""
        cached = cls.__dict__.get("_parameter_trait_cache")
        if cached is not None:
            return cached
        found: dict[str, ParameterTrait] = {}
        for klass in reversed(cls.__mro__):
            for name, attribute in vars(klass).items():
                if isinstance(attribute, ParameterTrait) and "step" in attribute.metadata:
                    found[name] = attribute
        type.__setattr__(cls, "_parameter_trait_cache", found)
        return found

    @classmethod
    def parameter_names(cls, step: str | None = None) -> list[str]:
        """Names of the parameters, in declaration order.

        Parameters
        ----------
        step : str, optional
            Only the parameters with this step tag (one of :data:`STEPS`).
        """
        if step is not None and step not in STEPS:
            raise ParameterError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
        return [name for name, trait in cls.parameter_traits().items()
                if step is None or trait.metadata["step"] == step]

    @classmethod
    def steps(cls) -> dict[str, list[str]]:
        """Map each step tag (in :data:`STEPS` order) to its parameter names."""
        return {step: cls.parameter_names(step) for step in STEPS}

    @classmethod
    def parameter_trait(cls, name: str) -> ParameterTrait:
        """The trait of parameter ``name``; unknown names raise ParameterError."""
        traits = cls.parameter_traits()
        if name not in traits:
            raise ParameterError(_unknown_parameter_message(name, traits))
        return traits[name]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """AstroDrizzle default of every parameter, in stored form."""
        return {name: trait.default_value for name, trait in cls.parameter_traits().items()}

    @classmethod
    def multidrizzle_defaults(cls) -> dict[str, Any]:
        """The defaults of MultiDrizzle's Table 2 where they differ from AstroDrizzle's."""
        return {name: trait.metadata["multidrizzle_default"]
                for name, trait in cls.parameter_traits().items()
                if "multidrizzle_default" in trait.metadata}

    def parameters_dict(self) -> dict[str, Any]:
        """Current value of every parameter, in declaration order."""
        return {name: getattr(self, name) for name in self.parameter_names()}

    def bit_flags(self, name: str) -> int | None:
        """The integer value of bit-flag parameter ``name`` (None when unset).

        Examples: '4+8' gives 12, '~4,8' gives -13 (~12), None gives None.

        ``driz_sep_bits`` and ``final_bits`` left at 0 take the value of
        MultiDrizzle's ``bits``, which sets the good DQ bits of both drizzle
        steps; :meth:`check_consistency` refuses a ``bits`` that differs from
        a non-zero ``driz_sep_bits`` or ``final_bits``.
        """
        trait = self.parameter_trait(name)
        if not isinstance(trait, BitFlags):
            raise ParameterError(f"parameter {name!r} is not a DQ bit-flag parameter")
        value = self._bit_value(name)
        if name in _BITS_FOLLOWERS and value == 0:
            return self._bit_value("bits")
        return value

    def parameter_value(self, name: str) -> Any:
        """The value of parameter ``name`` as the steps take it.

        The stored value, except for DQ bit-flag parameters, given as
        :meth:`bit_flags` gives them (an integer, ``bits`` followed, or None).
        """
        if isinstance(self.parameter_trait(name), BitFlags):
            return self.bit_flags(name)
        return getattr(self, name)

    def _bit_value(self, name: str) -> int | None:
        value = interpret_bit_flags(getattr(self, name))
        return None if value is None else int(value)

    # -- changing values ------------------------------------------------

    def update(self, values: Mapping[str, Any]) -> list[str]:
        """Set several parameters; returns their names.

        Unknown names and conflicting values for ``gainkeyword`` and its
        alias ``gnkeyword`` raise ParameterError before anything is set.
        """
        traits = self.parameter_traits()
        values = {canonical_name(name): value for name, value in values.items()}
        for name in values:
            if name not in traits:
                raise ParameterError(_unknown_parameter_message(name, traits))
        if "gainkeyword" in values and "gnkeyword" in values:
            first = traits["gainkeyword"].check(values["gainkeyword"])
            second = traits["gnkeyword"].check(values["gnkeyword"])
            if first != second:
                raise ParameterError(f"parameters 'gainkeyword' ({first!r}) and its alias "
                                     f"'gnkeyword' ({second!r}) are both given and differ")
        with self._setting_together(list(values)):
            for name, value in values.items():
                setattr(self, name, value)
        return list(values)

    def reset(self, names: Sequence[str] | None = None) -> None:
        """Return parameters (all by default) to their AstroDrizzle defaults."""
        traits = self.parameter_traits()
        for name in names if names is not None else list(traits):
            setattr(self, name, self.parameter_trait(name).default_value)

    def apply_multidrizzle_defaults(self) -> list[str]:
        """Set the parameters whose MultiDrizzle default differs to that default."""
        values = self.multidrizzle_defaults()
        self.update(values)
        return list(values)

    def save_pars(self, path: str | os.PathLike) -> Path:
        """Write the parameters to a text file; see :func:`save_pars`."""
        return save_pars(self, path)

    def update_from_file(self, path: str | os.PathLike) -> list[str]:
        """Set the parameters found in a parameter file.

        The file may be one written by :meth:`save_pars` or one of
        drizzlepac's ``.cfg`` files (such as its shipped ``astrodrizzle.cfg``),
        unchanged; see :func:`load_pars`.  Returns the names that were set.
        Errors name the file and line.
        """
        return self._set_entries(_read_parameter_file(Path(path), type(self)))

    def update_from_configobj(self, configobj: str | os.PathLike | Mapping[str, Any]
                              ) -> list[str]:
        """Set the parameters of a parameter file or of a configobj mapping.

        Parameters
        ----------
        configobj : str, Path or mapping
            A parameter file (see :meth:`update_from_file`), or a mapping as
            drizzlepac passes around: a ``configobj.ConfigObj`` or a dict,
            whose sub-mappings are sections that only group the names
            (``_task_name_`` and ``_RULES_`` are skipped there too).

        Returns
        -------
        list of str
            The names that were set.
        """
        if isinstance(configobj, Mapping):
            return self._set_entries(_mapping_entries(configobj, type(self)))
        if isinstance(configobj, (str, os.PathLike)):
            return self.update_from_file(configobj)
        raise ParameterError(f"configobj: expected a parameter file name or a mapping, got "
                             f"{type(configobj).__name__}")

    def _set_entries(self, entries: list[_Entry]) -> list[str]:
        """Set parameters read from a file or mapping as one change (see `update`)."""
        names = [name for name, _, _ in entries]
        with self._setting_together(names):
            for name, value, location in entries:
                try:
                    setattr(self, name, value)
                except ParameterError as exc:
                    raise type(exc)(f"{location}: {exc}") from None
        return names

    # -- rules between parameters ---------------------------------------

    def check_consistency(self) -> list[str]:
        """Check the rules that involve several parameters.

        Returns
        -------
        list of str
            Notes about values that will be ignored; each is also logged.

        Raises
        ------
        ParameterError
            Listing every conflict found (e.g. ``gain`` and ``gainkeyword``
            both set).
        """
        problems: list[str] = []
        for value_name, keyword_name in (("gain", "gainkeyword"), ("rdnoise", "rnkeyword"),
                                         ("exptime", "expkeyword")):
            value, keyword = getattr(self, value_name), getattr(self, keyword_name)
            if value is not None and keyword:
                problems.append(f"parameters {value_name!r} ({value!r}) and {keyword_name!r} "
                                f"({keyword!r}) are both set; set at most one of them")
        for low_name, high_name in (("skylower", "skyupper"),
                                    ("combine_lthresh", "combine_hthresh")):
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low is not None and high is not None and low >= high:
                problems.append(f"parameter {low_name!r} ({low!r}) must be below "
                                f"{high_name!r} ({high!r})")
        shared_bits = self._bit_value("bits")
        for follower in _BITS_FOLLOWERS:
            own = self._bit_value(follower)
            if shared_bits != 0 and own != 0 and own != shared_bits:
                problems.append(f"parameters 'bits' ({self.bits!r}) and {follower!r} "
                                f"({getattr(self, follower)!r}) both set the good DQ bits "
                                f"of the {_BITS_FOLLOWERS[follower]} and differ")
        for ra_name, dec_name in (("ra", "dec"), ("final_ra", "final_dec"),
                                  ("driz_sep_ra", "driz_sep_dec")):
            ra, dec = getattr(self, ra_name), getattr(self, dec_name)
            if (ra is None) != (dec is None):
                given, missing = (ra_name, dec_name) if dec is None else (dec_name, ra_name)
                problems.append(f"parameter {given!r} is set but {missing!r} is not; the "
                                "centre of an output frame needs both (or neither)")
        for prefix in ("final", "driz_sep"):
            first, second = f"{prefix}_crpix1", f"{prefix}_crpix2"
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                given, missing = ((first, second) if getattr(self, second) is None
                                  else (second, first))
                problems.append(f"parameter {given!r} is set but {missing!r} is not; the "
                                "reference pixel of an output frame needs both (or neither)")
        for multidrizzle_name, astrodrizzle_name in (("refimage", "final_refimage"),
                                                     ("ra", "final_ra"), ("dec", "final_dec")):
            mine, theirs = getattr(self, multidrizzle_name), getattr(self, astrodrizzle_name)
            if mine not in (None, "") and theirs not in (None, "") and mine != theirs:
                problems.append(f"parameters {multidrizzle_name!r} ({_value_text(mine)}) "
                                f"and {astrodrizzle_name!r} ({_value_text(theirs)}) both set "
                                "the final frame and differ")
        if self.restore and not self.workinplace:
            problems.append("parameter 'restore' copies the archived originals in OrIg_files/ "
                            "over the input files; set workinplace=True as well to allow "
                            "changing the inputs")
        if problems:
            raise ParameterError("; ".join(problems))

        notes: list[str] = []
        for prefix in ("driz_sep", "final"):
            switch = f"{prefix}_wcs"
            custom = [name for name in self.parameter_names(switch)
                      if name != switch and getattr(self, name) not in (None, "")]
            if custom and not getattr(self, switch):
                notes.append(f"{', '.join(custom)} set but {switch} is False; these custom "
                             f"WCS values are ignored")
            pixfrac = getattr(self, f"{prefix}_pixfrac")
            kernel = getattr(self, f"{prefix}_kernel")
            if pixfrac < POINT_KERNEL_PIXFRAC and kernel != "point":
                notes.append(f"{prefix}_pixfrac={pixfrac!r} is below {POINT_KERNEL_PIXFRAC}; "
                             f"kernel 'point' will be used instead of {kernel!r}")
        if self.skysub and self.skyuser:
            notes.append(f"skyuser={self.skyuser!r} is ignored because skysub is True")
        if self.blot_addsky and self.blot_skyval != 0.0:
            notes.append(f"blot_skyval={self.blot_skyval!r} is ignored because blot_addsky "
                         "is True")
        for note in notes:
            logger.info("parameters: %s", note)
        return notes

    def effective_kernel(self, prefix: str) -> str:
        """The drizzle kernel actually used by step ``prefix``.

        Parameters
        ----------
        prefix : {'driz_sep', 'final'}
            Which drizzle step.

        Returns
        -------
        str
            ``'point'`` when the step's pixfrac is below 0.001 (logged at
            INFO), otherwise the step's kernel.  A ``'lanczos3'`` kernel with
            pixfrac != 1 is kept but warned about with
            :class:`ParameterWarning`.
        """
        if prefix not in ("driz_sep", "final"):
            raise ParameterError(f"effective_kernel: prefix {prefix!r} is not allowed; "
                                 "expected 'driz_sep' or 'final'")
        kernel = getattr(self, f"{prefix}_kernel")
        pixfrac = getattr(self, f"{prefix}_pixfrac")
        if effective_kernel(kernel, pixfrac) != kernel:
            logger.info("%s_pixfrac=%g is below %g: using kernel 'point' instead of %r",
                        prefix, pixfrac, POINT_KERNEL_PIXFRAC, kernel)
            return "point"
        if DRIZZLE_KERNELS[kernel].wants_unit_pixfrac and pixfrac != 1.0:
            message = (f"{prefix}_kernel={kernel!r} with {prefix}_pixfrac={pixfrac:g}: the "
                       f"{kernel} kernel should only be used with pixfrac=1")
            logger.warning(message)
            warnings.warn(message, ParameterWarning, stacklevel=2)
        return kernel


def _closest_names_hint(name: str, known: Mapping[str, Any]) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names of ``known`` closest to ``name``."""
    close = difflib.get_close_matches(str(name), list(known), n=3)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _unknown_parameter_message(name: str, known: Mapping[str, Any]) -> str:
    return f"unknown parameter {name!r}{_closest_names_hint(name, known)}"


# --------------------------------------------------------------------------
# Parameter files
# --------------------------------------------------------------------------


def _parse_file_value(text: str) -> Any:
    """Read a value as written in a parameter file.

    Python literals (None, True, 12, 0.3, 'quoted text', [list]) are read as
    such; anything else (square, 3.5 3.0, ~4,8, sci,1) is kept as text for
    the parameter's trait to convert.
    """
    text = text.strip()
    if not text:
        return ""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, (str, int, float, bool, list, tuple)) or value is None:
        return value
    return text


def format_parameter_value(value: Any) -> str:
    """Write a stored parameter value as text that reads back to the same value.

    Pairs are written '3.5 3.0', None as None, text unquoted unless quoting
    is needed to read it back unchanged (or it holds a '#', which starts a
    comment in a parameter file, or starts with a quote).  An ``astropy.wcs.WCS`` (a reference
    grid) cannot be written as text: it is described, e.g.
    ``<WCS 4200 x 4100 pixels>`` (:func:`save_pars` writes it to a FITS file).
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{value[0]!r} {value[1]!r}"
    if isinstance(value, str):
        plain = (bool(value) and value == value.strip() and "\n" not in value
                 and "#" not in value and value[0] not in "'\"")
        if plain and _parse_file_value(value) == value:
            return value
        return repr(value)
    if isinstance(value, WCS):
        shape = " x ".join(str(n) for n in value.pixel_shape) if value.pixel_shape else "?"
        return f"<WCS {shape} pixels>"
    return repr(value)


def _first_sentence(text: str) -> str:
    match = re.search(r"(?<=[.!?])\s", text)
    return text[:match.start()] if match else text


def reference_grid_file(path: str | os.PathLike, name: str) -> Path:
    """The FITS file :func:`save_pars` writes for parameter ``name`` when it holds a WCS.

    It sits beside the parameter file ``path``: ``my.cfg`` and
    ``final_refimage`` give ``my_final_refimage.fits``.
    """
    path = Path(path)
    return path.with_name(f"{path.stem}_{name}.fits")


def _write_reference_grid(wcs: WCS, path: Path) -> Path:
    """Write a reference grid as a data-less FITS HDU that ``read_reference_wcs`` reads.

    The size goes in NPIX1/NPIX2, as in the frames TweakReg writes; lookup
    table distortions (if any) go in extensions, as ``WCS.to_fits`` puts them.
    """
    hdul = wcs.to_fits(relax=True)
    nx, ny = (int(n) for n in wcs.pixel_shape)
    hdul[0].header["NPIX1"] = (nx, "columns of the grid this WCS defines")
    hdul[0].header["NPIX2"] = (ny, "rows of the grid this WCS defines")
    return atomic_writeto(hdul, path)


def save_pars(params: DrizzleParameters, path: str | os.PathLike) -> Path:
    """Write every parameter to a plain text file, one ``[section]`` per step.

    Each parameter is preceded by a comment with the first sentence of its
    help and its default.  ``gnkeyword`` is not written (its value is that
    of ``gainkeyword``).  The file is written to a temporary file in the
    same directory and then renamed, so a crash never leaves half a file.

    A reference-image parameter that holds an ``astropy.wcs.WCS`` is written
    to a FITS file beside the parameter file (see :func:`reference_grid_file`:
    a data-less HDU with the WCS and the grid size in NPIX1/NPIX2), and the
    parameter file names that FITS file by its absolute path, so that loading
    the file gives the same output grid.

    The file is in configobj format (``name = value`` under ``[section]``
    titles), like drizzlepac's ``.cfg`` files; see :func:`load_pars`.

    Parameters
    ----------
    params : DrizzleParameters
        The parameters to save.
    path : str or Path
        Destination file.

    Returns
    -------
    Path
        The file written.
    """
    from multidrizzle import __version__

    path = Path(path)
    lines = [
        f"# multidrizzle {__version__} parameter file.",
        "# Load with Multidrizzle(input, configobj=PATH) or DrizzleParameters(configobj=PATH).",
        "# Format: 'name = value' under [step] sections; '#' starts a comment.",
        "# None means unset; text may be quoted; pairs are written '3.5 3.0'.",
    ]
    traits = params.parameter_traits()
    for step, names in params.steps().items():
        names = [name for name in names if "alias_of" not in traits[name].metadata]
        if not names:
            continue
        lines += ["", f"[{step}]", f"# {STEP_TITLES[step]}"]
        for name in names:
            trait = traits[name]
            default = format_parameter_value(trait.default_value)
            lines += textwrap.wrap(f"{_first_sentence(trait.help)} [default: {default}]",
                                   width=79, initial_indent="# ", subsequent_indent="# ")
            value = getattr(params, name)
            if isinstance(value, WCS):
                grid_file = _write_reference_grid(value, reference_grid_file(path, name))
                lines.append(f"# {name} was an astropy WCS, written to this FITS file:")
                value = str(grid_file.resolve())
            lines.append(f"{name} = {format_parameter_value(value)}")
    return atomic_write_text(path, "\n".join(lines) + "\n")


#: Keys of the form ``_name_`` are TEAL's (drizzlepac's parameter editor)
#: bookkeeping, such as ``_task_name_``, not parameters.
_TEAL_KEY = re.compile(r"^_\w+_$")
#: The section of a TEAL file holding its editor's rules, not values.
_RULES_SECTION = "_RULES_"
#: Tasks whose parameter files set these parameters (``_task_name_``).
_TASK_NAMES = ("astrodrizzle", "multidrizzle")

#: A line of our own format, as ``editpars`` checks it line by line.
_SECTION_LINE = re.compile(r"^\[\s*([A-Za-z_][\w]*)\s*\]$")
_ASSIGNMENT_LINE = re.compile(r"^([A-Za-z_]\w*)\s*=(.*)$")
# Only used to find the line of a name for messages: configobj keeps none.
_SECTION_TITLE_LINE = re.compile(r"^\s*(\[+)\s*(.*?)\s*\]+\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*([^\s=#\[][^=]*?)\s*=")

#: One value read from a parameter file or mapping: name, value, and where
#: it was found (``"my.cfg, line 12"``) for messages.
_Entry = tuple[str, Any, str]


def _line_numbers(lines: Sequence[str]) -> dict[tuple[tuple[str, ...], str], int]:
    """Line (1-based) of each ``key =`` line, keyed by its section path and key."""
    numbers: dict[tuple[tuple[str, ...], str], int] = {}
    sections: list[str] = []
    for number, line in enumerate(lines, start=1):
        section = _SECTION_TITLE_LINE.match(line)
        if section:
            depth = len(section.group(1))
            sections = sections[:depth - 1] + [section.group(2)]
            continue
        key = _KEY_LINE.match(line)
        if key and not line.lstrip().startswith("#"):
            numbers.setdefault((tuple(sections), key.group(1)), number)
    return numbers


def _configobj_entries(tree: Mapping[str, Any], parameters_class: type[DrizzleParameters],
                       where: Any, values_are_text: bool) -> list[_Entry]:
    """Flatten a configobj tree into parameter entries, checking names.

    Section titles only group names (``[STEP 7: DRIZZLE FINAL COMBINED
    IMAGE]`` or ``[final]``); the ``[_RULES_]`` section and TEAL's ``_name_``
    keys are skipped; ``_task_name_`` must name astrodrizzle (or
    multidrizzle) when present; an empty ``input`` leaves the input unset
    (drizzlepac's HAP files give it at the call).  ``where(sections, key)`` says where a key
    is, for messages: ``(full, short)``, such as ``("my.cfg, line 3", "on
    line 3")``.
    """
    traits = parameters_class.parameter_traits()
    entries: list[_Entry] = []
    first_seen: dict[str, str] = {}

    def walk(section: Mapping[str, Any], sections: tuple[str, ...]) -> None:
        for key, value in section.items():
            key = str(key).strip()
            if isinstance(value, Mapping):
                if key != _RULES_SECTION:
                    walk(value, sections + (key,))
                continue
            location, short_location = where(sections, key)
            if _TEAL_KEY.match(key):
                task = _parse_file_value(value) if values_are_text else value
                if key == "_task_name_" and str(task).strip().lower() not in _TASK_NAMES:
                    raise ParameterError(
                        f"{location}: this is a parameter file of task {task!r}; expected "
                        f"one of {', '.join(_TASK_NAMES)} (drizzlepac's astrodrizzle.cfg)")
                continue
            name = canonical_name(key)
            if name not in traits:
                raise ParameterError(f"{location}: {_unknown_parameter_message(name, traits)}")
            value = _parse_file_value(value) if values_are_text else value
            if name == "input" and _is_none_word(value):
                continue  # drizzlepac's HAP files leave the input to the call
            canonical = traits[name].metadata.get("alias_of", name)
            if canonical in first_seen:
                raise ParameterError(f"{location}: parameter {name!r} is already set "
                                     f"{first_seen[canonical]}")
            first_seen[canonical] = short_location
            entries.append((name, value, location))

    walk(tree, ())
    return entries


def _read_parameter_file(path: Path, parameters_class: type[DrizzleParameters]
                         ) -> list[_Entry]:
    """Read (name, raw value, location) entries from a parameter file.

    The file is read with the ``configobj`` library without list or
    interpolation handling: every value is kept as written and converted
    by its parameter's trait (``4 3``, ``~4,8`` and ``"4096"`` mean what
    they mean in drizzlepac's files).
    """
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ParameterError(f"parameter file {str(path)!r} cannot be read: {reason}") from None
    lines = content.splitlines()
    try:
        tree = ConfigObj(lines, list_values=False, interpolation=False, raise_errors=True,
                         encoding="utf-8")
    except ConfigObjError as exc:
        number = getattr(exc, "line_number", None)
        text = (getattr(exc, "line", "") or "").strip()
        prefix = f"{path}, line {number}" if number else str(path)
        if isinstance(exc, DuplicateError):
            assignment = _ASSIGNMENT_LINE.match(text)
            name = assignment.group(1) if assignment else text
            first = next((index for index, line in enumerate(lines[:(number or 1) - 1], start=1)
                          if (match := _ASSIGNMENT_LINE.match(line.strip()))
                          and match.group(1) == name), None)
            where = f" on line {first}" if first else ""
            raise ParameterError(f"{prefix}: {name!r} is already set{where} in this "
                                 "section") from None
        raise ParameterError(f"{prefix}: cannot read {text!r}; expected 'name = value', "
                             "'[section]' or a '#' comment") from None
    numbers = _line_numbers(lines)

    def where(sections: tuple[str, ...], key: str) -> tuple[str, str]:
        number = numbers.get((sections, key))
        if number is not None:
            return f"{path}, line {number}", f"on line {number}"
        place = f"[{']['.join(sections)}] {key}" if sections else key
        return f"{path}, {place}", f"as {place}"

    return _configobj_entries(tree, parameters_class, where, values_are_text=True)


def _mapping_entries(tree: Mapping[str, Any], parameters_class: type[DrizzleParameters]
                     ) -> list[_Entry]:
    """Entries of a configobj mapping (a ``ConfigObj`` or a plain, possibly nested, dict)."""
    def where(sections: tuple[str, ...], key: str) -> tuple[str, str]:
        place = f"[{']['.join(sections)}] {key}" if sections else key
        return f"configobj {place}", f"as {place}"

    return _configobj_entries(tree, parameters_class, where, values_are_text=False)


def load_pars(path: str | os.PathLike,
              parameters_class: type[DrizzleParameters] = DrizzleParameters) -> dict[str, Any]:
    """Read a parameter file: ours (:func:`save_pars`) or drizzlepac's ``.cfg``.

    The file is read with ``configobj``.  Section titles only group the
    names (``[sky]`` or drizzlepac's ``[STEP 2: SKY SUBTRACTION]``);
    TEAL's ``_task_name_`` key and ``[_RULES_]`` section are skipped.  Each
    name may appear once in the file.

    Parameters
    ----------
    path : str or Path
        The file.
    parameters_class : type, optional
        Class whose parameters the file may name.

    Returns
    -------
    dict
        Parameter name to value, converted to stored form (e.g. pairs as
        tuples), in file order.

    Raises
    ------
    ParameterError
        Naming the file and line for unknown names, duplicate names, lines
        that cannot be read and values that are not allowed.
    """
    path = Path(path)
    traits = parameters_class.parameter_traits()
    values: dict[str, Any] = {}
    for name, value, location in _read_parameter_file(path, parameters_class):
        try:
            values[name] = traits[name].check(value)
        except ParameterError as exc:
            raise type(exc)(f"{location}: {exc}") from None
    return values


# --------------------------------------------------------------------------
# Help
# --------------------------------------------------------------------------

_SESSION_SYNTAX = """\
MultiDrizzle: combine dithered HST exposures into one distortion-free,
cosmic-ray cleaned image.

    import multidrizzle
    md = multidrizzle.Multidrizzle(input, output=None, editpars=False,
                                   configobj=None, mdriztab=False, **params)
    md.editpars()          # review and edit the parameters
    md.build()             # read inputs, compute the output frame
    md.run(static=None, skysub=None, driz_separate=None, median=None,
           blot=None, driz_cr=None, driz_combine=None)
    md.save_pars('my.cfg') # write the parameters to a text file
    md.help()              # this text

    # AstroDrizzle's one call (builds and runs; returns the session):
    md = multidrizzle.astrodrizzle(input, configobj=None, **params)

Any parameter below may be given to Multidrizzle(...) or set later as an
attribute (md.final_pixfrac = 0.8).  Values are checked when set, and a
name that is not a parameter is refused.  configobj may name drizzlepac's
astrodrizzle.cfg (read unchanged) or a file written by save_pars.
multidrizzle.session.parameters.describe('name') gives the full help of one
parameter."""


def parameter_table(params: DrizzleParameters | None = None) -> str:
    """The parameter table, grouped by step under ``[step] title`` headers.

    Each parameter takes two lines: name, type, default, current value (only
    when ``params`` is given) and allowed values; then, indented, the first
    sentence of its help.
    """
    parameters_class = type(params) if params is not None else DrizzleParameters
    traits = parameters_class.parameter_traits()
    header = ["name", "type", "default"] + (["value"] if params is not None else [])
    header.append("allowed values")
    rows_by_step: dict[str, list[tuple[list[str], str]]] = {}
    for step, names in parameters_class.steps().items():
        rows = []
        for name in names:
            trait = traits[name]
            cells = [name, trait.type_label, format_parameter_value(trait.default_value)]
            if params is not None:
                cells.append(format_parameter_value(getattr(params, name)))
            cells.append(trait.allowed_text())
            rows.append((cells, _first_sentence(trait.help)))
        rows_by_step[step] = rows
    all_cells = [header] + [cells for rows in rows_by_step.values() for cells, _ in rows]
    widths = [max(len(cells[column]) for cells in all_cells) for column in range(len(header))]

    def render(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    lines = [render(header), render(["-" * width for width in widths])]
    for step, rows in rows_by_step.items():
        if not rows:
            continue
        lines += ["", f"[{step}] {STEP_TITLES[step]}"]
        for cells, help_sentence in rows:
            lines.append(render(cells))
            lines += textwrap.wrap(help_sentence, width=79, initial_indent="    ",
                                   subsequent_indent="    ")
    return "\n".join(lines)


def help_text(params: DrizzleParameters | None = None) -> str:
    """Session syntax followed by the parameter table."""
    return _SESSION_SYNTAX + "\n\nParameters\n==========\n" + parameter_table(params)


def describe(name: str, parameters_class: type[DrizzleParameters] = DrizzleParameters) -> str:
    """Full help for one parameter: type, defaults, allowed values, help text."""
    name = canonical_name(name)
    trait = parameters_class.parameter_trait(name)
    origin = ORIGIN_TEXT[trait.metadata["origin"]]
    lines = [
        f"{name}  [{trait.metadata['step']}: {STEP_TITLES[trait.metadata['step']]}]",
        f"  type:     {trait.type_label}",
        f"  default:  {format_parameter_value(trait.default_value)}",
    ]
    if "multidrizzle_default" in trait.metadata:
        lines.append(f"  MultiDrizzle default: "
                     f"{format_parameter_value(trait.metadata['multidrizzle_default'])}")
    if "alias_of" in trait.metadata:
        lines.append(f"  alias of: {trait.metadata['alias_of']}")
    lines += [f"  allowed:  {trait.allowed_text()}", f"  from:     {origin}", ""]
    lines += textwrap.wrap(trait.help, width=76, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)
