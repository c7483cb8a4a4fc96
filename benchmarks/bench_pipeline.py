"""multidrizzle against STScI's AstroDrizzle on full-size demo exposures.

Generates (or reuses) dithered WFC3/UVIS-like exposures of 2 x 4096 x 2051
pixels with their ground truth, then runs AstroDrizzle (drizzlepac) and
multidrizzle on fresh copies, alternating, each in its own child process,
with the same parameters (AstroDrizzle's defaults, a multi-extension
product).  Prints wall time, peak memory, per-step times and their ratios,
cosmic-ray recall and false positives, star photometry against the truth
for both, the error-plane check (multidrizzle's ERR against the scatter of
SCI in blank sky; AstroDrizzle makes no ERR), and the targets::

    python benchmarks/bench_pipeline.py [--num-cores 2] [--n-exposures 4]
        [--repeat 1] [--folder DIR] [--chip-shape 2051 4096] [--keep]
        [--camera wfc3_uvis|acs_wfc] [--distortion sip|npol_d2im] [--seed 0]
        [--set NAME=VALUE ...] [--reuse-astrodrizzle] [--profile]

``--camera``/``--distortion`` pick the demo variant (ACS/WFC-like chips;
NPOL and D2IM lookup tables in the headers), ``--seed`` its random draws;
``--set`` gives both pipelines another parameter (the value is read as
JSON when it parses, e.g. ``--set skystat='"mode"'`` or ``--set
driz_cr_snr='"4 3"'``).  ``--reuse-astrodrizzle`` keeps an AstroDrizzle run
left by ``--keep`` on the same data and parameters instead of running it
again (for comparing changes of multidrizzle).  The last lines print one
summary row per run: cosmic-ray recall (all, > 30, > 100 e-) and the pixels
wrongly flagged, AstroDrizzle against multidrizzle.

``--repeat N`` runs the two pipelines alternately N times each on the same
data (AstroDrizzle first in even rounds, multidrizzle first in odd ones, so
neither always runs on a warmer page cache) and prints, besides the best
times, the median wall time of each, the median of the per-round ratios
AstroDrizzle / multidrizzle, and the same median ratio for every step.
``--profile`` then runs multidrizzle once more under cProfile (not counted
in any timing: profiling slows Python code) and prints the 25 functions
with the most cumulative time and the 25 with the most own time.  cProfile
sees the main thread only: kernel parts run on the pool's threads show up
as the main thread's wait in ``run_parts`` (the main thread runs part 0).

Timing: wall time of the pipeline call in the child (AstroDrizzle() for
AstroDrizzle; session set-up, build() and run() for multidrizzle), without
interpreter start and imports (printed apart).  Step times: AstroDrizzle's
own timing table (parsed from its run log) and ``md.step_records``.
Memory: the child's peak resident set (``ru_maxrss``, what ``/usr/bin/time
-v`` reports) and the peak of the summed proportional set size (PSS) of the
child and its descendants, sampled every 50 ms (AstroDrizzle forks workers
when ``num_cores > 1``; PSS shares their copy-on-write pages fairly).
numba kernels are compiled into their cache by a small warm-up run first.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "_astrodrizzle_runner.py"

#: Parameters given to both pipelines: AstroDrizzle 3.11's defaults hold on
#: both sides except ``skywidth`` (AstroDrizzle's configuration file has 0.1,
#: multidrizzle's default is 0.3), so it is set; ``build`` asks both for one
#: multi-extension product.
SHARED_PARAMETERS = {"build": True, "skywidth": 0.1}
ASTRODRIZZLE_ONLY = {"updatewcs": False, "runfile": "astrodrizzle.log"}

#: (AstroDrizzle step, multidrizzle step).
STEP_PAIRS = (("Initialization", "build"), ("Static Mask", "static"),
              ("Subtract Sky", "sky"), ("Separate Drizzle", "driz_separate"),
              ("Create Median", "median"), ("Blot", "blot"), ("Driz_CR", "driz_cr"),
              ("Final Drizzle", "driz_combine"))

OUTPUT_ROOT = {"astrodrizzle": "astrodrizzle", "multidrizzle": "multidrizzle"}
CR_THRESHOLDS = (0.0, 30.0, 100.0)

# ---------------------------------------------------------------------------
# Child: multidrizzle


def run_multidrizzle_child(arguments: argparse.Namespace) -> int:
    """Run multidrizzle in this process and write the result JSON."""
    started = time.perf_counter()
    import numba  # noqa: F401  (import time reported apart)

    from multidrizzle import Multidrizzle

    import_seconds = time.perf_counter() - started
    workdir = Path(arguments.workdir).resolve()
    parameters = json.loads(arguments.parameters)
    profiler = cProfile.Profile() if arguments.profile_out else None
    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    md = Multidrizzle([str(Path(p).resolve()) for p in arguments.inputs],
                      output=str(workdir / OUTPUT_ROOT["multidrizzle"]),
                      runfile=str(workdir / "multidrizzle.log"), **parameters)
    setup_seconds = time.perf_counter() - started
    md.build()
    md.run()
    wall_seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(arguments.profile_out)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    maxrss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    # after the measurements: what the scoring needs and is not on disk
    np.savez(workdir / "cr_masks.npz", **{
        f"{chip.filename.name}|{chip.extver}": np.packbits(md.cr_masks[chip.name])
        for chip in md._all_chips()})
    steps = {name: record.seconds for name, record in md.step_records.items()}
    steps["build"] += setup_seconds
    result = {
        "wall_seconds": wall_seconds, "import_seconds": import_seconds, "steps": steps,
        "maxrss_self_bytes": maxrss, "maxrss_children_bytes": maxrss_children,
        "products": [str(p) for p in md.products],
        "chip_shapes": {f"{c.filename.name}|{c.extver}": list(c.shape)
                        for c in md._all_chips()},
        "sky": {f"{c.filename.name}|{c.extver}": md.sky_values[c.name] * c.to_electrons
                for c in md._all_chips()},
        "output_shape": list(md.output_grid.shape),
        "plan": md.run_plan.summary(),
        "tile_size": md.run_plan.tile_size,
    }
    Path(arguments.result).write_text(json.dumps(result, indent=1))
    return 0


# ---------------------------------------------------------------------------
# Parent: memory sampling and runs


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        # the command name may hold spaces: the parent pid follows the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _pss_bytes(pid: int, field: str = "Pss:") -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeMemorySampler(threading.Thread):
    """Peak of the summed PSS of a process and its descendants, and (``anon_peak``)
    of their summed anonymous PSS (``Pss_Anon``: the process's own arrays and heap,
    without the pages of shared libraries, whose share in PSS falls as other
    processes on the machine map the same libraries: numba's LLVM alone is about
    70 MiB)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self.anon_peak = pid, interval, 0, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            tree = _process_tree(self.pid)
            self.peak = max(self.peak, sum(_pss_bytes(pid) for pid in tree))
            self.anon_peak = max(self.anon_peak,
                                 sum(_pss_bytes(pid, "Pss_Anon:") for pid in tree))
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


#: Files the benchmark itself writes in a run folder (not the pipeline's).
_BENCHMARK_FILES = ("cr_masks.npz", "result.json", "stdout.txt", "signature.json")


def _bytes_under(folder: Path, skip: set[str]) -> int:
    """Bytes of the files under ``folder`` but those in ``skip``, the benchmark's own,
    and a product of ``skip`` being written under its temporary name
    (``.<name>.<random>.tmp``: the product, not an intermediate)."""
    products = tuple(f".{os.path.basename(p)}." for p in skip)
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if (path in skip or name in _BENCHMARK_FILES
                    or (name.startswith(products) and name.endswith(".tmp"))):
                continue
            try:
                total += os.stat(path).st_size
            except OSError:   # removed while we looked
                pass
    return total


class TemporaryDiskSampler(threading.Thread):
    """Peak bytes of the files under a run folder other than the input copies,
    the final products (also while they are written) and the benchmark's own
    files: intermediates and logs."""

    def __init__(self, folder: Path, skip: list[Path], interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.folder, self.interval, self.peak = folder, interval, 0
        self.skip = {str(p) for p in skip}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, _bytes_under(self.folder, self.skip))
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


@dataclass
class Run:
    pipeline: str
    workdir: Path
    result: dict
    process_seconds: float
    tree_pss_bytes: int
    scores: dict = field(default_factory=dict)
    temporary_disk_bytes: int = 0
    input_bytes: int = 0
    tree_anon_bytes: int = 0

    @property
    def peak_bytes(self) -> int:
        return max(self.result["maxrss_self_bytes"], self.tree_pss_bytes)


def run_pipeline(pipeline: str, inputs: list[Path], workdir: Path, num_cores: int,
                 extra: dict | None = None, reuse: bool = False,
                 own: dict | None = None, profile_out: Path | None = None) -> Run:
    """Copy the inputs into ``workdir`` and run one pipeline there in a child.

    ``extra``: parameters for both pipelines beyond SHARED_PARAMETERS.
    ``reuse``: return the run already in ``workdir`` if it was made from
    the same inputs and parameters.  ``own``: parameters for multidrizzle
    only (``scheduler``, ``memory_limit``).  ``profile_out``: multidrizzle
    only, run under cProfile and write the statistics there.
    """
    parameters = dict(SHARED_PARAMETERS, num_cores=num_cores, **(extra or {}))
    if pipeline == "multidrizzle":
        parameters.update(own or {})
    signature = {"pipeline": pipeline, "parameters": parameters,
                 "inputs": [[str(p), p.stat().st_mtime_ns] for p in inputs]}
    signature_file = workdir / "signature.json"
    if reuse and signature_file.is_file() and (workdir / "result.json").is_file() \
            and json.loads(signature_file.read_text()) == signature:
        print(f"reusing the {pipeline} run in {workdir}")
        return Run(pipeline, workdir, json.loads((workdir / "result.json").read_text()),
                   float("nan"), 0)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    copies = []
    for path in inputs:
        shutil.copyfile(path, workdir / path.name)
        copies.append(workdir / path.name)
    result_file = workdir / "result.json"
    if pipeline == "astrodrizzle":
        parameters.update(ASTRODRIZZLE_ONLY)
        command = [sys.executable, str(RUNNER), "--workdir", str(workdir),
                   "--output", OUTPUT_ROOT[pipeline]]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--child",
                   "--workdir", str(workdir)]
        if profile_out is not None:
            command += ["--profile-out", str(profile_out)]
    command += ["--parameters", json.dumps(parameters), "--result", str(result_file),
                *[str(c) for c in copies]]
    products = [workdir / f"{OUTPUT_ROOT[pipeline]}_{kind}.fits" for kind in ("drz", "drc")]
    disk = TemporaryDiskSampler(workdir, copies + products)
    started = time.perf_counter()
    with open(workdir / "stdout.txt", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeMemorySampler(process.pid)
        sampler.start()
        disk.start()
        code = process.wait()
        peak = sampler.stop()
        peak_disk = disk.stop()
    process_seconds = time.perf_counter() - started
    if code != 0 or not any(product.exists() for product in products):
        # AstroDrizzle quits with status 0 on parameters it does not know
        # (``--set`` of one of ours): no product is the sign
        tail = (workdir / "stdout.txt").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{pipeline} failed (exit {code}, no product):\n{tail}")
    signature_file.write_text(json.dumps(signature))
    return Run(pipeline, workdir, json.loads(result_file.read_text()), process_seconds, peak,
               temporary_disk_bytes=peak_disk, tree_anon_bytes=sampler.anon_peak,
               input_bytes=sum(path.stat().st_size for path in inputs))


# ---------------------------------------------------------------------------
# Scoring against the truth


def _first_exposure_chip_of_stars(truth) -> dict[int, int]:
    """Star id -> SCI extver of the chip it fell on in the first exposure."""
    from astropy.io import fits
    from astropy.wcs import WCS

    chip_of: dict[int, int] = {}
    with fits.open(truth.input_files[0]) as hdul:
        for hdu in hdul:
            if hdu.name != "SCI":
                continue
            ny, nx = hdu.data.shape
            x, y = WCS(hdu.header, hdul).all_world2pix(np.asarray(truth.stars["ra"]),
                                                       np.asarray(truth.stars["dec"]), 0)
            inside = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
            for star_id in np.asarray(truth.stars["id"])[inside]:
                chip_of[int(star_id)] = hdu.ver
    return chip_of


def chip_coverage(truth, multidrizzle_workdir: Path,
                  extra: dict | None = None) -> dict[tuple[str, int], np.ndarray]:
    """Exposures covering each chip pixel (as ``tests/test_end_to_end.py``),
    from multidrizzle's single-drizzle weights and a fresh build()."""
    from astropy.io import fits

    from multidrizzle import Multidrizzle
    from multidrizzle.demo.scoring import exposure_coverage

    md = Multidrizzle([str(p) for p in truth.input_files], **SHARED_PARAMETERS,
                      **(extra or {}))
    md.build()
    grid_crpix = md.separate_grid.wcs.wcs.crpix
    weights = []
    for exposure in md.exposures:
        stem = exposure.filename.name.rsplit('.fits', 1)[0]
        with fits.open(multidrizzle_workdir / f"{stem}_single_wht.fits") as hdul:
            hdu = next(h for h in hdul if h.data is not None)
            # a single image may be a cutout of the separate grid (its footprint):
            # place it by the shift of its reference pixel
            x0 = int(round(grid_crpix[0] - hdu.header["CRPIX1"]))
            y0 = int(round(grid_crpix[1] - hdu.header["CRPIX2"]))
            weight = np.zeros(md.separate_grid.shape, dtype=np.float32)
            weight[y0:y0 + hdu.data.shape[0], x0:x0 + hdu.data.shape[1]] = hdu.data
        weights.append(weight)
    return exposure_coverage(md._all_chips(), md.separate_pixel_maps, weights)


def cosmic_ray_flags(run: Run, truth) -> dict[tuple[str, int], np.ndarray]:
    from astropy.io import fits

    flags = {}
    if run.pipeline == "astrodrizzle":
        for key in truth.cosmic_ray_masks:
            stem = key[0].rsplit("_", 1)[0]
            # AstroDrizzle's crmask: 1 = good, 0 = cosmic ray
            flags[key] = fits.getdata(run.workdir / f"{stem}_sci{key[1]}_crmask.fits") == 0
    else:
        with np.load(run.workdir / "cr_masks.npz") as packed:
            for name in packed.files:
                filename, extver = name.split("|")
                shape = tuple(run.result["chip_shapes"][name])
                bits = np.unpackbits(packed[name])[:shape[0] * shape[1]]
                flags[filename, int(extver)] = bits.reshape(shape).astype(bool)
    return flags


def good_dq(truth) -> dict[tuple[str, int], np.ndarray]:
    from astropy.io import fits

    good = {}
    for path in truth.input_files:
        with fits.open(path) as hdul:
            for hdu in hdul:
                if hdu.name == "DQ":
                    good[path.name, hdu.ver] = hdu.data == 0
    return good


def final_product(run: Run):
    from astropy.io import fits
    from astropy.wcs import WCS

    if run.pipeline == "multidrizzle":
        path = Path(run.result["products"][0])
    else:
        path = run.workdir / f"{OUTPUT_ROOT[run.pipeline]}_drc.fits"
    with fits.open(path) as hdul:
        return (hdul["SCI"].data.astype(np.float64), hdul["WHT"].data.astype(np.float64),
                WCS(hdul["SCI"].header))


def final_error(run: Run) -> np.ndarray | None:
    """The product's ERR image, or None (AstroDrizzle, or ``final_err=False``)."""
    from astropy.io import fits

    if run.pipeline != "multidrizzle":
        return None
    with fits.open(Path(run.result["products"][0])) as hdul:
        return hdul["ERR"].data.astype(np.float64) if "ERR" in hdul else None


def blank_sky(truth, wcs, shape: tuple[int, int]) -> np.ndarray:
    """Output pixels far from every injected star and galaxy (True = blank sky).

    Stars: 10 px plus 3 px per decade of flux; galaxies: 10 px plus their
    rendered extent (``truncation_r_eff`` effective radii).
    """
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale_arcsec = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600.0
    blank = np.ones(shape, dtype=bool)
    y_grid, x_grid = np.ogrid[:shape[0], :shape[1]]
    galaxies = truth.galaxies
    sources = [(truth.stars["ra"], truth.stars["dec"],
                10.0 + 3.0 * np.log10(1.0 + np.asarray(truth.stars["flux_eps"]))),
               (galaxies["ra"], galaxies["dec"],
                10.0 + galaxies.meta.get("truncation_r_eff", 8.0)
                * np.asarray(galaxies["r_eff_arcsec"]) / scale_arcsec)]
    for ra, dec, radius in sources:
        x, y = wcs.all_world2pix(np.asarray(ra), np.asarray(dec), 0)
        for xc, yc, r in zip(x, y, radius):
            if -r <= xc < shape[1] + r and -r <= yc < shape[0] + r:
                y0, y1 = max(int(yc - r), 0), min(int(yc + r) + 2, shape[0])
                x0, x1 = max(int(xc - r), 0), min(int(xc + r) + 2, shape[1])
                blank[y0:y1, x0:x1] &= ((x_grid[:, x0:x1] - xc) ** 2
                                        + (y_grid[y0:y1] - yc) ** 2) > r * r
    return blank


def error_plane_check(sci: np.ndarray, err: np.ndarray, wht: np.ndarray, wcs,
                      truth) -> dict:
    """ERR against the scatter of SCI in blank sky.

    Correlated noise does not change a pixel's own variance, so over many
    blank-sky pixels the variance of SCI about its median (5-sigma clipped)
    should equal the mean of ERR**2, and ``(SCI - median) / ERR`` should have
    a standard deviation of 1.
    """
    from astropy.stats import sigma_clipped_stats

    usable = blank_sky(truth, wcs, sci.shape) & (wht > 0) & np.isfinite(err) & (err > 0)
    values, errors = sci[usable], err[usable]
    mean, median, std = sigma_clipped_stats(values, sigma=5.0, maxiters=5)
    kept = np.abs(values - median) <= 5.0 * std
    normalised = (values[kept] - median) / errors[kept]
    return {"n_pixels": int(kept.sum()), "measured_variance": float(std ** 2),
            "propagated_variance": float(np.mean(errors[kept] ** 2)),
            "ratio": float(std ** 2 / np.mean(errors[kept] ** 2)),
            "normalised_std": float(np.std(normalised))}


def score(run: Run, truth, coverage, good, chip_of_star) -> dict:
    from multidrizzle.demo.scoring import score_cosmic_rays, star_photometry

    flags = cosmic_ray_flags(run, truth)
    cosmic = score_cosmic_rays(flags, truth, coverage, good, thresholds=CR_THRESHOLDS)
    # pixels the final drizzle uses (good DQ, not a bad-dark pixel): multidrizzle
    # does not look for cosmic rays on pixels the drizzle ignores anyway
    usable_coverage = {k: np.where(good[k] & ~truth.bad_pixel_mask[k[1]], c, 0)
                       for k, c in coverage.items()}
    usable = score_cosmic_rays(flags, truth, usable_coverage, good, thresholds=CR_THRESHOLDS)
    n_flagged = sum(int(f.sum()) for f in flags.values())
    n_not_ray = sum(int((f & ~truth.cosmic_ray_masks[k]).sum()) for k, f in flags.items())
    n_on_bad = sum(int((f & truth.bad_pixel_mask[k[1]]).sum()) for k, f in flags.items())
    sci, wht, wcs = final_product(run)
    err = final_error(run)
    error_plane = None if err is None else error_plane_check(sci, err, wht, wcs, truth)
    photometry = star_photometry(sci, wcs, truth, weight=wht, min_flux=100.0, min_coverage=3,
                                 radius=10.0, annulus=(15.0, 25.0))
    errors = photometry.relative_errors
    by_chip = {}
    for extver in sorted(set(chip_of_star.values())):
        selected = np.array([chip_of_star.get(int(i)) == extver for i in photometry.star_ids],
                            dtype=bool)
        if selected.any():
            by_chip[extver] = errors[selected]
    return {"recall": cosmic.recall, "n_injected": cosmic.n_injected,
            "usable_recall": usable.recall, "usable_n_injected": usable.n_injected,
            "star_flux": photometry.true,
            "false_positive_fraction": cosmic.false_positive_fraction,
            "not_cosmic_ray_fraction": cosmic.not_cosmic_ray_fraction,
            "n_flagged": n_flagged, "n_not_ray": n_not_ray, "n_on_bad_dark": n_on_bad,
            "star_errors": errors, "star_errors_by_chip": by_chip,
            "error_plane": error_plane}


# ---------------------------------------------------------------------------
# Report


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def summary_row(label: str, ad_score: dict, md_score: dict) -> None:
    """One line for a table of data sets: recall (all, > 30, > 100 e-) and the
    pixels wrongly flagged, AstroDrizzle | multidrizzle."""
    def recalls(score):
        return " / ".join(f"{score['recall'][t]:.4f}" for t in CR_THRESHOLDS)

    ratio = md_score["n_not_ray"] / max(ad_score["n_not_ray"], 1)
    print()
    print("summary: set | recall all / >30 / >100 e- AstroDrizzle | multidrizzle | "
          "wrongly flagged pixels AstroDrizzle / multidrizzle (ratio)")
    print(f"summary: {label} | {recalls(ad_score)} | {recalls(md_score)} | "
          f"{ad_score['n_not_ray']:,} / {md_score['n_not_ray']:,} ({ratio:.3f}) | "
          f"targets: recall {'met' if all(md_score['recall'][t] >= ad_score['recall'][t] for t in CR_THRESHOLDS) else 'NOT met'}, "
          f"false flags <= 1/10 {'met' if ratio <= 0.1 else 'NOT met'}")


def report(runs: dict[str, list[Run]], num_cores: int, n_exposures: int,
           chip_shape: tuple[int, int], output_shapes: dict[str, list[int]]) -> None:
    ad_runs, md_runs = runs["astrodrizzle"], runs["multidrizzle"]

    def best(run_list, key):
        return min(key(r) for r in run_list)

    n_mpix = n_exposures * 2 * chip_shape[0] * chip_shape[1] / 1e6
    print()
    print(f"{n_exposures} exposures of 2 x {chip_shape[1]} x {chip_shape[0]} "
          f"({n_mpix:.0f} Mpix in), num_cores={num_cores}, {len(ad_runs)} run(s) each, "
          f"best wall time shown; AstroDrizzle {ad_runs[0].result.get('version', '?')}")
    for name, shape in output_shapes.items():
        print(f"output grid {name}: {shape[1]} x {shape[0]}")
    print()
    ad_wall = best(ad_runs, lambda r: r.result["wall_seconds"])
    md_wall = best(md_runs, lambda r: r.result["wall_seconds"])
    print(f"{'':<22}{'AstroDrizzle':>14}{'multidrizzle':>14}{'ratio':>9}")
    print(f"{'wall time (s)':<22}{ad_wall:>14.2f}{md_wall:>14.2f}{ad_wall / md_wall:>8.1f}x")
    ad_proc = best(ad_runs, lambda r: r.process_seconds)
    md_proc = best(md_runs, lambda r: r.process_seconds)
    print(f"{'process incl. imports':<22}{ad_proc:>14.2f}{md_proc:>14.2f}"
          f"{ad_proc / md_proc:>8.1f}x")
    ad_rss = max(r.result["maxrss_self_bytes"] for r in ad_runs)
    md_rss = max(r.result["maxrss_self_bytes"] for r in md_runs)
    ad_pss = max(r.tree_pss_bytes for r in ad_runs)
    md_pss = max(r.tree_pss_bytes for r in md_runs)
    print(f"{'peak RSS (main proc)':<22}{_mib(ad_rss):>14}{_mib(md_rss):>14}"
          f"{ad_rss / md_rss:>8.2f}x")
    print(f"{'peak PSS (proc tree)':<22}{_mib(ad_pss):>14}{_mib(md_pss):>14}"
          f"{ad_pss / max(md_pss, 1):>8.2f}x")
    print()
    print("per-step seconds (best of the runs)")
    slower_steps = []
    for ad_step, md_step in STEP_PAIRS:
        ad_seconds = best(ad_runs, lambda r: r.result["steps"].get(ad_step, float("nan")))
        md_seconds = best(md_runs, lambda r: r.result["steps"].get(md_step, float("nan")))
        label = f"{ad_step} / {md_step}"
        print(f"  {label:<34}{ad_seconds:>8.2f}{md_seconds:>8.2f}"
              f"{ad_seconds / max(md_seconds, 1e-9):>8.1f}x")
        if not md_seconds < ad_seconds:
            slower_steps.append(md_step)

    ad_score, md_score = ad_runs[0].scores, md_runs[0].scores
    print()
    print("cosmic rays against the truth (pixels covered by >= 3 exposures)")
    for threshold in CR_THRESHOLDS:
        n = md_score["n_injected"][threshold]
        print(f"  recall, deposits > {threshold:>5.0f} e-   {ad_score['recall'][threshold]:>8.2%}"
              f"{md_score['recall'][threshold]:>10.2%}   (n = {n}; missed "
              f"{round((1 - ad_score['recall'][threshold]) * n)} / "
              f"{round((1 - md_score['recall'][threshold]) * n)})")
    for threshold in CR_THRESHOLDS:
        n = md_score["usable_n_injected"][threshold]
        print(f"  same, usable pixels > {threshold:>4.0f}  "
              f"{ad_score['usable_recall'][threshold]:>8.2%}"
              f"{md_score['usable_recall'][threshold]:>10.2%}   (n = {n}; missed "
              f"{round((1 - ad_score['usable_recall'][threshold]) * n)} / "
              f"{round((1 - md_score['usable_recall'][threshold]) * n)})")
    print("  (usable: good DQ and not a bad-dark pixel, the pixels the final drizzle uses;\n"
          "   multidrizzle does not test the others, whose flag changes nothing)")
    print(f"  flagged pixels            {ad_score['n_flagged']:>10,}{md_score['n_flagged']:>10,}")
    print(f"  flagged, not a CR         {ad_score['not_cosmic_ray_fraction']:>10.2%}"
          f"{md_score['not_cosmic_ray_fraction']:>10.2%}   (share of flagged pixels)")
    print(f"    of which bad-dark pixels{ad_score['n_on_bad_dark']:>10,}"
          f"{md_score['n_on_bad_dark']:>10,}")
    print(f"  false positives, clean    {ad_score['false_positive_fraction']:>10.4%}"
          f"{md_score['false_positive_fraction']:>10.4%}   (share of clean good pixels)")
    print()
    print("isolated bright stars (> 100 e-/s), aperture r = 10 px, error vs truth")
    for label, key in (("AstroDrizzle", ad_score), ("multidrizzle", md_score)):
        errors = key["star_errors"]
        print(f"  {label:<14}all {len(errors)}: mean {errors.mean():+.3%}, "
              f"rms {errors.std():.3%}, max |err| {np.abs(errors).max():.2%}")
        for extver, chip_errors in key["star_errors_by_chip"].items():
            print(f"  {'':<14}SCI,{extver} ({len(chip_errors)}): mean {chip_errors.mean():+.3%} "
                  f"+/- {chip_errors.std() / np.sqrt(len(chip_errors)):.3%}, "
                  f"rms {chip_errors.std():.3%}, max |err| {np.abs(chip_errors).max():.2%}")

    print()
    print("error plane in blank sky: variance of SCI (5-sigma clipped) vs mean ERR^2")
    for label, key in (("AstroDrizzle", ad_score), ("multidrizzle", md_score)):
        check = key["error_plane"]
        if check is None:
            print(f"  {label:<14}no ERR extension")
            continue
        print(f"  {label:<14}{check['n_pixels']:,} pixels: measured "
              f"{check['measured_variance']:.4g}, propagated "
              f"{check['propagated_variance']:.4g}, measured/propagated "
              f"{check['ratio']:.3f}; std((SCI - median) / ERR) {check['normalised_std']:.3f}")

    print()
    print("targets")
    error_plane = md_score["error_plane"]
    targets = [
        (f"wall time <= 1/8 of AstroDrizzle's (num_cores={num_cores})",
         md_wall * 8 <= ad_wall, f"{ad_wall / md_wall:.1f}x"),
        ("faster at every step", not slower_steps,
         "all faster" if not slower_steps else "slower: " + ", ".join(slower_steps)),
        # the whole process tree: with num_cores > 1 AstroDrizzle works in forked
        # children that its main process's RSS does not show
        ("peak memory no higher (process-tree PSS)", md_pss <= ad_pss,
         f"{_mib(md_pss)} vs {_mib(ad_pss)} (main-process RSS {_mib(md_rss)} vs "
         f"{_mib(ad_rss)})"),
        ("CR recall >= AstroDrizzle's at every threshold",
         all(md_score["recall"][t] >= ad_score["recall"][t] for t in CR_THRESHOLDS),
         ", ".join(f">{t:.0f}: {md_score['recall'][t]:.2%} vs {ad_score['recall'][t]:.2%}"
                   for t in CR_THRESHOLDS)
         + "; on usable pixels: " + ("met" if all(
             md_score["usable_recall"][t] >= ad_score["usable_recall"][t]
             for t in CR_THRESHOLDS) else "not met: " + ", ".join(
             f">{t:.0f}: missed {round((1 - md_score['usable_recall'][t]) * n)} vs "
             f"{round((1 - ad_score['usable_recall'][t]) * n)}"
             for t in CR_THRESHOLDS
             for n in [md_score["usable_n_injected"][t]]
             if md_score["usable_recall"][t] < ad_score["usable_recall"][t]))),
        ("fewer false positives (flagged pixels that are not CRs)",
         md_score["n_not_ray"] < ad_score["n_not_ray"],
         f"{md_score['n_not_ray']:,} vs {ad_score['n_not_ray']:,}"),
        ("bright-star photometry within 0.5% on both chips: per-chip mean",
         len(md_score["star_errors_by_chip"]) == 2
         and all(abs(e.mean()) < 0.005 for e in md_score["star_errors_by_chip"].values()),
         ", ".join(f"SCI,{v}: {e.mean():+.3%}"
                   for v, e in md_score["star_errors_by_chip"].items())),
        ("bright-star photometry within 0.5% on both chips: every star",
         len(md_score["star_errors_by_chip"]) == 2
         and all(np.abs(e).max() < 0.005 for e in md_score["star_errors_by_chip"].values()),
         ", ".join(f"SCI,{v}: max {np.abs(e).max():.2%} (AstroDrizzle "
                   f"{np.abs(ad_score['star_errors_by_chip'][v]).max():.2%})"
                   for v, e in md_score["star_errors_by_chip"].items())),
    ]
    targets.append(("ERR matches the blank-sky scatter within 5%",
                    error_plane is not None and abs(error_plane["ratio"] - 1.0) <= 0.05,
                    "no ERR" if error_plane is None else
                    f"measured/propagated variance {error_plane['ratio']:.3f}"))
    for text, met, detail in targets:
        print(f"  [{'met' if met else 'NOT met'}] {text}: {detail}")


def report_medians(runs: dict[str, list[Run]]) -> None:
    """Median wall times, and the medians of the per-round ratios (whole run and
    per step) of the alternating runs."""
    pairs = list(zip(runs["astrodrizzle"], runs["multidrizzle"]))
    print()
    print(f"medians over {len(pairs)} alternating round(s) (ratio = AstroDrizzle / "
          f"multidrizzle, median of the per-round ratios)")
    ad_wall = [ad.result["wall_seconds"] for ad, _ in pairs]
    md_wall = [md.result["wall_seconds"] for _, md in pairs]
    ratios = [a / m for a, m in zip(ad_wall, md_wall)]
    print(f"{'':<34}{'AstroDrizzle':>14}{'multidrizzle':>14}{'ratio':>9}")
    print(f"  {'wall time (s)':<32}{np.median(ad_wall):>14.2f}{np.median(md_wall):>14.2f}"
          f"{np.median(ratios):>8.2f}x   (rounds: "
          + ", ".join(f"{r:.2f}" for r in ratios) + ")")
    for ad_step, md_step in STEP_PAIRS:
        ad_seconds = [ad.result["steps"].get(ad_step, float("nan")) for ad, _ in pairs]
        md_seconds = [md.result["steps"].get(md_step, float("nan")) for _, md in pairs]
        step_ratios = [a / max(m, 1e-9) for a, m in zip(ad_seconds, md_seconds)]
        print(f"  {ad_step + ' / ' + md_step:<32}{np.median(ad_seconds):>14.2f}"
              f"{np.median(md_seconds):>14.2f}{np.median(step_ratios):>8.2f}x")


def report_profile(profile_file: Path, top: int = 25) -> None:
    """The ``top`` functions of a cProfile run by cumulative and by own time."""
    for order, label in (("cumulative", "cumulative time"), ("tottime", "own time")):
        text = io.StringIO()
        stats = pstats.Stats(str(profile_file), stream=text)
        stats.sort_stats(order).print_stats(top)
        print()
        print(f"profile of multidrizzle ({profile_file}): top {top} by {label}")
        # pstats prints a preamble (file, totals, sort key) before the table
        lines = text.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        totals = [line.strip() for line in lines[:start] if "function calls" in line]
        for line in totals + lines[start:]:
            if line.strip():
                print(line)


# ---------------------------------------------------------------------------


def _warm_up(folder: Path, num_cores: int) -> None:
    """Fill the numba cache outside the timings (a cold cache compiles for seconds)."""
    from multidrizzle.demo.datasets import make_demo_dataset

    data = folder / "warmup_data"
    if not (data / "inputs.lst").exists():
        make_demo_dataset(data, n_exposures=4, chip_shape=(128, 256), seed=1, overwrite=True)
    inputs = sorted(data.glob("*_flc.fits"))
    run_pipeline("multidrizzle", inputs, folder / "warmup_run", num_cores)


def _dataset(folder: Path, n_exposures: int, chip_shape: tuple[int, int],
             camera: str = "wfc3_uvis", distortion: str = "sip", seed: int = 0):
    from astropy.io import fits

    from multidrizzle.demo.datasets import load_demo_truth, make_demo_dataset

    listing = folder / "inputs.lst"
    if listing.exists():
        truth = load_demo_truth(folder)
        with fits.open(truth.input_files[0]) as hdul:
            shape = hdul["SCI", 1].data.shape
        written_seed = fits.getval(truth.truth_file, "SEED")
        if (len(truth.input_files) == n_exposures and tuple(shape) == tuple(chip_shape)
                and (truth.camera, truth.distortion, written_seed)
                == (camera, distortion, seed)):
            print(f"reusing demo data in {folder}")
            return truth
    started = time.perf_counter()
    make_demo_dataset(folder, n_exposures=n_exposures, chip_shape=chip_shape, seed=seed,
                      camera=camera, distortion=distortion, overwrite=True)
    print(f"demo data written to {folder} in {time.perf_counter() - started:.1f} s")
    return load_demo_truth(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-cores", type=int, default=2)
    parser.add_argument("--n-exposures", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each pipeline (alternating); the best and the "
                             "median times, the median ratio and per-step median ratios "
                             "are shown")
    parser.add_argument("--chip-shape", type=int, nargs=2, default=None, metavar=("NY", "NX"),
                        help="chip size (default: full WFC3/UVIS, 2051 4096)")
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "multidrizzle_bench_pipeline")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--camera", default="wfc3_uvis", help="demo camera: wfc3_uvis or acs_wfc")
    parser.add_argument("--distortion", default="sip",
                        help="demo distortion: sip or npol_d2im (lookup tables)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo data")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="another parameter for both pipelines (repeatable)")
    parser.add_argument("--reuse-astrodrizzle", action="store_true",
                        help="reuse a kept AstroDrizzle run of the same data and parameters")
    parser.add_argument("--profile", action="store_true",
                        help="after the timed runs, run multidrizzle once more under cProfile "
                             "and print its top 25 functions by cumulative and by own time")
    # child mode (internal)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--parameters", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("inputs", nargs="*", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        return run_multidrizzle_child(arguments)

    from multidrizzle.demo.datasets import CAMERAS, DISTORTIONS, FULL_CHIP_SHAPES

    if arguments.camera not in CAMERAS or arguments.distortion not in DISTORTIONS:
        parser.error(f"--camera must be one of {CAMERAS}, --distortion one of {DISTORTIONS}")
    extra = {}
    for setting in arguments.set:
        name, _, value = setting.partition("=")
        try:
            extra[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            extra[name.strip()] = value
    full_shape = FULL_CHIP_SHAPES[arguments.camera]
    chip_shape = tuple(arguments.chip_shape) if arguments.chip_shape else full_shape
    folder = arguments.folder
    data_folder = folder / (f"data_{arguments.camera}_{arguments.distortion}_s{arguments.seed}_"
                            f"{arguments.n_exposures}x{chip_shape[0]}x{chip_shape[1]}")
    truth = _dataset(data_folder, arguments.n_exposures, chip_shape, arguments.camera,
                     arguments.distortion, arguments.seed)
    _warm_up(folder, arguments.num_cores)

    runs: dict[str, list[Run]] = {"astrodrizzle": [], "multidrizzle": []}
    order = ("astrodrizzle", "multidrizzle")
    for repeat in range(arguments.repeat):
        for pipeline in (order if repeat % 2 == 0 else order[::-1]):
            workdir = folder / f"run_{pipeline}_{repeat}"
            run = run_pipeline(pipeline, truth.input_files, workdir, arguments.num_cores,
                               extra, reuse=(arguments.reuse_astrodrizzle
                                             and pipeline == "astrodrizzle"))
            runs[pipeline].append(run)
            print(f"{pipeline:>13} run {repeat + 1}: {run.result['wall_seconds']:.2f} s wall, "
                  f"peak RSS {_mib(run.result['maxrss_self_bytes'])}, "
                  f"tree PSS {_mib(run.tree_pss_bytes)}", flush=True)
    profile_file = None
    if arguments.profile:
        profile_file = folder / "multidrizzle.prof"
        profiled = run_pipeline("multidrizzle", truth.input_files, folder / "run_profiled",
                                arguments.num_cores, extra, profile_out=profile_file)
        print(f" multidrizzle under cProfile: {profiled.result['wall_seconds']:.2f} s wall "
              f"(not counted)", flush=True)
        shutil.rmtree(profiled.workdir, ignore_errors=True)

    # timings first: they do not depend on the scoring below
    report_medians(runs)
    if profile_file is not None:
        report_profile(profile_file)
    coverage = chip_coverage(truth, runs["multidrizzle"][0].workdir, extra)
    good = good_dq(truth)
    chip_of_star = _first_exposure_chip_of_stars(truth)
    output_shapes = {}
    for pipeline, run_list in runs.items():
        run_list[0].scores = score(run_list[0], truth, coverage, good, chip_of_star)
        output_shapes[pipeline] = list(final_product(run_list[0])[0].shape)
    report(runs, arguments.num_cores, arguments.n_exposures, chip_shape, output_shapes)
    summary_row(f"{arguments.camera} {arguments.distortion} seed {arguments.seed} "
                f"{arguments.n_exposures}x{chip_shape[0]}x{chip_shape[1]}"
                + "".join(f" {s}" for s in arguments.set),
                runs["astrodrizzle"][0].scores, runs["multidrizzle"][0].scores)

    if not arguments.keep:
        for run_list in runs.values():
            for run in run_list:
                shutil.rmtree(run.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
