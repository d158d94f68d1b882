"""Writeback over many inputs: one task per input file, one output file per task.

A writeback output (NanoAOD) keeps its input's event structure file by file, so
the tasks need no merge: ``writeback_files`` runs
:func:`hitprep.writeback.writeback` on every input, in this process, in local
worker processes or on a Dask cluster (the backends of :mod:`hitprep.runners`),
and writes ``OUTDIR/<input name>.root``. Each output is the one the serial
command would write (apart from the provenance timestamp). A manifest in the
output folder (``.hitprep-writeback.jsonl``) records finished outputs with their
checksums: a rerun redoes only the inputs whose output is missing, changed or
made by another job or input; other files in the folder are left alone.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitprep.atomic import partial_path, publish
from hitprep.config import Job
from hitprep.errors import ConfigError, OutputExistsError, TaskError
from hitprep.progress import progress_bar
from hitprep.provenance import version
from hitprep.runners.backends import Call, EventProgress, check_runner_options, make_backend
from hitprep.runners.conversion import TaskFailure
from hitprep.runners.manifest import PartsFolder, append_entry, manifest_entry
from hitprep.runners.tasks import (
    Report,
    Task,
    TaskResult,
    checksum,
    describe_error,
    file_identity,
    peak_rss_mib,
)

__all__ = ["MANIFEST", "WritebackRunSummary", "writeback_files", "writeback_task"]

MANIFEST = ".hitprep-writeback.jsonl"


@dataclass(frozen=True)
class WritebackRunSummary:
    """What a writeback over several inputs did."""

    outputs: tuple[Path, ...]
    events_read: int
    events_written: int
    seconds: float
    runner: str
    resumed: int = 0
    failed: tuple[TaskFailure, ...] = ()
    peak_rss_mib: float = 0.0

    def line(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        folder = self.outputs[0].parent if self.outputs else "-"
        return (
            f"{self.events_read:,} events in, {self.events_written:,} written;"
            f" {len(self.outputs)} outputs in {self.seconds:.1f} s -> {folder}"
            f" [{self.runner}: {len(self.outputs) + len(self.failed)} tasks,"
            f" {self.resumed} resumed{failed}; peak {self.peak_rss_mib:.0f} MiB per worker]"
        )

    def failure_lines(self) -> list[str]:
        return [f.line() for f in self.failed]


def writeback_task(
    index: int,
    job: Job,
    input: Path,
    output: Path,
    options: dict[str, Any],
    command: str | None,
    journal: tuple[Path, str] | None = None,
    *,
    report: Report,
) -> TaskResult:
    """One input -> one output; errors come back in the result (a top-level function).

    With ``journal`` (manifest path, task key) the task records its finished output in
    the manifest itself, so that a rerun resumes it even when the run that started the
    task was killed before it heard back.
    """
    from hitprep.writeback import writeback

    started = time.perf_counter()
    staging = partial_path(output)  # recorded first, then renamed: never finished unrecorded
    try:
        summary = writeback(
            job, input, staging, overwrite=True, progress=False, command=command, **options
        )
        report(index, "start", summary.events_read)
        result = TaskResult(
            index,
            shard=str(output),
            accounting=summary.as_dict(),
            file_events=summary.events_read,
            sha256=checksum(staging),
            size=staging.stat().st_size,
            seconds=time.perf_counter() - started,
            peak_rss_mib=peak_rss_mib(),
        )
        if journal is not None:
            manifest, key = journal
            append_entry(manifest, manifest_entry(key, output.name, result, input=str(input)))
        publish(staging, output)
        return result
    except BaseException as err:
        staging.unlink(missing_ok=True)
        if not isinstance(err, Exception):  # interrupted: nothing to report
            raise
        return TaskResult(
            index,
            error=describe_error(err),
            seconds=time.perf_counter() - started,
            peak_rss_mib=peak_rss_mib(),
        )


def _output_names(inputs: Sequence[Path]) -> list[str]:
    names = [f"{p.stem}.root" for p in inputs]
    seen: dict[str, Path] = {}
    for name, path in zip(names, inputs, strict=True):
        if name in seen:
            msg = (
                f"inputs {seen[name]} and {path} would both write {name}; give inputs with"
                " different names (one output per input)"
            )
            raise ConfigError(msg)
        seen[name] = path
    return names


def _locations(
    inputs: Sequence[str | Path], outdir: str | Path, *, absolute: bool
) -> tuple[list[Path], Path]:
    """The input paths (absolute when tasks may run elsewhere) and the output folder."""
    paths = [Path(p) for p in inputs]
    folder = Path(outdir).resolve()
    if absolute:
        paths = [p.resolve() for p in paths]
    if folder.exists() and not folder.is_dir():
        msg = f"{folder} is a file; with several inputs, -o names an output folder"
        raise ConfigError(msg)
    return paths, folder


def _tasks(job: Job, paths: Sequence[Path], options: dict[str, Any]) -> tuple[str, list[Task]]:
    """The job's key (what the manifest is valid for) and one task per input, keyed by the
    job and the input's identity (so a changed input is redone)."""
    job_text = json.dumps(
        {
            "hitprep": version(),
            "job": job.text,
            "resolved": job.resolved_json(),
            "overrides": list(job.overrides),
            "options": options,
        },
        sort_keys=True,
    )
    job_key = hashlib.sha256(job_text.encode()).hexdigest()
    tasks = []
    for i, path in enumerate(paths):
        text = json.dumps({"job": job_key, "input": file_identity(path)}, sort_keys=True)
        tasks.append(Task(i, i, path, key=hashlib.sha256(text.encode()).hexdigest()))
    return job_key, tasks


def _check_outputs(outputs: Sequence[Path], *, overwrite: bool) -> None:
    """Raise OutputExistsError for an output to write that exists (unless ``overwrite``)."""
    existing = [p for p in outputs if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(existing[0])


def _calls(
    job: Job,
    tasks: Sequence[Task],
    folder: Path,
    names: Sequence[str],
    options: dict[str, Any],
    command: str | None,
) -> list[Call]:
    """One :func:`writeback_task` call per task, each journaling into the folder's manifest."""
    return [
        Call(
            t.index,
            writeback_task,
            (
                t.index,
                job,
                t.path,
                folder / names[t.index],
                options,
                command,
                (folder / MANIFEST, t.key),
            ),
        )
        for t in tasks
    ]


@dataclass
class _Outcome:
    """The tasks' results as they come: finished (or reused) outputs, failures, peak memory."""

    results: dict[int, TaskResult | dict[str, Any]]
    failures: dict[int, TaskFailure] = field(default_factory=dict)
    peak: float = 0.0

    def add(
        self,
        task: Task,
        result: TaskResult,
        names: Sequence[str],
        parts: PartsFolder,
        tracker: EventProgress,
    ) -> None:
        """Record one task's result (a finished output goes into the manifest)."""
        self.peak = max(self.peak, result.peak_rss_mib)
        if result.ok:
            name = names[task.index]
            parts.record_file(task.key, name, result, journal=False, input=str(task.path))
            self.results[task.index] = result
            tracker.finish(task.index, result.file_events)
            return
        tracker.finish(task.index, None)
        self.failures[task.index] = TaskFailure(task, result.error)

    def check(self, n_tasks: int, *, keep_going: bool) -> None:
        """Raise TaskError for the failures, unless ``keep_going`` and some task succeeded."""
        failures = self.failures
        if failures and (not keep_going or len(failures) == n_tasks):
            first = failures[min(failures)]
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            hint = "" if keep_going else "; --keep-going writes the other inputs"
            msg = f"writeback of {first.line()}{more}{hint}"
            raise TaskError(msg, [failures[i] for i in sorted(failures)])

    def summary(
        self, folder: Path, names: Sequence[str], seconds: float, runner: str, *, resumed: int
    ) -> WritebackRunSummary:
        events_read = events_written = 0
        for value in self.results.values():
            acc = value.accounting if isinstance(value, TaskResult) else value["accounting"]
            events_read += int(acc.get("events_read", 0))
            events_written += int(acc.get("events_written", 0))
        return WritebackRunSummary(
            tuple(folder / names[i] for i in sorted(self.results)),
            events_read,
            events_written,
            seconds,
            runner,
            resumed=resumed,
            failed=tuple(self.failures[i] for i in sorted(self.failures)),
            peak_rss_mib=self.peak,
        )


def writeback_files(
    job: Job,
    inputs: Sequence[str | Path],
    outdir: str | Path,
    *,
    upsample: int | None = None,
    order: str | None = None,
    seed: int | None = None,
    step: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
    workers: int | None = None,
    dask: bool = False,
    scheduler: str | None = None,
    scheduler_timeout: float = 10.0,
    keep_going: bool = False,
    resume: bool | None = None,
) -> WritebackRunSummary:
    """Write back every input into ``outdir/<input name>.root``, one task per input.

    Args:
        job, upsample, order, seed, step: as for :func:`hitprep.writeback.writeback`.
        inputs: NanoAOD inputs (their file names, less the suffix, name the outputs).
        outdir: output folder (created if needed).
        overwrite: replace outputs that exist and are not a finished task of this job.
        progress: one progress bar over the events of all inputs.
        command: command line for the provenance.
        workers, dask, scheduler, scheduler_timeout: where tasks run (as for
            :func:`hitprep.runners.convert`).
        keep_going: write the other inputs when one fails, and list it.
        resume: keep outputs that a previous run of the same job finished (default).

    Raises:
        TaskError: an input failed (without ``keep_going``), or every input did.
        OutputExistsError: an output exists that this job did not make.
    """
    started = time.perf_counter()
    if not inputs:
        msg = "no input files given"
        raise ConfigError(msg)
    check_runner_options(workers=workers, dask=dask, scheduler=scheduler)
    remote = dask or scheduler is not None  # Dask workers may run elsewhere, in another folder
    paths, folder = _locations(inputs, outdir, absolute=remote)
    names = _output_names(paths)
    options = {"upsample": upsample, "order": order, "seed": seed, "step": step}
    options = {k: v for k, v in options.items() if v is not None}
    job_key, tasks = _tasks(job, paths, options)
    parts = PartsFolder(
        folder, job_key, resume=resume is not False, manifest=MANIFEST, exclusive=False
    )
    try:
        reused = parts.reusable_files({t.index: (t.key, names[t.index]) for t in tasks})
        existing = [folder / names[t.index] for t in tasks if t.index not in reused]
        _check_outputs(existing, overwrite=overwrite)
        backend = make_backend(
            workers=workers, dask=dask, scheduler=scheduler, timeout=scheduler_timeout
        )
        calls = _calls(
            job, [t for t in tasks if t.index not in reused], folder, names, options, command
        )
        outcome = _Outcome(dict(reused))
        with backend, progress_bar(total=None, enabled=progress, desc=folder.name) as bar:
            tracker = EventProgress(bar, len(tasks))
            for index, entry in reused.items():
                tracker.finish(index, int(entry["file_events"]))
            for result in backend.results(calls, tracker):
                outcome.add(tasks[result.index], result, names, parts, tracker)
                if not result.ok and not keep_going:
                    backend.cancel()
        outcome.check(len(tasks), keep_going=keep_going)
    finally:
        parts.close()
    return outcome.summary(
        folder, names, time.perf_counter() - started, backend.name, resumed=len(reused)
    )
