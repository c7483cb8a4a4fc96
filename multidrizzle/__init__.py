"""multidrizzle: combine dithered HST exposures into one distortion-free image.

The session workflow of MultiDrizzle::

    from multidrizzle import Multidrizzle
    md = Multidrizzle("*flt.fits", output="final", final_scale=0.05)
    md.build()
    md.run()
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

from multidrizzle.errors import (
    GridTooLargeError, InputError, MultidrizzleError, ParameterError, StepOrderError,
)

#: The distribution name (``pip install multidrizzle-ng``); the import name
#: stays ``multidrizzle``.  ``multidrizzle`` on PyPI is STScI's old release.
DISTRIBUTION = "multidrizzle-ng"


def _version() -> str:
    """The version, defined once in pyproject.toml.

    Read from the installed distribution's metadata; a source tree used
    without installing it (``PYTHONPATH``) reads its pyproject.toml.
    """
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib  # Python 3.11+

        with open(pyproject, "rb") as stream:
            project = tomllib.load(stream)["project"]
        if project.get("name") == DISTRIBUTION:
            return str(project["version"])
    except (ImportError, OSError, KeyError, ValueError):
        pass
    return "0+unknown"


__version__ = _version()
__all__ = ["Multidrizzle", "astrodrizzle", "help", "InputError", "ParameterError",
           "StepOrderError", "GridTooLargeError", "MultidrizzleError", "__version__"]

logging.getLogger("multidrizzle").addHandler(logging.NullHandler())


def __getattr__(name: str):
    # The session pulls in astropy.wcs and numba; import it on first use only.
    if name in ("Multidrizzle", "astrodrizzle"):
        from multidrizzle import session

        return getattr(session, name)
    raise AttributeError(f"module 'multidrizzle' has no attribute {name!r}")


def help(file: str | None = None) -> None:  # noqa: A001 - the AstroDrizzle name
    """Print the session syntax and the parameter table (or write it to ``file``)."""
    from multidrizzle.session.parameters import help_text

    text = help_text()
    if file is None:
        print(text)
    else:
        with open(file, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
