"""Cosmic rays against AstroDrizzle on each kind of demo set, scored by the truth.

Three small sets (4 exposures of 2 x 256 x 512 pixels, ``conftest.CR_VARIANTS``):
WFC3/UVIS with SIP distortion (the set of ``test_astrodrizzle_parity.py``),
WFC3/UVIS with NPOL and D2IM lookup tables, and ACS/WFC.  Both programs run with the same
parameters (``conftest.SHARED_PARAMETERS``, AstroDrizzle's defaults), each on
its own output grid.  Injected cosmic-ray pixels are counted where at least
three exposures cover them, whatever their DQ (AstroDrizzle tests every
pixel; multidrizzle does not test pixels the drizzle ignores anyway, so it
must find more elsewhere).

Asserted: multidrizzle's recall of the injected pixels is at least
AstroDrizzle's at every deposit threshold (all, > 30 and > 100 e-), and it
flags at most a tenth as many pixels that hold no cosmic ray.
"""

from __future__ import annotations

import pytest

pytest.importorskip("drizzlepac")

pytestmark = pytest.mark.parity

#: Deposit thresholds (e-) of the recall comparison.
THRESHOLDS = (0.0, 30.0, 100.0)


@pytest.fixture(scope="module")
def scores(cosmic_ray_scores):
    """(ours, AstroDrizzle's) of one demo variant (``conftest.CR_VARIANTS``)."""
    return cosmic_ray_scores(THRESHOLDS)


def test_recall_at_least_astrodrizzles(scores):
    """Counted over pixels covered by >= 3 exposures, any DQ."""
    (ours, _), (theirs, _) = scores
    assert ours.n_injected[100.0] > 1000
    for threshold in THRESHOLDS:
        assert ours.recall[threshold] >= theirs.recall[threshold], threshold


def test_at_most_a_tenth_of_astrodrizzles_false_flags(scores):
    """Flagged pixels that hold no injected cosmic ray, all pixels."""
    (_, ours_wrong), (_, theirs_wrong) = scores
    assert theirs_wrong > 100
    assert ours_wrong <= 0.1 * theirs_wrong
