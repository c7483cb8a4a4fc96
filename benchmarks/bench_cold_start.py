"""Time the demo's first run (empty numba cache) against its second run.

Each repeat makes a new, empty numba cache folder (``NUMBA_CACHE_DIR``), runs
``multidrizzle demo -q`` in a new process (cold: every kernel the run needs is
compiled), then again with the same cache in another new process and a new
data folder (warm: the kernels load from the cache).  For both it records
the wall time and the CPU time (user + system) of the process, so that a
run slowed by other work on the machine can be told apart from a run that
does more work (on Linux a process's CPU time includes the children it
waited for: the second compiling process).  The difference cold - warm is
the cost of compiling.

Then one more cold run, in-process this time and without the second
compiling process, lists every numba function compiled (numba's
``numba:compile`` events): the time inside its own compilation excluding the
functions it compiled along the way (self), and including them (total), wall
and thread CPU.  Functions inlined into their callers (``inline="always"``)
are compiled as part of the caller.

    python benchmarks/bench_cold_start.py [--repeat 3] [--n-exposures 4] [--no-table]
    python benchmarks/bench_cold_start.py --table-only
    python benchmarks/bench_cold_start.py --variants [--repeat 2]

``--variants`` compiles each kernel variant of
``multidrizzle.kernels.warmup`` alone on an empty cache: the figures of
``KernelVariant.compile_seconds``, and a check that no function is compiled
by two families (the condition for compiling families in two processes).

The process environment is kept except for ``NUMBA_CACHE_DIR``; set
``NUMBA_NUM_THREADS`` to compare thread counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]

# Runs the demo in this process with a listener on numba's compile events and
# prints one JSON line per compiled function.
_TABLE_SCRIPT = r"""
import json, sys, time
from numba.core import event

compiled = []
stack = []

class Listener(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), time.thread_time(), 0.0, 0.0])

    def on_end(self, ev):
        wall0, cpu0, child_wall, child_cpu = stack.pop()
        wall = time.perf_counter() - wall0
        cpu = time.thread_time() - cpu0
        if stack:
            stack[-1][2] += wall
            stack[-1][3] += cpu
        if getattr(ev, "_exc_details", None) is not None:
            return  # stopped by the cache probe of multidrizzle.kernels.warmup
        dispatcher = ev.data["dispatcher"]
        compiled.append({
            "function": f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}",
            "signature": ", ".join(str(arg) for arg in ev.data["args"]),
            "total_wall": wall, "total_cpu": cpu,
            "self_wall": wall - child_wall, "self_cpu": cpu - child_cpu,
            "nested": len(stack) > 0,
        })

event.register("numba:compile", Listener())
from multidrizzle.kernels import warmup
warmup.SUBPROCESS_MIN_SECONDS = float("inf")  # every compilation in this process, listed
from multidrizzle.session.cli import main
started = time.perf_counter()
main(["demo", "-q", "--folder", sys.argv[1], "--n-exposures", sys.argv[2]])
print("RESULT " + json.dumps({"run_wall": time.perf_counter() - started,
                              "compiled": compiled}))
"""


# Compiles one kernel variant (multidrizzle.kernels.warmup) on an empty cache
# and prints its CPU time and the multidrizzle functions numba compiled.
_VARIANT_SCRIPT = r"""
import json, sys, time
from numba.core import event
compiled = set()

class Listener(event.Listener):
    def on_start(self, ev):
        function = ev.data["dispatcher"].py_func
        if function.__module__.startswith("multidrizzle."):
            compiled.add(f"{function.__module__}.{function.__qualname__}")

    def on_end(self, ev):
        pass

from multidrizzle.kernels.warmup import KERNEL_VARIANTS
# numba's first compilation in a process sets numba itself up (about half a
# second): paid here, once, so that it is not counted in the variant.
from numba import njit
started_cpu = time.process_time()
njit(lambda x: x + 1)(1)
first_compile_cpu = time.process_time() - started_cpu
event.register("numba:compile", Listener())
started_cpu, started = time.process_time(), time.perf_counter()
KERNEL_VARIANTS[sys.argv[1]].warm_up()
print("RESULT " + json.dumps({"cpu": time.process_time() - started_cpu,
                              "wall": time.perf_counter() - started,
                              "first_compile_cpu": first_compile_cpu,
                              "compiled": sorted(compiled)}))
"""


def _environment(cache: Path) -> dict[str, str]:
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    # The checkout's code, whatever is installed in the environment.
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])])
    return environment


def _run_child(command: list[str], environment: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command`` to completion; wall, CPU seconds and its output."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    # Read the output before reaping so that a full pipe cannot block the child;
    # os.wait4 then gives this child's own resource usage.
    output = process.stdout.read().decode(errors="replace")
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n"
                         f"{output[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, output


def demo_command(folder: Path, n_exposures: int) -> list[str]:
    return [sys.executable, "-c", "import sys; from multidrizzle.session.cli import main; "
            "sys.exit(main(sys.argv[1:]))", "demo", "-q", "--folder", str(folder),
            "--n-exposures", str(n_exposures)]


def cold_and_warm(repeat: int, n_exposures: int, scratch: Path) -> list[dict[str, float]]:
    """``repeat`` pairs of (cold, warm) demo runs, each pair with its own empty cache."""
    runs = []
    for index in range(repeat):
        cache = scratch / f"cache{index}"
        cache.mkdir()
        environment = _environment(cache)
        cold_wall, cold_cpu, _ = _run_child(
            demo_command(scratch / f"cold{index}", n_exposures), environment)
        warm_wall, warm_cpu, _ = _run_child(
            demo_command(scratch / f"warm{index}", n_exposures), environment)
        runs.append({"cold_wall": cold_wall, "cold_cpu": cold_cpu,
                     "warm_wall": warm_wall, "warm_cpu": warm_cpu})
        print(f"  repeat {index + 1}: cold {cold_wall:6.1f} s wall {cold_cpu:6.1f} s CPU, "
              f"warm {warm_wall:5.1f} s wall {warm_cpu:5.1f} s CPU, "
              f"cold - warm {cold_wall - warm_wall:5.1f} s wall", flush=True)
    return runs


def compile_table(n_exposures: int, scratch: Path) -> dict:
    """Compile events of one cold in-process demo run."""
    cache = scratch / "cache_table"
    cache.mkdir()
    _, _, output = _run_child([sys.executable, "-c", _TABLE_SCRIPT, str(scratch / "table"),
                               str(n_exposures)], _environment(cache))
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def variant_table(scratch: Path, repeat: int) -> dict[str, dict]:
    """Compile time of every kernel variant alone (best CPU of ``repeat``, empty caches)."""
    from multidrizzle.kernels.warmup import KERNEL_VARIANTS

    results = {}
    for name in KERNEL_VARIANTS:
        best = None
        for index in range(repeat):
            cache = scratch / f"cache_{name.replace('/', '_')}_{index}"
            cache.mkdir()
            _, _, output = _run_child([sys.executable, "-c", _VARIANT_SCRIPT, name],
                                      _environment(cache))
            line = next(line for line in output.splitlines() if line.startswith("RESULT "))
            result = json.loads(line[len("RESULT "):])
            if best is None or result["cpu"] < best["cpu"]:
                best = result
        results[name] = best
        print(f"  {name:28} {best['cpu']:6.2f} s CPU {best['wall']:6.2f} s wall, "
              f"{len(best['compiled'])} functions", flush=True)
    first = min(result["first_compile_cpu"] for result in results.values())
    print(f"  (not counted above: numba's first compilation in a process, "
          f"{first:.2f} s CPU)")
    families: dict[str, set[str]] = {}
    for name, result in results.items():
        families.setdefault(name.split("/")[0], set()).update(result["compiled"])
    shared = {f"{a} & {b}": sorted(families[a] & families[b])
              for a in families for b in families if a < b and families[a] & families[b]}
    print("  functions compiled by two families: "
          + (json.dumps(shared) if shared else "none"))
    return results


def print_summary(runs: list[dict[str, float]]) -> None:
    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    print(f"\nmedian of {len(runs)} repeat(s)        wall     CPU (user+sys)")
    print(f"  cold (empty cache)        {median('cold_wall'):6.1f} s  {median('cold_cpu'):6.1f} s")
    print(f"  warm (cache filled)       {median('warm_wall'):6.1f} s  {median('warm_cpu'):6.1f} s")
    differences_wall = [run["cold_wall"] - run["warm_wall"] for run in runs]
    differences_cpu = [run["cold_cpu"] - run["warm_cpu"] for run in runs]
    print(f"  cold - warm               {statistics.median(differences_wall):6.1f} s  "
          f"{statistics.median(differences_cpu):6.1f} s")


def print_table(table: dict) -> None:
    compiled = sorted(table["compiled"], key=lambda entry: -entry["self_cpu"])
    print(f"\nfunctions compiled by one cold in-process demo run "
          f"({table['run_wall']:.1f} s wall for the run)")
    print(f"  {'function':<52} {'self wall':>9} {'self CPU':>9} {'total':>7}  signature")
    for entry in compiled:
        name = entry["function"].replace("multidrizzle.kernels.", "")
        marker = " " if entry["nested"] else "*"
        print(f" {marker}{name:<52} {entry['self_wall']:8.2f}s {entry['self_cpu']:8.2f}s "
              f"{entry['total_wall']:6.2f}s  ({entry['signature'][:90]})")
    top = [entry for entry in compiled if not entry["nested"]]
    print(f"  * called from Python.  {len(compiled)} compilations, "
          f"{sum(entry['self_wall'] for entry in compiled):.1f} s wall, "
          f"{sum(entry['self_cpu'] for entry in compiled):.1f} s CPU in all; "
          f"{len(top)} entry points")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="cold/warm pairs, each with a new empty cache (default 3)")
    parser.add_argument("--n-exposures", type=int, default=4,
                        help="demo exposures (default 4, the demo's default)")
    parser.add_argument("--no-table", action="store_true",
                        help="skip the per-function compile table")
    parser.add_argument("--table-only", action="store_true",
                        help="only the per-function compile table")
    parser.add_argument("--variants", action="store_true",
                        help="only the compile time of each kernel variant alone "
                             "(multidrizzle.kernels.warmup), best of --repeat")
    parser.add_argument("--json", type=Path, help="also write all figures to this file")
    arguments = parser.parse_args(argv)

    figures: dict = {"numba_num_threads": os.environ.get("NUMBA_NUM_THREADS", "default"),
                     "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="multidrizzle_cold_") as scratch_name:
        scratch = Path(scratch_name)
        if arguments.variants:
            print("kernel variants compiled alone on an empty cache:", flush=True)
            figures["variants"] = variant_table(scratch, arguments.repeat)
        elif not arguments.table_only:
            print(f"demo ({arguments.n_exposures} exposures), cold then warm, "
                  f"{arguments.repeat} repeat(s):", flush=True)
            runs = cold_and_warm(arguments.repeat, arguments.n_exposures, scratch)
            print_summary(runs)
            figures["runs"] = runs
        if not (arguments.no_table or arguments.variants):
            table = compile_table(arguments.n_exposures, scratch)
            print_table(table)
            figures["table"] = table
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
