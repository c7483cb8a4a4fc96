"""Per-pixel helpers of the drizzle kernels (multidrizzle.kernels._geometry)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from multidrizzle.kernels._geometry import (
    EDGE_ROW_LENGTH,
    FUSED_MULTIPLY_ADD,
    edge_cover,
    edge_covers,
    sin_cos_pi,
)


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


# The kernels' fast-math flag: edge_cover is inlined and compiled with its caller's.
@njit(cache=False, fastmath=FUSED_MULTIPLY_ADD)
def _edge_cover_one_by_one(x_a, y_a, x_b, y_b):
    out = np.empty((x_a.size, 11))
    for i in range(x_a.size):
        fits, row, col, cell0, d0, d1, d2, cell1, e0, e1, e2 = edge_cover(
            x_a[i], y_a[i], x_b[i], y_b[i])
        out[i, 0] = 1.0 if fits else 0.0
        out[i, 1:] = (row, col, cell0, d0, d1, d2, cell1, e0, e1, e2)
    return out


def test_edge_covers_gives_edge_covers_bits():
    """The vectorised run of edges against one call per edge: upwards and downwards
    edges, edges on cell boundaries, long edges (not fitting) and NaN corners."""
    rng = np.random.default_rng(5)
    n = 5000
    starts = rng.uniform(-3.0, 40.0, (2, n))
    ends = starts + rng.uniform(-1.2, 1.2, (2, n))
    ends[:, :200] = starts[:, :200] + rng.uniform(-4.0, 4.0, (2, 200))   # too long to fit
    starts[:, 200:400] = np.round(starts[:, 200:400]) + 0.5              # on boundaries
    ends[1, 400:450] = starts[1, 400:450]                                # horizontal
    ends[0, 450:500] = starts[0, 450:500]                                # vertical
    starts[0, 500:510] = np.nan
    out = np.full((n, EDGE_ROW_LENGTH), -7.0)
    edge_covers(starts[0], starts[1], ends[0], ends[1], out)
    expected = _edge_cover_one_by_one(starts[0], starts[1], ends[0], ends[1])
    np.testing.assert_array_equal(out[:, :11], expected)
    assert np.all(out[:, 11] == -7.0)
    assert 0 < np.count_nonzero(expected[:, 0] == 0.0) < n
