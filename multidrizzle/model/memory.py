"""Arrays of a whole grid that cost memory only where they are written.

A drizzle writes its output through a frame of the whole grid, of which a
task touches only a part (an exposure's cutout, a strip of rows): the
system gives an untouched page of a zeroed array no memory.  numpy asks
Linux for transparent huge pages on arrays of 4 MiB or more, though, and a
huge page is 2 MiB: a strip of 64 rows of a 2833-pixel grid (0.7 MiB a
plane) would then hold 2 to 4 MiB of every plane (science, weight, variance
and each context plane), so a task's memory followed the grid's width and
its number of context planes (inputs), not the pixels it makes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import mmap
import sys
from typing import Any

import numpy as np

__all__ = ["sparse_zeros", "use_small_pages", "c_library"]

#: Linux's ``madvise`` advice MADV_NOHUGEPAGE.
_MADV_NOHUGEPAGE = 15


@functools.cache
def c_library() -> Any:
    """The process's C library through ctypes (errno kept), or None where it cannot be
    loaded; callers check for the functions they need (``madvise``, glibc's
    ``malloc_trim`` and ``mallopt``)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def use_small_pages(array: np.ndarray) -> np.ndarray:
    """Ask the system to back ``array`` (not written yet) with small pages; returns it.

    Only the whole pages inside the array's buffer are advised (the advice
    applies to pages, and a neighbour's memory must not change); nothing
    happens on systems without ``madvise`` or huge pages, and a refusal is
    harmless (the array just keeps huge pages).  The values are untouched.
    """
    library = c_library() if sys.platform.startswith("linux") else None
    if library is None or not hasattr(library, "madvise") or array.nbytes < 2 * mmap.PAGESIZE:
        return array
    start = array.ctypes.data
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    last = (start + array.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        library.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first),
                        _MADV_NOHUGEPAGE)
    return array


def sparse_zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``np.zeros(shape, dtype)`` whose untouched pages cost no memory, in small pages."""
    return use_small_pages(np.zeros(shape, dtype=dtype))
