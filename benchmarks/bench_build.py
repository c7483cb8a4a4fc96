"""Time ``Multidrizzle.build()`` on full-size demo exposures.

Prints the build time (wall, and the CPU time of this process, steadier on
a shared machine), and how the pixel-map time splits between the WCS
evaluation on the ``stepsize`` nodes (inside build) and the numba bilinear
fill of the dense maps (done on demand by the drizzle steps), for each
stepsize asked, ``--repeat`` times.

    python benchmarks/bench_build.py [--n-exposures 4] [--folder DIR] [--stepsize 10 1]
        [--chip-shape NY NX] [--pointings P] [--repeat N]

A mosaic of many small exposures (build() is then mostly reading headers and
making WCSs), as ``bench_mosaic.py`` makes it::

    python benchmarks/bench_build.py --n-exposures 200 --pointings 6 \
        --chip-shape 256 512 --folder /tmp/mosaic_200 --repeat 3

An existing ``inputs.lst`` in ``--folder`` is reused as it is.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numba

from multidrizzle.demo import datasets
from multidrizzle.session import Multidrizzle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-exposures", type=int, default=4)
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "multidrizzle_bench_full")
    parser.add_argument("--stepsize", type=int, nargs="+", default=[10])
    parser.add_argument("--chip-shape", type=int, nargs=2, default=datasets.FULL_CHIP_SHAPE)
    parser.add_argument("--pointings", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    arguments = parser.parse_args()
    listing = arguments.folder / "inputs.lst"
    if not listing.exists():
        started = time.perf_counter()
        datasets.make_demo_dataset(arguments.folder, n_exposures=arguments.n_exposures,
                                   chip_shape=tuple(arguments.chip_shape),
                                   pointings=arguments.pointings)
        print(f"demo data written in {time.perf_counter() - started:.1f} s")
    print(f"threads: {numba.get_num_threads()}")
    # compile the fill kernel outside the timings (cache=True makes this cheap later)
    warm = Multidrizzle(f"@{listing}")
    warm.build()
    next(iter(warm.pixel_maps.values())).evaluate()
    print(f"{'stepsize':>8} {'build s':>8} {'CPU s':>7} {'WCS s':>7} {'fill s':>7} "
          f"{'chips':>6} {'output':>12}")
    for stepsize in [size for size in arguments.stepsize for _ in range(arguments.repeat)]:
        session = Multidrizzle(f"@{listing}", stepsize=stepsize)
        cpu_started = time.process_time()
        summary = session.build()
        cpu_seconds = time.process_time() - cpu_started
        started = time.perf_counter()
        for pixel_map in session.pixel_maps.values():
            pixel_map.evaluate()
        fill_seconds = time.perf_counter() - started
        shape = f"{summary.output_shape[1]}x{summary.output_shape[0]}"
        print(f"{stepsize:>8} {summary.seconds:>8.2f} {cpu_seconds:>7.2f} "
              f"{summary.pixel_map_wcs_seconds:>7.2f} {fill_seconds:>7.2f} "
              f"{summary.n_chips:>6} {shape:>12}")


if __name__ == "__main__":
    main()
