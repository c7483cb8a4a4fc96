"""Executors: where the tasks of a run execute, one seam for all of them.

A run's plan is a list of tasks per step (one per exposure, tile, chip or
strip; see :mod:`multidrizzle.session.pipeline`), each a module-level
function and small picklable arguments.  An executor runs them and hands the
results back in the order of the tasks, whichever finished first:

* :class:`LocalExecutor` (``scheduler='local'``, the default): in this
  process, one after the other, each kernel on ``num_cores`` threads.
* :class:`DaskExecutor`: on a Dask cluster, through a ``distributed.Client``:
  a ``LocalCluster`` of ``num_cores`` single-threaded worker processes that
  the run starts and closes (``scheduler='dask'``), a running scheduler
  (``scheduler='tcp://host:port'``), or the user's own client
  (``md.run(client=...)``).  A worker that dies has its tasks run again
  elsewhere (Dask's own retries); a task that raises names its task.

The same task functions run in every executor, on the same plan, so the
products do not depend on the executor.  Dask is optional (the ``dask``
extra) and imported only when asked for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from multidrizzle.errors import MultidrizzleError, UnsupportedError

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "make_executor", "TaskError",
           "WORKER_ENVIRONMENT", "prepare_worker", "return_freed_memory",
           "map_large_allocations", "MAPPED_ALLOCATION_BYTES"]

log = logging.getLogger(__name__)

#: Environment of the worker processes a run starts: one numba thread each
#: (the workers are the parallelism).
WORKER_ENVIRONMENT = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

#: Times Dask runs a task again after an error in it (a worker that dies is
#: handled by the scheduler, independently of this).
_TASK_RETRIES = 1


class TaskError(MultidrizzleError, RuntimeError):
    """A task of a run failed; the message names the task (step and exposure, tile,
    chip or strip) and the error."""


def prepare_worker(variants: Sequence[str] = ()) -> int:
    """Run on every Dask worker before the first task: one numba thread, kernels loaded.

    Workers started by the run already have ``NUMBA_NUM_THREADS=1``; workers
    started by hand may not, so the thread count is set here too (the
    workers are the parallelism).  The kernel ``variants`` the run needs
    (:mod:`multidrizzle.kernels.warmup`) are loaded from numba's cache, or
    compiled, once per worker before any task waits on them; numba writes
    its cache files atomically, so workers compiling at once do not harm
    each other.  Returns the process id (for tests).
    """
    import numba

    from multidrizzle.kernels import warmup

    numba.set_num_threads(1)
    warmup.prepare_kernels(list(variants), processes=1)
    return os.getpid()


def named_task(key: str, function: Callable[..., Any], *arguments: Any) -> Any:
    """Run ``function(*arguments)``; an error is raised again naming the task ``key``."""
    try:
        return function(*arguments)
    except MultidrizzleError as error:
        raise type(error)(f"task {key}: {error}") from error
    except Exception as error:
        raise TaskError(f"task {key}: {type(error).__name__}: {error}") from error


class Executor:
    """Runs tasks; see :class:`LocalExecutor` and :class:`DaskExecutor`."""

    name = "executor"
    #: Whether the tasks run in other processes (their results must travel).
    remote = False

    def map(self, function: Callable[..., Any], arguments: Sequence[tuple],
            keys: Sequence[str]) -> Iterator[Any]:
        """``function(*arguments[i])`` for every task, yielded in the tasks' order."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor started."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


#: glibc's ``mallopt`` parameter M_MMAP_THRESHOLD, and the size from which the
#: local executor has arrays mapped (and unmapped when freed) rather than served
#: from the heap.
_M_MMAP_THRESHOLD = -3
MAPPED_ALLOCATION_BYTES = 2**20


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (``malloc_trim`` and ``mallopt``), else None
    (macOS, musl: their allocators return large blocks by themselves)."""
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
        return library if library is not None and hasattr(library, "malloc_trim") \
            and hasattr(library, "mallopt") else None
    except OSError:
        return None


def return_freed_memory() -> None:
    """Give the memory the C allocator holds free back to the system (glibc).

    Freed space inside glibc's heaps stays with the process (per thread
    arena, with the kernels' threads); trimming between tasks keeps the
    peak that of the largest task, not of every task run so far (as Dask
    does for its workers).  Does nothing with other C libraries.
    """
    library = _glibc()
    if library is not None:
        library.malloc_trim(0)


def map_large_allocations() -> None:
    """Have glibc map every allocation of ``MAPPED_ALLOCATION_BYTES`` or more (process-wide).

    By default glibc raises the size from which it maps allocations to that
    of the largest block freed (up to 32 MiB), so that a task's arrays of a
    few megabytes (a chip's data, weights and pixel map; a strip's copies)
    come from the heap, whose freed space fragments and is not given back:
    a run of hundreds of tasks then peaks far above its largest task, and
    the more, the more chips and context planes (inputs) it has.  A fixed
    threshold returns such arrays to the system as soon as they are freed.
    It stays set for the process (glibc cannot go back to its moving
    threshold); does nothing with other C libraries.
    """
    library = _glibc()
    if library is not None:
        library.mallopt(_M_MMAP_THRESHOLD, MAPPED_ALLOCATION_BYTES)


class LocalExecutor(Executor):
    """The tasks in this process, one at a time (each kernel on the session's threads).

    Large arrays are mapped (:func:`map_large_allocations`) and the memory a
    task freed is given back to the system before the next one starts
    (:func:`return_freed_memory`), so that the run's peak memory is that of
    its largest task.
    """

    name = "local"

    def __init__(self) -> None:
        map_large_allocations()

    def map(self, function: Callable[..., Any], arguments: Sequence[tuple],
            keys: Sequence[str]) -> Iterator[Any]:
        for key, args in zip(keys, arguments):
            result = named_task(key, function, *args)
            yield result
            # the caller has used the result (a join takes each before asking for the
            # next): let it go, and return its memory, before the next task starts
            del result
            return_freed_memory()


class DaskExecutor(Executor):
    """The tasks on a Dask cluster, through a ``distributed.Client``.

    Parameters
    ----------
    client : distributed.Client
    cluster : distributed.LocalCluster, optional
        A cluster this executor started and closes with the client.
    prepare : callable, optional
        Run once on every worker before the tasks (compiles or loads the
        pixel kernels the run needs).
    """

    name = "dask"
    remote = True

    def __init__(self, client: Any, cluster: Any = None,
                 prepare: Callable[[], Any] | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self._prepared = False
        self._prepare = prepare

    def map(self, function: Callable[..., Any], arguments: Sequence[tuple],
            keys: Sequence[str]) -> Iterator[Any]:
        if self._prepare is not None and not self._prepared:
            self.client.run(self._prepare)
            self._prepared = True
        futures = [self.client.submit(named_task, key, function, *args, key=_unique(key),
                                      pure=False, retries=_TASK_RETRIES)
                   for key, args in zip(keys, arguments)]
        try:
            for future in futures:
                yield future.result()
        finally:
            self.client.cancel([future for future in futures if not future.done()])

    def close(self) -> None:
        if self.cluster is not None:
            self.client.close()
            self.cluster.close()


def _unique(key: str) -> str:
    """A Dask key unique to this submission (tasks of two runs must not share one)."""
    return f"{key}-{os.urandom(6).hex()}"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise UnsupportedError(
            "scheduler='dask' and Dask scheduler addresses need the 'dask' extra: "
            "pip install 'multidrizzle-ng[dask]' (or pip install -e '.[dask]' in a "
            "clone)") from error
    return distributed


def make_executor(scheduler: str, num_cores: int | None, client: Any = None,
                  prepare: Callable[[], Any] | None = None) -> Executor:
    """The executor of a run.

    Parameters
    ----------
    scheduler : str
        ``'local'``, ``'dask'`` or a scheduler address (``scheduler`` parameter).
    num_cores : int or None
        Worker processes of a ``'dask'`` cluster (None: the machine's cores).
    client : distributed.Client, optional
        A client of the user's (``md.run(client=...)``): used as it is, never
        closed here; ``scheduler`` is then ignored.
    prepare : callable, optional
        Run once on every Dask worker before the first task.
    """
    if client is not None:
        return DaskExecutor(client, prepare=prepare)
    if scheduler == "local":
        return LocalExecutor()
    distributed = _distributed()
    if scheduler == "dask":
        workers = int(num_cores or os.cpu_count() or 1)
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None, env=dict(WORKER_ENVIRONMENT))
        log.info("dask: started a local cluster of %d worker processes", workers)
        return DaskExecutor(distributed.Client(cluster), cluster, prepare=prepare)
    log.info("dask: connecting to the scheduler at %s", scheduler)
    client = distributed.Client(scheduler)
    return DaskExecutor(client, cluster=_Borrowed(), prepare=prepare)


class _Borrowed:
    """A cluster the run did not start: closing the run closes only its client."""

    def close(self) -> None:
        pass
