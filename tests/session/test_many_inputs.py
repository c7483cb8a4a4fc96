"""A mosaic of more inputs than the process may open files: no file stays open per input
(drizzlepac runs out of file handles on large sets, its issue #39).

The suite runs 100 inputs under a limit of 64 open files (the same property as
300 under 256, at a third of the time); ``MD_TEST_N_INPUTS=300
MD_TEST_FILE_LIMIT=256`` in the environment runs that case."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multidrizzle.demo.datasets import make_demo_dataset

pytestmark = pytest.mark.slow

N_INPUTS = int(os.environ.get("MD_TEST_N_INPUTS", 100))
FILE_LIMIT = int(os.environ.get("MD_TEST_FILE_LIMIT", 64))

_RUN_UNDER_LIMIT = """
import resource, sys
from pathlib import Path
import numpy as np
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))
inputs = sorted(Path(sys.argv[1]).glob("*_flc.fits"))
try:                     # the limit bites: the inputs cannot all be open at once
    handles = [open(path, "rb") for path in inputs]
    print("all inputs opened at once")
    sys.exit(3)
except OSError:
    pass
from multidrizzle import Multidrizzle
md = Multidrizzle(sys.argv[1] + "/*_flc.fits", output=sys.argv[2], verbose=False)
md.build()
md.run()
context = (np.asarray(md.final_ctx).astype(np.int64) & 0xFFFFFFFF).reshape(
    -1, *md.final_sci.shape)
used = sum(bool((context[plane] >> bit & 1).any())
           for plane in range(context.shape[0]) for bit in range(32))
print(len(inputs), used)
"""


def test_more_inputs_than_open_files_allowed(tmp_path):
    make_demo_dataset(tmp_path / "in", n_exposures=N_INPUTS, chip_shape=(64, 64), pointings=6)
    script = _RUN_UNDER_LIMIT.format(limit=FILE_LIMIT)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in"),
                             str(tmp_path / "out" / "final")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    n_inputs, n_in_context = map(int, result.stdout.split()[-2:])
    assert n_inputs == N_INPUTS and n_in_context == N_INPUTS
