"""multidrizzle: combine dithered HST exposures into one distortion-free image.

The session workflow of MultiDrizzle::

    from multidrizzle import Multidrizzle
    md = Multidrizzle("*flt.fits", output="final", final_scale=0.05)
    md.build()
    md.run()
"""

from __future__ import annotations

import logging

from multidrizzle.errors import (
    GridTooLargeError, InputError, MultidrizzleError, ParameterError, StepOrderError,
)

__version__ = "0.1.0"
__all__ = ["Multidrizzle", "help", "InputError", "ParameterError", "StepOrderError",
           "GridTooLargeError", "MultidrizzleError", "__version__"]

logging.getLogger("multidrizzle").addHandler(logging.NullHandler())


def __getattr__(name: str):
    # The session pulls in astropy.wcs and numba; import it on first use only.
    if name == "Multidrizzle":
        from multidrizzle.session import Multidrizzle

        return Multidrizzle
    raise AttributeError(f"module 'multidrizzle' has no attribute {name!r}")


def help(file: str | None = None) -> None:  # noqa: A001 - the AstroDrizzle name
    """Print the session syntax and the parameter table (or write it to ``file``)."""
    from multidrizzle.parameters import help_text

    text = help_text()
    if file is None:
        print(text)
    else:
        with open(file, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
