"""The same run on Dask: a LocalCluster, a scheduler and workers started apart, a worker
killed mid-run; products bit-identical to the local run (needs the 'dask' extra)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

distributed = pytest.importorskip("distributed")

from multidrizzle import Multidrizzle  # noqa: E402
from multidrizzle.demo.datasets import make_demo_dataset  # noqa: E402
from multidrizzle.errors import ParameterError  # noqa: E402

from support.sessions import product_digests  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask_demo")
    make_demo_dataset(folder, n_exposures=3, chip_shape=(64, 128), seed=4)
    return folder


def _session(demo: Path, output: Path, **parameters) -> Multidrizzle:
    parameters.setdefault("tile_size", 48)
    md = Multidrizzle(f"@{demo / 'inputs.lst'}", output=str(output / "final"), runfile="",
                      verbose=False, **parameters)
    md.build()
    return md


@pytest.fixture(scope="module")
def local_digests(demo, tmp_path_factory):
    md = _session(demo, tmp_path_factory.mktemp("local"))
    md.run()
    return product_digests(md)


def test_local_cluster_gives_the_local_products(demo, tmp_path, local_digests):
    md = _session(demo, tmp_path, scheduler="dask", num_cores=2)
    md.run()
    assert product_digests(md) == local_digests


def test_in_memory_is_refused_on_dask(demo, tmp_path):
    md = _session(demo, tmp_path, scheduler="dask", in_memory=True)
    with pytest.raises(ParameterError, match="in_memory"):
        md.run()


def _start(arguments: list[str], environment: dict) -> subprocess.Popen:
    return subprocess.Popen(arguments, env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture
def separate_cluster(tmp_path):
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    dask = shutil.which("dask") or str(Path(sys.executable).parent / "dask")
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [
                       str(Path(__file__).resolve().parents[1]),
                       os.environ.get("PYTHONPATH", "")]))}
    scheduler_file = tmp_path / "scheduler.json"
    processes = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                        environment)]
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [_start([dask, "worker", "--scheduler-file", str(scheduler_file), "--nthreads",
                       "1", "--host", "127.0.0.1", "--no-dashboard", "--nanny"], environment)
               for _ in range(2)]
    processes += workers
    client = distributed.Client(scheduler_file=str(scheduler_file), timeout=60)
    client.wait_for_workers(2, timeout=120)
    try:
        yield client, workers
    finally:
        client.close()
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_scheduler_and_workers_started_apart(demo, tmp_path, local_digests, separate_cluster):
    client, _ = separate_cluster
    md = _session(demo, tmp_path, scheduler=client.scheduler.address)
    md.run()
    assert product_digests(md) == local_digests


def test_a_worker_killed_mid_run_changes_nothing(demo, tmp_path, local_digests,
                                                 separate_cluster):
    client, workers = separate_cluster
    md = _session(demo, tmp_path, tile_size=16)
    killed = threading.Event()

    def kill_when_the_median_starts() -> None:
        # the separate drizzles are written: the run is under way on both workers
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed.is_set():
            if list(tmp_path.glob("*_single_sci.fits")):
                os.killpg(workers[0].pid, signal.SIGKILL)
                killed.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_when_the_median_starts, daemon=True)
    watcher.start()
    md.run(client=client)
    watcher.join(timeout=5)
    assert killed.is_set()
    assert product_digests(md) == local_digests


def test_command_line_scheduler_dask_gives_the_local_products(demo, tmp_path, local_digests):
    result = subprocess.run(
        [sys.executable, "-m", "multidrizzle", f"@{demo / 'inputs.lst'}", "--output",
         str(tmp_path / "final"), "--scheduler", "dask", "--num_cores", "2",
         "--tile_size", "48", "--runfile", "", "--quiet"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with fits.open(next(tmp_path.glob("final_dr?.fits"))) as product:
        for name in ("sci", "wht"):
            values = np.ascontiguousarray(product[name.upper()].data, dtype=np.float32)
            assert hashlib.sha256(values.tobytes()).hexdigest() == local_digests[name]
