"""Executors: where the tasks of a run execute, one seam for all of them.

A run's plan is a list of tasks per step (one per exposure, tile, chip or
strip; see :mod:`multidrizzle.session.pipeline`), each a module-level
function and small picklable arguments.  An executor runs them and hands the
results back in the order of the tasks, whichever finished first:

* :class:`LocalExecutor` (``scheduler='local'``, the default): in this
  process, on ``num_cores`` threads: up to ``num_cores`` tasks at once, the
  kernels of each on its share of the threads.
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

import collections
import itertools
import logging
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from multidrizzle.errors import MultidrizzleError, UnsupportedError
from multidrizzle.model.memory import c_library

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "make_executor", "TaskError",
           "WORKER_ENVIRONMENT", "prepare_worker", "return_freed_memory",
           "map_large_allocations", "share_one_heap", "MAPPED_ALLOCATION_BYTES"]

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
#: glibc's ``mallopt`` parameter M_ARENA_MAX: how many heaps threads may get.
_M_ARENA_MAX = -8
MAPPED_ALLOCATION_BYTES = 2**20


def _glibc() -> Any:
    """The C library when it is glibc (``malloc_trim`` and ``mallopt``), else None
    (macOS, musl: their allocators return large blocks by themselves)."""
    library = c_library()
    return library if library is not None and hasattr(library, "malloc_trim") \
        and hasattr(library, "mallopt") else None


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


def share_one_heap() -> None:
    """Have glibc serve every thread from one heap (its main arena; process-wide).

    By default each thread that allocates gets a heap of its own (an arena),
    and ``malloc_trim`` did not give back what the local executor's task
    threads held in theirs: after the median step of the 200-exposure
    benchmark mosaic 46 MiB more stayed with the process on two task
    threads, 17 MiB (the median's counts) with one heap, which put that
    run's peak above those of smaller mosaics.  Arrays of
    ``MAPPED_ALLOCATION_BYTES`` or more are mapped, not taken from a heap,
    so the threads seldom wait for the shared one.  Arenas made before the
    call stay; does nothing with other C libraries.
    """
    library = _glibc()
    if library is not None:
        library.mallopt(_M_ARENA_MAX, 1)


class LocalExecutor(Executor):
    """The tasks in this process, as many at once as the kernels have threads.

    The session's ``num_cores`` threads (``numba.get_num_threads()`` when
    :meth:`map` is called) are shared among the tasks that run at once: one
    task of a step with one task (a single pointing's median or final
    drizzle) has every thread for its kernels; a step with many tasks (a
    mosaic's tiles, strips, chips) runs ``num_cores`` of them side by side,
    one kernel thread each.  Many tasks are too small for their kernels to
    use several threads: a final strip of a mosaic is one band of the
    square kernel, which its threads share band by band.  The tasks' own
    Python (reading files, headers) overlaps the other tasks' kernels, which
    run without the GIL.  Results come back in the tasks' order and do not
    depend on how many run at once (the kernels' results do not depend on
    their thread count).

    Besides the result the caller holds, at most ``num_cores`` tasks are
    under way or done and waiting to be handed back, so the run's peak
    memory is about that of its ``num_cores`` largest tasks
    (``memory_limit`` bounds a task).  Large arrays are mapped
    (:func:`map_large_allocations`), the task threads share one heap
    (:func:`share_one_heap`) and the memory a task freed is given back to
    the system after each task (:func:`return_freed_memory`).
    """

    name = "local"

    def __init__(self) -> None:
        map_large_allocations()
        share_one_heap()

    def map(self, function: Callable[..., Any], arguments: Sequence[tuple],
            keys: Sequence[str]) -> Iterator[Any]:
        import numba

        threads = numba.get_num_threads()
        at_once = min(threads, len(arguments))
        if at_once <= 1:
            return self._one_by_one(function, arguments, keys)
        return self._side_by_side(function, arguments, keys, at_once,
                                  max(1, threads // at_once))

    @staticmethod
    def _one_by_one(function: Callable[..., Any], arguments: Sequence[tuple],
                    keys: Sequence[str]) -> Iterator[Any]:
        for key, args in zip(keys, arguments):
            result = named_task(key, function, *args)
            yield result
            # the caller has used the result (a join takes each before asking for the
            # next): let it go, and return its memory, before the next task starts
            del result
            return_freed_memory()

    @staticmethod
    def _side_by_side(function: Callable[..., Any], arguments: Sequence[tuple],
                      keys: Sequence[str], at_once: int, threads_each: int) -> Iterator[Any]:
        """``at_once`` tasks at a time on a pool of threads, ``threads_each`` kernel
        threads for each, results in the tasks' order.

        The first tasks start at once, not when the first result is asked
        for: what the caller does first (a step's join allocating its
        product and building its headers) runs while they compute.
        """
        import numba

        def run(key: str, args: tuple) -> Any:
            numba.set_num_threads(threads_each)   # numba's thread count is per thread
            try:
                return named_task(key, function, *args)
            finally:
                return_freed_memory()

        tasks = iter(zip(keys, arguments))
        pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="multidrizzle-tasks")
        under_way: collections.deque[Future] = collections.deque(
            pool.submit(run, key, args) for key, args in itertools.islice(tasks, at_once))

        def results() -> Iterator[Any]:
            try:
                while under_way:
                    result = under_way.popleft().result()
                    following = next(tasks, None)
                    if following is not None:
                        under_way.append(pool.submit(run, *following))
                    yield result
                    del result   # the caller has used it: not held while we wait
            finally:
                # an error, an interrupt or a consumer that stopped: the tasks not
                # started are dropped, those under way finish (their threads cannot
                # be stopped) before the run goes on to clean up
                pool.shutdown(wait=True, cancel_futures=True)

        handed_back = results()
        # a consumer that never asks for a result still stops the pool
        weakref.finalize(handed_back, pool.shutdown, wait=False, cancel_futures=True)
        return handed_back


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
