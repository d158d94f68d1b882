"""Where tasks run: this process, local worker processes, or a Dask cluster.

Every backend runs :class:`Call` s (a top-level function, e.g.
:func:`hitprep.runners.tasks.execute`, and its arguments) and yields their
:class:`~hitprep.runners.tasks.TaskResult` s as they finish, in any order; the
caller puts them in task order. Each function takes a keyword ``report`` through
which progress comes back while it runs: through a queue from worker processes,
through Dask's event log (``log_event``/``subscribe_topic``) from Dask workers.
Dask is imported only by :func:`dask_backend`.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hitprep.allocator import keep_freed_memory
from hitprep.closing import Closing
from hitprep.errors import ConfigError, RunnerError, SchedulerError, Terminated
from hitprep.runners.tasks import Report, TaskResult
from hitprep.threads import set_threads, threads

__all__ = [
    "Backend",
    "Call",
    "DaskBackend",
    "EventProgress",
    "ProcessBackend",
    "SerialBackend",
    "check_runner_options",
    "dask_backend",
    "make_backend",
]


@dataclass(frozen=True)
class Call:
    """One task to run: ``fn(*args, report=...)`` returns its result.

    ``fn`` must be a module-level function (worker processes import it by name).
    """

    index: int
    fn: Callable[..., TaskResult]
    args: tuple[Any, ...]

    def __call__(self, report: Report) -> TaskResult:
        return self.fn(*self.args, report=report)


class Backend(Closing, abc.ABC):
    """Runs calls and yields their results as they finish."""

    #: short description for the summary, e.g. ``processes x4``
    name: str = ""

    @abc.abstractmethod
    def results(self, calls: Sequence[Call], report: Report) -> Iterator[TaskResult]:
        """Run ``calls``; yield each result when it is done (cancelled calls yield nothing)."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Start no more calls; those already running finish and are still yielded."""

    def close(self) -> None:
        """Release workers and connections."""


class SerialBackend(Backend):
    """Tasks one after the other, in this process."""

    name = "serial"

    def __init__(self) -> None:
        self._cancelled = False

    def results(self, calls: Sequence[Call], report: Report) -> Iterator[TaskResult]:
        for call in calls:
            if self._cancelled:
                return
            yield call(report)

    def cancel(self) -> None:
        self._cancelled = True


class EventProgress:
    """One progress bar over the events of every task, fed from any thread.

    Tasks report ``("start", n)`` when they know how many events they cover and
    ``("events", n)`` as they go; the bar's total counts the tasks that started and
    estimates the others from their mean. Reports of a finished task are ignored.
    """

    def __init__(self, bar: Any, n_tasks: int) -> None:
        self.bar = bar
        self.n_tasks = n_tasks
        self.totals: dict[int, int] = {}
        self.done: dict[int, int] = {}
        self.finished: set[int] = set()
        self.lock = threading.Lock()

    def __call__(self, index: int, kind: str, n: int) -> None:
        with self.lock:
            if index in self.finished:
                return
            if kind == "start":
                self.totals[index] = n
                self._retotal()
            else:
                self.done[index] = self.done.get(index, 0) + n
                self.bar.update(n)

    def finish(self, index: int, events: int | None) -> None:
        """Task ``index`` is over; ``events`` it covered (None: it failed)."""
        with self.lock:
            done = self.done.get(index, 0)
            self.totals[index] = done if events is None else events
            self.finished.add(index)
            self._retotal()
            if events is not None and events > done:
                self.bar.update(events - done)

    def _retotal(self) -> None:
        known = sum(self.totals.values())
        unknown = self.n_tasks - len(self.totals)
        mean = known / len(self.totals) if self.totals else 0.0
        self.bar.total = known + round(mean * unknown)
        self.bar.refresh()


def check_runner_options(*, workers: int | None, dask: bool, scheduler: str | None) -> None:
    """Raise ConfigError for runner options that do not go together."""
    if workers is not None and workers < 1:
        msg = f"workers must be a positive number, not {workers}"
        raise ConfigError(msg)
    if dask and scheduler is not None:
        msg = "give either --dask (a local cluster) or --scheduler ADDRESS, not both"
        raise ConfigError(msg)
    if scheduler is not None and workers is not None:
        msg = "--workers sets the size of a local cluster; with --scheduler the cluster has its own"
        raise ConfigError(msg)


def make_backend(
    *, workers: int | None, dask: bool, scheduler: str | None, timeout: float
) -> Backend:
    """The backend the options ask for: Dask, local processes, or this process."""
    if dask or scheduler is not None:
        return dask_backend(scheduler=scheduler, workers=workers, timeout=timeout)
    if (workers or 1) > 1:
        return ProcessBackend(workers or 1)
    return SerialBackend()


# -- local processes ------------------------------------------------------------------------

_QUEUE: Any = None  # set in each worker process by _init_worker
_BUSY = False  # a worker process is running a task
_PARENT_POLL_S = 0.2  # how often a worker checks that its parent is alive
_GRACE_S = 10.0  # seconds a worker told to stop has to clean up


def _init_worker(queue: Any, threads: int, parent: int) -> None:
    global _QUEUE
    _QUEUE = queue
    keep_freed_memory()  # a worker process is ours too (hitprep.allocator)
    set_threads(threads)  # a share of the cores, not all of them, in every worker
    for sig in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C reaches workers too
        if signal.getsignal(sig) is not signal.SIG_IGN:  # (ignored: stays so, as in nohup)
            signal.signal(sig, _worker_stop)
    watch = threading.Thread(target=_watch_parent, args=(parent,), daemon=True)
    watch.start()


def _worker_stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM in a worker: an idle one exits; a busy one unwinds its task (its sink
    removes the shard's temporary) and exits in :func:`_process_entry`."""
    if not _BUSY:
        os._exit(128 + signum)
    raise Terminated(signum)


def _watch_parent(parent: int) -> None:
    """Stop this worker when the process that started it is gone (killed, even by -9)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_GRACE_S)
    os._exit(143)


def _queue_report(index: int, kind: str, n: int) -> None:
    if _QUEUE is not None:
        _QUEUE.put((index, kind, n))


def _process_entry(call: Call) -> TaskResult:
    """What a worker process runs (a top-level function: spawn-safe)."""
    global _BUSY
    _BUSY = True
    try:
        return call(_queue_report)
    except KeyboardInterrupt as err:  # told to stop: the task has cleaned up
        os._exit(err.exit_code if isinstance(err, Terminated) else 130)
    finally:
        _BUSY = False


class ProcessBackend(Backend):
    """``workers`` local processes: this one and ``workers - 1`` started fresh (``spawn``).

    The worker processes start when the backend is made, so that they import hitprep
    while this process plans the tasks (on 2 cores, the import of the second process
    otherwise leaves one core idle for a third of a second). Every task is queued in
    the process pool; whenever this process is free, it takes the next task that no
    worker has started yet and runs it itself (it would otherwise wait: merging is
    quick), so one fewer interpreter starts and imports.
    """

    def __init__(self, workers: int) -> None:
        if workers < 2:
            msg = f"a process pool needs at least 2 workers, not {workers}"
            raise ValueError(msg)
        self.workers = workers
        self.name = f"processes x{workers}"
        self._futures: list[Future[TaskResult]] = []
        self._cancelled = False
        ctx = mp.get_context("spawn")
        self._queue = ctx.Queue()
        self._queue_closed = False
        self._share = max((os.cpu_count() or 1) // workers, 1)
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=workers - 1,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self._queue, self._share, os.getpid()),
        )
        for _ in range(workers - 1):  # one process started per call submitted
            self._pool.submit(_ready)

    def results(self, calls: Sequence[Call], report: Report) -> Iterator[TaskResult]:
        pool = self._pool
        if pool is None:
            msg = "this process backend is closed"
            raise RuntimeError(msg)
        drain = threading.Thread(target=_drain, args=(self._queue, report), daemon=True)
        drain.start()
        previous = threads()
        set_threads(self._share)  # this process runs tasks too
        try:
            queued = [(pool.submit(_process_entry, call), call) for call in calls]
            self._futures = [future for future, _ in queued]
            waiting = {future: call.index for future, call in queued}
            stealable = iter(queued)
            while waiting:
                for future in [f for f in waiting if f.done()]:
                    yield from _outcome(future, waiting.pop(future))
                mine = None if self._cancelled else _steal(stealable)
                if mine is not None:
                    future, call = mine
                    waiting.pop(future)
                    yield call(report)
                elif waiting:
                    wait(waiting, return_when=FIRST_COMPLETED)
        finally:  # waits for running tasks, so that none writes a shard after we return
            set_threads(previous)
            self._stop_workers()
            self._queue.put(None)
            drain.join(timeout=5)
            self.close()

    def cancel(self) -> None:
        self._cancelled = True
        for future in self._futures:
            future.cancel()

    def _stop_workers(self) -> None:
        """Stop the workers: after their running tasks, or at once when interrupted."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        interrupted = isinstance(sys.exc_info()[1], KeyboardInterrupt)
        processes = list((getattr(pool, "_processes", None) or {}).values())
        if interrupted:  # Ctrl-C or SIGTERM: running tasks clean up and stop now
            for process in processes:
                with contextlib.suppress(OSError, ValueError):
                    process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        for process in processes:
            process.join(_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()

    def close(self) -> None:
        """Stop the worker processes (after their running tasks; at once when interrupted)."""
        self._stop_workers()
        if not self._queue_closed:
            self._queue_closed = True
            self._queue.close()


def _ready() -> None:
    """A first call for each worker: it is started, and has imported hitprep, once it runs."""


def _steal(
    queued: Iterator[tuple[Future[TaskResult], Call]],
) -> tuple[Future[TaskResult], Call] | None:
    """The next queued task that no worker has started, taken back from the pool."""
    for future, call in queued:
        if future.cancel():  # still pending: no worker will run it now
            return future, call
    return None


def _outcome(future: Future[TaskResult], index: int) -> Iterator[TaskResult]:
    if future.cancelled():
        return
    try:
        yield future.result()
    except Exception as err:  # the worker died (killed, out of memory)
        reason = f"worker process died: {type(err).__name__}: {err}"
        yield TaskResult(index, error=reason)


def _drain(queue: Any, report: Report) -> None:
    while (message := queue.get()) is not None:
        report(*message)


# -- Dask -----------------------------------------------------------------------------------


def _distributed() -> Any:
    """``distributed``, imported on first use (it is an optional dependency)."""
    return importlib.import_module("distributed")


def _dask_entry(call: Call, topic: str) -> TaskResult:
    """What a Dask worker runs; progress goes to the scheduler's event log under ``topic``."""
    worker = _distributed().get_worker()

    def report(index: int, kind: str, n: int) -> None:
        worker.log_event(topic, [index, kind, n])

    return call(report)


class DaskBackend(Backend):
    """Tasks on a Dask cluster, through a ``distributed.Client``.

    Shards are written by the workers: with a remote cluster, the output's folder
    must be on a file system they share with this process.
    """

    def __init__(self, client: Any, cluster: Any = None, *, name: str) -> None:
        self.client = client
        self.cluster = cluster
        self.name = name
        self._futures: list[Any] = []

    def results(self, calls: Sequence[Call], report: Report) -> Iterator[TaskResult]:
        dask_completed = _distributed().as_completed

        run = uuid.uuid4().hex[:12]
        topic = f"hitprep-progress-{run}"
        self.client.subscribe_topic(topic, lambda event: report(*event[1]))
        clean = False
        try:
            tasks: dict[Any, int] = {}
            for call in calls:
                key = f"hitprep-task-{call.index}-{run}"
                tasks[self.client.submit(_dask_entry, call, topic, key=key)] = call.index
            self._futures = list(tasks)
            for future in dask_completed(list(tasks), loop=self.client.loop):
                if future.cancelled():
                    continue
                try:
                    yield future.result()
                except Exception as err:  # a worker died (KilledWorker), or was lost
                    reason = f"Dask worker failed: {type(err).__name__}: {err}"
                    yield TaskResult(tasks[future], error=reason)
            clean = True
        finally:
            if not clean:
                self.cancel()
            self.client.unsubscribe_topic(topic)

    def cancel(self) -> None:
        pending = [f for f in self._futures if not f.done()]
        if pending:
            self.client.cancel(pending)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def dask_backend(
    *, scheduler: str | None = None, workers: int | None = None, timeout: float = 10.0
) -> DaskBackend:
    """Connect to the scheduler at ``scheduler``, or start a ``LocalCluster`` on loopback.

    Args:
        scheduler: address of a running scheduler (``tcp://host:8786``); ``None``
            starts a local cluster of ``workers`` single-threaded worker processes
            that listens on 127.0.0.1 only, without a dashboard.
        workers: workers of the local cluster (default: one per CPU).
        timeout: seconds to wait for the scheduler, and for its first worker.

    Raises:
        ConfigError: Dask is not installed.
        RunnerError: the local cluster does not start.
        SchedulerError: the scheduler cannot be reached, or has no worker, in time.
    """
    try:
        distributed = _distributed()
    except ImportError as err:
        msg = (
            "--dask and --scheduler need Dask: pip install 'hitprep[dask]'"
            f" (cannot import distributed: {err})"
        )
        raise ConfigError(msg) from err
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        try:
            cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        except Exception as err:  # ports, spawn, resources: anything that stops it starting
            msg = f"cannot start a Dask LocalCluster of {n} workers: {err}"
            raise RunnerError(msg) from err
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return DaskBackend(client, cluster, name=f"dask LocalCluster x{n}")
    try:
        client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, ValueError, TypeError) as err:
        msg = f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s: {err}"
        raise SchedulerError(msg) from err
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as err:
        client.close()
        msg = f"the Dask scheduler at {scheduler!r} has no worker after {timeout:g} s"
        raise SchedulerError(msg) from err
    n_workers = len(client.scheduler_info().get("workers", {}))
    return DaskBackend(client, name=f"dask {scheduler} ({n_workers} workers)")
