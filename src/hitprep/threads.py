"""The threads a process may keep busy: one budget, two pools, for inflating and compressing.

Readers inflate compressed input chunks (:func:`run_all`, waited for) and the HDF5 sink
compresses output chunks (:func:`submit`, collected later) in two thread pools, so that
inflating the next batch never queues behind a backlog of compression (zlib-ng, ISA-L and
numpy release the GIL). Each pool has :func:`threads` workers: ``HITPREP_THREADS`` or the
CPU count, unless a runner that starts several worker processes on one machine gives each a
share of the cores (:func:`set_threads`). With a share of one core, :func:`submit` and
:func:`run_all` run the work in the calling thread: a pool thread would only add hand-offs
and context switches on a core that is already busy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

__all__ = ["run_all", "set_threads", "submit", "threads"]

T = TypeVar("T")

_THREADS: list[int] = []  # set_threads(n), else HITPREP_THREADS or the CPU count on first use


def set_threads(n: int | None) -> None:
    """Use ``n`` threads (None: ``HITPREP_THREADS`` or the number of CPUs, read again)."""
    _THREADS[:] = [] if n is None else [max(int(n), 1)]
    _pool.cache_clear()


def threads() -> int:
    """Number of threads this process keeps busy."""
    if not _THREADS:
        env = os.environ.get("HITPREP_THREADS", "")
        _THREADS.append(max(int(env), 1) if env.isdigit() else max(os.cpu_count() or 1, 1))
    return _THREADS[0]


@lru_cache(maxsize=2)
def _pool(kind: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads(), thread_name_prefix=f"hitprep-{kind}")


def submit(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
    """``fn(*args, **kwargs)`` in the background pool; done at once, in this thread, with one
    thread.

    For work whose result is wanted later (compressing output chunks): it runs in a pool
    of its own, so that it never queues ahead of work someone waits for (:func:`run_all`).
    """
    if threads() > 1:
        return _pool("background").submit(fn, *args, **kwargs)
    future: Future[T] = Future()
    try:
        future.set_result(fn(*args, **kwargs))
    except Exception as err:  # the caller sees it from future.result(), as from the pool
        future.set_exception(err)
    return future


def run_all(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    """``[fn(item) for item in items]``, in the pool when there is more than one thread.

    For work the caller waits for (inflating the chunks of the next batch): its pool is not
    the one :func:`submit` queues background work in.
    """
    if threads() > 1:
        return list(_pool("urgent").map(fn, items))
    return [fn(item) for item in items]
