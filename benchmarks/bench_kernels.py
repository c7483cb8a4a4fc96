"""Time the numba drizzle kernels and blot interpolants against drizzle 3.x.

One full WFC3/UVIS chip (4096 x 2051, SIP and lookup-table distortion from
the real header in tests/data) onto a north-up frame of
0.0396"/px just large enough to hold it (about 4727 x 3637).  The pixel map
is computed once with astropy (``all_pix2world`` then ``wcs_world2pix``) and
cached as a .npy file in the temporary directory.

For each drizzle kernel: our time with one numba thread and with all
threads, drizzle's C time (single-threaded) and the ratios.  For each blot
interpolant: the same with ``multidrizzle.kernels.blot.blot_image`` against
``drizzle.resample.blot_image``, resampling a frame-sized image back onto the
chip.  For both, the single-thread runs of ours and drizzle's alternate, so
that a load on the machine weighs on both.  Rows ``<interpolant>/cm`` time
our blot given the map by its nodes every ``--coarse-step`` pixels (a
``CoarsePixelMap``, evaluated row by row in the kernel, as the pipeline
does) against drizzle given the dense map (0: no such rows).  Times are the best of ``--repeat``
runs (wall clock), after one untimed call that compiles or loads the numba
cache.  Drizzle's output arrays are allocated and touched before timing;
blot's outputs are allocated by both implementations inside the timed call.

    python benchmarks/bench_kernels.py [--kernels square turbo ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numba
import numpy as np

HEADER = Path(__file__).resolve().parents[1] / "tests" / "data" / "wfc3_uvis_ib4606c6q_flc.fits"
CHIP_SHAPE = (2051, 4096)
FRAME_SCALE_ARCSEC = 0.0396
DRIZZLE_KERNELS = ["square", "point", "turbo", "gaussian", "lanczos3", "tophat"]
BLOT_INTERPOLANTS = ["nearest", "linear", "poly3", "poly5", "sinc"]


def chip_pixel_map(cache_dir: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """Pixel map of the whole chip onto a north-up frame, and the frame shape (cached)."""
    cache = cache_dir / "multidrizzle_bench_kernels_uvis_pixmap.npz"
    if cache.exists():
        stored = np.load(cache)
        return stored["pixmap"], tuple(int(n) for n in stored["frame_shape"])
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(HEADER) as hdul:
        chip = WCS(hdul["SCI", 1].header, fobj=hdul)
    n_rows, n_cols = CHIP_SHAPE
    corner_x = np.array([-0.5, n_cols - 0.5, n_cols - 0.5, -0.5])
    corner_y = np.array([-0.5, -0.5, n_rows - 0.5, n_rows - 0.5])
    centre = chip.all_pix2world([(n_cols - 1) / 2], [(n_rows - 1) / 2], 0)
    frame = WCS(naxis=2)
    frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    frame.wcs.crval = [float(centre[0][0]), float(centre[1][0])]
    scale = FRAME_SCALE_ARCSEC / 3600.0
    frame.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    frame.wcs.crpix = [1.0, 1.0]
    x, y = frame.wcs_world2pix(*chip.all_pix2world(corner_x, corner_y, 0), 0)
    margin = 1.5
    frame.wcs.crpix = [1.0 - x.min() + margin, 1.0 - y.min() + margin]
    frame_shape = (int(np.ceil(y.max() - y.min() + 2 * margin)),
                   int(np.ceil(x.max() - x.min() + 2 * margin)))
    rows, cols = np.indices(CHIP_SHAPE, dtype=np.float64)
    x_out, y_out = frame.wcs_world2pix(*chip.all_pix2world(cols, rows, 0), 0)
    pixmap = np.dstack([x_out, y_out])
    np.savez(cache, pixmap=pixmap, frame_shape=np.array(frame_shape))
    return pixmap, frame_shape


def best_time(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def drizzle_outputs(frame_shape):
    """Touched (not lazily mapped) zero outputs: page faults are nobody's kernel time."""
    return (np.full(frame_shape, 0.0, dtype=np.float32),
            np.full(frame_shape, 0.0, dtype=np.float32),
            np.full((1, *frame_shape), 0, dtype=np.int32))


def time_drizzle_kernel(kernel, data, pixmap, frame_shape, repeat, n_threads):
    """Our drizzle on one thread and on all, and drizzle's, alternating with ours on
    one thread; each call gets new touched outputs, made before its clock starts."""
    from drizzle.resample import Drizzle

    from multidrizzle.kernels.drizzle import drizzle_add_image

    def ours(outputs):
        sci, wht, ctx = outputs
        drizzle_add_image(data, pixmap, sci, wht, ctx, kernel=kernel)

    def theirs(outputs):
        sci, wht, ctx = outputs
        driz = Drizzle(kernel=kernel, out_img=sci, out_wht=wht, out_ctx=ctx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "not a flux-conserving kernel"
            driz.add_image(data, exptime=1.0, pixmap=pixmap)

    def timed(run) -> float:
        outputs = drizzle_outputs(frame_shape)
        started = time.perf_counter()
        run(outputs)
        return time.perf_counter() - started

    ours(drizzle_outputs(frame_shape))  # compile or load the cache
    runs = {"1 thread": ours}
    if kernel in ("square", "point", "turbo", "gaussian", "lanczos3"):
        runs["drizzle"] = theirs
    times = dict.fromkeys(runs, float("inf"))
    numba.set_num_threads(1)
    for _ in range(repeat):
        for label, run in runs.items():
            times[label] = min(times[label], timed(run))
    numba.set_num_threads(n_threads)
    times["all threads"] = min(timed(ours) for _ in range(repeat))
    return times


def coarse_map(pixmap: np.ndarray, step: int):
    """The chip's map given by its values at nodes every ``step`` pixels (the last
    node row and column repeat the map's edge), as a CoarsePixelMap."""
    from multidrizzle.kernels.pixmap import coarse_pixel_map

    n_rows, n_cols = pixmap.shape[:2]
    node_rows = np.minimum(np.arange(0, n_rows + step, step), n_rows - 1)
    node_cols = np.minimum(np.arange(0, n_cols + step, step), n_cols - 1)
    nodes = pixmap[node_rows][:, node_cols]
    return coarse_pixel_map(nodes, (0.0, 0.0), float(step), (n_rows, n_cols))


def time_blot(interp, image, pixmap, repeat, n_threads, ours_map=None):
    """Our blot on one thread and on all, and drizzle's, alternating with ours on
    one thread.  ``ours_map`` is the map ours is given (default ``pixmap``)."""
    from drizzle.resample import blot_image as drizzle_blot

    from multidrizzle.kernels import blot

    ours_map = pixmap if ours_map is None else ours_map

    def ours():
        blot.blot_image(image, ours_map, interp=interp, sinscl=1.0, scale=1.0, fillval=0.0)

    def theirs():
        drizzle_blot(image, pixmap, interp=interp, fillval=0.0)

    ours()
    times = {}
    numba.set_num_threads(1)
    runs = {"1 thread": ours}
    if interp != "sinc":  # drizzle 3.x dropped sinc
        runs["drizzle"] = theirs
    for label, run in runs.items():
        times[label] = float("inf")
    for _ in range(repeat):
        for label, run in runs.items():
            times[label] = min(times[label], best_time(run, 1))
    numba.set_num_threads(n_threads)
    times["all threads"] = best_time(ours, repeat)
    return times


def report(name, times, n_pixels, n_threads):
    mpix = n_pixels / 1e6
    one = times["1 thread"]
    many = times["all threads"]
    ref = times.get("drizzle")
    ref_text = f"{ref:8.3f} {mpix / ref:7.1f}" if ref else f"{'n/a':>8} {'':>7}"
    ratio_text = (f"{ref / one:7.2f} {ref / many:7.2f}" if ref else f"{'':>7} {'':>7}")
    print(f"{name:10} {one:8.3f} {mpix / one:7.1f} {many:8.3f} {mpix / many:7.1f} "
          f"{one / many:6.2f} {ref_text} {ratio_text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernels", nargs="+", default=DRIZZLE_KERNELS + BLOT_INTERPOLANTS,
                        help="drizzle kernels and/or blot interpolants to time")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (best kept)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--coarse-step", type=int, default=10,
                        help="node spacing of the coarse-map rows (<interpolant>/cm); 0: none")
    arguments = parser.parse_args()

    pixmap, frame_shape = chip_pixel_map(arguments.cache_dir)
    rng = np.random.default_rng(0)
    data = rng.normal(10.0, 2.0, CHIP_SHAPE).astype(np.float32)
    n_threads = numba.config.NUMBA_NUM_THREADS
    print(f"chip {CHIP_SHAPE[1]} x {CHIP_SHAPE[0]} onto frame {frame_shape[1]} x "
          f"{frame_shape[0]}; numba threads: 1 and {n_threads}; drizzle 3.x C is "
          f"single-threaded")
    print(f"{'':10} {'ours, 1 thread':>16} {'ours, all threads':>16} {'scale':>6} "
          f"{'drizzle 3.x':>16} {'speed-up vs C':>15}")
    print(f"{'kernel':10} {'s':>8} {'Mpix/s':>7} {'s':>8} {'Mpix/s':>7} {'':6} "
          f"{'s':>8} {'Mpix/s':>7} {'1 thr':>7} {'all':>7}")
    n_pixels = data.size
    blot_image_data = None
    for name in arguments.kernels:
        if name in DRIZZLE_KERNELS:
            times = time_drizzle_kernel(name, data, pixmap, frame_shape, arguments.repeat,
                                        n_threads)
        elif name in BLOT_INTERPOLANTS:
            try:
                import multidrizzle.kernels.blot  # noqa: F401
            except ImportError as error:
                print(f"{name:10} skipped: multidrizzle.kernels.blot unavailable ({error})")
                continue
            if blot_image_data is None:
                blot_image_data = rng.normal(10.0, 2.0, frame_shape).astype(np.float32)
            times = time_blot(name, blot_image_data, pixmap, arguments.repeat, n_threads)
            if arguments.coarse_step > 0:
                report(name, times, n_pixels, n_threads)
                name = f"{name}/cm"
                times = time_blot(name[:-3], blot_image_data, pixmap, arguments.repeat,
                                  n_threads, coarse_map(pixmap, arguments.coarse_step))
        else:
            print(f"{name:10} unknown kernel or interpolant")
            continue
        report(name, times, n_pixels, n_threads)


if __name__ == "__main__":
    main()
