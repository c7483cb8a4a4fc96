"""Compile the kernels a run needs before it starts: announced once, on two cores.

numba compiles each kernel the first time it is called and keeps the result
in its on-disk cache (``cache=True``), so only the first run after an
installation or an upgrade pays for it.  `prepare_kernels` makes that cost
visible and shorter:

1. For each *variant* the run needs (a compiled unit that one parameter
   choice selects: the square drizzle kernel with whole pixels, the poly5
   blot, minmed, ...), a call on tiny arrays with the dtypes the pipeline
   uses loads it from the cache (as the run would), or shows that it is
   not there: numba's compile event is stopped before any work.
2. When something must be compiled, one WARNING on the logger
   ``multidrizzle.kernels`` says so, with the time it should take, from the
   compile times measured for each variant (`KernelVariant.compile_seconds`).
3. The variants are compiled by calling them again.  Variants of different
   *families* share no compiled function, so a second process can compile
   some families while this one compiles the others: two cores, about half
   the wait.  numba's cache files are per function and written atomically;
   two processes never compile the same function here, so they never
   write the same index (two processes compiling one function with two
   different signatures could store one's code under the other's key).
   ``tests/kernels/test_warmup.py`` checks that families share no compiled
   function.  This process then loads the other process's kernels from the
   cache.

The variant a parameter selects is named by `drizzle_variant`,
`blot_variant`, `combine_variant` and `statistic_variants`; the session's
pipeline lists the variants of a run (``multidrizzle.session.pipeline``).
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from numba.core import event

from multidrizzle.kernels import blot, combine, cosmic_rays, drizzle, pixmap, statistics

__all__ = [
    "KERNEL_VARIANTS",
    "KernelVariant",
    "PreparedKernels",
    "blot_variant",
    "cold_variants",
    "combine_variant",
    "drizzle_variance_variant",
    "drizzle_variant",
    "prepare_kernels",
    "statistic_variants",
]

log = logging.getLogger("multidrizzle.kernels")

#: numba sets itself up at the first compilation in a process (measured
#: 0.44 s of CPU, ``python benchmarks/bench_cold_start.py --variants``).
FIRST_COMPILE_SECONDS = 0.45

#: Seconds before a second process starts compiling: starting Python and
#: importing numpy, numba and the kernels (measured 0.45 s) and numba's
#: set-up; counted against the work it is given.
SUBPROCESS_START_SECONDS = 0.45 + FIRST_COMPILE_SECONDS

#: Below this many seconds of compiling for the second process, starting it
#: costs more than it saves.
SUBPROCESS_MIN_SECONDS = 3.0


@dataclass(frozen=True)
class KernelVariant:
    """One separately compiled kernel variant.

    Attributes
    ----------
    name : str
        ``family/variant``, e.g. ``'drizzle-square/whole'``.
    family : str
        Variants of one family may share compiled helper functions and are
        compiled in one process; different families share none.
    warm_up : callable
        Calls the variant's public function on tiny arrays with the dtypes
        the pipeline passes, which compiles (or loads) exactly the numba
        functions a run with this variant calls.
    compile_seconds : float
        CPU seconds the variant took to compile alone on an empty cache
        (``python benchmarks/bench_cold_start.py --variants``, 2-core
        development machine, numba 0.68).
    """

    name: str
    family: str
    warm_up: Callable[[], object]
    compile_seconds: float


# --------------------------------------------------------------------------
# warm-up calls: tiny inputs of the pipeline's dtypes
# --------------------------------------------------------------------------

def _tiny_image(n_rows: int = 6, n_cols: int = 7) -> np.ndarray:
    return np.arange(n_rows * n_cols, dtype=np.float32).reshape(n_rows, n_cols) % 5


def _tiny_pixel_map(n_rows: int = 6, n_cols: int = 7, shift: float = 0.3) -> np.ndarray:
    rows, cols = np.indices((n_rows, n_cols), dtype=np.float64)
    return np.dstack([cols + shift, rows + shift])


def _drizzle_warm_up(kernel: str, pixfrac: float, variance: bool = False
                     ) -> Callable[[], object]:
    def warm_up():
        # As steps.drizzle calls it: float32 science, weights, variance and
        # outputs, float64 pixel map, an int32 context.
        science = _tiny_image()
        out_sci = np.zeros((8, 9), dtype=np.float32)
        out_wht = np.zeros_like(out_sci)
        return drizzle.drizzle_add_image(
            science, _tiny_pixel_map(), out_sci, out_wht, drizzle.new_context(1, out_sci.shape),
            weight_map=np.ones_like(science), kernel=kernel, pixfrac=pixfrac,
            in_units="counts", exptime=2.0, iscale=1.0, pixel_scale_ratio=1.0, fillval=None,
            variance=np.ones_like(science) if variance else None,
            out_var=np.zeros_like(out_sci) if variance else None)
    return warm_up


def _blot_warm_up(interp: str) -> Callable[[], object]:
    def warm_up():
        return blot.blot_image(_tiny_image(), _tiny_pixel_map(), interp=interp, sinscl=1.0,
                               scale=1.0, fillval=0.0)
    return warm_up


def _combine_warm_up(combine_type: str) -> Callable[[], object]:
    def warm_up():
        # As steps.median calls them: float32 bands, a bool mask.
        images = np.stack([_tiny_image() + k for k in range(3)])
        bad = np.zeros(images.shape, dtype=np.bool_)
        if combine_type == "minmed":
            return combine.minmed_combine(images, bad, np.ones_like(images),
                                          exptimes=[1.0] * 3, sky_electrons=[0.0] * 3,
                                          read_noises=[1.0] * 3, grow=1)
        return combine.median_combine(images, bad, nlow=0, nhigh=1)
    return warm_up


def _flag_warm_up() -> object:
    # As steps.cosmic_rays calls it: float32 data and model, per-pixel
    # float32 model variance (from the median's input counts).
    science = _tiny_image()
    return cosmic_rays.flag_cosmic_rays(
        science, science + np.float32(1.0), np.ones(science.shape, dtype=np.bool_),
        to_electrons=1.0, read_noise=1.0, sky=0.0, snr=(3.5, 3.0), scale=(1.2, 0.7),
        model_variance=np.full(science.shape, 0.5, dtype=np.float32))


def _grow_warm_up(grow: int, ctegrow: int) -> Callable[[], object]:
    def warm_up():
        mask = np.zeros((6, 7), dtype=np.bool_)
        mask[3, 3] = True
        return cosmic_rays.grow_cosmic_rays(mask, grow=grow, ctegrow=ctegrow,
                                            cte_direction=1 if ctegrow else 0)
    return warm_up


def _sky_values() -> np.ndarray:
    # As steps.sky and steps.static_mask pass them: float32 pixel values.
    return (np.arange(200, dtype=np.float32) % 17) + np.float32(100.0)


def _moments_warm_up() -> object:
    return statistics.clipped_moments(_sky_values(), nclip=2)


def _mode_warm_up() -> object:
    return statistics.histogram_mode(_sky_values(), 100.0, 116.0, 0.5)


def _median_warm_up() -> object:
    return statistics.window_median(_sky_values(), 100.0, 116.0)


def _pixmap_warm_up(shifted: bool) -> Callable[[], object]:
    def warm_up():
        # A shift of x along rows (or of y along columns) takes the general path.
        return pixmap.interpolate_pixel_map(_tiny_pixel_map(3, 4), (0.0, 0.0), 2.0, (5, 6),
                                            dx_of_row=np.full(5, 0.1) if shifted else None)
    return warm_up


def _variants() -> dict[str, KernelVariant]:
    # compile_seconds: see KernelVariant; measured with
    # python benchmarks/bench_cold_start.py --variants
    table = [
        ("drizzle-square/whole", _drizzle_warm_up("square", 1.0), 8.6),
        ("drizzle-square/shrunk", _drizzle_warm_up("square", 0.8), 8.0),
        ("drizzle-centred/point", _drizzle_warm_up("point", 1.0), 2.5),
        ("drizzle-centred/turbo", _drizzle_warm_up("turbo", 1.0), 2.8),
        ("drizzle-centred/tophat", _drizzle_warm_up("tophat", 1.0), 2.6),
        ("drizzle-centred/gaussian", _drizzle_warm_up("gaussian", 1.0), 5.4),
        ("drizzle-centred/lanczos2", _drizzle_warm_up("lanczos2", 1.0), 5.2),
        ("drizzle-centred/lanczos3", _drizzle_warm_up("lanczos3", 1.0), 5.2),
        # The variance passes (final_err), with the main pass of a kernel of
        # their family.
        ("drizzle-square/variance", _drizzle_warm_up("square", 1.0, variance=True), 9.7),
        ("drizzle-centred/variance", _drizzle_warm_up("point", 1.0, variance=True), 7.1),
        ("blot/nearest", _blot_warm_up("nearest"), 2.8),
        ("blot/linear", _blot_warm_up("linear"), 3.5),
        ("blot/poly3", _blot_warm_up("poly3"), 3.4),
        ("blot/poly5", _blot_warm_up("poly5"), 3.5),
        ("blot/sinc", _blot_warm_up("sinc"), 3.4),
        ("combine/median", _combine_warm_up("median"), 1.1),
        ("combine/minmed", _combine_warm_up("minmed"), 1.8),
        ("cosmic_rays/flag", _flag_warm_up, 3.6),
        ("cosmic_rays/grow", _grow_warm_up(3, 0), 0.7),
        ("cosmic_rays/tails", _grow_warm_up(1, 2), 0.3),
        ("statistics/moments", _moments_warm_up, 0.5),
        ("statistics/mode", _mode_warm_up, 0.5),
        ("statistics/median", _median_warm_up, 0.8),
        ("pixmap/axes", _pixmap_warm_up(False), 1.1),
        ("pixmap/shifted", _pixmap_warm_up(True), 0.8),
    ]
    return {name: KernelVariant(name, name.split("/")[0], warm_up, seconds)
            for name, warm_up, seconds in table}


#: Every kernel variant, by name.
KERNEL_VARIANTS: dict[str, KernelVariant] = _variants()


# --------------------------------------------------------------------------
# which variant a parameter selects
# --------------------------------------------------------------------------

def drizzle_variance_variant(kernel: str) -> str:
    """Variant of the variance pass of `drizzle.drizzle_add_image` for a kernel."""
    return "drizzle-square/variance" if kernel == "square" else "drizzle-centred/variance"


def drizzle_variant(kernel: str, pixfrac: float) -> str:
    """Variant of `drizzle.drizzle_add_image` for a kernel and pixfrac (as the step passes them)."""
    if kernel == "square":
        return "drizzle-square/whole" if pixfrac == 1.0 else "drizzle-square/shrunk"
    return f"drizzle-centred/{kernel}"


def blot_variant(interp: str) -> str:
    """Variant of `blot.blot_image` for an interpolant."""
    return f"blot/{interp.strip().lower()}"


def combine_variant(combine_type: str) -> str:
    """Variant of the combine kernels for an AstroDrizzle ``combine_type``."""
    base = combine_type[1:] if combine_type.startswith("i") else combine_type
    return "combine/minmed" if base == "minmed" else "combine/median"


def statistic_variants(statistic: str) -> list[str]:
    """Variants `statistics.clipped_statistic` uses for one statistic."""
    extra = {"median": ["statistics/median"], "mode": ["statistics/mode"]}
    return ["statistics/moments", *extra.get(statistic, [])]


# --------------------------------------------------------------------------
# finding what is not compiled yet
# --------------------------------------------------------------------------

class _NotCached(Exception):
    """Raised from numba's compile event: the function is not in the cache."""


class _StopCompiling(event.Listener):
    """Stops every compilation of a multidrizzle kernel before it starts."""

    def on_start(self, ev: event.Event) -> None:
        dispatcher = ev.data["dispatcher"]
        if getattr(dispatcher.py_func, "__module__", "").startswith("multidrizzle."):
            raise _NotCached(dispatcher.py_func.__qualname__)

    def on_end(self, ev: event.Event) -> None:
        pass


def cold_variants(names: Iterable[str]) -> list[str]:
    """The variants among ``names`` that are neither loaded nor in numba's cache.

    Those in the cache are loaded (as their first call would); nothing is
    compiled.

    Raises
    ------
    KeyError
        For a name not in `KERNEL_VARIANTS`.
    """
    variants = [KERNEL_VARIANTS[name] for name in dict.fromkeys(names)]
    cold = []
    with event.install_listener("numba:compile", _StopCompiling()):
        for variant in variants:
            try:
                variant.warm_up()
            except _NotCached:
                cold.append(variant.name)
    return cold


# --------------------------------------------------------------------------
# compiling
# --------------------------------------------------------------------------

def _split_families(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Variants for this process and for a second one: whole families, balanced.

    Largest family first to the side that is done sooner; the second
    process starts late by `SUBPROCESS_START_SECONDS`.
    """
    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(KERNEL_VARIANTS[name].family, []).append(name)

    def seconds(members: list[str]) -> float:
        return sum(KERNEL_VARIANTS[name].compile_seconds for name in members)

    here: list[str] = []
    there: list[str] = []
    load_here, load_there = 0.0, SUBPROCESS_START_SECONDS
    for members in sorted(families.values(), key=seconds, reverse=True):
        if load_here <= load_there:
            here += members
            load_here += seconds(members)
        else:
            there += members
            load_there += seconds(members)
    return here, there


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _start_compiler_process(names: Sequence[str]) -> subprocess.Popen | None:
    """A second Python process that compiles ``names`` into numba's cache."""
    if not names or not sys.executable:
        return None
    package_root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    # The same multidrizzle as this process, whatever sys.path the child gets.
    environment["PYTHONPATH"] = os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        return subprocess.Popen([sys.executable, "-m", "multidrizzle.kernels.warmup", *names],
                                env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    except OSError as error:
        log.warning("could not start a second process to compile kernels (%s); "
                    "compiling them here", error)
        return None


def _estimated_seconds(here: Sequence[str], there: Sequence[str]) -> float:
    """Wall seconds of compiling ``here`` in this process and ``there`` in another."""
    load_here = FIRST_COMPILE_SECONDS + sum(KERNEL_VARIANTS[name].compile_seconds
                                            for name in here)
    if not there:
        return load_here
    load_there = sum(KERNEL_VARIANTS[name].compile_seconds for name in there)
    return max(load_here, SUBPROCESS_START_SECONDS + load_there)


@dataclass(frozen=True)
class PreparedKernels:
    """What `prepare_kernels` did.

    Attributes
    ----------
    compiled : tuple of str
        Variants compiled (in this process or the second one).
    in_second_process : tuple of str
        Those the second process compiled.
    estimated_seconds, seconds : float
        The announced and the actual wall time of the compilation (0 when
        nothing was compiled).
    """

    compiled: tuple[str, ...]
    in_second_process: tuple[str, ...]
    estimated_seconds: float
    seconds: float


def prepare_kernels(names: Iterable[str], *, processes: int = 2) -> PreparedKernels:
    """Load or compile the kernel variants ``names`` now, announcing a compilation.

    Parameters
    ----------
    names : iterable of str
        Keys of `KERNEL_VARIANTS` (see `drizzle_variant` and the others).
    processes : int, optional
        1 compiles everything in this process; 2 (default) lets a second
        process compile some families at the same time when the machine has
        two cores to spare for it and it saves time.

    Returns
    -------
    PreparedKernels

    Notes
    -----
    Logs one WARNING on ``multidrizzle.kernels`` before compiling, only
    when something is not in numba's cache: "compiling the pixel kernels
    (first run only, about N s)".  N is the measured compile time of the
    variants to compile (`KernelVariant.compile_seconds`), split over the
    two processes.  If the second process fails, a WARNING says so and its
    variants are compiled here.
    """
    cold = cold_variants(names)
    if not cold:
        return PreparedKernels((), (), 0.0, 0.0)
    here, there = list(cold), []
    if processes >= 2 and _usable_cores() >= 2:
        here, there = _split_families(cold)
        if sum(KERNEL_VARIANTS[name].compile_seconds for name in there) < SUBPROCESS_MIN_SECONDS:
            here, there = list(cold), []
    estimate = _estimated_seconds(here, there)
    log.warning("compiling the pixel kernels (first run only, about %d s)",
                max(1, math.ceil(estimate)))
    started = time.perf_counter()
    helper = _start_compiler_process(there)
    if helper is None:
        here, there = list(cold), []
    try:
        for name in here:
            KERNEL_VARIANTS[name].warm_up()
        output = helper.communicate()[0] if helper is not None else ""
    except BaseException:
        if helper is not None:  # interrupted: leave no process behind
            helper.kill()
            helper.wait()
        raise
    if helper is not None and helper.returncode != 0:
        log.warning("the second kernel-compiling process failed (exit code %s); "
                    "compiling its kernels here:\n%s", helper.returncode,
                    output.strip()[-2000:])
    # Loads what the other process put in the cache (or compiles it).
    for name in there:
        KERNEL_VARIANTS[name].warm_up()
    seconds = time.perf_counter() - started
    log.info("compiled %d kernel variant(s) in %.1f s (%s)", len(cold), seconds,
             ", ".join(cold))
    return PreparedKernels(tuple(cold), tuple(there), estimate, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """Compile the variants named on the command line (the second process)."""
    names = list(sys.argv[1:] if argv is None else argv)
    unknown = [name for name in names if name not in KERNEL_VARIANTS]
    if unknown:
        print(f"unknown kernel variant(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in names:
        KERNEL_VARIANTS[name].warm_up()
    return 0


if __name__ == "__main__":
    sys.exit(main())
