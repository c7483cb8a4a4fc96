"""Fixtures for the parity tests: AstroDrizzle and multidrizzle on the same data.

AstroDrizzle (``drizzlepac``) runs once per test session, in a child process
(``benchmarks/_astrodrizzle_runner.py``), on a fresh copy of a small demo
set, with ``clean=False`` so that its intermediates can be read back.
multidrizzle runs in this process with the same parameters, on
AstroDrizzle's output grid (see ``test_output_wcs_matches`` for why the
grids are not the same by default).

Every fixture that needs drizzlepac skips when it is not installed, so the
default ``python -m pytest`` passes without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from multidrizzle import Multidrizzle
from multidrizzle.demo.datasets import DemoDataset, make_demo_dataset
from multidrizzle.demo.scoring import exposure_coverage

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "_astrodrizzle_runner.py"

#: Parameters given to both pipelines, spelled as AstroDrizzle spells them.
#: They are AstroDrizzle 3.11's defaults (``pars/astrodrizzle.cfg``), set
#: explicitly so that a change of default on either side cannot go unseen.
#: ``skywidth`` matters: AstroDrizzle's default is 0.1, multidrizzle's 0.3.
SHARED_PARAMETERS: dict[str, object] = {
    "build": True, "context": True, "stepsize": 10, "coeffs": True, "crbit": 4096,
    "resetbits": 4096,
    "static": True, "static_sig": 4.0,
    "skysub": True, "skymethod": "localmin", "skystat": "median", "skywidth": 0.1,
    "skylower": None, "skyupper": None, "skyclip": 5, "skylsigma": 4.0, "skyusigma": 4.0,
    "use_static": True, "sky_bits": 0,
    "driz_separate": True, "driz_sep_kernel": "turbo", "driz_sep_wt_scl": "exptime",
    "driz_sep_pixfrac": 1.0, "driz_sep_fillval": None, "driz_sep_bits": 0,
    "median": True, "median_newmasks": True, "combine_type": "minmed",
    "combine_maskpt": 0.3, "combine_nsigma": "4 3", "combine_nlow": 0, "combine_nhigh": 0,
    "combine_lthresh": None, "combine_hthresh": None, "combine_grow": 1,
    "blot": True, "blot_interp": "poly5", "blot_sinscl": 1.0, "blot_addsky": True,
    "blot_skyval": 0.0,
    "driz_cr": True, "driz_cr_snr": "3.5 3.0", "driz_cr_scale": "1.2 0.7",
    "driz_cr_grow": 1, "driz_cr_ctegrow": 0,
    "driz_combine": True, "final_wht_type": "EXP", "final_kernel": "square",
    "final_wt_scl": "exptime", "final_pixfrac": 1.0, "final_fillval": None,
    "final_bits": 0, "final_units": "cps",
}

#: AstroDrizzle only: keep intermediates on disk, write the CR masks, leave
#: the input WCS alone, one core (the parity data are small).
ASTRODRIZZLE_ONLY: dict[str, object] = {
    "updatewcs": False, "clean": False, "in_memory": False, "driz_cr_corr": True,
    "num_cores": 1, "driz_sep_wcs": False, "final_wcs": False,
    "runfile": "astrodrizzle.log",
}

N_EXPOSURES = 4
CHIP_SHAPE = (256, 512)


@dataclass
class AstroDrizzleRun:
    """AstroDrizzle's products and intermediates, read back from its folder."""

    folder: Path
    rootnames: list[str]
    final_sci: np.ndarray
    final_wht: np.ndarray
    final_ctx: np.ndarray
    wcs: WCS
    shape: tuple[int, int]
    header: fits.Header
    primary_header: fits.Header
    sky: dict[tuple[str, int], float] = field(default_factory=dict)

    def single(self, rootname: str) -> tuple[np.ndarray, np.ndarray]:
        return (fits.getdata(self.folder / f"{rootname}_single_sci.fits").astype(np.float64),
                fits.getdata(self.folder / f"{rootname}_single_wht.fits").astype(np.float64))

    def median(self) -> np.ndarray:
        return fits.getdata(self.folder / "astrodrizzle_med.fits").astype(np.float64)

    def blot(self, rootname: str, extver: int) -> np.ndarray:
        return fits.getdata(self.folder / f"{rootname}_sci{extver}_blt.fits").astype(np.float64)

    def cr_mask(self, rootname: str, extver: int) -> np.ndarray:
        """True = cosmic ray (AstroDrizzle's ``_crmask`` files hold 1 = good, 0 = CR)."""
        return fits.getdata(self.folder / f"{rootname}_sci{extver}_crmask.fits") == 0

    def static_mask(self, extver: int, chip_shape: tuple[int, int]) -> np.ndarray:
        """True = bad.  AstroDrizzle's WFC3 signature is (rootname, (nx, ny), SCI extver)
        with an empty root here; its file holds 1 = good, 0 = bad."""
        ny, nx = chip_shape
        name = f"_{ny}x{nx}_{extver}_staticMask.fits"
        return fits.getdata(self.folder / name) == 0


def run_astrodrizzle(inputs: list[Path], folder: Path, parameters: dict,
                     output: str = "astrodrizzle") -> dict:
    """Copy ``inputs`` into ``folder`` and run AstroDrizzle there in a child process.

    Returns the runner's result (wall time, step table, memory).
    """
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in inputs:
        copy = folder / Path(path).name
        shutil.copyfile(path, copy)
        copies.append(copy)
    result_file = folder / "runner_result.json"
    command = [sys.executable, str(RUNNER), "--workdir", str(folder), "--output", output,
               "--parameters", json.dumps(parameters), "--result", str(result_file),
               *[str(c) for c in copies]]
    completed = subprocess.run(command, capture_output=True, text=True)
    (folder / "runner_stdout.txt").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise RuntimeError(f"AstroDrizzle failed (exit {completed.returncode}); last output:\n"
                           + (completed.stdout + completed.stderr)[-4000:])
    return json.loads(result_file.read_text())


def coverage_of(md: Multidrizzle) -> dict[tuple[str, int], np.ndarray]:
    """Exposures covering each chip pixel, from the separate drizzles' weights."""
    return exposure_coverage(md._all_chips(), md.separate_pixel_maps, md.singles_on_grid("wht"))


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> DemoDataset:
    folder = tmp_path_factory.mktemp("parity_data")
    return make_demo_dataset(folder, n_exposures=N_EXPOSURES, chip_shape=CHIP_SHAPE, seed=0)


@pytest.fixture(scope="session")
def astrodrizzle_run(demo_data, tmp_path_factory) -> AstroDrizzleRun:
    pytest.importorskip("drizzlepac")
    folder = tmp_path_factory.mktemp("astrodrizzle")
    run_astrodrizzle(demo_data.input_files, folder, {**SHARED_PARAMETERS, **ASTRODRIZZLE_ONLY})
    product = folder / "astrodrizzle_drc.fits"
    with fits.open(product) as hdul:
        header = hdul["SCI"].header.copy()
        primary_header = hdul[0].header.copy()
        run = AstroDrizzleRun(
            folder=folder, rootnames=[p.name.rsplit("_", 1)[0] for p in demo_data.input_files],
            final_sci=hdul["SCI"].data.astype(np.float64),
            final_wht=hdul["WHT"].data.astype(np.float64),
            final_ctx=hdul["CTX"].data.astype(np.int64), wcs=WCS(header),
            shape=hdul["SCI"].data.shape, header=header, primary_header=primary_header)
    for path in demo_data.input_files:
        with fits.open(folder / path.name) as hdul:
            for hdu in hdul:
                if hdu.name == "SCI":
                    run.sky[path.name, hdu.ver] = float(hdu.header["MDRIZSKY"])
    return run


@pytest.fixture(scope="session")
def ours_default_grid(demo_data) -> Multidrizzle:
    """multidrizzle's own output grid (build only)."""
    md = Multidrizzle([str(p) for p in demo_data.input_files], in_memory=True, runfile="",
                      **SHARED_PARAMETERS)
    md.build()
    return md


@pytest.fixture(scope="session")
def ours_on_astrodrizzle_grid(demo_data, astrodrizzle_run, tmp_path_factory) -> Multidrizzle:
    """multidrizzle, same parameters, on AstroDrizzle's output grid, inputs untouched."""
    folder = tmp_path_factory.mktemp("multidrizzle")
    reference = f"{astrodrizzle_run.folder / 'astrodrizzle_drc.fits'}[SCI,1]"
    md = Multidrizzle([str(p) for p in demo_data.input_files],
                      output=str(folder / "multidrizzle"), in_memory=True, runfile="",
                      final_refimage=reference, driz_sep_refimage=reference,
                      num_cores=1, **SHARED_PARAMETERS)
    md.build()
    md.run()
    return md


@pytest.fixture(scope="session")
def chip_coverage(ours_on_astrodrizzle_grid) -> dict[tuple[str, int], np.ndarray]:
    """``(file name, extver) ->`` exposures covering each chip pixel."""
    return coverage_of(ours_on_astrodrizzle_grid)


@pytest.fixture(scope="session")
def ours_with_their_cosmic_rays(demo_data, astrodrizzle_run, tmp_path_factory) -> Multidrizzle:
    """multidrizzle on AstroDrizzle's grid with AstroDrizzle's cosmic-ray masks
    (which include its static-mask pixels), so that both final drizzles take
    exactly the same input pixels."""
    folder = tmp_path_factory.mktemp("multidrizzle_their_crs")
    reference = f"{astrodrizzle_run.folder / 'astrodrizzle_drc.fits'}[SCI,1]"
    md = Multidrizzle([str(p) for p in demo_data.input_files],
                      output=str(folder / "multidrizzle"), in_memory=True, runfile="",
                      final_refimage=reference, driz_sep_refimage=reference,
                      num_cores=1, **SHARED_PARAMETERS)
    md.build()
    md.replace_step("driz_cr", lambda session: {
        chip.name: astrodrizzle_run.cr_mask(chip.filename.name.rsplit("_", 1)[0], chip.extver)
        for chip in session._all_chips()})
    md.run()
    return md


# ---------------------------------------------------------------------------
# Cosmic rays on each kind of demo set (test_cosmic_ray_parity.py)

#: Demo variants compared for cosmic rays; None is the session's ``demo_data``.
CR_VARIANTS: dict[str, dict | None] = {
    "wfc3_uvis_sip": None,
    "wfc3_uvis_npol_d2im": dict(camera="wfc3_uvis", distortion="npol_d2im", seed=1),
    "acs_wfc_sip": dict(camera="acs_wfc", distortion="sip", seed=2),
}


def astrodrizzle_cr_masks(folder: Path, truth: DemoDataset) -> dict[tuple[str, int], np.ndarray]:
    """True = cosmic ray, from AstroDrizzle's ``_crmask`` files (1 = good, 0 = CR)."""
    masks = {}
    for key in truth.cosmic_ray_masks:
        rootname = key[0].rsplit("_", 1)[0]
        masks[key] = fits.getdata(folder / f"{rootname}_sci{key[1]}_crmask.fits") == 0
    return masks


@pytest.fixture(scope="module", params=sorted(CR_VARIANTS))
def cosmic_ray_scores(request, tmp_path_factory):
    """A function of the thresholds giving ``[(ours, wrong), (AstroDrizzle's,
    wrong)]``: the CosmicRayScore of each program's masks on one demo variant
    (recall over pixels covered by >= 3 exposures, any DQ) and its count of
    flagged pixels that hold no injected cosmic ray.  Each program on its own
    output grid, with SHARED_PARAMETERS."""
    from multidrizzle.demo.scoring import score_cosmic_rays
    from multidrizzle.steps.drizzle import good_pixel_mask

    pytest.importorskip("drizzlepac")
    options = CR_VARIANTS[request.param]
    if options is None:
        truth = request.getfixturevalue("demo_data")
        folder = request.getfixturevalue("astrodrizzle_run").folder
    else:
        truth = make_demo_dataset(tmp_path_factory.mktemp(request.param), **options,
                                  n_exposures=N_EXPOSURES, chip_shape=CHIP_SHAPE)
        folder = tmp_path_factory.mktemp(f"astrodrizzle_{request.param}")
        run_astrodrizzle(truth.input_files, folder, {**SHARED_PARAMETERS, **ASTRODRIZZLE_ONLY})
    md = Multidrizzle([str(p) for p in truth.input_files], in_memory=True, runfile="",
                      output=str(tmp_path_factory.mktemp(f"ours_{request.param}") / "final"),
                      **SHARED_PARAMETERS)
    md.build()
    md.run(driz_combine=False)
    chips = md._all_chips()
    coverage = coverage_of(md)
    good = {(c.filename.name, c.extver): good_pixel_mask(md.read_dq(c), 0) for c in chips}
    ours = {(c.filename.name, c.extver): md.cr_masks[c.name] for c in chips}
    theirs = astrodrizzle_cr_masks(folder, truth)

    def scores(thresholds):
        result = []
        for flags in (ours, theirs):
            score = score_cosmic_rays(flags, truth, coverage, good, thresholds=thresholds)
            wrong = sum(int((flag & ~truth.cosmic_ray_masks[key]).sum())
                        for key, flag in flags.items())
            result.append((score, wrong))
        return result

    return scores
