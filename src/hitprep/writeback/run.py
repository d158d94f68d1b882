"""Run a writeback job: Source -> stages (flatten, preprocess, model, inverse) -> Sink.

One input file, one output file. The input's events are read in chunks of
``source.step`` by :class:`~hitprep.sources.root_tree.RootTreeSource` with the
shared read-ahead (:meth:`~hitprep.sources.base.Source.read_ahead`); every chunk
becomes output events (``upsample`` copies of each, see
:mod:`hitprep.writeback.upsample`) through the stages of
:mod:`hitprep.writeback.chunks`; the :class:`~hitprep.sinks.root.RootSink`
appends them to the output ``Events`` tree in its writer thread while the next
chunk is read and made. Memory is bounded by the chunk size (times ``upsample``
for ``adjacent`` order, whose chunks hold ``step // upsample`` input events).

``Runs`` and ``LuminosityBlocks`` are copied unchanged (their sums of weights
refer to the input events).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hitprep.atomic import check_output
from hitprep.config import Job, check_memory
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.events import counts
from hitprep.progress import progress_bar
from hitprep.provenance import input_records, provenance_attrs
from hitprep.sinks.root import RootSink
from hitprep.sources.root_tree import RootTreeSource
from hitprep.writeback.chunks import OutputEvents
from hitprep.writeback.plan import Plan, make_plan
from hitprep.writeback.spec import WritebackSpec
from hitprep.writeback.summary import WritebackSummary
from hitprep.writeback.upsample import Chunk, event_stride, output_events

__all__ = ["PROVENANCE_KEY", "WritebackSummary", "output_events", "writeback"]

PROVENANCE_KEY = "hitprep_provenance"


def writeback(
    job: Job,
    input: str | Path,
    output: str | Path,
    *,
    upsample: int | None = None,
    order: str | None = None,
    seed: int | None = None,
    step: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> WritebackSummary:
    """Write a synthetic NanoAOD ``output`` from ``input`` as the writeback ``job`` says.

    Args:
        job: a job with a ``[writeback]`` section (see :mod:`hitprep.writeback.spec`).
        input: NanoAOD (or any ROOT file with a TTree of the job's ``source.tree``).
        output: ROOT file to write; it appears only when complete.
        upsample: copies of each input event (overrides ``writeback.upsample``).
        order: ``"blocks"`` or ``"adjacent"`` (overrides ``writeback.order``).
        seed: noise seed (overrides ``writeback.seed``).
        step: input events per chunk (overrides ``source.step``).
        overwrite: replace an existing output.
        progress: show a progress bar on stderr.
        command: command line for the provenance (default: this process's).

    Returns:
        A :class:`WritebackSummary`.

    Raises:
        ConfigError: bad job or options; OutputExistsError: output exists;
        KeyInFileError: missing collection/field (listing the existing ones);
        ModelError: a model fails or returns the wrong shape. Nothing is left
        at ``output`` on any error.
    """
    started = time.perf_counter()
    spec = WritebackSpec.from_job(job).with_options(
        upsample=upsample, order=order, seed=seed, step=step
    )
    in_path, out_path = _paths(input, output, overwrite=overwrite)
    summary = WritebackSummary(out_path, upsample=spec.upsample, order=spec.order)
    with RootTreeSource(in_path, tree=spec.tree, collections=spec.collections) as source:
        plan = make_plan(spec, source)
        make = _output_events(spec, plan, source, summary)
        with RootSink(
            out_path,
            overwrite=overwrite,
            compression=spec.compression,
            baskets=-(-source.num_events // max(1, spec.step)) * spec.upsample,
            like=in_path,
            background=True,
        ) as sink:
            _write_events(source, sink, make, progress=progress)
            summary.events_read = source.num_events
            _copy_trees(spec, in_path, sink, summary)
            summary.seconds = time.perf_counter() - started
            _write_provenance(job, in_path, source.num_events, sink, summary, command)
            sink.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _paths(input: str | Path, output: str | Path, *, overwrite: bool) -> tuple[Path, Path]:
    """The input and the output path; the output may not exist (unless ``overwrite``) nor
    be the input."""
    in_path, out_path = Path(input), check_output(output, overwrite=overwrite)
    if in_path.exists() and in_path.resolve() == out_path.resolve():
        msg = f"output {out_path} is also the input"
        raise ConfigError(msg)
    return in_path, out_path


def _output_events(
    spec: WritebackSpec, plan: Plan, source: RootTreeSource, summary: WritebackSummary
) -> OutputEvents:
    """The chunk maker; checks first that the output's event index fits in memory."""
    upsampled = spec.upsample > 1 and "event" in plan.event_fields
    stride = event_stride(source, spec.upsample) if upsampled else 0
    total = source.num_events * spec.upsample
    what = f"the per-event offsets of {total:,} output events ({spec.upsample:,} copies)"
    check_memory("upsample", 8.0 * (total + 1), what=what)  # the sink's event index
    return OutputEvents(spec, plan, summary, stride)


def _write_events(
    source: RootTreeSource, sink: RootSink, make: OutputEvents, *, progress: bool
) -> None:
    """Read, make and write every chunk; the output tree is made even for no events."""
    spec, plan, summary = make.spec, make.plan, make.summary
    options: dict[str, Any] = {"counter_dtypes": plan.counter_dtypes, "titles": plan.titles}

    def chunks() -> Iterator[Chunk]:  # twice: once ahead for the reads, once here
        return output_events(
            source.num_events, step=spec.step, upsample=spec.upsample, order=spec.order
        )

    batches = source.read_ahead(((c.start, c.stop) for c in chunks()), fields=plan.read)
    total = source.num_events * spec.upsample
    made = False
    with progress_bar(total=total, enabled=progress, desc=sink.path.name) as bar:
        for batch, chunk in zip(batches, chunks(), strict=True):
            out = make(batch, chunk)
            for coll, _ in plan.collections:
                summary.objects[coll] += int(counts(out[coll]).sum())
            sink.extend(spec.tree, out, **options)
            made = True
            summary.events_written += len(out)
            bar.update(len(chunk.events))
    if not made:  # an input without events still gets its (empty) tree
        none = np.zeros(0, np.int64)
        empty = make(source.read(0, 0, fields=plan.read), Chunk(0, 0, none, none))
        sink.extend(spec.tree, empty, **options)


def _copy_trees(spec: WritebackSpec, path: Path, sink: RootSink, summary: WritebackSummary) -> None:
    """Copy the trees of ``writeback.copy_trees`` that the input has, unchanged."""
    for name in spec.copy_trees:
        if name == spec.tree:
            continue
        try:
            tree = RootTreeSource(path, tree=name)
        except KeyInFileError:
            continue  # copied when present
        with tree:
            counters = {c: tree.dtype_of(b) for c, b in tree.counters.items()}
            titles: dict[str, str] = {}
            if spec.titles:
                titles = {tree.branch_of(f): tree.title_of(f) for f in tree.fields()}
                titles.update({b: tree.title_of(b) for b in tree.counters.values()})
            batches = tree.iterate(step=spec.step) if tree.num_events else [tree.read(0, 0)]
            for batch in batches:
                sink.extend(name, batch, counter_dtypes=counters, titles=titles)
            summary.trees_copied[name] = tree.num_events
            if tree.skipped:
                summary.not_copied.update({f"{name}/{b}": r for b, r in tree.skipped.items()})


def _write_provenance(
    job: Job,
    path: Path,
    num_events: int,
    sink: RootSink,
    summary: WritebackSummary,
    command: str | None,
) -> None:
    attrs = provenance_attrs(
        job_text=job.text,
        job_resolved=job.resolved_json(),
        overrides=job.overrides,
        inputs=input_records([path], [num_events]),
        accounting=summary.as_dict(),
        command=command,
    )
    sink.write_text(PROVENANCE_KEY, json.dumps(attrs))
