"""Every kernel must work when a new process loads it from numba's cache.

Some combinations of ``cache=True`` and ``parallel=True`` compile and run
fine in the process that compiles them but crash when another process loads
them from the cache (numba issue 8578: a cached non-parallel function calling
a parallel one).  The suite itself runs in one process, so this test runs the
whole pipeline in-process (filling the cache) and then again in fresh
processes, with one thread and with two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from multidrizzle.demo.datasets import make_demo_dataset


SCRIPT = textwrap.dedent("""
    import sys
    from multidrizzle import Multidrizzle
    md = Multidrizzle(sys.argv[1], output=sys.argv[2], in_memory=True, runfile="",
                      final_kernel=sys.argv[3])
    md.build()
    md.run()
    print("finished", int(md.final_wht.sum() > 0))
""")


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    make_demo_dataset(folder, n_exposures=2, chip_shape=(64, 128), seed=3)
    return folder


@pytest.mark.parametrize("final_kernel", ["square", "turbo"])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_pipeline_runs_from_the_cache_in_a_new_process(small_set, tmp_path, final_kernel,
                                                       threads, demo_session):
    demo_session(small_set, tmp_path / "here", final_kernel=final_kernel).run()
    environment = dict(os.environ, NUMBA_NUM_THREADS=threads)
    finished = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"@{small_set / 'inputs.lst'}",
         str(tmp_path / "there" / "out"), final_kernel],
        capture_output=True, text=True, timeout=600, env=environment)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "finished 1" in finished.stdout
