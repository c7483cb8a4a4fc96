"""Session rules: which parameters invalidate what, bulk settings, step results checked."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle import Multidrizzle
from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.errors import ParameterError, StepResultError
from multidrizzle.session.parameters import DrizzleParameters

from support.mdriztab_files import write_mdriztab
from support.sessions import build_demo_session

SMALL_CHIP = (64, 128)
ALL_OFF = dict(static=False, skysub=False, driz_separate=False, median=False, blot=False,
               driz_cr=False, driz_combine=False)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    make_demo_dataset(folder, n_exposures=2, chip_shape=SMALL_CHIP, seed=11)
    return folder


def _session(folder, tmp_path, **params):
    return build_demo_session(folder, tmp_path / "out", **params)


# ----------------------------------------------------------- bits, resetbits


def test_bits_sets_both_drizzle_steps_when_they_are_unset():
    params = DrizzleParameters(bits="16+256")
    assert params.bit_flags("driz_sep_bits") == 272
    assert params.bit_flags("final_bits") == 272
    params.final_bits = 16
    assert params.bit_flags("final_bits") == 16 and params.bit_flags("driz_sep_bits") == 272


def test_bits_conflicting_with_final_bits_is_refused():
    params = DrizzleParameters(bits=16, final_bits=256)
    with pytest.raises(ParameterError, match="'bits'.*'final_bits'"):
        params.check_consistency()


def test_bits_lets_flagged_pixels_into_the_weights(small_set, tmp_path):
    plain = _session(small_set, tmp_path / "plain")
    plain.run(**(ALL_OFF | {"driz_separate": True}))
    hot = _session(small_set, tmp_path / "hot", bits=16)
    hot.run(**(ALL_OFF | {"driz_separate": True}))
    # hot pixels (DQ 16) count as good with bits=16: more weight somewhere, never less
    assert (hot.singles_on_grid("wht")[0] >= plain.singles_on_grid("wht")[0]).all()
    assert (hot.singles_on_grid("wht")[0] > plain.singles_on_grid("wht")[0]).any()


@pytest.mark.parametrize("resetbits, expected", [("4096+16", 0), ("~16", 16), (0, 4096 + 16)])
def test_resetbits_takes_bit_expressions(small_set, tmp_path, resetbits, expected):
    folder = tmp_path / "flagged"
    shutil.copytree(small_set, folder)
    path = sorted(folder.glob("*_flc.fits"))[0]
    with fits.open(path, mode="update") as hdul:
        hdul["DQ", 1].data[0, 0] = 4096 + 16
    (folder / "inputs.lst").write_text(f"{path}\n")
    md = _session(folder, tmp_path, resetbits=resetbits)
    assert int(md.exposures[0].chips[0].read_dq()[0, 0]) == expected


def test_resetbits_changed_after_build_applies_to_every_later_read(small_set, tmp_path):
    folder = tmp_path / "flagged"
    shutil.copytree(small_set, folder)
    path = sorted(folder.glob("*_flc.fits"))[0]
    with fits.open(path, mode="update") as hdul:
        hdul["DQ", 1].data[0, 0] = 4096 + 16
    md = _session(folder, tmp_path, resetbits=0)
    chip = next(c for e in md.exposures for c in e.chips if c.filename == path and c.extver == 1)
    assert int(chip.read_dq()[0, 0]) == 4096 + 16
    md.resetbits = 4096
    assert int(chip.read_dq()[0, 0]) == 16


# ------------------------------------------------------------- frame centre


@pytest.mark.parametrize("given", [{"ra": 10.0}, {"dec": -5.0}, {"final_ra": 10.0},
                                   {"driz_sep_dec": 3.0}])
def test_half_a_centre_is_refused(given):
    params = DrizzleParameters(**given)
    with pytest.raises(ParameterError, match="needs both"):
        params.check_consistency()


# ------------------------------------------------------ custom WCS switches


def test_custom_value_alone_switches_its_wcs_on():
    params = DrizzleParameters()
    params.final_scale = 0.05
    assert params.final_wcs is True
    params.driz_sep_rot = 0.0
    assert params.driz_sep_wcs is True


def test_switch_given_with_custom_values_keeps_its_value(tmp_path):
    params = DrizzleParameters(final_wcs=False, final_scale=0.05)
    assert params.final_wcs is False
    path = params.save_pars(tmp_path / "pars.cfg")
    reloaded = DrizzleParameters(configobj=path)
    assert reloaded.final_wcs is False and reloaded.final_scale == 0.05


# ------------------------------------------------------- what goes stale


@pytest.mark.parametrize("name, value, first_stale", [
    ("num_cores", 1, None), ("runfile", "x.log", None), ("verbose", False, None),
    ("in_memory", False, None),
    ("crbit", 8192, "driz_cr"), ("context", False, "driz_combine"),
    ("resetbits", 0, "static"), ("stepsize", 5, "build"), ("bits", 16, "driz_separate")])
def test_parameter_changes_invalidate_the_steps_they_affect(small_set, tmp_path, name, value,
                                                            first_stale):
    md = _session(small_set, tmp_path)
    md.run()
    setattr(md, name, value)
    stale = [step for step, record in md.step_records.items() if record.status == "stale"]
    order = list(md.step_records)
    expected = [] if first_stale is None else order[order.index(first_stale):]
    assert stale == expected


def test_rebuild_drops_earlier_results(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    md.run()
    md.driz_sep_scale = 0.08
    md.build()
    assert md.median_image is None and md.cr_masks is None and md.final is None
    assert all(record.status == "not run" for step, record in md.step_records.items()
               if step != "build")


def test_stale_input_is_named_in_a_warning(small_set, tmp_path, caplog):
    md = _session(small_set, tmp_path)
    md.run()
    md.driz_cr_snr = (5.0, 4.0)
    with caplog.at_level(logging.WARNING, logger="multidrizzle"):
        md.run(**(ALL_OFF | {"driz_combine": True}))
    assert any("step driz_combine uses the result of step driz_cr, which is stale"
               in record.getMessage() for record in caplog.records)


# ---------------------------------------------------- user step results


def test_user_median_of_the_wrong_shape_is_refused(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    md.run(**(ALL_OFF | {"driz_separate": True}))
    md.replace_step("median", lambda session: np.zeros((5, 5), dtype=np.float32))
    with pytest.raises(StepResultError, match=r"step 'median'.*\(5, 5\)"):
        md.run(**(ALL_OFF | {"median": True}))


def test_user_sky_missing_a_chip_is_refused(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    first = md._all_chips()[0].name
    md.replace_step("sky", lambda session: {first: 1.0})
    with pytest.raises(StepResultError, match="no sky value for"):
        md.run(**(ALL_OFF | {"skysub": True}))


def test_user_cosmic_ray_step_missing_a_chip_is_refused(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    md.run(**(ALL_OFF | {"driz_separate": True, "median": True, "blot": True}))
    md.replace_step("driz_cr", lambda session: {})
    with pytest.raises(StepResultError, match="no cosmic-ray mask for"):
        md.run(**(ALL_OFF | {"driz_cr": True}))


def test_user_static_step_returning_none_is_refused(small_set, tmp_path):
    md = _session(small_set, tmp_path)
    md.replace_step("static", lambda session: None)
    with pytest.raises(StepResultError, match="expected a dict of masks"):
        md.run(**(ALL_OFF | {"static": True}))


# ------------------------------------------------------ files and restore


def test_restore_needs_workinplace():
    with pytest.raises(ParameterError, match="workinplace"):
        DrizzleParameters(restore=True).check_consistency()


def test_clean_keeps_the_cosmic_ray_cleaned_images(small_set, tmp_path):
    md = _session(small_set, tmp_path, in_memory=False, clean=True, driz_cr_corr=True)
    md.run()
    assert md.crclean_files and all(path.exists() for path in md.crclean_files)
    assert not list(tmp_path.glob("*_crmask.fits"))
    assert not list(tmp_path.glob("*_single_sci.fits"))


def test_mdriztab_switched_on_later_applies_the_table(small_set, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    shutil.copytree(small_set, folder)
    (folder / "inputs.lst").write_text("\n".join(
        str(folder / p.name) for p in sorted(small_set.glob("*_flc.fits"))) + "\n")
    reference = tmp_path / "iref"
    reference.mkdir()
    write_mdriztab(reference / "fake_mdz.fits")
    monkeypatch.setenv("iref", str(reference))
    for path in folder.glob("*_flc.fits"):
        with fits.open(path, mode="update") as hdul:
            hdul[0].header["MDRIZTAB"] = "iref$fake_mdz.fits"
    md = Multidrizzle(f"@{folder / 'inputs.lst'}", output=str(tmp_path / "out"), runfile="")
    assert md.combine_type == "minmed" and md.combine_nsigma == (4.0, 3.0)
    md.mdriztab = True
    # the table's row for two F606W images
    assert md.combine_type == "iminmed" and md.combine_nsigma == (5.0, 3.0)
