"""Instrument knowledge: header keywords that must be numbers are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.errors import InputError
from multidrizzle.model.instruments import header_number


@pytest.mark.parametrize("value", ["F555W", True, float("nan"), float("inf"), 1j,
                                   fits.card.UNDEFINED])
def test_header_number_refuses_non_numbers(value):
    with pytest.raises(InputError, match=r"x.fits \(primary header\): keyword GAINX \(named "
                                         r"by parameter 'gainkeyword'\) has .*expected the "
                                         r"gain"):
        header_number(value, where="input file x.fits (primary header)", keyword="GAINX",
                      parameter="gainkeyword", expected="the gain in e-/DN")


@pytest.mark.parametrize("value", [2, 1.5, np.float32(2.5), np.int16(3)])
def test_header_number_accepts_numbers(value):
    assert header_number(value, where="w", keyword="K") == pytest.approx(float(value))
