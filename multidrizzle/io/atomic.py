"""The one way multidrizzle writes a file: to a temporary name, then a rename.

Every file the package writes (products, intermediates, masks, parameter
files, demo data, input files updated with ``workinplace``) goes through
:func:`atomic_write`: the content is written to a temporary file in the
destination folder and renamed over the destination, so a reader never sees
a partial file, an interrupted write leaves the earlier file in place, and
no temporary file stays behind after an error.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from astropy.io import fits

__all__ = ["atomic_write", "atomic_writeto", "atomic_write_text", "atomic_copy",
           "FileSet", "TEMPORARY_SUFFIX"]

#: Suffix of the temporary files (``.<name>.<random>.tmp`` beside the destination).
TEMPORARY_SUFFIX = ".tmp"

#: Mode of a new file (mkstemp makes files private, 0600).
_NEW_FILE_MODE = 0o644
#: Bytes read at a time to take the sha256 of a file filled in place.
_HASH_BLOCK_BYTES = 16 * 2**20


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


class _HashingStream:
    """A write-only stream that also feeds what it writes to a sha256."""

    def __init__(self, stream: BinaryIO, digest) -> None:
        self._stream = stream
        self._digest = digest

    def write(self, data) -> int:
        self._digest.update(data)
        return self._stream.write(data)


class FileSet:
    """Files written under temporary names and renamed over their destinations together.

    A set of products is only useful whole: :meth:`write` writes each file
    to a temporary name beside its destination (``.NAME.XXXX.tmp``, as
    :func:`atomic_write`), :meth:`commit` renames them all once every one is
    written, and :meth:`discard` (called on any error, ``KeyboardInterrupt``
    included, when used as a context manager) removes them, leaving the
    earlier files as they were.  The sha256 and size of each file are taken
    as it is written, for a manifest.  A file too large to be streamed (a
    final product written region by region) is made in place instead:
    :meth:`create` gives its temporary file, :meth:`seal` records it once
    complete.

    Examples
    --------
    >>> with FileSet() as files:                                    # doctest: +SKIP
    ...     files.write("a_sci.fits", write_sci)
    ...     files.write("a_wht.fits", write_wht)
    ... # both renamed here, or neither on an error
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path, int]] = []
        #: sha256 (hex) of every file written, by destination.
        self.checksums: dict[Path, str] = {}
        #: Size in bytes of every file written, by destination.
        self.sizes: dict[Path, int] = {}
        self.committed = False

    def write(self, path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
        """Write ``path``'s content to its temporary file: ``write(stream)`` fills it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.is_file() else _NEW_FILE_MODE
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.",
                                             suffix=TEMPORARY_SUFFIX, dir=path.parent)
        self._pending.append((Path(temporary), path, mode))
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as stream:
            write(_HashingStream(stream, digest))
        self.checksums[path] = digest.hexdigest()
        self.sizes[path] = Path(temporary).stat().st_size
        return path

    def create(self, path: str | os.PathLike) -> Path:
        """An empty temporary file for ``path``, to be filled in place (a product
        written region by region); returns the temporary file's name.

        Call :meth:`seal` once it is complete, so that its sha256 and size are
        recorded; it is renamed by :meth:`commit` and removed by :meth:`discard`
        as the files of :meth:`write` are.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.is_file() else _NEW_FILE_MODE
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.",
                                             suffix=TEMPORARY_SUFFIX, dir=path.parent)
        os.close(handle)
        self._pending.append((Path(temporary), path, mode))
        return Path(temporary)

    def seal(self, path: str | os.PathLike) -> Path:
        """Record the sha256 and size of the file made by :meth:`create` for ``path``
        (read back from its temporary file); returns ``path``."""
        path = Path(path)
        temporary = next((temp for temp, destination, _ in self._pending
                          if destination == path), None)
        if temporary is None:
            raise KeyError(f"{path} is not a file of this set")
        digest = hashlib.sha256()
        with open(temporary, "rb") as stream:
            for block in iter(lambda: stream.read(_HASH_BLOCK_BYTES), b""):
                digest.update(block)
        self.checksums[path] = digest.hexdigest()
        self.sizes[path] = temporary.stat().st_size
        return path

    @property
    def paths(self) -> list[Path]:
        """The destinations, in the order written."""
        return [path for _, path, _ in self._pending]

    def commit(self) -> list[Path]:
        """Rename every temporary file over its destination; returns the destinations."""
        try:
            for temporary, path, mode in self._pending:
                os.chmod(temporary, mode)
                os.replace(temporary, path)
        except BaseException:
            self.discard()  # those renamed are gone already; the others go now
            raise
        self.committed = True
        return self.paths

    def discard(self) -> None:
        """Remove the temporary files not renamed yet."""
        for temporary, _, _ in self._pending:
            temporary.unlink(missing_ok=True)

    def __enter__(self) -> "FileSet":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
