"""Scoring a run against the demo's ground truth (what ``multidrizzle demo`` prints)."""

from __future__ import annotations

import numpy as np
import pytest

from multidrizzle.demo.datasets import load_demo_truth, make_demo_dataset
from multidrizzle.errors import InputError
from multidrizzle.demo.scoring import score_run


def test_demo_score_follows_the_run(tmp_path, demo_session):
    """The demo's comparison is computed, not written: a run without cosmic-ray
    detection or sky subtraction says so, and one whose masks are empty finds none."""
    make_demo_dataset(tmp_path, n_exposures=3, chip_shape=(64, 128), seed=3)
    truth = load_demo_truth(tmp_path)
    md = demo_session(tmp_path, tmp_path / "out" / "final", driz_cr=False)
    md.run(skysub=False)
    score = score_run(md, truth)
    cosmic, stars, sky = score.lines()
    assert cosmic == "cosmic rays: not detected (step driz_cr has no result)"
    assert sky == "sky: not subtracted (skysub=False or a sky already applied)"
    assert stars == ("star fluxes: no isolated bright star measurable in the final image"
                     if score.star_flux_ratio is None else stars)
    md = demo_session(tmp_path, tmp_path / "out2" / "final")
    md.replace_step("driz_cr", lambda session: {
        chip.name: np.zeros(chip.shape, bool) for chip in session._all_chips()})
    md.run()
    score = score_run(md, truth)
    assert score.cosmic_ray_recall == 0.0 and score.false_flags == score.flagged == 0
    assert abs(score.sky_relative_error) < 0.05   # 64 x 128 chips: a few per cent


def test_score_refuses_a_run_on_other_data(tmp_path, demo_session):
    make_demo_dataset(tmp_path, n_exposures=2, chip_shape=(64, 128), seed=1)
    md = demo_session(tmp_path, tmp_path / "out" / "final")
    other = load_demo_truth(tmp_path)
    other.cosmic_ray_masks = {}
    with pytest.raises(InputError, match=r"mdz001a1q_flc.fits\[SCI,1\] is not part"):
        score_run(md, other)
