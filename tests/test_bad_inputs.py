"""Bad inputs, bad parameter combinations and degenerate runs, as a user meets them.

Every case runs the ``multidrizzle`` command on a copy of the small demo set
(three exposures of two 64 x 128 chips) changed the way files and parameters
go wrong, and checks what the user gets: one line naming the file and
extension (or the parameter) and what was expected, exit status 1 (2 for a
parameter), the inputs byte for byte as they were (sha256), and no product,
partial product or temporary file left in the output folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from multidrizzle.demo.datasets import make_demo_dataset
from multidrizzle.io.manifest import check_product_set
from multidrizzle.session.cli import main

from support import bad_inputs
from support.sessions import SMALL_DEMO_CHIP_SHAPE

#: Extensions of the first exposure whose data a cut can fall into.
TRUNCATED_IN = [("SCI", 1, 1000), ("ERR", 1, 4), ("DQ", 1, 16000), ("SCI", 2, 32000),
                ("DQ", 2, 500)]


@pytest.fixture
def case(small_demo_set, tmp_path, monkeypatch):
    """A copy of the small demo set in ``tmp_path/in``; products go to ``tmp_path/out``."""
    monkeypatch.chdir(tmp_path)
    return Case(small_demo_set, tmp_path)


class Case:
    """One user's attempt: inputs, their checksums before the run, the command."""

    def __init__(self, demo, folder, count=None):
        self.folder = folder
        self.inputs = bad_inputs.copy_demo_set(demo, folder / "in", count)
        self.out = folder / "out"

    def snapshot(self):
        self.before = bad_inputs.sha256_of(self.inputs)

    def run(self, capsys, *options: str) -> tuple[int, list[str], str]:
        """Run the command; returns the exit status, the stderr lines and stdout."""
        if not hasattr(self, "before"):
            self.snapshot()
        status = main([f"@{self.folder / 'in' / 'inputs.lst'}", "--output",
                       str(self.out / "final"), "--quiet", "--runfile", "", *options])
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if line.strip()]
        return status, errors, captured.out

    def products(self) -> set[str]:
        return {name for name in bad_inputs.folder_files(self.out) if not name.startswith(".")
                and ("_drc" in name or "_drz" in name)} if self.out.exists() else set()

    def assert_refused(self, status, errors, expected_status, *named):
        """One error line naming every string of ``named``; inputs unchanged; nothing
        written to the output folder."""
        assert status == expected_status, errors
        lines = [line for line in errors if line.startswith("multidrizzle: error:")]
        assert len(lines) == 1 and not any("Traceback" in line for line in errors), errors
        for text in named:
            assert text in lines[0], (text, lines[0])
        assert bad_inputs.sha256_of(self.inputs) == self.before
        assert not self.out.exists() or bad_inputs.folder_files(self.out) == set()


# ------------------------------------------------------------ read validation


@pytest.mark.parametrize("extname, extver, offset", TRUNCATED_IN)
def test_file_cut_inside_a_data_unit_is_named_with_its_extension(case, capsys, extname,
                                                                 extver, offset):
    damaged = case.inputs[1]
    start, end = bad_inputs.data_location(damaged, extname, extver)
    case.snapshot()
    bad_inputs.truncate(damaged, start + offset)
    case.before[damaged.name] = bad_inputs.sha256_of([damaged])[damaged.name]
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, damaged.name, f"{extname},{extver}", "truncated")


@pytest.mark.parametrize("extname, extver, into_header", [
    ("SCI", 2, 0), ("SCI", 2, 1000), ("ERR", 1, 0), ("DQ", 2, 2880)])
def test_file_cut_between_or_inside_headers_is_refused(case, capsys, extname, extver,
                                                       into_header):
    """A cut at a header loses whole extensions: astropy opens the rest quietly."""
    damaged = case.inputs[0]
    bad_inputs.truncate(damaged, bad_inputs.header_location(damaged, extname, extver)
                        + into_header)
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, damaged.name, "truncated")


def test_missing_extension_is_named(case, capsys):
    bad_inputs.drop_extension(case.inputs[2], "DQ", 1)
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, case.inputs[2].name, "no DQ,1")


def test_missing_chip_with_stale_nextend_is_named(case, capsys):
    for name in ("SCI", "ERR", "DQ"):
        bad_inputs.drop_extension(case.inputs[0], name, 2)
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, case.inputs[0].name, "NEXTEND = 6",
                        "has 3")


def test_dq_of_another_shape_is_refused_not_dropped(case, capsys):
    bad_inputs.replace_data(case.inputs[1], "DQ", 2, np.zeros((32, 128), np.int16))
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, case.inputs[1].name, "DQ,2", "128 x 32",
                        "SCI,2 is 128 x 64")


def test_group_still_selects_chips(case, capsys):
    """``group=1`` reads the first chip only; the file is checked as a whole."""
    status, errors, out = case.run(capsys, "--group", "1", "--no-driz_cr", "--no-blot",
                                   "--no-median", "--no-driz_separate")
    assert status == 0, errors
    assert case.products() == {"final_drc.fits"}
    with fits.open(case.out / "final_drc.fits") as product:
        assert len(product["HDRTAB"].data) == 3  # one chip of each exposure


def test_singular_cd_matrix_is_named(case, capsys):
    bad_inputs.make_cd_singular(case.inputs[0], extver=2)
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, case.inputs[0].name, "SCI,2", "singular",
                        "CD1_1")


def test_unreadable_wcs_is_named(case, capsys):
    bad_inputs.set_keywords(case.inputs[0], [("SCI", 1)], CRVAL1="not a number")
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, case.inputs[0].name, "SCI,1", "CRVAL1",
                        "not a number")


# ------------------------------------------------------------ parameter combinations


@pytest.mark.parametrize("options, prefix", [
    (("--final_pixfrac", "0"), "final"),
    (("--final_kernel", "point"), "final"),
    (("--driz_sep_pixfrac", "0"), "driz_sep"),
])
def test_point_kernel_as_documented(case, capsys, options, prefix):
    """pixfrac below 0.001 switches the kernel to 'point' (the documented rule), and
    the point kernel runs: no failure after the earlier steps."""
    status, errors, _ = case.run(capsys, *options)
    assert status == 0, errors
    with fits.open(case.out / "final_drc.fits") as product:
        kernel = product[0].header["D001KERN"]
    assert kernel == ("point" if prefix == "final" else "square")
    assert bad_inputs.sha256_of(case.inputs) == case.before


def test_nhigh_rejecting_every_image_is_refused_before_writing(case, capsys):
    status, errors, _ = case.run(capsys, "--combine_type", "median", "--combine_nhigh", "3")
    case.assert_refused(status, errors, 2, "'combine_nhigh' (3)", "3 input images")


def test_minmed_says_it_ignores_nhigh(case, capsys):
    status, errors, _ = case.run(capsys, "--combine_type", "minmed", "--combine_nhigh", "1",
                                 "--no-driz_combine")
    assert status == 0
    assert any("ignores combine_nlow (0) and combine_nhigh (1)" in line for line in errors)


def test_units_mixing_dn_and_electrons_is_refused_in_build(case, capsys):
    bad_inputs.set_keywords(case.inputs[1], bad_inputs.chip_extensions(case.inputs[1]),
                            BUNIT="COUNTS")
    status, errors, _ = case.run(capsys)
    case.assert_refused(status, errors, 1, case.inputs[1].name, "proc_unit")


def test_mixed_instruments_refused_unless_allowed(small_demo_set, tmp_path, monkeypatch,
                                                  capsys):
    monkeypatch.chdir(tmp_path)
    acs = tmp_path / "acs"
    make_demo_dataset(acs, n_exposures=1, chip_shape=SMALL_DEMO_CHIP_SHAPE, seed=3,
                      camera="acs_wfc")
    attempt = Case(small_demo_set, tmp_path, count=2)
    stranger = shutil.copy2(next(acs.glob("*_flc.fits")), tmp_path / "in" / "acs01_flc.fits")
    attempt.inputs.append(Path(stranger))
    with open(tmp_path / "in" / "inputs.lst", "a") as listing:
        listing.write("acs01_flc.fits\n")
    status, errors, _ = attempt.run(capsys)
    attempt.assert_refused(status, errors, 1, "acs01_flc.fits", "ACS/WFC", "WFC3/UVIS",
                           "allow_mixed_inputs")
    status, errors, _ = attempt.run(capsys, "--allow_mixed_inputs", "yes", "--no-driz_cr",
                                    "--no-blot", "--no-median")
    assert status == 0, errors
    assert any("inputs mix instruments and detectors" in line for line in errors)


def test_output_name_of_an_existing_folder_is_refused_before_the_run(case, capsys):
    (case.out / "final_drc.fits").mkdir(parents=True)
    status, errors, _ = case.run(capsys)
    assert status == 1
    assert errors[-1].count("multidrizzle: error:") == 1
    assert "'output'" in errors[-1] and "final_drc.fits" in errors[-1]
    assert bad_inputs.folder_files(case.out) == set()  # the folder, empty, and nothing else
    assert bad_inputs.sha256_of(case.inputs) == case.before


def test_output_folder_below_a_file_is_refused(case, capsys):
    case.out.write_text("not a folder")
    status, errors, _ = case.run(capsys)
    assert status == 1 and "'output'" in errors[-1] and "is a file" in errors[-1]
    assert bad_inputs.sha256_of(case.inputs) == case.before


def _without_file_permission_override() -> list[str]:
    """A command prefix that makes file permissions bind (root ignores them otherwise)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: folder permissions do not bind")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_workinplace_on_a_read_only_folder_is_refused_before_archiving(case):
    case.snapshot()
    folder = case.folder / "in"
    folder.chmod(0o555)
    try:
        finished = subprocess.run(
            [*_without_file_permission_override(), sys.executable, "-m", "multidrizzle",
             f"@{folder / 'inputs.lst'}", "--output", str(case.out / "final"), "--quiet",
             "--runfile", "", "--workinplace", "yes"],
            capture_output=True, text=True, cwd=case.folder, timeout=300,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    finally:
        folder.chmod(0o755)
    errors = [line for line in finished.stderr.splitlines() if line.strip()]
    assert finished.returncode == 1, finished.stderr
    assert errors == [errors[-1]] and "'workinplace'" in errors[-1] and "not writable" in \
        errors[-1]
    assert not (folder / "OrIg_files").exists()
    assert bad_inputs.sha256_of(case.inputs) == case.before
    assert not case.out.exists()


# ------------------------------------------------------------ degenerate runs


def test_every_pixel_masked_exits_non_zero_with_a_warning(case, capsys):
    for path in case.inputs:
        bad_inputs.mask_everything(path)
    case.snapshot()
    status, errors, _ = case.run(capsys)
    assert status == 1
    assert errors[-1].startswith("multidrizzle: error:") and "no valid pixel" in errors[-1]
    assert any("WARNING" in line and "no valid pixel" in line for line in errors[:-1])
    assert bad_inputs.sha256_of(case.inputs) == case.before
    with fits.open(case.out / "final_drc.fits") as product:
        assert not (product["WHT"].data > 0).any()


def test_single_exposure_warns_that_cosmic_rays_stay(small_demo_set, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    single = Case(small_demo_set, tmp_path, count=1)
    status, errors, _ = single.run(capsys)
    assert status == 0
    warning, = [line for line in errors if "cosmic-ray detection" in line]
    assert "there is 1 input" in warning and "stay in the product" in warning


def test_exposure_that_overlaps_no_other_is_named(case, capsys, demo_session):
    bad_inputs.move_on_sky(case.inputs[0], 20.0 / 3600)  # 20": far beyond a 5" chip
    status, errors, _ = case.run(capsys)
    assert status == 0
    overlap, = [line for line in errors if "overlaps no other input" in line]
    assert case.inputs[0].name in overlap
    weak, = [line for line in errors if "cosmic-ray detection is weak" in line]
    assert "0.0% is covered by 3 or more" in weak
    md = demo_session(case.folder / "in", case.folder / "again" / "final")
    assert md.build_summary.coverage.isolated == (0,)
    assert md.run_warnings == [overlap.split("WARNING: ", 1)[-1]]


# ------------------------------------------------------------ product set and interruption

#: A command that runs multidrizzle and stops itself with a signal once the first
#: product file of the final drizzle is complete (under its temporary name).
_STOPPED_IN_FINAL_WRITE = """
import os, signal, sys
from multidrizzle.io.atomic import FileSet
from multidrizzle.session.cli import main
seal = FileSet.seal
def stopped(self, path):
    sealed = seal(self, path)
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return sealed
FileSet.seal = stopped
sys.exit(main(sys.argv[2:]))
"""

#: As :data:`_STOPPED_IN_FINAL_WRITE`, but the signal comes once the first strip of
#: the final drizzle has been written into the product being made in place.
_STOPPED_IN_FINAL_STRIPS = """
import os, signal, sys
from multidrizzle.io import intermediates, products
from multidrizzle.session.cli import main
allocate, write = products.ProductInProgress._allocate, intermediates.StoredImage.write
product_files = set()
def allocated(self, *args):
    allocate(self, *args)
    product_files.update(image.path for image in self.images.values())
def written(self, key, values):
    write(self, key, values)
    if self.path in product_files:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
products.ProductInProgress._allocate = allocated
intermediates.StoredImage.write = written
sys.exit(main(sys.argv[2:]))
"""


def _stopped_run(case, signal_name, *options, script=_STOPPED_IN_FINAL_WRITE):
    return subprocess.run(
        [sys.executable, "-c", script, signal_name,
         f"@{case.folder / 'in' / 'inputs.lst'}", "--output", str(case.out / "final"),
         "--quiet", "--runfile", "", *options],
        capture_output=True, text=True, cwd=case.folder, timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def _temporary_files(folder):
    return {name for name in bad_inputs.folder_files(folder)
            if name.startswith(".") or name.endswith(".tmp") or ".part" in name}


def test_manifest_describes_the_complete_product_set(case, capsys):
    status, errors, _ = case.run(capsys, "--build", "no")
    assert status == 0, errors
    manifest = case.out / "final_manifest.json"
    record = json.loads(manifest.read_text())
    assert [entry["file"] for entry in record["products"]] == [
        "final_drc_sci.fits", "final_drc_wht.fits", "final_drc_ctx.fits",
        "final_drc_err.fits"]
    for entry in record["products"]:
        content = (case.out / entry["file"]).read_bytes()
        assert entry["size"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert {Path(entry["file"]).name for entry in record["inputs"]} == \
        {path.name for path in case.inputs}
    assert check_product_set(manifest) == []
    with open(case.out / "final_drc_wht.fits", "r+b") as product:  # changed afterwards
        product.seek(-10, os.SEEK_END)
        product.write(b"x")
    assert check_product_set(manifest) == [
        f"{case.out / 'final_drc_wht.fits'}: its sha256 differs from the manifest's"]


def test_rerun_in_the_other_layout_removes_the_stale_products(case, capsys):
    assert case.run(capsys, "--build", "no")[0] == 0
    status, errors, _ = case.run(capsys, "--build", "yes")
    assert status == 0
    assert case.products() == {"final_drc.fits"}
    assert sum("removed" in line and "final_drc_sci.fits" in line for line in errors) == 1
    assert check_product_set(case.out / "final_manifest.json") == []


@pytest.mark.parametrize("signal_name, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_during_the_final_write_leaves_the_earlier_set_whole(case, capsys,
                                                                    signal_name, status):
    assert case.run(capsys, "--build", "no")[0] == 0
    earlier = bad_inputs.sha256_of(sorted(case.out.glob("final_*")))
    finished = _stopped_run(case, signal_name, "--build", "no", "--final_pixfrac", "0.6")
    assert finished.returncode == status, finished.stderr
    assert finished.stderr.strip().splitlines() == [
        "multidrizzle: interrupted; no products written"]
    assert bad_inputs.sha256_of(sorted(case.out.glob("final_*"))) == earlier
    assert check_product_set(case.out / "final_manifest.json") == []
    assert fits.getval(case.out / "final_drc_wht.fits", "D001PIXF") == 1.0
    assert _temporary_files(case.out) == set()
    assert bad_inputs.sha256_of(case.inputs) == case.before


@pytest.mark.parametrize("build", ["yes", "no"])
def test_signal_while_the_final_strips_are_written_leaves_no_product_and_no_temporary_file(
        case, capsys, build):
    """The strips go straight into the product, made under temporary names: an
    interrupted final drizzle leaves the earlier set whole and nothing else."""
    assert case.run(capsys, "--build", build)[0] == 0
    earlier = bad_inputs.sha256_of(sorted(case.out.glob("final_*")))
    finished = _stopped_run(case, "SIGINT", "--build", build, "--final_pixfrac", "0.6",
                            script=_STOPPED_IN_FINAL_STRIPS)
    assert finished.returncode == 130, finished.stderr
    assert bad_inputs.sha256_of(sorted(case.out.glob("final_*"))) == earlier
    assert check_product_set(case.out / "final_manifest.json") == []
    assert _temporary_files(case.out) == set()


def test_killed_run_leaves_no_complete_claim_and_the_next_run_cleans_up(case, capsys):
    finished = _stopped_run(case, "SIGKILL", "--build", "no")
    assert finished.returncode == -9
    assert any(name.endswith(".tmp") for name in _temporary_files(case.out))
    assert not (case.out / "final_manifest.json").exists()
    assert case.products() == set()
    status, errors, _ = case.run(capsys, "--build", "no")
    assert status == 0
    assert any("left by an interrupted run" in line for line in errors), errors
    assert _temporary_files(case.out) == set()
    assert check_product_set(case.out / "final_manifest.json") == []


#: As :data:`_STOPPED_IN_FINAL_WRITE`, but the signal comes once the first product
#: file has been renamed into place and before the others are.
_STOPPED_BETWEEN_RENAMES = """
import os, signal, sys
replace = os.replace
def stopped(source, destination, *args, **kwargs):
    replace(source, destination, *args, **kwargs)
    if "_drc_" in os.fspath(destination):
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
os.replace = stopped
from multidrizzle.session.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT"])
def test_signal_between_the_renames_leaves_no_manifest(case, capsys, signal_name):
    """Half the new set in place: the manifest is gone, so the set reads incomplete."""
    assert case.run(capsys, "--build", "no")[0] == 0
    finished = subprocess.run(
        [sys.executable, "-c", _STOPPED_BETWEEN_RENAMES, signal_name,
         f"@{case.folder / 'in' / 'inputs.lst'}", "--output", str(case.out / "final"),
         "--quiet", "--runfile", "", "--build", "no", "--final_pixfrac", "0.6"],
        capture_output=True, text=True, cwd=case.folder, timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert finished.returncode in (-9, 130), finished.stderr
    assert fits.getval(case.out / "final_drc_sci.fits", "D001PIXF") == 0.6  # the new one
    assert fits.getval(case.out / "final_drc_wht.fits", "D001PIXF") == 1.0  # the old one
    problems = check_product_set(case.out / "final_manifest.json")
    assert len(problems) == 1 and "does not exist" in problems[0]
    status, errors, _ = case.run(capsys, "--build", "no", "--final_pixfrac", "0.6")
    assert status == 0
    assert check_product_set(case.out / "final_manifest.json") == []
    assert _temporary_files(case.out) == set()
    assert bad_inputs.sha256_of(case.inputs) == case.before
