"""multidrizzle against STScI's AstroDrizzle on a mosaic of many small exposures.

Generates (or reuses) a demo mosaic: ``--n-exposures`` WFC3/UVIS-like
exposures (default 200, two chips of 256 x 512 each) on a
``--pointings`` x ``--pointings`` grid of pointings (default 6 x 6, so 5
or 6 exposures deep), then runs AstroDrizzle (drizzlepac) and multidrizzle
on fresh copies, each in its own child process, with the same parameters
(AstroDrizzle's defaults, a multi-extension product)::

    python benchmarks/bench_mosaic.py [--n-exposures 200] [--pointings 6]
        [--chip-shape 256 512] [--num-cores 2] [--scheduler local|dask|tcp://...]
        [--memory-limit 1GB] [--scaling 50 100 200] [--skip-astrodrizzle]
        [--folder DIR] [--keep]

Prints, for both pipelines: wall time, peak memory (summed PSS of the
process tree, so Dask workers count), peak temporary disk (bytes under the
run folder other than the input copies and the final product, sampled every
0.2 s) and the ratios.  Then multidrizzle's time per input megapixel against
a 4-exposure field of the same chips (``bench_pipeline``'s demo, one
pointing), and with ``--scaling`` multidrizzle's peak memory on mosaics of
the same grid with fewer exposures (the spread should stay small: a task's
memory follows its tile, not the number of exposures).  The last lines
compare the figures with the targets of the mosaic issue.

The time is the wall time of the pipeline call in the child (session set-up,
``build()`` and ``run()`` for multidrizzle, including starting and stopping
a Dask cluster with ``--scheduler dask``; ``AstroDrizzle()`` for
AstroDrizzle), without interpreter start and imports.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_pipeline  # noqa: E402  (the run machinery is shared)
from bench_pipeline import Run, _mib, run_pipeline  # noqa: E402


def _dataset(folder: Path, n_exposures: int, pointings: int, chip_shape: tuple[int, int],
             seed: int) -> list[Path]:
    """The input files of a demo mosaic, written unless already there."""
    from astropy.io import fits

    from multidrizzle.demo.datasets import make_demo_dataset

    listing = folder / "inputs.lst"
    if listing.exists():
        names = listing.read_text().split()
        header = fits.getheader(folder / "truth.fits")
        if (len(names) == n_exposures and fits.getval(folder / names[0], "NAXIS1", ext=1)
                == chip_shape[1] and header["SEED"] == seed
                and fits.getval(folder / "truth.fits", "CHIPNY") == chip_shape[0]):
            print(f"reusing demo data in {folder}")
            return [folder / name for name in names]
    started = time.perf_counter()
    written = make_demo_dataset(folder, n_exposures=n_exposures, chip_shape=chip_shape,
                                seed=seed, pointings=pointings, overwrite=True)
    print(f"demo data ({n_exposures} exposures, {pointings} x {pointings} pointings) "
          f"written to {folder} in {time.perf_counter() - started:.0f} s", flush=True)
    return list(written.input_files)


def _input_mpix(inputs: list[Path]) -> float:
    from astropy.io import fits

    total = 0
    for path in inputs:
        with fits.open(path) as hdul:
            total += sum(hdu.data.size for hdu in hdul if hdu.name == "SCI")
    return total / 1e6


def _line(run: Run, label: str) -> None:
    print(f"{label:>30}: {run.result['wall_seconds']:8.1f} s wall, tree PSS "
          f"{_mib(run.tree_pss_bytes)} (anonymous {_mib(run.tree_anon_bytes)}), temporary "
          f"disk {_mib(run.temporary_disk_bytes)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-exposures", type=int, default=200)
    parser.add_argument("--pointings", type=int, default=6,
                        help="a pointings x pointings grid (default 6)")
    parser.add_argument("--chip-shape", type=int, nargs=2, default=(256, 512),
                        metavar=("NY", "NX"), help="chip size (default 256 512)")
    parser.add_argument("--num-cores", type=int, default=2)
    parser.add_argument("--scheduler", default="local",
                        help="multidrizzle's scheduler: local, dask or tcp://HOST:PORT")
    parser.add_argument("--memory-limit", default=None,
                        help="multidrizzle's memory_limit (default: its own default)")
    parser.add_argument("--scaling", type=int, nargs="*", default=[],
                        metavar="N", help="also run multidrizzle on N-exposure mosaics of "
                                          "the same grid and compare peak memory")
    parser.add_argument("--skip-astrodrizzle", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "multidrizzle_bench_mosaic")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    arguments = parser.parse_args(argv)

    chip_shape = tuple(arguments.chip_shape)
    folder = arguments.folder
    own = {"scheduler": arguments.scheduler}
    if arguments.memory_limit is not None:
        own["memory_limit"] = arguments.memory_limit
    shape_tag = f"{chip_shape[0]}x{chip_shape[1]}_s{arguments.seed}"
    inputs = _dataset(folder / f"mosaic_{arguments.n_exposures}_{arguments.pointings}_"
                      f"{shape_tag}", arguments.n_exposures, arguments.pointings, chip_shape,
                      arguments.seed)
    field_inputs = _dataset(folder / f"field_4_{shape_tag}", 4, 1, chip_shape, arguments.seed)
    bench_pipeline._warm_up(folder, arguments.num_cores)
    runs: list[Run] = []

    def run(pipeline: str, files: list[Path], name: str) -> Run:
        result = run_pipeline(pipeline, files, folder / f"run_{name}", arguments.num_cores,
                              own=own)
        runs.append(result)
        _line(result, name)
        return result

    ours = run("multidrizzle", inputs, f"multidrizzle_{arguments.n_exposures}")
    theirs = None if arguments.skip_astrodrizzle else run(
        "astrodrizzle", inputs, f"astrodrizzle_{arguments.n_exposures}")
    field = run("multidrizzle", field_inputs, "multidrizzle_field_4")
    scaling = {arguments.n_exposures: ours}
    for n in arguments.scaling:
        if n not in scaling:
            files = _dataset(folder / f"mosaic_{n}_{arguments.pointings}_{shape_tag}", n,
                             arguments.pointings, chip_shape, arguments.seed)
            scaling[n] = run("multidrizzle", files, f"multidrizzle_{n}")

    mosaic_mpix, field_mpix = _input_mpix(inputs), _input_mpix(field_inputs)
    input_bytes = ours.input_bytes
    print()
    print(f"mosaic: {arguments.n_exposures} exposures of 2 x {chip_shape[1]} x "
          f"{chip_shape[0]} on {arguments.pointings} x {arguments.pointings} pointings "
          f"({mosaic_mpix:.0f} Mpix, {input_bytes / 2**30:.2f} GiB in), output "
          f"{ours.result['output_shape'][1]} x {ours.result['output_shape'][0]}; "
          f"num_cores={arguments.num_cores}, scheduler={arguments.scheduler}")
    print("multidrizzle plan: " + ours.result["plan"].replace("\n", "; "))
    print()
    print(f"{'':<26}{'AstroDrizzle':>14}{'multidrizzle':>14}{'ratio':>9}")
    rows = [("wall time (s)", lambda r: r.result["wall_seconds"], lambda v: f"{v:.1f}"),
            ("peak memory (tree PSS)", lambda r: r.tree_pss_bytes, _mib),
            ("peak temporary disk", lambda r: r.temporary_disk_bytes, _mib)]
    for label, value, text in rows:
        mine = value(ours)
        other = value(theirs) if theirs else float("nan")
        print(f"{label:<26}{text(other) if theirs else '-':>14}{text(mine):>14}"
              f"{other / max(mine, 1e-9):>8.1f}x")
    print()
    per_mpix = ours.result["wall_seconds"] / mosaic_mpix
    field_per_mpix = field.result["wall_seconds"] / field_mpix
    print(f"multidrizzle seconds per input Mpix: mosaic {per_mpix:.3f}, 4-exposure field "
          f"{field_per_mpix:.3f} (ratio {per_mpix / field_per_mpix:.2f})")
    if len(scaling) > 1:
        print("multidrizzle peak memory by number of exposures: " + ", ".join(
            f"{n}: {_mib(r.tree_pss_bytes)} ({r.result['wall_seconds']:.0f} s)"
            for n, r in sorted(scaling.items())))
        anonymous = [r.tree_anon_bytes for r in scaling.values()]
        print("  of which anonymous (Pss_Anon: without shared libraries, whose share "
              "depends on the other processes of the machine): " + ", ".join(
                  f"{n}: {_mib(r.tree_anon_bytes)}" for n, r in sorted(scaling.items()))
              + f" (spread {max(anonymous) / max(min(anonymous), 1) - 1:.1%})")
    peaks = [r.tree_pss_bytes for r in scaling.values()]
    spread = max(peaks) / min(peaks) - 1
    print()
    print("targets")
    targets = [("wall time at most 1/10 of AstroDrizzle's",
                theirs is not None and ours.result["wall_seconds"] * 10
                <= theirs.result["wall_seconds"],
                "not run" if theirs is None else
                f"{theirs.result['wall_seconds'] / ours.result['wall_seconds']:.1f}x"),
               ("temporary disk at most twice the input",
                ours.temporary_disk_bytes <= 2 * input_bytes,
                f"{_mib(ours.temporary_disk_bytes)} vs input {_mib(input_bytes)}"),
               ("time per input Mpix within 1.5x of the 4-exposure field's",
                per_mpix <= 1.5 * field_per_mpix, f"{per_mpix / field_per_mpix:.2f}x")]
    if "memory_limit" in own:
        from multidrizzle.model.plan import parse_memory

        limit = parse_memory(own["memory_limit"])
        targets.append(("peak memory under memory_limit", ours.tree_pss_bytes <= limit,
                        f"{_mib(ours.tree_pss_bytes)} vs {_mib(limit)}"))
    if len(scaling) > 1:
        targets.append(("peak memory within 10% across exposure counts", spread <= 0.10,
                        f"spread {spread:.1%}"))
    for text, met, detail in targets:
        print(f"  [{'met' if met else 'NOT met'}] {text}: {detail}")
    if not arguments.keep:
        for finished in runs:
            shutil.rmtree(finished.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
