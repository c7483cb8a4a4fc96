"""Compiling the kernels before a run: lazily, announced, on two processes.

The subprocess tests give numba an empty cache folder (``NUMBA_CACHE_DIR``)
and use the cheapest kernel variants, so that what they compile costs a
few seconds.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

from multidrizzle.kernels import blot, combine, cosmic_rays, drizzle, pixmap, statistics, warmup
from multidrizzle.kernels.blot import BLOT_INTERPOLANTS
from multidrizzle.kernels.drizzle import DRIZZLE_KERNELS
from multidrizzle.kernels.statistics import SKY_STATISTICS

REPOSITORY = Path(__file__).resolve().parents[2]
NOTICE = "compiling the pixel kernels (first run only, about"


def run_python(script: str, cache: Path, *args: str) -> subprocess.CompletedProcess:
    """``script`` in a new interpreter whose numba cache is ``cache``."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])])
    finished = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                              capture_output=True, text=True, timeout=600, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished


LOGGING = """
    import logging, sys
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger("multidrizzle").addHandler(handler)
    logging.getLogger("multidrizzle").setLevel(logging.INFO)
"""


# --------------------------------------------------------------- the registry

def test_every_parameter_choice_has_a_variant():
    for kernel, pixfrac in itertools.product(DRIZZLE_KERNELS, (1.0, 0.5)):
        assert warmup.drizzle_variant(kernel, pixfrac) in warmup.KERNEL_VARIANTS
    assert warmup.drizzle_variant("square", 1.0) != warmup.drizzle_variant("square", 0.5)
    for interp in BLOT_INTERPOLANTS:
        assert warmup.blot_variant(interp) in warmup.KERNEL_VARIANTS
    for combine_type in ("median", "mean", "minmed", "imedian", "imean", "iminmed"):
        assert warmup.combine_variant(combine_type) in warmup.KERNEL_VARIANTS
    for statistic in SKY_STATISTICS:
        assert set(warmup.statistic_variants(statistic)) <= set(warmup.KERNEL_VARIANTS)
    assert all(variant.compile_seconds > 0 for variant in warmup.KERNEL_VARIANTS.values())


def _compiled_functions(entry: object, seen: set | None = None) -> set[str]:
    """numba functions compiled on their own when ``entry`` runs (static call graph).

    Follows the global names of Python functions and numba functions of the
    kernels package; ``inline="always"`` functions are compiled into their
    callers, not on their own, so they are followed but not counted.
    """
    seen = set() if seen is None else seen
    found: set[str] = set()
    if id(entry) in seen:
        return found
    seen.add(id(entry))
    if isinstance(entry, CPUDispatcher):
        if entry.targetoptions.get("inline", "never") != "always":
            found.add(f"{entry.py_func.__module__}.{entry.py_func.__qualname__}")
        function = entry.py_func
    elif isinstance(entry, types.FunctionType):
        function = entry
    elif isinstance(entry, dict):
        for value in entry.values():
            found |= _compiled_functions(value, seen)
        return found
    else:
        return found
    if not function.__module__.startswith("multidrizzle.kernels"):
        return found
    codes = [function.__code__]
    while codes:
        code = codes.pop()
        codes += [const for const in code.co_consts if isinstance(const, types.CodeType)]
        for name in code.co_names:
            if name in function.__globals__:
                found |= _compiled_functions(function.__globals__[name], seen)
    return found


def test_families_share_no_compiled_function():
    # Two processes may compile two families at once: they must never write
    # the cache files of one function (see multidrizzle.kernels.warmup).
    entries = {
        "drizzle-square": [drizzle._drizzle_square],
        "drizzle-centred": [drizzle._drizzle_centred],
        "blot": [blot.blot_image],
        "combine": [combine.median_combine, combine.mean_combine, combine.minmed_combine],
        "cosmic_rays": [cosmic_rays.flag_cosmic_rays, cosmic_rays.grow_cosmic_rays,
                        cosmic_rays.blot_derivative],
        "statistics": [statistics.clipped_statistic, statistics.clipped_moments,
                       statistics.histogram_mode, statistics.window_median],
        "pixmap": [pixmap.interpolate_pixel_map],
    }
    assert set(entries) == {variant.family for variant in warmup.KERNEL_VARIANTS.values()}
    compiled = {family: set().union(*(_compiled_functions(entry) for entry in functions))
                for family, functions in entries.items()}
    assert "multidrizzle.kernels.drizzle._square_bands_shared" in compiled["drizzle-square"]
    assert "multidrizzle.kernels._geometry.fill_corners" in compiled["drizzle-square"]
    assert "multidrizzle.kernels._parallel.part_range" not in compiled["blot"]  # inline
    for first, second in itertools.combinations(compiled, 2):
        assert not compiled[first] & compiled[second], (first, second)


def test_split_keeps_families_whole_and_balances_them():
    names = ["statistics/moments", "statistics/median", "drizzle-centred/turbo",
             "drizzle-centred/point", "combine/minmed", "blot/poly5", "blot/nearest",
             "cosmic_rays/flag", "drizzle-square/whole"]
    here, there = warmup._split_families(names)
    assert sorted(here + there) == sorted(names)
    for family_members in (here, there):
        other = there if family_members is here else here
        families = {warmup.KERNEL_VARIANTS[name].family for name in family_members}
        assert not families & {warmup.KERNEL_VARIANTS[name].family for name in other}
    estimate = warmup._estimated_seconds(here, there)
    serial = warmup._estimated_seconds(names, [])
    assert estimate < 0.7 * serial


# ----------------------------------------------- lazily, and said when it happens

def test_a_kernel_compiles_alone(tmp_path):
    # A run with the point kernel compiles none of the other drizzle kernels.
    finished = run_python("""
        from multidrizzle.kernels import drizzle, warmup
        warmup.KERNEL_VARIANTS["drizzle-centred/point"].warm_up()
        for name in ("_point_bands", "_turbo_bands", "_tophat_bands", "_separable_bands",
                     "_square_bands_shared", "_square_bands_separate", "_square_reach_part"):
            print(name, len(getattr(drizzle, name).signatures))
    """, tmp_path / "cache")
    counts = dict(line.split() for line in finished.stdout.splitlines())
    assert counts.pop("_point_bands") == "1"
    assert set(counts.values()) == {"0"}, counts
    cached = {path.name.split("-")[0] for path in (tmp_path / "cache").rglob("*.nbi")}
    assert "drizzle._point_bands" in cached
    assert not {"drizzle._turbo_bands", "drizzle._separable_bands",
                "drizzle._square_bands_shared", "_geometry.fill_corners"} & cached


def test_notice_only_when_the_cache_is_cold(tmp_path):
    script = textwrap.dedent(LOGGING) + textwrap.dedent("""
        from multidrizzle.kernels import warmup
        first = warmup.prepare_kernels(["pixmap/shifted"])
        again = warmup.prepare_kernels(["pixmap/shifted"])
        print(first.compiled, again.compiled, first.estimated_seconds)
    """)
    cold = run_python(script, tmp_path / "cache")
    assert cold.stderr.count(NOTICE) == 1, cold.stderr
    expected = warmup.FIRST_COMPILE_SECONDS + warmup.KERNEL_VARIANTS[
        "pixmap/shifted"].compile_seconds
    assert f"{NOTICE} {max(1, int(-(-expected // 1)))} s)" in cold.stderr
    assert cold.stdout.split()[:2] == ["('pixmap/shifted',)", "()"]
    warm = run_python(script, tmp_path / "cache")  # a new process, the cache filled
    assert NOTICE not in warm.stderr, warm.stderr
    assert warm.stdout.split()[:2] == ["()", "()"]


def test_second_process_fills_the_cache_for_this_one(tmp_path):
    # Two small families; the thresholds lowered so that the second process is used.
    script = textwrap.dedent(LOGGING) + textwrap.dedent("""
        from multidrizzle.kernels import cosmic_rays, pixmap, warmup
        warmup.SUBPROCESS_MIN_SECONDS = warmup.SUBPROCESS_START_SECONDS = 0.0
        prepared = warmup.prepare_kernels(["pixmap/shifted", "cosmic_rays/tails"])
        print(",".join(prepared.compiled), ",".join(prepared.in_second_process))
        # Entry function of each variant: loaded from the cache (a hit) or
        # compiled here after a miss.
        for function in (pixmap._interpolate_separable, cosmic_rays._add_tails):
            stats = function.stats
            print(function.__name__, sum(stats.cache_hits.values()),
                  sum(stats.cache_misses.values()))
    """)
    finished = run_python(script, tmp_path / "cache")
    lines = finished.stdout.splitlines()
    compiled, second = lines[0].split()
    assert sorted(compiled.split(",")) == ["cosmic_rays/tails", "pixmap/shifted"]
    assert second in ("cosmic_rays/tails", "pixmap/shifted")
    hits = {name: int(hit) for name, hit, _ in (line.split() for line in lines[1:])}
    loaded = "_add_tails" if second == "cosmic_rays/tails" else "_interpolate_separable"
    compiled_here = "_interpolate_separable" if loaded == "_add_tails" else "_add_tails"
    # The other process's variant was loaded from the cache, not compiled again.
    assert hits == {loaded: 1, compiled_here: 0}, finished.stdout
    assert "failed" not in finished.stderr
    check = run_python("""
        from multidrizzle.kernels import warmup
        print(warmup.cold_variants(["pixmap/shifted", "cosmic_rays/tails"]))
    """, tmp_path / "cache")
    assert check.stdout.strip() == "[]"


def test_a_failed_second_process_is_reported_and_its_kernels_compiled_here(tmp_path):
    script = textwrap.dedent(LOGGING) + textwrap.dedent("""
        import shutil
        from multidrizzle.kernels import warmup
        warmup.SUBPROCESS_MIN_SECONDS = warmup.SUBPROCESS_START_SECONDS = 0.0
        warmup.sys.executable = shutil.which("false")  # a "Python" that fails at once
        prepared = warmup.prepare_kernels(["pixmap/shifted", "cosmic_rays/tails"])
        print(len(prepared.in_second_process), warmup.cold_variants(prepared.compiled))
    """)
    finished = run_python(script, tmp_path / "cache")
    assert finished.stdout.split() == ["1", "[]"]
    assert "the second kernel-compiling process failed (exit code 1)" in finished.stderr


def test_unknown_variant_is_refused():
    with pytest.raises(KeyError):
        warmup.cold_variants(["drizzle-centred/bilinear"])
    assert warmup.main(["drizzle-centred/bilinear"]) == 2


# -------------------------------------------------- the run needs nothing more

def test_a_run_compiles_nothing_its_preparation_did_not(tmp_path):
    # Every numba function a run calls was loaded (or compiled) by the
    # preparation: the warm-up calls use the pipeline's dtypes.  The shared
    # cache is used (filled by the other tests or by this one).
    finished = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        from numba.core.registry import CPUDispatcher
        from multidrizzle.demo.datasets import make_demo_dataset
        from multidrizzle.kernels import (_geometry, blot, combine, cosmic_rays, drizzle,
                                          pixmap, statistics)
        from multidrizzle.session import pipeline
        sys.path.insert(0, sys.argv[2])
        from support.sessions import build_demo_session as demo_session

        def signatures():
            return {(module.__name__, name): len(obj.signatures)
                    for module in (_geometry, blot, combine, cosmic_rays, drizzle, pixmap,
                                   statistics)
                    for name, obj in vars(module).items() if isinstance(obj, CPUDispatcher)}

        folder = sys.argv[1]
        make_demo_dataset(folder, n_exposures=2, chip_shape=(64, 128), seed=5)
        from pathlib import Path
        folder = Path(folder)
        configurations = [{}, {"final_kernel": "lanczos3", "driz_sep_kernel": "square",
                               "driz_sep_pixfrac": 0.7, "combine_type": "imedian",
                               "blot_interp": "sinc", "driz_cr_grow": 3,
                               "driz_cr_ctegrow": 2, "skystat": "mode"}]
        for index, parameters in enumerate(configurations):
            md = demo_session(folder, folder / f"out{index}", **parameters)
            steps = list(pipeline.DEFAULT_STEPS)
            variants = pipeline.kernel_variants(md, steps)
            pipeline.prepare_kernels(md, steps)
            before = signatures()
            md.run()
            added = {key: count for key, count in signatures().items()
                     if count != before[key]}
            print(index, variants, added)
            assert not added, added
    """), str(tmp_path / "demo"), str(REPOSITORY / "tests")],
        capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])])))
    assert finished.returncode == 0, finished.stdout + finished.stderr[-3000:]
    assert "drizzle-centred/lanczos3" in finished.stdout
    assert "cosmic_rays/tails" in finished.stdout


def test_kernel_variants_of_a_session(tmp_path, demo_session):
    from multidrizzle.demo.datasets import make_demo_dataset
    from multidrizzle.session import pipeline

    make_demo_dataset(tmp_path, n_exposures=2, chip_shape=(64, 128), seed=1)
    md = demo_session(tmp_path, tmp_path / "out", final_kernel="gaussian", final_pixfrac=0.8,
                      combine_type="median", skystat="mean", driz_cr_grow=1)
    everything = pipeline.kernel_variants(md, pipeline.DEFAULT_STEPS)
    assert "drizzle-centred/gaussian" in everything and "combine/median" in everything
    assert "statistics/median" not in everything  # skystat mean: moments only
    assert "cosmic_rays/grow" not in everything
    assert not any(name.startswith("drizzle-square") for name in everything)
    assert pipeline.kernel_variants(md, ["median"]) == ["combine/median"]
    md.final_pixfrac = 0.0005  # AstroDrizzle's switch to the point kernel
    assert "drizzle-centred/point" in pipeline.kernel_variants(md, ["driz_combine"])
    with pytest.warns(DeprecationWarning):
        md.replace_step("median", lambda session: None)
    assert pipeline.prepare_kernels(md, ["median"]).compiled == ()
