"""Shared fixtures: real HST headers with full-size synthetic pixels."""

from __future__ import annotations

from pathlib import Path

import pytest

from hst_files import UVIS_FLC, full_size_copy


@pytest.fixture(scope="session")
def uvis_full(tmp_path_factory) -> Path:
    """The WFC3/UVIS header (SIP + NPOL + D2IM) with full-size pixels, read-only use."""
    folder = tmp_path_factory.mktemp("uvis")
    return full_size_copy(UVIS_FLC, folder / "ib4606c6q_flc.fits")
