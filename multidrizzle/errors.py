"""Typed exceptions raised by multidrizzle.

Every message names the file, extension or parameter at fault and says what
was expected, so that callers never need to match on the text.
"""

from __future__ import annotations


class MultidrizzleError(Exception):
    """Base class of every error raised on purpose by multidrizzle."""


class ParameterError(MultidrizzleError, ValueError):
    """A parameter has a bad value, or two parameters conflict."""


class InputError(MultidrizzleError, ValueError):
    """An input file is missing, unreadable, or not what was expected."""


class StepOrderError(MultidrizzleError, RuntimeError):
    """A step was asked for before the steps it needs have produced results."""


class GridTooLargeError(MultidrizzleError, MemoryError):
    """The requested output grid would not fit in the memory available."""
