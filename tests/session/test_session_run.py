"""run(): switches, re-running and replacing steps, parameters that change results."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle import Multidrizzle
from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.errors import ParameterError, StepOrderError

from support.sessions import SMALL_DEMO_CHIP_SHAPE, build_demo_session, chips_of, run_only

SMALL_CHIP = (96, 192)
ALL_OFF = dict(static=False, skysub=False, driz_separate=False, median=False, blot=False,
               driz_cr=False, driz_combine=False)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    make_demo_dataset(folder, n_exposures=3, chip_shape=SMALL_CHIP, seed=5)
    return folder


def _session(folder, tmp_path, **params):
    return build_demo_session(folder, tmp_path / "out", **params)


@pytest.fixture(scope="module")
def full_run(small_set, tmp_path_factory):
    md = _session(small_set, tmp_path_factory.mktemp("full"))
    md.run()
    return md


def test_full_run_fills_every_state(full_run):
    md = full_run
    assert all(md.step_records[s].status == "done" for s in md.step_records)
    assert set(md.static_masks) == {c.signature for c in md._all_chips()}
    assert set(md.sky_values) == {c.name for c in md._all_chips()}
    assert len(md.singles_on_grid("sci")) == 3 and md.singles_on_grid("sci")[0].shape == md.separate_grid.shape
    assert md.median_image.shape == md.separate_grid.shape
    assert set(md.blotted_images) == set(md.cr_masks) == set(md.sky_values)
    assert md.final_sci.shape == md.final_wht.shape == md.output_grid.shape
    assert md.final_ctx.shape == (1,) + md.output_grid.shape
    # context agrees with weight
    assert np.array_equal(md.final_ctx[0] != 0, md.final_wht > 0)
    assert "driz_combine" in md.step_table()


@pytest.mark.parametrize("step, parameter", [
    ("static", "static"), ("sky", "skysub"), ("driz_separate", "driz_separate"),
    ("median", "median"), ("blot", "blot"), ("driz_cr", "driz_cr"),
    ("driz_combine", "driz_combine")])
def test_each_switch_turns_its_step_off(small_set, tmp_path, step, parameter):
    md = _session(small_set, tmp_path)
    later = {"driz_separate": ("median", "blot", "driz_cr"), "median": ("blot", "driz_cr"),
             "blot": ("driz_cr",)}.get(step, ())
    switches = {parameter: False} | {_switch(name): False for name in later}
    md.run(**switches)
    assert md.step_records[step].status == "skipped"
    assert parameter in md.step_records[step].reason
    for other in set(md.step_records) - {step, "build", *later}:
        assert md.step_records[other].status == "done", other


def _switch(step):
    return "skysub" if step == "sky" else step


def test_missing_inputs_name_the_step(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    with pytest.raises(StepOrderError, match="driz_separate"):
        md.run(driz_separate=False)
    with pytest.raises(StepOrderError, match="'median'"):
        md.run(**(ALL_OFF | {"blot": True}))


def test_switch_parameter_off_means_step_off(small_set, tmp_path):
    md = _session(small_set, tmp_path, driz_cr=False)
    md.run()
    assert md.cr_masks is None
    assert md.step_records["driz_cr"].status == "skipped"


def test_rerun_one_step_on_earlier_state(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    md.run()
    singles = [s.copy() for s in md.singles_on_grid("sci")]
    sky = dict(md.sky_values)
    minmed = md.median_image.copy()
    md.combine_type = "mean"
    assert md.step_records["median"].status == "stale"
    assert md.step_records["driz_combine"].status == "stale"
    md.run(**(ALL_OFF | {"median": True}))
    assert md.step_records["median"].status == "done"
    assert md.sky_values == sky and all(np.array_equal(a, b)
                                        for a, b in zip(singles, md.singles_on_grid("sci")))
    assert not np.array_equal(md.median_image, minmed)
    assert "earlier result kept" in md.step_records["sky"].reason


def test_replace_step_with_user_function(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    md.replace_step("sky", lambda session: {c.name: 10.0 for c in session._all_chips()})
    md.run(driz_cr=False)
    assert set(md.sky_values.values()) == {10.0}
    assert md.step_records["sky"].reason == "user function"
    md.restore_step("sky")
    md.run(**(ALL_OFF | {"skysub": True}))
    assert set(md.sky_values.values()) != {10.0}
    with pytest.raises(ParameterError, match="not a step"):
        md.replace_step("skies", print)


@pytest.mark.parametrize("combine_type", ["median", "mean", "minmed", "imedian", "imean",
                                          "iminmed"])
def test_each_combine_type(full_run, combine_type):
    md = full_run
    md.combine_type = combine_type
    md.run(**(ALL_OFF | {"median": True}))
    assert np.isfinite(md.median_image).all()
    assert md.step_records["median"].status == "done"
    reference = {"mean": np.mean, "median": np.median}.get(combine_type.lstrip("i"))
    if reference is not None:  # where every image is good, the plain statistic
        stack = np.array(md.singles_on_grid("sci"))
        good = (np.array(md.singles_on_grid("wht")) > 0.5 * np.array(md.singles_on_grid("wht")).max()).all(axis=0)
        np.testing.assert_allclose(md.median_image[good], reference(stack, axis=0)[good],
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("skymethod", ["localmin", "globalmin", "match", "globalmin+match"])
def test_each_skymethod(full_run, skymethod):
    md = full_run
    md.skymethod = skymethod
    md.run(**(ALL_OFF | {"skysub": True}))
    values = md.sky_values
    per_exposure = [[values[c.name] for c in e.chips] for e in md.exposures]
    if skymethod == "globalmin":  # one sky brightness (per second) for every chip
        rates = {round(values[c.name] / c.exptime, 6) for c in md._all_chips()}
        assert len(rates) == 1
    if skymethod == "match":
        assert min(values.values()) == pytest.approx(0.0, abs=1e-9)
    if skymethod in ("localmin", "globalmin+match"):
        assert min(values.values()) > 20  # demo skies are 30-60 e-
    assert all(np.isfinite(v) for chips in per_exposure for v in chips)


@pytest.mark.parametrize("wht_type", ["EXP", "ERR", "IVM"])
def test_each_final_wht_type(full_run, wht_type):
    md = full_run
    md.final_wht_type = wht_type
    md.run(**(ALL_OFF | {"driz_combine": True}))
    weight = _fully_covered_weight(md)
    exposure_times = sum(e.exptime for e in md.exposures)
    if wht_type == "EXP":
        assert weight == pytest.approx(exposure_times, rel=0.05)
    else:  # inverse variances (1 / tens of e-^2) scaled by exptime
        assert 0 < weight < exposure_times / 10
    md.final_wht_type = "EXP"


def _fully_covered_weight(md):
    """Median final weight where every exposure contributes.

    The square kernel gives each output pixel weight x (overlap / area of the
    mapped input pixel), as drizzle does, so weights follow the pixel area
    and the median, not the maximum, is the sum of the input weights.
    """
    everyone = md.final_ctx[0] == (1 << len(md.exposures)) - 1
    return float(np.median(md.final_wht[everyone]))


def test_ivm_files_from_at_file(small_set, tmp_path):
    listing = []
    for path in sorted(small_set.glob("*_flc.fits")):
        ivm = tmp_path / f"{path.stem}_ivm.fits"
        with fits.open(path) as hdul:
            hdus = [fits.PrimaryHDU()] + [
                fits.ImageHDU(np.full(hdul["SCI", v].data.shape, 2.0, np.float32),
                              name="IVM", ver=v) for v in (1, 2)]
        fits.HDUList(hdus).writeto(ivm)
        listing.append(f"{path} {ivm}")
    at_file = tmp_path / "with_ivm.lst"
    at_file.write_text("\n".join(listing) + "\n")
    md = Multidrizzle(f"@{at_file}", output=str(tmp_path / "ivm"), final_wht_type="IVM",
                      in_memory=True, runfile="")
    md.build()
    md.run(driz_cr=False)
    exposure_times = sum(e.exptime for e in md.exposures)  # final_wt_scl='exptime'
    assert _fully_covered_weight(md) == pytest.approx(2.0 * exposure_times, rel=0.05)


def test_final_units_counts(full_run):
    md = full_run
    rate = md.final_sci.copy()
    md.final_units = "counts"
    np.testing.assert_allclose(md.final_sci, rate * md.final.exptime, rtol=1e-6)
    md.final_units = "cps"


def test_skysub_false_keeps_sky_in_the_image(small_set, tmp_path):
    subtracted = _session(small_set, tmp_path / "a")
    subtracted.run(driz_cr=False)
    kept = _session(small_set, tmp_path / "b", skysub=False)
    kept.run(driz_cr=False)
    assert not kept.sky_subtracted and set(kept.sky_values.values()) == {0.0}
    sky_rate = np.mean([subtracted.sky_values[c.name] / c.exptime
                        for c in subtracted._all_chips()])
    covered = subtracted.final_wht > 0  # the others hold final_maskval, NaN
    difference = np.median((kept.final_sci - subtracted.final_sci)[covered])
    assert difference == pytest.approx(sky_rate, rel=0.02)


def test_products_build_false_in_memory_and_clean(small_set, tmp_path):
    md = _session(small_set, tmp_path, in_memory=False, build=False, clean=False)
    assert md.build_mef is False
    md.run()
    names = {p.name for p in tmp_path.iterdir()}
    assert {"out_drc_sci.fits", "out_drc_wht.fits", "out_drc_ctx.fits",
            "out_med.fits"} <= names
    assert any(n.endswith("_single_sci.fits") for n in names)
    assert any(n.endswith("_staticMask.fits") for n in names)
    cleaned = tmp_path / "cleaned"
    md = _session(small_set, cleaned, in_memory=False, build=True, clean=True)
    md.run()
    assert sorted(p.name for p in cleaned.iterdir()) == ["out_drc.fits", "out_manifest.json"]
    in_memory = tmp_path / "memory"
    md = _session(small_set, in_memory, in_memory=True)  # MultiDrizzle's default build=True
    md.run()
    assert sorted(p.name for p in in_memory.iterdir()) == ["out_drc.fits",
                                                           "out_manifest.json"]


def test_workinplace_archives_and_writes_back(small_set, tmp_path):
    folder = tmp_path / "inplace"
    shutil.copytree(small_set, folder)
    (folder / "inputs.lst").write_text("\n".join(
        str(folder / p.name) for p in sorted(small_set.glob("*_flc.fits"))) + "\n")
    md = _session(folder, tmp_path, workinplace=True, crbit=4096)
    md.run()
    first = md.exposures[0]
    archive = folder / "OrIg_files" / first.filename.name
    assert archive.exists()
    assert archive.read_bytes() == (small_set / first.filename.name).read_bytes()
    with fits.open(first.filename) as hdul:
        chip = first.chips[0]
        assert hdul["SCI", 1].header["MDRIZSKY"] == pytest.approx(md.sky_values[chip.name])
        flagged = (hdul["DQ", 1].data & 4096) != 0
        assert np.array_equal(flagged, md.cr_masks[chip.name])
    md.restore = True
    md.build()  # restores the archived originals before reading them
    assert first.filename.read_bytes() == archive.read_bytes()


def test_resetbits_clears_old_cosmic_ray_flags(small_set, tmp_path):
    folder = tmp_path / "flagged"
    shutil.copytree(small_set, folder)
    path = sorted(folder.glob("*_flc.fits"))[0]
    with fits.open(path, mode="update") as hdul:
        hdul["DQ", 1].data[:20, :] |= 4096
    (folder / "inputs.lst").write_text("\n".join(
        str(p) for p in sorted(folder.glob("*_flc.fits"))) + "\n")
    kept = _session(folder, tmp_path / "a", resetbits=0)
    reset = _session(folder, tmp_path / "b", resetbits=4096)
    chip = kept.exposures[0].chips[0]
    assert (chip.read_dq() & 4096).any()
    assert not (reset.exposures[0].chips[0].read_dq() & 4096).any()


def test_resetbits_applies_to_the_sky_step_too(small_set, tmp_path):
    """AstroDrizzle resets the bits at input, before every step: pixels an earlier
    run flagged as cosmic rays (4096) count for the sky again once reset."""
    folder = tmp_path / "flagged"
    shutil.copytree(small_set, folder)
    path = sorted(folder.glob("*_flc.fits"))[0]
    with fits.open(path, mode="update") as hdul:
        # flag the faintest third of each chip: the sky without them is higher
        for extver in (1, 2):
            science = hdul["SCI", extver].data
            hdul["DQ", extver].data[science < np.percentile(science, 33)] |= 4096
    runs = {}
    for name, folder_used, resetbits in (("clean", small_set, 4096), ("reset", folder, 4096),
                                         ("kept", folder, 0)):
        md = _session(folder_used, tmp_path / name, resetbits=resetbits)
        md.run(**{**ALL_OFF, "skysub": True})
        runs[name] = md.sky_values
    chip = next(name for name in runs["clean"] if name.startswith(path.name)
                and name.endswith("[SCI,1]"))
    assert runs["reset"] == runs["clean"]
    assert runs["kept"][chip] > runs["clean"][chip]


def test_num_cores_gives_identical_results(small_set, tmp_path):
    one = _session(small_set, tmp_path / "one", num_cores=1)
    one.run()
    two = _session(small_set, tmp_path / "two", num_cores=2)
    two.run()
    assert np.array_equal(one.final_sci, two.final_sci, equal_nan=True)
    assert all(np.array_equal(one.cr_masks[k], two.cr_masks[k]) for k in one.cr_masks)


def test_runfile_receives_the_log(small_set, tmp_path):
    log_file = tmp_path / "run.log"
    md = _session(small_set, tmp_path, runfile=str(log_file))
    md.run()
    assert "driz_combine" in log_file.read_text()


def test_median_noise_model_takes_lowest_sky_and_rms_read_noise(small_set, tmp_path,
                                                                 monkeypatch):
    from multidrizzle.steps import median as median_step

    md = _session(small_set, tmp_path, combine_type="minmed")
    md.replace_step("sky", lambda session: {c.name: 20.0 + 7.0 * c.extver + i
                                            for i, c in enumerate(session._all_chips())})
    for index, chip in enumerate(md._all_chips()):
        chip.read_noise = 2.0 + index % 2 * 3.0  # chips of an exposure differ
    md.run(median=False, blot=False, driz_cr=False, driz_combine=False)
    seen = {}
    create_median = median_step.create_median

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return create_median(*args, **kwargs)

    monkeypatch.setattr(median_step, "create_median", spy)
    md.run(**(ALL_OFF | {"median": True}))
    for index, exposure in enumerate(md.exposures):
        skies = [md.sky_values[c.name] * c.to_electrons for c in exposure.chips]
        assert len(set(skies)) > 1
        assert seen["sky_values_electrons"][index] == pytest.approx(min(skies))
        noises = np.array([c.read_noise for c in exposure.chips])
        assert seen["read_noises"][index] == pytest.approx(np.sqrt(np.mean(noises ** 2)))
    assert seen["units"] == "cps" and seen["gains"] == [1.0] * len(md.exposures)


def test_cte_growth_without_known_direction_warns(full_run, caplog):
    import dataclasses
    import logging

    from multidrizzle.steps.cosmic_rays import cte_direction_for_growth

    uvis = full_run.exposures[0].chips[0]
    ir = dataclasses.replace(uvis, signature=("WFC3/IR", uvis.signature[1], 1))
    with caplog.at_level(logging.WARNING, logger="multidrizzle"):
        assert cte_direction_for_growth(uvis, 2) == -1
        assert cte_direction_for_growth(ir, 0) == 0
        assert not caplog.records
        assert cte_direction_for_growth(ir, 2) == 0
    record, = caplog.records
    assert record.levelname == "WARNING"
    assert "driz_cr_ctegrow=2" in record.getMessage() and uvis.name in record.getMessage()


def test_blot_adds_the_sky_it_reports(full_run):
    from multidrizzle.session import pipeline
    from multidrizzle.steps.blot import BlotSettings, blot_median, blot_sky, run_blot

    md = full_run  # earlier tests may have re-run steps: blot its present state
    chip = md.exposures[1].chips[1]
    sky = blot_sky(chip, pipeline.settings_of(md, BlotSettings), md.sky)
    assert sky == pytest.approx(md.sky_values[chip.name] * chip.proc_scale) and sky > 0
    bare = blot_median(md.median_image, chip, md.separate_pixel_maps[chip.name],
                       md.separate_grid, interp=md.blot_interp, sinscl=md.blot_sinscl)
    inputs = pipeline.STEPS["blot"].make_inputs(md)
    blotted = {item.name: item.image for item in run_blot(inputs)}
    np.testing.assert_allclose(blotted[chip.name], bare + np.float32(sky), rtol=1e-6)


# ---------------------------------------------------------------------------
# replace_step for static, median and driz_cr: the user's result shows up,
# exactly, in the later steps


def _block(shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[10:20, 30:60] = True
    return mask


def test_replaced_static_mask_removes_its_pixels_from_the_drizzles(small_demo_set, tmp_path,
                                                                   demo_session):
    md = demo_session(small_demo_set, tmp_path / "final", skysub=False)
    md.replace_step("static", lambda s: {c.signature: _block(c.shape) for c in chips_of(s)})
    run_only(md, "static", "driz_separate")
    assert md.step_records["static"].reason == "user function"
    for exposure, weight in zip(md.exposures, md.singles_on_grid("wht")):
        kept = sum(int(((c.read_dq() == 0) & ~_block(c.shape)).sum())
                   for c in exposure.chips)
        assert weight.sum(dtype=np.float64) == pytest.approx(exposure.exptime * kept,
                                                             rel=1e-6)
    assert all(np.array_equal(m, _block(SMALL_DEMO_CHIP_SHAPE))
               for m in md.static_masks.values())


def test_replaced_median_is_what_blot_resamples(small_demo_set, tmp_path, demo_session):
    md = demo_session(small_demo_set, tmp_path / "final")
    md.replace_step("median", lambda s: np.full(s.separate_grid.shape, 3.0, np.float32))
    run_only(md, "sky", "driz_separate", "median", "blot")
    assert md.step_records["median"].reason == "user function"
    for chip in chips_of(md):
        # a constant rate of 3 e-/s per pixel, times exptime, plus the sky put back
        expected = 3.0 * chip.exptime + md.sky_values[chip.name]
        np.testing.assert_allclose(md.blotted_images[chip.name], expected, rtol=1e-6)


def test_replaced_cosmic_ray_masks_are_weighted_out_of_the_final_image(small_demo_set, tmp_path,
                                                                       demo_session):
    md = demo_session(small_demo_set, tmp_path / "final")
    md.replace_step("driz_cr", lambda s: {c.name: _block(c.shape) for c in chips_of(s)})
    md.run()
    assert md.step_records["driz_cr"].reason == "user function"
    assert all(np.array_equal(m, _block(SMALL_DEMO_CHIP_SHAPE)) for m in md.cr_masks.values())
    kept = sum(c.exptime * int(((c.read_dq() == 0) & ~md.static_masks[c.signature]
                                & ~_block(c.shape)).sum()) for c in chips_of(md))
    assert md.final_wht.sum(dtype=np.float64) == pytest.approx(kept, rel=1e-5)
    # and nothing of the block reaches the output: drizzle the block alone
    md.replace_step("driz_cr", lambda s: {c.name: ~_block(c.shape) for c in chips_of(s)})
    md.run(**(ALL_OFF | {"driz_cr": True, "driz_combine": True}))
    block_only = sum(c.exptime * int(((c.read_dq() == 0) & ~md.static_masks[c.signature]
                                      & _block(c.shape)).sum()) for c in chips_of(md))
    assert md.final_wht.sum(dtype=np.float64) == pytest.approx(block_only, rel=1e-5)
