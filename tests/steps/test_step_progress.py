"""Every long step function reports its chips (or bands of rows) through ``progress``."""

from __future__ import annotations

import numpy as np
import pytest

from multidrizzle.session import pipeline
from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.io.products import processing_bunit
from multidrizzle.steps.blot import BlotSettings, blot_chips, blot_sky
from multidrizzle.steps.cosmic_rays import detect_cosmic_rays_per_chip
from multidrizzle.steps.drizzle import DrizzleSettings, chip_weight_map, drizzle_exposures
from multidrizzle.steps.median import create_median
from multidrizzle.steps.sky import compute_sky
from multidrizzle.steps.static_mask import build_static_masks


@pytest.fixture(scope="module")
def session(tmp_path_factory, demo_session):
    folder = tmp_path_factory.mktemp("progress")
    make_demo_dataset(folder, n_exposures=3, chip_shape=(96, 128), seed=3)
    md = demo_session(folder, folder / "out" / "final")
    md.run()
    return md


def _recorder():
    calls = []
    return calls, lambda done, total, label="": calls.append((done, total, label))


def _chip_names(md):
    return [chip.name for exposure in md.exposures for chip in exposure.chips]


def _assert_one_report_per_unit(calls, labels):
    total = len(labels)
    assert calls == [(0, total, "")] + [(done, total, label)
                                        for done, label in enumerate(labels, start=1)]


def test_static_masks_report_each_chip(session):
    calls, progress = _recorder()
    build_static_masks(session._all_chips(), session.static_sig, progress=progress)
    _assert_one_report_per_unit(calls, _chip_names(session))


@pytest.mark.parametrize("skymethod", ["localmin", "match"])
def test_sky_reports_each_chip_and_each_pair(session, skymethod):
    calls, progress = _recorder()
    compute_sky([e.chips for e in session.exposures], skymethod=skymethod, skystat="median",
                skywidth=0.3, skylower=None, skyupper=None, skyclip=5, skylsigma=4.0,
                skyusigma=4.0, sky_bits=0, static_masks=None, use_static=False,
                progress=progress)
    names = [e.filename.name for e in session.exposures]
    pairs = ([f"{names[i]} x {names[j]}" for i in range(3) for j in range(i + 1, 3)]
             if skymethod == "match" else [])
    _assert_one_report_per_unit(calls, _chip_names(session) + pairs)


@pytest.mark.parametrize("separate", [True, False])
def test_drizzle_reports_each_chip_as_it_is_drizzled(session, separate):
    calls, progress = _recorder()
    result = drizzle_exposures(
        session.exposures, session.pixel_maps, session.output_grid, DrizzleSettings(),
        science_of=lambda chip, window: chip.read_science(window),
        weights_of=lambda chip, window: chip_weight_map(chip, chip.read_dq(window), 0),
        separate=separate, progress=progress)
    if separate:
        assert calls == []  # nothing is drizzled before the first image is asked for
        next(iter(result))
        assert calls == [(0, 6, ""), (1, 6, _chip_names(session)[0]),
                         (2, 6, _chip_names(session)[1])]
        list(result)
    _assert_one_report_per_unit(calls, _chip_names(session))


def test_median_reports_each_band_of_rows(session):
    calls, progress = _recorder()
    singles_sci = session.singles_on_grid("sci")
    singles_wht = session.singles_on_grid("wht")
    ny, nx = session.separate_grid.shape
    rows_per_band = 16
    bufsize_mib = rows_per_band * nx * 4 / 2**20  # one band of 16 rows per image
    create_median(singles_sci, singles_wht, combine_type="median",
                  combine_bufsize=bufsize_mib, progress=progress)
    starts = range(0, ny, rows_per_band)
    labels = [f"rows {start + 1}-{min(start + rows_per_band, ny)}" for start in starts]
    assert len(labels) > 2
    _assert_one_report_per_unit(calls, labels)


def test_blot_reports_each_chip(session):
    calls, progress = _recorder()
    blotted = list(blot_chips(session.median_image, session._all_chips(),
                              session.separate_pixel_maps, session.separate_grid,
                              interp=session.blot_interp, sinscl=session.blot_sinscl,
                              sky_of=lambda chip: blot_sky(
                                  chip, pipeline.settings_of(session, BlotSettings), session.sky),
                              progress=progress))
    _assert_one_report_per_unit(calls, _chip_names(session))
    # the same images as the session's blot step made
    assert all(np.array_equal(item.image, session.blotted_images[item.name])
               for item in blotted)


def test_cosmic_rays_report_each_chip(session):
    calls, progress = _recorder()
    masks = detect_cosmic_rays_per_chip(
        session._all_chips(),
        lambda chip: dict(science=chip.read_science(),
                          blotted_median=session.blotted_images[chip.name], good_mask=None,
                          static_mask=None, gain=chip.gain, read_noise=chip.read_noise,
                          exptime=chip.exptime, sky=0.0,
                          units=processing_bunit(chip).lower()),
        progress=progress)
    _assert_one_report_per_unit(calls, _chip_names(session))
    assert set(masks) == set(_chip_names(session))


def test_the_session_passes_its_reporter_to_every_step(session, monkeypatch):
    reports = []
    monkeypatch.setattr(type(session), "report_progress",
                        lambda self, step, done, total, label="":
                        reports.append((step, done, total)))
    session.run()
    n_chips = len(_chip_names(session))
    plan = session.run_plan
    n_exposures = len(session.exposures)
    tasks = {"static": n_exposures, "sky": n_exposures, "driz_separate": n_exposures,
             "median": len(plan.median_tiles), "blot": n_chips, "driz_cr": n_chips,
             "driz_combine": len(plan.final_strips)}
    for step, total in tasks.items():
        assert (step, total, total) in reports, step
    assert any(step == "median" for step, _, _ in reports)
