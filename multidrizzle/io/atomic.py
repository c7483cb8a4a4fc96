"""The one way multidrizzle writes a file: to a temporary name, then a rename.

Every file the package writes (products, intermediates, masks, parameter
files, demo data, input files updated with ``workinplace``) goes through
:func:`atomic_write`: the content is written to a temporary file in the
destination folder and renamed over the destination, so a reader never sees
a partial file, an interrupted write leaves the earlier file in place, and
no temporary file stays behind after an error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from astropy.io import fits

__all__ = ["atomic_write", "atomic_writeto", "atomic_write_text", "atomic_copy",
           "TEMPORARY_SUFFIX"]

#: Suffix of the temporary files (``.<name>.<random>.tmp`` beside the destination).
TEMPORARY_SUFFIX = ".tmp"

#: Mode of a new file (mkstemp makes files private, 0600).
_NEW_FILE_MODE = 0o644


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through a temporary file: ``write(stream)`` fills it.

    The new file gets the mode of the file it replaces, or 0644.  Missing
    folders are created.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else _NEW_FILE_MODE
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX,
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, mode)  # os.fchmod does not exist on every platform
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_writeto(hdul: fits.HDUList, path: str | os.PathLike) -> Path:
    """Write a FITS ``HDUList`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, hdul.writeto)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def atomic_copy(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Copy a file (content only) to ``destination`` atomically (see :func:`atomic_write`)."""
    def copy(stream: BinaryIO) -> None:
        with open(source, "rb") as original:
            shutil.copyfileobj(original, stream)
    written = atomic_write(destination, copy)
    shutil.copystat(source, written)
    return written
