"""Whole-grid frames that cost memory only in the rows a task writes."""

from __future__ import annotations

import mmap
import sys

import numpy as np
import pytest

from multidrizzle.model.memory import sparse_zeros, use_small_pages


def _mapping_of(array: np.ndarray) -> dict[str, str]:
    """The ``/proc/self/smaps`` fields of the mapping that holds ``array``'s first byte
    (the advice covers the whole pages inside an array: pass a row inside)."""
    address = array.ctypes.data
    fields: dict[str, str] | None = None
    with open("/proc/self/smaps") as handle:
        for line in handle:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(part, 16) for part in head.split("-"))
                if fields is not None:
                    break
                if start <= address < end:
                    fields = {}
            elif fields is not None:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
    assert fields is not None, "the array's mapping is not in /proc/self/smaps"
    return fields


def test_sparse_zeros_are_zeros_of_the_shape_and_type():
    array = sparse_zeros((3, 70, 50), np.int32)
    assert array.shape == (3, 70, 50) and array.dtype == np.int32
    assert not array.any()
    small = np.arange(5.0)
    assert use_small_pages(small) is small and small.tolist() == [0, 1, 2, 3, 4]


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/smaps (Linux)")


@linux_only
def test_a_frame_is_mapped_without_huge_pages():
    frame = sparse_zeros((3000, 2833), np.float32)
    assert "nh" in _mapping_of(frame[1500])["VmFlags"].split()


@linux_only
def test_writing_a_strip_of_rows_costs_those_rows_only():
    # 64 rows of a 2833-pixel grid: 0.7 MiB; with 2 MiB huge pages the same write
    # would hold 2 to 4 MiB of the frame
    frame = sparse_zeros((3000, 2833), np.float32)
    frame[1000:1064] = 1.0
    resident = int(_mapping_of(frame[1000])["Rss"].split()[0]) * 1024
    written = 64 * 2833 * 4
    assert written <= resident <= written + 2 * mmap.PAGESIZE
    assert frame[1000:1064].all() and not frame[:1000].any() and not frame[1064:].any()
