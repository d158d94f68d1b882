"""``convert``: plan tasks, run them on a backend, merge their shards into one output.

One task (one input, in this process) writes the output directly. Anything else
(several inputs, ``workers``, Dask, ``keep_going``, ``virtual``, ``resume``) runs
one task per input (or per ``task_events`` entries of it), each writing a shard
into ``OUTPUT.parts/``, and merges the shards in task order as they finish. The
merged output has the same datasets, byte for byte, whichever backend ran the
tasks. A rerun of an interrupted or failed conversion reuses the shards whose
tasks are unchanged (see :mod:`hitprep.runners.manifest`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from hitprep.atomic import check_output
from hitprep.config import Job
from hitprep.errors import ConfigError, TaskError
from hitprep.pipeline import Accounting
from hitprep.progress import progress_bar
from hitprep.provenance import input_records, provenance_attrs
from hitprep.runners.backends import (
    Backend,
    Call,
    EventProgress,
    check_runner_options,
    make_backend,
)
from hitprep.runners.manifest import PartsFolder, parts_folder
from hitprep.runners.merge import Merger
from hitprep.runners.tasks import (
    Task,
    TaskResult,
    WorkSpec,
    execute,
    open_input,
    output_sink,
    run_range,
    task_items,
    task_key,
)
from hitprep.sources import numbered_across_files
from hitprep.wording import count_of

__all__ = ["FAILED_REASON", "Summary", "TaskFailure", "convert", "plan_tasks"]

#: accounting reason of the events of tasks that failed (with ``keep_going``)
FAILED_REASON = "task failed"


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed: its input, entry range and reason."""

    task: Task
    reason: str

    def line(self) -> str:
        where = self.task.describe()
        return self.reason if where in self.reason else f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        t = self.task
        return {
            "file_index": t.file_index,
            "path": str(t.path),
            "start": t.start,
            "stop": t.stop,
            "error": self.reason,
        }


@dataclass(frozen=True)
class Summary:
    """What a conversion did.

    Attributes:
        output: the file written.
        accounting: events read, written and skipped (with reasons), items read.
        seconds: wall time.
        runner: where the tasks ran (``direct`` for a single task written directly).
        tasks: number of tasks.
        resumed: tasks whose shard a rerun reused.
        failed: tasks that failed (only with ``keep_going``).
        merge_seconds: time spent merging shards.
        peak_rss_mib: the largest peak resident memory of a process that ran tasks.
        processes: how many processes ran tasks.
    """

    output: Path
    accounting: Accounting
    seconds: float
    runner: str = "direct"
    tasks: int = 1
    resumed: int = 0
    failed: tuple[TaskFailure, ...] = ()
    merge_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    processes: int = 1

    def line(self) -> str:
        a = self.accounting
        skipped = sum(a.skipped.values())
        reasons = ", ".join(f"{k}: {v}" for k, v in a.skipped.items())
        why = f" ({reasons})" if reasons else ""
        items = "".join(f" {n} {name};" for name, n in a.items_read.items())
        items += "".join(f" {n} {why} skipped;" for why, n in a.items_skipped.items())
        text = (
            f"{a.events_read} events in, {a.events_written} written, {skipped} skipped{why};"
            f"{items} {self.seconds:.1f} s -> {self.output}"
        )
        if self.runner != "direct":
            failed = f", {len(self.failed)} failed" if self.failed else ""
            text += (
                f" [{self.runner}: {count_of(self.tasks, 'task')} on"
                f" {count_of(self.processes, 'process')},"
                f" {self.resumed} resumed{failed};"
                f" merge {self.merge_seconds:.2f} s; peak {self.peak_rss_mib:.0f} MiB per worker]"
            )
        return text

    def failure_lines(self) -> list[str]:
        """One line per failed task: its input, range and reason."""
        return [f.line() for f in self.failed]


def plan_tasks(
    spec: WorkSpec, paths: Sequence[Path], *, task_events: int | None = None
) -> list[Task]:
    """Tasks of a job, in output order: one per input, or one per ``task_events`` entries.

    Without ``task_events`` no input is opened here (workers open their own); with
    it, each input is opened once to count its events.
    """
    tasks: list[Task] = []
    for file_index, path in enumerate(paths):
        ranges: list[tuple[int, int | None]] = [(0, None)]
        fmt = spec.job.source["format"]
        before = tuple(paths[:file_index]) if numbered_across_files(path, fmt) else ()
        if task_events is not None:
            with open_input(spec.job, path, before=before) as source:
                n = source.num_events
            ranges = [(a, min(a + task_events, n)) for a in range(0, n, task_events)] or [(0, 0)]
        for start, stop in ranges:
            task = Task(len(tasks), file_index, path, start, stop, before=before)
            key = task_key(spec.key, task)
            tasks.append(Task(task.index, file_index, path, start, stop, key, before))
    return tasks


def _events(result: TaskResult | dict[str, Any]) -> int:
    acc = result.accounting if isinstance(result, TaskResult) else result["accounting"]
    return int(acc.get("events_read", 0))


def convert(
    job: Job,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    detx: str | Path | None = None,
    overwrite: bool = False,
    step: int | None = None,
    progress: bool = False,
    command: str | None = None,
    workers: int | None = None,
    dask: bool = False,
    scheduler: str | None = None,
    scheduler_timeout: float = 10.0,
    keep_going: bool = False,
    virtual: bool = False,
    resume: bool | None = None,
    task_events: int | None = None,
) -> Summary:
    """Convert ``inputs`` into one HDF5 ``output`` as ``job`` says.

    Args:
        job: validated job (see :func:`hitprep.config.load_job`).
        inputs: input files; ``event_info.file_index`` refers to their order.
        output: HDF5 file to write.
        detx: detector file: sugar for ``calibration.detx`` (as ``--detx``).
        overwrite: replace an existing output.
        step: events per chunk: sugar for ``source.step`` (as ``--step``).
        progress: show a progress bar (events of all tasks) on stderr.
        command: command line recorded in the provenance (default: this process's).
        workers: run tasks in this many local processes (with ``dask``: the local
            cluster's workers).
        dask: run tasks on a Dask ``LocalCluster`` started for this conversion.
        scheduler: run tasks on the Dask cluster whose scheduler has this address.
        scheduler_timeout: seconds to wait for that scheduler and its first worker.
        keep_going: write what the tasks that succeeded made and list those that
            failed (in the summary and the output's ``failed`` attribute), instead
            of failing as a whole.
        virtual: leave rows in the shards (``OUTPUT.parts/``) and write HDF5 virtual
            datasets over them.
        resume: reuse finished shards of an earlier run of the same job (default:
            yes, when there are shards); ``False`` starts over; ``True`` also shards
            a single task so that it can be resumed.
        task_events: split inputs into tasks of this many entries (default: one
            task per input).

    Returns:
        A :class:`Summary` with the event accounting.

    Raises:
        TaskError: a task failed (all of them, with ``keep_going``); no output is
            written, and finished shards are kept for a rerun.
        SchedulerError: the Dask scheduler cannot be reached.
    """
    started = time.perf_counter()
    remote = dask or scheduler is not None  # Dask workers may run elsewhere, in another folder
    job = job.with_flags(detx=detx, step=step)
    out, paths = _output_and_inputs(output, inputs, job, overwrite=overwrite, remote=remote)
    _check_options(task_events, workers=workers, dask=dask, scheduler=scheduler)
    parallel = (workers or 1) > 1 or dask or scheduler is not None
    local = parallel and not dask and scheduler is None
    # local worker processes start first: they import hitprep while this one plans
    early = make_backend(workers=workers, dask=False, scheduler=None, timeout=0) if local else None
    try:
        spec = WorkSpec.build(job, command=command)
        pipeline = spec.pipeline()  # builds (and so checks) the job before any work
        tasks = plan_tasks(spec, paths, task_events=task_events)
        resuming = resume or (resume is None and parts_folder(out.resolve()).exists())
        if not (parallel or keep_going or virtual or resuming):
            return _direct(spec, tasks, out, overwrite=overwrite, progress=progress, t0=started)
        pipeline.ready()  # a bad detector file fails the job, not each of its tasks
        # shards merged into the output need no compression (the merge compresses once);
        # virtual datasets leave the rows in the shards: those stay compressed
        spec = replace(spec, raw_shards=not virtual)
        backend = early or make_backend(
            workers=workers, dask=dask, scheduler=scheduler, timeout=scheduler_timeout
        )
    except BaseException:
        if early is not None:
            early.close()
        raise
    return _in_parts_folder(
        spec,
        tasks,
        out,
        backend,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
        keep_going=keep_going,
        virtual=virtual,
        t0=started,
    )


def _output_and_inputs(
    output: str | Path,
    inputs: Sequence[str | Path],
    job: Job,
    *,
    overwrite: bool,
    remote: bool,
) -> tuple[Path, list[Path]]:
    """The output (checked) and the input paths (absolute for ``remote`` workers); neither
    an input nor a file the job reads (a detector file) may be the output."""
    if not inputs:
        msg = "no input files given"
        raise ConfigError(msg)
    out = check_output(output, overwrite=overwrite)
    paths = [Path(p) for p in inputs]
    if remote:
        paths = [p.resolve() for p in paths]
    if any(p.resolve() == out.resolve() for p in paths):
        msg = f"output {out} is also an input"
        raise ConfigError(msg)
    for key, (path, what) in job.input_files().items():
        if not path.is_file():
            msg = f"{key}: the {what} {path} does not exist"
            raise ConfigError(msg)
        if path.resolve() == out.resolve():
            msg = f"output {out} is the {what} the job reads ({key})"
            raise ConfigError(msg)
    return out, paths


def _check_options(
    task_events: int | None, *, workers: int | None, dask: bool, scheduler: str | None
) -> None:
    """The runner's options and entries per task, before any work (events per chunk are
    the job's ``[source].step``, checked with the job)."""
    check_runner_options(workers=workers, dask=dask, scheduler=scheduler)
    if task_events is not None and task_events < 1:
        msg = f"task_events must be a positive number of entries, not {task_events}"
        raise ConfigError(msg)


def _in_parts_folder(
    spec: WorkSpec,
    tasks: list[Task],
    out: Path,
    backend: Backend,
    *,
    resume: bool | None,
    overwrite: bool,
    progress: bool,
    keep_going: bool,
    virtual: bool,
    t0: float,
) -> Summary:
    """:func:`_sharded` in the output's parts folder; the folder is kept for a rerun (or as
    the data of a virtual output) or removed after a complete merge. Closes ``backend``."""
    try:
        parts = PartsFolder(parts_folder(out.resolve()), spec.key, resume=resume is not False)
    except BaseException:
        backend.close()
        raise
    try:
        try:
            summary = _sharded(
                spec,
                tasks,
                out,
                backend,
                parts,
                overwrite=overwrite,
                progress=progress,
                keep_going=keep_going,
                virtual=virtual,
                t0=t0,
            )
        finally:
            backend.close()  # workers stopped before the parts folder is tidied
    except BaseException:
        if parts.has_shards():
            parts.close()  # kept for a rerun
        else:
            parts.remove()
        raise
    if summary.failed or virtual:
        parts.close()  # the shards are the data (virtual), or the start of a rerun
    else:
        parts.remove()
    return summary


def _bar(out: Path, progress: bool) -> Any:
    return progress_bar(total=None, enabled=progress, desc=out.name)


def _provenance(
    spec: WorkSpec,
    paths: list[Path],
    file_events: list[int | None],
    accounting: Accounting,
) -> dict[str, str]:
    job = spec.job
    return provenance_attrs(
        job_text=job.text,
        job_resolved=job.resolved_json(),
        overrides=job.overrides,
        inputs=input_records(paths, file_events),
        accounting=accounting.as_dict(),
        command=spec.command,
    )


def _direct(
    spec: WorkSpec, tasks: list[Task], out: Path, *, overwrite: bool, progress: bool, t0: float
) -> Summary:
    """Every task, one after another, written straight into the output: no shards, no merge.

    What a merge of the tasks' shards would write, without writing and reading every row
    twice (the default for one process). The pipeline sizes its datasets for all tasks at
    once (e.g. WatChMaL's contiguous hits, counted over every input before the first).
    """
    pipeline = spec.pipeline()
    job = spec.job
    with (
        output_sink(job, out, overwrite=overwrite) as sink,
        _bar(out, progress) as bar,
    ):
        tracker = EventProgress(bar, len(tasks))
        pipeline.prepare(sink, partial(task_items, pipeline, spec, tasks))
        file_events: dict[int, int | None] = {}
        for task in tasks:
            file_events[task.file_index] = run_range(
                pipeline, spec, task, sink, tracker, prepare=False
            )
        pipeline.finish(sink)
        events = [file_events[i] for i in sorted(file_events)]
        sink.set_attrs(_provenance(spec, _inputs(tasks), events, pipeline.accounting))
        sink.commit()
    return Summary(out, pipeline.accounting, time.perf_counter() - t0, tasks=len(tasks))


def _sharded(
    spec: WorkSpec,
    tasks: list[Task],
    out: Path,
    backend: Backend,
    parts: PartsFolder,
    *,
    overwrite: bool,
    progress: bool,
    keep_going: bool,
    virtual: bool,
    t0: float,
) -> Summary:
    """Tasks into shards on ``backend``, merged in task order as they finish."""
    job = spec.job
    done: dict[int, dict[str, Any] | TaskResult] = {}
    failures: dict[int, TaskFailure] = {}
    peak = 0.0
    workers: set[str] = set()
    reused = parts.reusable(tasks)
    with (
        output_sink(job, out, overwrite=overwrite) as sink,
        _bar(out, progress) as bar,
    ):
        tracker = EventProgress(bar, len(tasks))
        merger = Merger(sink, len(tasks), virtual=virtual, root=out.parent)
        for index in sorted(reused):
            done[index] = reused[index]
            tracker.finish(index, _events(reused[index]))
            _merge(merger, bar, index, parts.folder / reused[index]["shard"])
        calls = [
            Call(t.index, execute, (spec, t, parts.shard_path(t)))
            for t in tasks
            if t.index not in reused
        ]
        for result in backend.results(calls, tracker):
            task = tasks[result.index]
            peak = max(peak, result.peak_rss_mib)
            workers.add(result.worker)
            if result.ok:
                parts.record(task, result)
                done[task.index] = result
                tracker.finish(task.index, _events(result))
                if keep_going or not failures:
                    _merge(merger, bar, task.index, Path(result.shard))
                continue
            tracker.finish(task.index, None)
            failures[task.index] = TaskFailure(task, result.error)
            if keep_going:
                _merge(merger, bar, task.index, None)
            else:
                backend.cancel()
        if failures and (not keep_going or len(failures) == len(tasks)):
            raise _task_error(failures, tasks, parts, keep_going=keep_going)
        accounting, file_events = _totals(tasks, done, failures, job=job)
        bar.set_postfix_str(f"merged {merger.merged} shards; writing the rest")
        merger.finish()
        bar.set_postfix_str(f"merged {merger.merged} shards in {merger.seconds:.1f} s")
        attrs = _provenance(spec, _inputs(tasks), file_events, accounting)
        if failures:
            attrs["failed"] = json.dumps([failures[i].as_dict() for i in sorted(failures)])
        sink.set_attrs(attrs)
        sink.commit()
    return Summary(
        out,
        accounting,
        time.perf_counter() - t0,
        runner=backend.name,
        tasks=len(tasks),
        resumed=len(reused),
        failed=tuple(failures[i] for i in sorted(failures)),
        merge_seconds=merger.seconds,
        peak_rss_mib=peak,
        processes=len(workers),
    )


def _merge(merger: Merger, bar: Any, index: int, shard: Path | None) -> None:
    """Merge the shards that are ready, showing the merge beside the bar (it is not idle)."""
    bar.set_postfix_str(f"merging; {merger.merged} of {merger.n_tasks} shards merged")
    merger.add(index, shard)
    bar.set_postfix_str(f"{merger.merged} of {merger.n_tasks} shards merged")


def _inputs(tasks: list[Task]) -> list[Path]:
    paths: dict[int, Path] = {}
    for t in tasks:
        paths.setdefault(t.file_index, t.path)
    return [paths[i] for i in sorted(paths)]


def _count_events(job: Job, path: Path) -> int | None:
    """Events in an input whose task failed (None: it cannot even be opened)."""
    try:
        with open_input(job, path) as source:
            return int(source.num_events)
    except Exception:
        return None


def _totals(
    tasks: list[Task],
    done: dict[int, dict[str, Any] | TaskResult],
    failures: dict[int, TaskFailure],
    *,
    job: Job | None = None,
) -> tuple[Accounting, list[int | None]]:
    """Accounting summed in task order; events per input file (None: unknown).

    The events of failed tasks count as read and skipped (``task failed``); with ``job``,
    an input none of whose tasks succeeded is opened to count them.
    """
    accounting = Accounting()
    events: dict[int, int | None] = {}
    for task in tasks:
        result = done.get(task.index)
        if result is None:
            events.setdefault(task.file_index, None)
            continue
        if isinstance(result, TaskResult):
            acc, n = result.accounting, result.file_events
        else:
            acc, n = result["accounting"], int(result["file_events"])
        accounting.add(Accounting.from_dict(acc))
        events[task.file_index] = n
    for index in sorted(failures):
        task = tasks[index]
        if events.get(task.file_index) is None and job is not None:
            events[task.file_index] = _count_events(job, task.path)
        in_file = events.get(task.file_index)
        if in_file is not None:
            end = in_file if task.stop is None else min(task.stop, in_file)
            lost = max(end - task.start, 0)
            accounting.events_read += lost
            accounting.skip(FAILED_REASON, lost)
    return accounting, [events[i] for i in sorted(events)]


def _task_error(
    failures: dict[int, TaskFailure], tasks: list[Task], parts: PartsFolder, *, keep_going: bool
) -> TaskError:
    first = failures[min(failures)]
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    if keep_going:
        msg = f"all {len(tasks)} tasks failed: {first.line()}{more}; nothing written"
    else:
        kept = len(parts.entries)
        hint = (
            f"; {kept} finished shards kept in {parts.folder} for a rerun" if kept else ""
        ) + "; --keep-going writes the other tasks' events"
        msg = f"task {first.task.index + 1} of {len(tasks)} failed: {first.line()}{more}{hint}"
    return TaskError(msg, [failures[i] for i in sorted(failures)])
