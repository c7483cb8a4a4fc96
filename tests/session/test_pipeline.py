"""The step contract: one record per step, steps on explicit picklable inputs."""

from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from multidrizzle.session import pipeline
from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.errors import ParameterError, StepResultError
from multidrizzle.session.parameters import STEPS as PARAMETER_TAGS
from multidrizzle.session.parameters import DrizzleParameters
from multidrizzle.steps.sky import SkyInputs, SkyResult, run_sky
from multidrizzle.steps.static_mask import run_static

ALL_OFF = {step.switch: False for step in pipeline.STEPS.values()}


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract")
    make_demo_dataset(folder, n_exposures=3, chip_shape=(64, 128), seed=21)
    return folder


@pytest.fixture(scope="module")
def ran(demo_folder, tmp_path_factory, demo_session):
    """A session run with its intermediates in files (as a distributed run keeps them)."""
    md = demo_session(demo_folder, tmp_path_factory.mktemp("ran") / "out", in_memory=False)
    md.run()
    return md


def test_every_record_is_consistent_with_the_parameters():
    names = DrizzleParameters.parameter_names()
    seen = []
    for name, step in pipeline.STEPS.items():
        assert step.name == name
        assert step.switch in names and step.tag in PARAMETER_TAGS
        assert set(step.needs) <= set(step.reads) | set(step.needs)
        assert all(earlier in seen for earlier in step.needs + step.reads), name
        assert set(step.invalidated_by) <= set(names)
        assert step.function.__module__.startswith("multidrizzle.steps."), name
        seen.append(name)
    assert pipeline.STEP_NAMES == ("build", *pipeline.STEPS)


def test_every_settings_field_is_a_parameter_and_no_parameter_is_unused():
    names = set(DrizzleParameters.parameter_names())
    used = set()
    for step in pipeline.STEPS.values():
        settings_class = pipeline.settings_class(step.name)
        fields = {f.name for f in dataclasses.fields(settings_class)}
        assert fields <= names, (step.name, fields - names)
        used |= fields
    # what the steps do not take is taken by build(), the writers or the session
    session_level = {
        "input", "output", "mdriztab", "refimage", "runfile", "verbose", "updatewcs",
        "proc_unit", "coeffs", "group", "build_mef", "crbit", "stepsize", "resetbits",
        "num_cores", "in_memory", "workinplace", "wcskey", "restore", "preserve",
        "overwrite", "clean", "rules_file", "bits", "ra", "dec", "shiftfile", "gain",
        "gainkeyword", "gnkeyword", "rdnoise", "rnkeyword", "exptime", "expkeyword",
        "static", "skysub", "driz_separate", "median", "blot", "driz_cr", "driz_combine",
        "driz_cr_corr", "driz_sep_compress", "final_units", "driz_sep_bits", "staticfile",
        "memory_limit", "tile_size", "scheduler", "driz_sep_fillval", "allow_mixed_inputs"}
    grid = {name for name in names if name.startswith(("driz_sep_", "final_"))
            and name.split("_")[-1] in ("wcs", "refimage", "outnx", "outny", "scale", "rot",
                                        "ra", "dec", "crpix1", "crpix2")}
    assert names - used - session_level - grid == set()


@pytest.mark.parametrize("name", list(pipeline.STEPS))
def test_inputs_are_frozen_and_picklable(ran, name):
    inputs = pipeline.STEPS[name].make_inputs(ran)
    assert dataclasses.is_dataclass(inputs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(inputs, dataclasses.fields(inputs)[0].name, None)
    copy = pickle.loads(pickle.dumps(inputs))
    assert type(copy) is type(inputs)
    assert copy.settings == inputs.settings


def test_intermediates_travel_as_file_names(ran):
    """Separate drizzles, median and blots go to another process as files, not arrays."""
    for name in ("median", "blot", "driz_cr"):
        size = len(pickle.dumps(pipeline.STEPS[name].make_inputs(ran)))
        n_chips = sum(len(e.chips) for e in ran.exposures)
        chip_pixels = ran.exposures[0].chips[0].shape[0] * ran.exposures[0].chips[0].shape[1]
        # the chips (WCS and header), masks of one byte per pixel: no float images
        assert size < n_chips * (200_000 + 3 * chip_pixels), name


def _spawned():
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


def test_a_step_runs_in_another_process_with_the_same_result(ran):
    static_inputs = pipeline.STEPS["static"].make_inputs(ran)
    sky_inputs = pipeline.STEPS["sky"].make_inputs(ran)
    median_inputs = pipeline.STEPS["median"].make_inputs(ran)
    with _spawned() as pool:
        masks = pool.submit(run_static, static_inputs).result()
        sky = pool.submit(run_sky, sky_inputs).result()
        median = pool.submit(pipeline.DEFAULT_STEPS["median"], median_inputs).result()
    assert masks.keys() == ran.static_masks.keys()
    assert all(np.array_equal(masks[key], ran.static_masks[key]) for key in masks)
    assert sky.values == ran.sky_values
    assert np.array_equal(median.median, ran.median_image)


def test_run_only_switches_the_other_steps_off_for_the_call(ran):
    before = {name: record.seconds for name, record in ran.step_records.items()}
    ran.run(only="median")
    assert ran.step_records["median"].status == "done"
    assert ran.step_records["blot"].status == "stale"
    ran.run(only=["blot", "driz_cr"])
    assert all(ran.step_records[name].status == "done" for name in ("blot", "driz_cr"))
    assert ran.step_records["static"].seconds == 0.0 and before["static"] > 0
    with pytest.raises(ParameterError, match="not a step"):
        ran.run(only="medain")
    with pytest.raises(ParameterError, match="either only= or the step switches"):
        ran.run(only="median", blot=True)


def test_user_step_of_the_new_form_gets_the_inputs(demo_folder, tmp_path, demo_session):
    md = demo_session(demo_folder, tmp_path / "out")
    seen = []

    def constant_sky(inputs: SkyInputs) -> SkyResult:
        seen.append(inputs)
        return SkyResult({c.name: 5.0 for e in inputs.exposures for c in e.chips},
                         subtract=True, method="constant")

    md.replace_step("sky", constant_sky)
    md.run(**ALL_OFF | {"skysub": True})
    assert isinstance(seen[0], SkyInputs) and seen[0].settings.skymethod == md.skymethod
    assert set(md.sky_values.values()) == {5.0}
    md.replace_step("sky", lambda inputs: {c.name: 6.0 for e in inputs.exposures
                                           for c in e.chips})
    md.run(**ALL_OFF | {"skysub": True})
    assert set(md.sky_values.values()) == {6.0}
    md.replace_step("sky", lambda x: {c.name: 7.0 for e in x.exposures for c in e.chips},
                    form="inputs")
    md.run(**ALL_OFF | {"skysub": True})
    assert set(md.sky_values.values()) == {7.0}


def test_user_step_of_the_old_form_still_runs_with_a_deprecation_warning(demo_folder,
                                                                          tmp_path, demo_session):
    md = demo_session(demo_folder, tmp_path / "out")
    with pytest.warns(DeprecationWarning, match="takes the session"):
        md.replace_step("sky", lambda md: {c.name: 3.0 for c in md._all_chips()})
    md.run(**ALL_OFF | {"skysub": True})
    assert set(md.sky_values.values()) == {3.0}
    md.replace_step("static", lambda md: None)
    with pytest.raises(StepResultError, match="static"):
        md.run(**ALL_OFF | {"static": True})


def test_replace_step_refuses_unknown_steps_and_forms(demo_folder, tmp_path, demo_session):
    md = demo_session(demo_folder, tmp_path / "out")
    with pytest.raises(ParameterError, match="not a step"):
        md.replace_step("skies", run_sky)
    with pytest.raises(ParameterError, match="form="):
        md.replace_step("sky", run_sky, form="both")
