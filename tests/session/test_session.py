"""The Multidrizzle session up to build(): parameters, geometry, staleness."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from multidrizzle import Multidrizzle
from multidrizzle.errors import GridTooLargeError, InputError, ParameterError, StepOrderError


@pytest.fixture(scope="module")
def two_exposures(uvis_full, uvis_short_full):
    return [uvis_full, uvis_short_full]


def test_build_summary_and_state(two_exposures):
    md = Multidrizzle([str(p) for p in two_exposures], output="combined")
    summary = md.build()
    assert summary.n_chips == 4 and len(md.exposures) == 2
    assert md.output_grid.shape == summary.output_shape
    assert md.output_grid.wcs.pixel_shape == summary.output_shape[::-1]
    assert md.separate_grid is md.output_grid
    assert set(md.pixel_maps) == {c.name for e in md.exposures for c in e.chips}
    assert md.step_records["build"].status == "done"
    assert "output grid" in str(summary) and "estimated memory" in str(summary)
    assert md.output_root == "combined"


def test_final_scale_switches_final_wcs_on(two_exposures):
    md = Multidrizzle([str(two_exposures[0])], final_scale=0.08, final_rot=0)
    assert md.final_wcs
    md.build()
    assert md.output_grid.scale == 0.08
    assert md.output_grid.rotation == pytest.approx(0.0)
    md.final_wcs = False  # AstroDrizzle's meaning: custom values are ignored
    md.build()
    assert md.output_grid.scale == pytest.approx(md.exposures[0].chips[0].header["IDCSCALE"])


def test_separate_grid_can_differ(two_exposures):
    md = Multidrizzle([str(two_exposures[0])], driz_sep_scale=0.1)
    md.build()
    assert md.separate_grid is not md.output_grid
    assert md.separate_grid.scale == 0.1
    assert md.separate_pixel_maps is not md.pixel_maps


def test_geometry_change_marks_build_stale(two_exposures):
    md = Multidrizzle([str(two_exposures[0])])
    md.build()
    md.final_pixfrac = 0.8
    assert md.step_records["build"].status == "done"
    md.stepsize = 5
    assert md.step_records["build"].status == "stale"
    assert "stepsize" in md.step_records["build"].reason


def test_grid_too_large_refused_before_allocation(two_exposures):
    md = Multidrizzle([str(two_exposures[0])], final_scale=0.0005)
    with pytest.raises(GridTooLargeError, match="GiB"):
        md.build()
    assert md.output_grid is None  # nothing half-built kept


def test_bad_parameters_and_conflicts(two_exposures):
    with pytest.raises(ParameterError, match="final_kernel"):
        Multidrizzle([str(two_exposures[0])], final_kernel="sqare")
    with pytest.raises(ParameterError, match="no_such_parameter"):
        Multidrizzle([str(two_exposures[0])], no_such_parameter=1)
    with pytest.raises(ParameterError, match="gain"):
        Multidrizzle([str(two_exposures[0])], gain=1.5, gainkeyword="ATODGNA")


def test_missing_input_named_at_construction(tmp_path):
    with pytest.raises(InputError, match="absent_flc.fits"):
        Multidrizzle(str(tmp_path / "absent_flc.fits"))


def test_parameter_file_round_trip_through_session(two_exposures, tmp_path):
    md = Multidrizzle([str(two_exposures[0])], driz_cr_snr="3.0 2.5", final_bits="~4,8",
                      final_scale=0.05)
    path = tmp_path / "session.cfg"
    md.save_pars(path)
    again = Multidrizzle([str(two_exposures[0])], configobj=path)
    assert again.driz_cr_snr == (3.0, 2.5)
    assert again.final_bits == "~4,8" and again.bit_flags("final_bits") == ~12
    assert again.final_scale == 0.05 and again.final_wcs


def test_inputs_untouched_by_build(two_exposures):
    before = [p.read_bytes() for p in two_exposures]
    Multidrizzle([str(p) for p in two_exposures]).build()
    assert [p.read_bytes() for p in two_exposures] == before


def test_group_selects_chips(two_exposures):
    md = Multidrizzle([str(p) for p in two_exposures], group="sci,2")
    md.build()
    assert [c.extver for e in md.exposures for c in e.chips] == [2, 2]


def test_coeffs_changes_pixel_maps(two_exposures):
    with_distortion = Multidrizzle([str(two_exposures[0])])
    with_distortion.build()
    name = next(iter(with_distortion.pixel_maps))
    without = Multidrizzle([str(two_exposures[0])], coeffs=False,
                           final_refimage=_save_grid(with_distortion, two_exposures[0]))
    without.build()
    difference = (with_distortion.pixel_maps[name].evaluate()
                  - without.pixel_maps[name].evaluate())
    assert np.abs(difference).max() > 1.0  # HST distortion moves pixels by pixels


def _save_grid(session, next_to):
    """Write the session's output grid as a reference image and return its name."""
    from astropy.io import fits

    path = next_to.parent / "grid_ref.fits"
    data = np.zeros(session.output_grid.shape, dtype=np.uint8)
    fits.PrimaryHDU(data, header=session.output_grid.wcs.to_header()).writeto(
        path, overwrite=True)
    return str(path)


def test_shiftfile_moves_pixel_maps(two_exposures, tmp_path):
    reference = Multidrizzle([str(two_exposures[0])])
    reference.build()
    grid_file = _save_grid(reference, tmp_path / "x")
    shifts = tmp_path / "shifts.txt"
    shifts.write_text("# units: pixels\n# frame: output\n# form: delta\n"
                      f"{two_exposures[0].name} 10.0 -4.0\n")
    shifted = Multidrizzle([str(two_exposures[0])], shiftfile=str(shifts),
                           final_refimage=grid_file)
    shifted.build()
    plain = Multidrizzle([str(two_exposures[0])], final_refimage=grid_file)
    plain.build()
    for name in plain.pixel_maps:
        moved = shifted.pixel_maps[name].evaluate()[::97, ::97]
        still = plain.pixel_maps[name].evaluate()[::97, ::97]
        np.testing.assert_allclose(moved - still, np.broadcast_to([10.0, -4.0], moved.shape),
                                   atol=0.02)


def test_shiftfile_rotation_turns_exposure_about_first_chip(two_exposures, tmp_path):
    reference = Multidrizzle([str(two_exposures[0])])
    reference.build()
    grid_file = _save_grid(reference, tmp_path / "x")
    shifts = tmp_path / "rot.txt"
    shifts.write_text(f"# frame: output\n{two_exposures[0].name} 0 0 0.5\n")
    turned = Multidrizzle([str(two_exposures[0])], shiftfile=str(shifts),
                          final_refimage=grid_file)
    turned.build()
    plain = Multidrizzle([str(two_exposures[0])], final_refimage=grid_file)
    plain.build()
    crval = plain.exposures[0].chips[0].wcs.wcs.crval
    pivot = np.array(plain.output_grid.wcs.wcs_world2pix([crval], 0)[0])
    angle = np.radians(0.5)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for name in plain.pixel_maps:  # both chips turn together about one pivot
        still = plain.pixel_maps[name].evaluate()[::151, ::151].reshape(-1, 2)
        moved = turned.pixel_maps[name].evaluate()[::151, ::151].reshape(-1, 2)
        expected = (still - pivot) @ rotation.T + pivot
        np.testing.assert_allclose(moved, expected, atol=0.05)


def test_help_prints_syntax_and_every_parameter(two_exposures, capsys):
    md = Multidrizzle([str(two_exposures[0])])
    md.help()
    text = capsys.readouterr().out
    assert "md.run(" in text or "run(" in text
    for name in ("final_pixfrac", "driz_cr_snr", "workinplace", "gnkeyword", "stepsize"):
        assert name in text


def test_pixfrac_below_001_logs_point(two_exposures, caplog):
    md = Multidrizzle([str(two_exposures[0])], final_pixfrac=0.0005)
    with caplog.at_level(logging.INFO, logger="multidrizzle"):
        assert md.effective_kernel("final") == "point"
    assert "point" in caplog.text


def test_run_before_build_is_a_step_order_error(two_exposures):
    md = Multidrizzle([str(two_exposures[0])])
    with pytest.raises(StepOrderError, match="build"):
        md.run()
    md.build()
    md.stepsize = 5
    with pytest.raises(StepOrderError, match="stale"):
        md.run()


def test_editpars_without_notebook_or_terminal_is_a_clear_error(two_exposures, monkeypatch):
    from multidrizzle.session import editpars

    monkeypatch.setattr(editpars, "in_jupyter", lambda: False)
    monkeypatch.setattr(editpars, "in_terminal", lambda: False)
    md = Multidrizzle([str(two_exposures[0])])
    with pytest.raises(editpars.EditorUnavailableError):
        md.editpars()


# --------------------------------------------- input mistakes reach build() typed


def test_shiftfile_line_naming_no_input_stops_build(two_exposures, tmp_path):
    shifts = tmp_path / "typo.txt"
    shifts.write_text(f"{two_exposures[0].name} 1 2\nib4606c7q_flc.fits 3 4\n")
    md = Multidrizzle([str(p) for p in two_exposures], shiftfile=str(shifts))
    with pytest.raises(InputError, match=r"typo.txt: no input matches 'ib4606c7q_flc.fits' "
                                         r"\(line 2\).*ib4606c6q_flc.fits"):
        md.build()
    assert md.output_grid is None


def test_shiftfile_absolute_form_stops_build(two_exposures, tmp_path):
    from multidrizzle.errors import UnsupportedError

    shifts = tmp_path / "absolute.txt"
    shifts.write_text(f"# form: absolute\n{two_exposures[0].name} 1 2\n")
    md = Multidrizzle([str(two_exposures[0])], shiftfile=str(shifts))
    with pytest.raises(UnsupportedError, match="absolute.txt, line 1"):
        md.build()


def test_reference_image_mistakes_stop_build(two_exposures, tmp_path):
    text = tmp_path / "grid.txt"
    text.write_text("not an image")
    md = Multidrizzle([str(two_exposures[0])], final_refimage=str(text))
    with pytest.raises(InputError, match=r"reference image '.*grid.txt'.*final_refimage"
                                         r".*cannot be read as FITS"):
        md.build()
    md = Multidrizzle([str(two_exposures[0])], final_refimage=f"{two_exposures[0]}[foo,x]")
    with pytest.raises(ParameterError, match=r"extension \[foo,x\] is not understood"):
        md.build()


def _turned_grid(session, path, scale: float, turn: float):
    """A reference grid at another scale, turned by ``turn`` degrees, on the same field."""
    from astropy.io import fits
    from astropy.wcs import WCS

    crval = session.output_grid.wcs.wcs.crval
    theta, degrees = np.radians(session.output_grid.rotation + turn), scale / 3600.0
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [2000.0, 2000.0]
    wcs.wcs.cd = [[-degrees * np.cos(theta), degrees * np.sin(theta)],
                  [degrees * np.sin(theta), degrees * np.cos(theta)]]
    fits.PrimaryHDU(np.zeros((4000, 4000), np.uint8), header=wcs.to_header()).writeto(path)
    return str(path)


def test_output_frame_shifts_use_the_reference_grid(two_exposures, tmp_path):
    native = Multidrizzle([str(two_exposures[0])])
    native.build()
    grid = _turned_grid(native, tmp_path / "turned.fits", scale=0.08, turn=40.0)
    shifts = tmp_path / "shifts.txt"
    shifts.write_text(f"# frame: output\n{two_exposures[0].name} 10.0 -4.0\n")
    shifted = Multidrizzle([str(two_exposures[0])], shiftfile=str(shifts), final_refimage=grid)
    shifted.build()
    plain = Multidrizzle([str(two_exposures[0])], final_refimage=grid)
    plain.build()
    for name in plain.pixel_maps:  # pixels of the reference grid, not of final_scale
        moved = shifted.pixel_maps[name].evaluate()[::197, ::197]
        still = plain.pixel_maps[name].evaluate()[::197, ::197]
        np.testing.assert_allclose(moved - still, np.broadcast_to([10.0, -4.0], moved.shape),
                                   atol=0.02)


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    from multidrizzle.demo import datasets

    folder = tmp_path_factory.mktemp("small")
    datasets.make_demo_dataset(folder, n_exposures=2, chip_shape=(64, 96))
    return f"@{folder / 'inputs.lst'}"


@pytest.mark.parametrize("case", ["output", "runfile"])
def test_unwritable_output_or_runfile_is_named_before_any_step(small_inputs, tmp_path, case):
    blocker = tmp_path / "plain"
    blocker.write_text("a file, not a folder")
    values = ({"output": str(blocker / "sub" / "final"), "runfile": ""} if case == "output"
              else {"output": str(tmp_path / "final"),
                    "runfile": str(tmp_path / "nodir" / "run.log")})
    md = Multidrizzle(small_inputs, **values)
    if case == "output":  # build() finds it, before reading the inputs
        with pytest.raises(InputError, match=rf"parameter '{case}'"):
            md.build()
        return
    md.build()
    with pytest.raises(InputError, match=rf"parameter '{case}'"):
        md.run()
    assert all(record.status == "not run" for step, record in md.step_records.items()
               if step != "build")


# ------------------------------------------- typos, astrodrizzle(), astropy types


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory):
    from multidrizzle.demo.datasets import make_demo_dataset

    folder = tmp_path_factory.mktemp("demo_pair")
    make_demo_dataset(folder, n_exposures=2, chip_shape=(64, 128), seed=1)
    return folder


def test_a_mistyped_parameter_on_a_session_is_refused(demo_pair):
    md = Multidrizzle(f"@{demo_pair / 'inputs.lst'}", runfile="", in_memory=True)
    with pytest.raises(ParameterError) as caught:
        md.final_pixfrc = 0.5
    assert "'final_pixfrc'" in str(caught.value) and "'final_pixfrac'" in str(caught.value)
    assert md.final_pixfrac == 1.0
    with pytest.raises(ParameterError, match="'skywith'.*'skywidth'"):
        setattr(md, "skywith", 0.2)
    # state, methods and properties of the session keep working
    md.build()
    md.replace_step("sky", lambda session: {c.name: 1.0 for c in session._all_chips()})
    md.read_science = lambda chip: chip.read_science()
    md.run(static=False, driz_separate=False, median=False, blot=False, driz_cr=False,
           driz_combine=False)
    assert set(md.sky_values.values()) == {1.0}
    with pytest.raises(AttributeError):
        md.final_sci = None  # a read-only property stays read-only


def test_a_subclass_declares_its_own_state(demo_pair):
    class Annotated(Multidrizzle):
        run_count: int

        def run(self, **switches):
            self.run_count = getattr(self, "run_count", 0) + 1
            return super().run(**switches)

    md = Annotated(f"@{demo_pair / 'inputs.lst'}", runfile="", in_memory=True)
    md.build()
    md.run(static=False, skysub=False, driz_separate=False, median=False, blot=False,
           driz_cr=False, driz_combine=False)
    assert md.run_count == 1


def test_astrodrizzle_builds_and_runs_in_one_call(demo_pair, tmp_path):
    from multidrizzle import astrodrizzle
    from multidrizzle.errors import UnsupportedError

    config = tmp_path / "mine.cfg"
    config.write_text("_task_name_ = astrodrizzle\n[STEP 7: DRIZZLE FINAL COMBINED IMAGE]\n"
                      "final_pixfrac = 0.8\nfinal_maskval = 0.0\n")
    md = astrodrizzle(f"@{demo_pair / 'inputs.lst'}", output=str(tmp_path / "one"),
                      configobj=str(config), build=True, runfile="", in_memory=True)
    assert isinstance(md, Multidrizzle)
    assert md.final_pixfrac == 0.8 and md.build_mef is True
    assert {record.status for record in md.step_records.values()} == {"done"}
    assert md.products == [tmp_path / "one_drc.fits"] and md.products[0].exists()
    uncovered = md.final_wht == 0
    assert uncovered.any() and np.all(md.final_sci[uncovered] == 0.0)  # final_maskval
    with pytest.raises(UnsupportedError, match="editpars"):
        astrodrizzle(f"@{demo_pair / 'inputs.lst'}", editpars=True)
    with pytest.raises(UnsupportedError, match="wcsmap"):
        astrodrizzle(f"@{demo_pair / 'inputs.lst'}", wcsmap=lambda *args: None)
    with pytest.raises(ParameterError, match="'final_pixfac'"):
        astrodrizzle(f"@{demo_pair / 'inputs.lst'}", final_pixfac=0.5)


def test_a_wcs_reference_grid_and_quantities_make_the_output_grid(demo_pair):
    from astropy import units as u

    inputs = f"@{demo_pair / 'inputs.lst'}"
    computed = Multidrizzle(inputs, runfile="", final_scale=0.05 * u.arcsec,
                            final_rot=30 * u.deg)
    assert computed.final_scale == pytest.approx(0.05) and computed.final_rot == 30.0
    computed.build()
    assert computed.output_grid.scale == pytest.approx(0.05)
    assert computed.output_grid.rotation == pytest.approx(30.0)
    reference = computed.output_grid.wcs
    md = Multidrizzle(inputs, runfile="", final_refimage=reference, driz_sep_refimage=reference)
    md.build()
    assert md.output_grid.shape == computed.output_grid.shape
    np.testing.assert_allclose(md.output_grid.wcs.wcs.crval, reference.wcs.crval, atol=1e-12)
    np.testing.assert_allclose(md.output_grid.wcs.pixel_scale_matrix,
                               reference.pixel_scale_matrix, rtol=1e-12)
    for name, pixel_map in computed.pixel_maps.items():
        np.testing.assert_allclose(md.pixel_maps[name].evaluate(), pixel_map.evaluate(),
                                   atol=1e-9)
    assert md.separate_grid.shape == md.output_grid.shape
