"""Run STScI's AstroDrizzle once, in this process, and report what it did.

Used by ``benchmarks/bench_pipeline.py`` and ``tests/parity`` as a child
process, so that AstroDrizzle's logging set-up, its forked workers and its
memory stay out of the caller::

    python benchmarks/_astrodrizzle_runner.py --workdir DIR --output ad \
        --parameters '{"build": true}' --result result.json a_flc.fits b_flc.fits

AstroDrizzle writes into its inputs (MDRIZSKY, DQ cosmic-ray bits), so the
caller passes copies.  Everything (products, intermediates, the run log) is
written in ``--workdir``, which becomes the working directory.  The result
file (JSON) holds the wall time of the ``AstroDrizzle()`` call, the step
table parsed from its run log, and ``ru_maxrss`` of this process and of its
waited-for children (AstroDrizzle forks workers when ``num_cores > 1``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

#: AstroDrizzle's step names in its timing table, in order.
STEP_NAMES = ("Initialization", "Static Mask", "Subtract Sky", "Separate Drizzle",
              "Create Median", "Blot", "Driz_CR", "Final Drizzle")

_STEP_LINE = re.compile(r"^\s*(?:\[\w+\s*\])?\s*(?P<name>" + "|".join(
    re.escape(name) for name in STEP_NAMES + ("Total",)) + r")\s+(?P<seconds>[0-9.]+) sec")


def parse_step_table(log_text: str) -> dict[str, float]:
    """Seconds of each step from the timing table AstroDrizzle writes at the end.

    Only the last table in the text is kept (a run log may be appended to).
    """
    steps: dict[str, float] = {}
    for line in log_text.splitlines():
        match = _STEP_LINE.match(line)
        if match:
            if match["name"] == STEP_NAMES[0]:
                steps = {}
            steps[match["name"]] = float(match["seconds"])
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="input exposures (copies: they are changed)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--output", default="astrodrizzle")
    parser.add_argument("--parameters", default="{}",
                        help="AstroDrizzle parameters as a JSON object")
    parser.add_argument("--result", type=Path, required=True, help="JSON file to write")
    arguments = parser.parse_args(argv)

    parameters = json.loads(arguments.parameters)
    inputs = [str(Path(name).resolve()) for name in arguments.inputs]
    result_path = arguments.result.resolve()
    os.chdir(arguments.workdir)
    runfile = parameters.setdefault("runfile", "astrodrizzle.log")

    started = time.perf_counter()
    from drizzlepac import astrodrizzle  # noqa: E402  (import time reported apart)
    import_seconds = time.perf_counter() - started

    started = time.perf_counter()
    astrodrizzle.AstroDrizzle(inputs, output=arguments.output, **parameters)
    wall_seconds = time.perf_counter() - started

    log_path = Path(runfile)
    steps = parse_step_table(log_path.read_text(errors="replace")) if log_path.is_file() else {}
    import drizzlepac

    result = {
        "version": drizzlepac.__version__,
        "wall_seconds": wall_seconds,
        "import_seconds": import_seconds,
        "steps": steps,
        # ru_maxrss is in KiB on Linux
        "maxrss_self_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "maxrss_children_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "workdir": str(Path.cwd()),
        "parameters": parameters,
    }
    result_path.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
