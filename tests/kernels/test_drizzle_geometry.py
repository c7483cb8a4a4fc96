"""Per-pixel helpers of the drizzle kernels (multidrizzle.kernels._geometry)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from multidrizzle.kernels._geometry import sin_cos_pi


@njit(cache=False)
def _sin_cos_pi_of(values):
    out = np.empty((values.size, 2))
    for k in range(values.size):
        out[k, 0], out[k, 1] = sin_cos_pi(values[k])
    return out


def test_sin_cos_pi_matches_the_c_library():
    """Every quadrant, exact multiples of 1/4 and their neighbours, within a few ulps
    of the argument's own rounding (pi * t is rounded before math.sin sees it)."""
    rng = np.random.default_rng(3)
    quarters = np.arange(-40, 41) / 4.0
    values = np.concatenate([rng.uniform(-6.0, 6.0, 20000), quarters,
                             np.nextafter(quarters, np.inf), np.nextafter(quarters, -np.inf)])
    got = _sin_cos_pi_of(values)
    expected_sin = np.array([math.sin(math.pi * t) for t in values])
    expected_cos = np.array([math.cos(math.pi * t) for t in values])
    assert np.max(np.abs(got[:, 0] - expected_sin)) < 4e-15
    assert np.max(np.abs(got[:, 1] - expected_cos)) < 4e-15
    # exact where the answer is exact
    whole = _sin_cos_pi_of(np.array([0.0, 0.5, 1.0, 1.5, -0.5, 2.0]))
    assert np.array_equal(whole, [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0],
                                  [-1.0, 0.0], [0.0, 1.0]])
