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
    >>> from km3net_testdata import data_path
    >>> detx = data_path("detx/km3net_offline.detx")
    >>> job = hitprep.load_job("km3net_zt", overrides=[f"calibration.detx={detx!r}"])
    >>> files = [data_path("offline/km3net_offline.root")] * 2
    >>> print(hitprep.convert(job, files, "images.h5", workers=2).line())
    20 events in, 20 written, 0 skipped; 2868 hits; ... [processes x2: 2 tasks on 2 processes, ...]
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
