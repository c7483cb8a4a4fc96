"""Reading a FITS image's pixels straight from where they lie in the file.

astropy finds an extension by parsing every header before it, on every
open: with HST files of a dozen extensions that costs about as much as
reading a small chip's pixels, and a mosaic reads each chip up to eight
times.  A :class:`DataUnit` is where an image's data lie (byte offset, type,
shape), found once by astropy; :func:`read_data_unit` then maps just that
region.  This is hand-written because astropy has no way to read an HDU's
data at a known offset without parsing the headers before it.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DataUnit", "FileState", "read_data_unit", "file_state"]


@dataclass(frozen=True)
class FileState:
    """Size and modification time of a file: a changed file has other offsets."""

    size: int
    mtime_ns: int


def file_state(path: str | os.PathLike) -> FileState:
    """The :class:`FileState` of ``path`` now."""
    status = os.stat(path)
    return FileState(status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class DataUnit:
    """Where an unscaled image's pixels lie in a FITS file.

    Attributes
    ----------
    offset : int
        Byte offset of the first pixel.
    file_dtype : numpy.dtype
        The type as stored (big-endian, as FITS requires).
    shape : tuple of int
        The array's shape (C order, as numpy gives it).
    """

    offset: int
    file_dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def end(self) -> int:
        """Byte offset just past the last pixel."""
        return self.offset + int(np.prod(self.shape)) * self.file_dtype.itemsize


def read_data_unit(path: str | os.PathLike, unit: DataUnit, key: Any = ...) -> np.ndarray:
    """A native-endian copy of ``unit``'s pixels (or of their part ``key``).

    The file is mapped and only the pages of the part asked for are read;
    the map is closed before returning, so no page stays in the process.

    Raises
    ------
    EOFError
        If the file ends before the data unit does (a truncated file); the
        caller names the file and extension.
    """
    count = int(np.prod(unit.shape))
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size < unit.end:
            raise EOFError(f"{Path(path).name} ends at byte {size:,}, inside a data unit "
                           f"that ends at byte {unit.end:,}")
        if count == 0:
            return np.zeros(unit.shape, dtype=unit.file_dtype.newbyteorder("="))[key]
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            image = np.frombuffer(mapped, dtype=unit.file_dtype, count=count,
                                  offset=unit.offset).reshape(unit.shape)
            values = np.array(image[key], dtype=unit.file_dtype.newbyteorder("="))
            del image  # the map cannot close while a view of it exists
    return values
