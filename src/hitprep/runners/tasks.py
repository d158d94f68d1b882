"""Tasks: (input file, entry range) -> shard. The one place where events are converted.

A conversion is a list of :class:`Task` (in output order: input order, then
entry) plus a merge. :func:`run_range` pushes one task's events through a
pipeline into a sink; every runner uses it, whether it writes one output
directly (a single task) or one shard per task (:func:`execute`, the function
that worker processes and Dask workers call). Tasks are keyed by a hash of
everything that decides their shard's content (:func:`task_key`), so that a
rerun can tell which shards are still valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hitprep.config import Job
from hitprep.errors import HitprepError
from hitprep.pipeline import BuildOptions, Context, Pipeline
from hitprep.provenance import input_records, provenance_attrs, version
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.sources import detect_format, open_source, reader_options
from hitprep.sources.base import Source

__all__ = [
    "Report",
    "Task",
    "TaskResult",
    "WorkSpec",
    "describe_error",
    "execute",
    "file_identity",
    "open_input",
    "run_range",
    "task_key",
]

#: progress callback: ``report(task_index, kind, n)`` with kind ``"start"`` (the task
#: covers ``n`` events) or ``"events"`` (``n`` more events done)
Report = Callable[[int, str, int], None]


def _no_report(index: int, kind: str, n: int) -> None:
    """A report that goes nowhere."""


@dataclass(frozen=True)
class Task:
    """Entries ``start`` to ``stop`` of one input file (``stop=None``: to its end).

    Attributes:
        index: position in the job; the merged output follows this order.
        file_index: position of the input (``event_info.file_index``).
        path: the input file.
        start: first entry.
        stop: one past the last entry, or ``None`` for the end of the file.
        key: hash of the job, the input (path, size, mtime) and the range.
        before: the inputs before this one, for formats whose event ids continue
            across files (``hitprep.sources.numbered_across_files``); else empty.
    """

    index: int
    file_index: int
    path: Path
    start: int = 0
    stop: int | None = None
    key: str = ""
    before: tuple[Path, ...] = ()

    def describe(self) -> str:
        """The input, and the entry range when the task is part of a file."""
        if self.start == 0 and self.stop is None:
            return str(self.path)
        end = "end" if self.stop is None else str(self.stop)
        return f"{self.path} (entries {self.start}-{end})"

    def shard_name(self) -> str:
        """File name of this task's shard."""
        return f"task-{self.index:05d}-{self.key[:16]}.h5"


@dataclass(frozen=True)
class WorkSpec:
    """Everything a worker needs to run tasks of one job; small and picklable.

    Attributes:
        job: the validated job, the files it reads as absolute paths.
        command: command line recorded in each shard's provenance.
        key: hash of the job, its options, the files it reads and hitprep's version.
        raw_shards: write shards uncompressed (the merge compresses the rows once; a
            shard compressed only to be inflated again costs both sides CPU).
    """

    job: Job
    command: str | None = None
    key: str = field(default="", compare=False)
    raw_shards: bool = field(default=False, compare=False)

    @property
    def step(self) -> int:
        """Events per chunk (``[source].step``)."""
        return self.job.source.step

    @classmethod
    def build(cls, job: Job, *, command: str | None) -> WorkSpec:
        """A spec with its :attr:`key` computed."""
        job = job.with_files_resolved()  # workers elsewhere (Dask) do not share our cwd
        files = {key: file_identity(path) for key, (path, _) in job.input_files().items()}
        text = json.dumps(
            {
                "hitprep": version(),
                "job": job.text,
                "resolved": job.resolved_json(),
                "overrides": list(job.overrides),
                "files": files,
            },
            sort_keys=True,
        )
        return cls(job, command, hashlib.sha256(text.encode()).hexdigest())

    def pipeline(self) -> Pipeline:
        """A fresh pipeline; built once per process and job, then copied."""
        template = _TEMPLATES.get(self.key)
        if template is None:
            template = Pipeline(self.job, BuildOptions())
            if len(_TEMPLATES) >= 4:
                _TEMPLATES.pop(next(iter(_TEMPLATES)))
            _TEMPLATES[self.key] = template
        return template.fresh()


#: job key -> pipeline that never runs (copied per task): stages load detector files once
_TEMPLATES: dict[str, Pipeline] = {}


def file_identity(path: Path) -> dict[str, Any]:
    """Path, size and modification time: what says a file is still the same one."""
    try:
        st = path.stat()
    except OSError:
        return {"path": str(path.resolve()), "missing": True}
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def task_key(job_key: str, task: Task) -> str:
    """Hash of everything that decides a task's shard."""
    text = json.dumps(
        {
            "job": job_key,
            "input": file_identity(task.path),
            "file_index": task.file_index,
            "range": [task.start, task.stop],
            **({"before": [file_identity(p) for p in task.before]} if task.before else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def output_sink(job: Job, path: Path, *, overwrite: bool, raw: bool = False) -> HDF5Sink:
    """A sink for ``path`` with the job's ``[output]`` compression settings (``raw``: none)."""
    out = job.output
    return HDF5Sink(
        path,
        overwrite=overwrite,
        compression=None if raw else out["compression"] or None,
        compression_level=out["compression_level"],
        shuffle=out["shuffle"],
    )


def open_input(job: Job, path: Path, *, before: tuple[Path, ...] = ()) -> Source:
    """Open one input with the job's ``[source]`` options (``before``: see :class:`Task`)."""
    src = job.source
    fmt = detect_format(path) if src.format == "auto" else src.format
    options: dict[str, Any] = {"previous": before} if before else {}
    options.update(src.reader_options(reader_options(fmt)))
    return open_source(path, format=fmt, **options)


def task_items(
    pipeline: Pipeline, spec: WorkSpec, tasks: Sequence[Task], collection: str
) -> int | None:
    """Items of ``collection`` that ``tasks`` will produce, when every source can tell cheaply."""
    total = 0
    for task in tasks:
        with open_input(spec.job, task.path, before=task.before) as source:
            end = source.num_events if task.stop is None else min(task.stop, source.num_events)
            n = pipeline.item_count(collection, source, task.start, end, step=spec.step)
        if n is None:
            return None
        total += n
    return total


def run_range(
    pipeline: Pipeline,
    spec: WorkSpec,
    task: Task,
    sink: HDF5Sink,
    report: Report = _no_report,
    *,
    prepare: bool = True,
) -> int:
    """Convert one task's events into ``sink``, chunk by chunk.

    Args:
        prepare: let the pipeline size its datasets for this task alone first (False:
            the caller prepared it for several tasks written into the same sink).

    Returns:
        The number of events in the input file.
    """
    with open_input(spec.job, task.path, before=task.before) as source:
        wanted = pipeline.fields_for(source)
        end = source.num_events if task.stop is None else min(task.stop, source.num_events)
        report(task.index, "start", max(end - task.start, 0))
        ctx = Context(str(source.path), task.file_index, pipeline.accounting)
        if prepare:
            pipeline.prepare(sink, partial(task_items, pipeline, spec, [task]))
        for batch in source.iterate(step=spec.step, start=task.start, stop=end, fields=wanted):
            sink.append(pipeline.run(batch, ctx))
            report(task.index, "events", len(batch))
        pipeline.ready()  # inputs loaded in the background are checked even without events
        return source.num_events


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back: its shard and counts, or why it failed.

    Attributes:
        index: the task's position.
        shard: path of the shard written (``""`` on failure).
        error: why the task failed (``""`` on success).
        accounting: the task's event accounting (``Accounting.as_dict``).
        file_events: events in the whole input file (-1 when it could not be read).
        sha256: checksum of the shard.
        size: bytes of the shard.
        seconds: wall time of the task.
        peak_rss_mib: peak resident memory of the process that ran it, so far.
        worker: ``host:pid`` of the process that ran it.
    """

    index: int
    shard: str = ""
    error: str = ""
    accounting: dict[str, Any] = field(default_factory=dict)
    file_events: int = -1
    sha256: str = ""
    size: int = 0
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @property
    def ok(self) -> bool:
        return not self.error


def describe_error(err: BaseException) -> str:
    """One line: hitprep's own errors as they are, others with their type."""
    text = str(err).strip().replace("\n", " ")
    if isinstance(err, HitprepError):
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def checksum(path: Path) -> str:
    """SHA-256 of a file, hex."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def execute(spec: WorkSpec, task: Task, shard: Path, *, report: Report = _no_report) -> TaskResult:
    """Run one task into its own shard (a complete HDF5 file, written atomically).

    Never raises for a bad input or job: the error comes back in the result, as
    one line that names the input (exceptions need not survive pickling).
    """
    started = time.perf_counter()
    try:
        pipeline = spec.pipeline()
        job = spec.job
        with output_sink(job, shard, overwrite=True, raw=spec.raw_shards) as sink:
            n_file = run_range(pipeline, spec, task, sink, report)
            pipeline.finish(sink)
            attrs = provenance_attrs(
                job_text=job.text,
                job_resolved=job.resolved_json(),
                overrides=job.overrides,
                inputs=input_records([task.path], [n_file]),
                accounting=pipeline.accounting.as_dict(),
                command=spec.command,
            )
            attrs["task"] = json.dumps(
                {
                    "key": task.key,
                    "index": task.index,
                    "file_index": task.file_index,
                    "start": task.start,
                    "stop": task.stop,
                }
            )
            sink.set_attrs(attrs)
            sink.commit()
        return TaskResult(
            task.index,
            shard=str(shard),
            accounting=pipeline.accounting.as_dict(),
            file_events=n_file,
            sha256=checksum(shard),
            size=shard.stat().st_size,
            seconds=time.perf_counter() - started,
            peak_rss_mib=peak_rss_mib(),
        )
    except Exception as err:  # reported, with the input it belongs to, by the runner
        return TaskResult(
            task.index,
            error=describe_error(err),
            seconds=time.perf_counter() - started,
            peak_rss_mib=peak_rss_mib(),
        )
