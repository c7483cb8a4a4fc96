"""Fixtures shared by the whole suite: real HST headers with full-size pixels, demo sessions.

Helpers that are not fixtures live in the :mod:`support` package beside this
file; no test module imports another.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multidrizzle.demo.datasets import make_demo_dataset

from support.hst_files import UVIS_FLC, UVIS_FLC_SHORT, full_size_copy
from support.sessions import SMALL_DEMO_CHIP_SHAPE, SMALL_DEMO_SEED, build_demo_session


#: Most processes the suite runs on (pytest-xdist's ``-n auto``): the tests
#: are mostly single-threaded Python, but each process compiles or loads its
#: own numba kernels and holds a few hundred MiB, which more processes than
#: this do not pay back.
MAX_TEST_PROCESSES = 4


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one process per core, at most MAX_TEST_PROCESSES."""
    return max(1, min(MAX_TEST_PROCESSES, len(os.sched_getaffinity(0))
                      if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@pytest.fixture(scope="session")
def uvis_full(tmp_path_factory) -> Path:
    """The WFC3/UVIS header (SIP + NPOL + D2IM) with full-size pixels, read-only use."""
    folder = tmp_path_factory.mktemp("uvis")
    return full_size_copy(UVIS_FLC, folder / "ib4606c6q_flc.fits")


@pytest.fixture(scope="session")
def uvis_short_full(tmp_path_factory) -> Path:
    """A second, shorter WFC3/UVIS exposure of the same visit with full-size pixels,
    read-only use."""
    folder = tmp_path_factory.mktemp("uvis_short")
    return full_size_copy(UVIS_FLC_SHORT, folder / "ib4606c5q_flc.fits")


@pytest.fixture(scope="session")
def demo_session():
    """Factory: ``demo_session(folder, output, **params)``, a built session on the demo
    set in ``folder`` (``inputs.lst``), products in ``output``, intermediates in
    memory and no run log unless asked for
    (:func:`support.sessions.build_demo_session`)."""
    return build_demo_session


@pytest.fixture(scope="session")
def small_demo_set(tmp_path_factory) -> Path:
    """A demo set of three exposures with 64 x 128 chips (``inputs.lst`` lists them),
    read-only use: sessions on it write their products elsewhere."""
    folder = tmp_path_factory.mktemp("small_demo")
    make_demo_dataset(folder, n_exposures=3, chip_shape=SMALL_DEMO_CHIP_SHAPE,
                      seed=SMALL_DEMO_SEED)
    return folder
