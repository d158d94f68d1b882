"""Run a conversion job: a map over tasks (input file, entry range) -> shards, then a merge.

- :mod:`~hitprep.runners.tasks`: tasks, their keys, and the one function that
  converts a task's events (every runner calls it);
- :mod:`~hitprep.runners.backends`: where tasks run (this process, local worker
  processes, a Dask cluster);
- :mod:`~hitprep.runners.manifest`: the shards of an output and their manifest
  (resume);
- :mod:`~hitprep.runners.merge`: shards -> one output (or virtual datasets);
- :mod:`~hitprep.runners.conversion`: :func:`convert`, which puts them together.

Example:
    >>> import hitprep
    >>> job = hitprep.load_job("km3net_zt")  # doctest: +SKIP
    >>> hitprep.convert(job, files, "images.h5", detx="d.detx", workers=4)  # doctest: +SKIP
"""

from __future__ import annotations

from hitprep.runners.conversion import FAILED_REASON, Summary, TaskFailure, convert, plan_tasks
from hitprep.runners.tasks import Task, TaskResult, WorkSpec, execute

__all__ = [
    "FAILED_REASON",
    "Summary",
    "Task",
    "TaskFailure",
    "TaskResult",
    "WorkSpec",
    "convert",
    "execute",
    "plan_tasks",
]
