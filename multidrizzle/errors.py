"""Typed exceptions raised by multidrizzle.

Every message names the file, extension or parameter at fault and says what
was expected, so that callers never need to match on the text.
"""

from __future__ import annotations


class MultidrizzleError(Exception):
    """Base class of every error raised on purpose by multidrizzle."""


class ParameterError(MultidrizzleError, ValueError):
    """A parameter has a bad value, or two parameters conflict."""


class UnknownAlgorithmError(ParameterError, KeyError):
    """A name of an algorithm (sky method, combine type, kernel...) that no registry knows.

    The message names the family, the parameter and the names that are known.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(MultidrizzleError, ValueError):
    """An input file is missing, unreadable, or not what was expected."""


class StepOrderError(MultidrizzleError, RuntimeError):
    """A step was asked for before the steps it needs have produced results."""


class GridTooLargeError(MultidrizzleError, MemoryError):
    """The requested output grid would not fit in the memory available."""


class UnsupportedError(MultidrizzleError, NotImplementedError):
    """An input asks for a feature of MultiDrizzle that multidrizzle does not implement.

    For example a shift file with ``# form: absolute``.  The message names
    the file (and line) and says what is supported instead.
    """


class StepResultError(MultidrizzleError, ValueError):
    """A step (usually a user's replacement function) returned a result of the wrong form."""



class RunInterrupted(KeyboardInterrupt):
    """A run ended by a signal (SIGTERM): handled as Ctrl-C is, so that every
    temporary file is removed on the way out.

    Attributes
    ----------
    signal_number : int
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"interrupted by signal {signal_number}")
        self.signal_number = signal_number
