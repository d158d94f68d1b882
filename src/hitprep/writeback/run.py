"""Run a writeback job: read -> flatten -> preprocess -> model -> invert -> unflatten -> write.

One input file, one output file. Input events are read in chunks of
``source.step``; every chunk is turned into output events (``upsample`` copies
of each, in ``blocks`` or ``adjacent`` order), each model is applied to its
conditioning objects, and the events are appended to the output ``Events``
tree. Memory is bounded by the chunk size (times ``upsample`` for ``adjacent``
order, whose chunks hold ``step // upsample`` input events).

Upsampled events get new event numbers: copy ``k`` of event ``e`` is
``e + k * S``, with ``S`` the smallest power of ten above the largest input
event number, so copy 0 keeps its number and every number stays unique.
``Runs`` and ``LuminosityBlocks`` are copied unchanged (their sums of weights
refer to the input events).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.config import Job, check_memory
from hitprep.errors import ConfigError, CountOverflowError, KeyInFileError, ModelError
from hitprep.events import counts
from hitprep.provenance import input_records, provenance_attrs
from hitprep.sources.root_tree import RootTreeSource
from hitprep.threads import threads
from hitprep.writeback.generator import apply_generator
from hitprep.writeback.noise import normal_noise
from hitprep.writeback.plan import ModelPlan, Plan, make_plan
from hitprep.writeback.spec import NONFINITE, ORDERS, WritebackSpec
from hitprep.writeback.table import ObjectTable, flatten, unflatten
from hitprep.writeback.transforms import forward, inverse
from hitprep.writeback.writer import NanoAODWriter

__all__ = ["WritebackSummary", "output_events", "writeback"]

IntArray = npt.NDArray[np.int64]
PROVENANCE_KEY = "hitprep_provenance"


@dataclass
class WritebackSummary:
    """What a writeback did: events in and out, objects made, values fixed or skipped."""

    output: Path
    events_read: int = 0
    events_written: int = 0
    upsample: int = 1
    order: str = "blocks"
    objects: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    nonfinite: Counter[str] = field(default_factory=Counter)
    trees_copied: dict[str, int] = field(default_factory=dict)
    not_copied: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "events_written": self.events_written,
            "upsample": self.upsample,
            "order": self.order,
            "objects_written": dict(self.objects),
            "events_skipped": dict(self.skipped),
            "nonfinite_values": dict(self.nonfinite),
            "trees_copied": dict(self.trees_copied),
            "branches_not_copied": dict(self.not_copied),
        }

    def line(self) -> str:
        skipped = sum(self.skipped.values())
        why = ", ".join(f"{k}: {v}" for k, v in self.skipped.items())
        copies = f" ({self.upsample} copies, {self.order})" if self.upsample > 1 else ""
        objects = "".join(f" {n:,} {name};" for name, n in self.objects.items())
        bad = sum(self.nonfinite.values())
        nonfinite = f" {bad:,} non-finite values;" if bad else ""
        trees = "".join(f" {name} copied;" for name in self.trees_copied)
        return (
            f"{self.events_read:,} events in, {self.events_written:,} written{copies}, "
            f"{skipped} skipped{f' ({why})' if why else ''};{objects}{nonfinite}{trees}"
            f" {self.seconds:.1f} s -> {self.output}"
        )


def output_events(
    num_events: int, *, step: int, upsample: int, order: str
) -> Iterator[tuple[int, int, IntArray, IntArray]]:
    """Chunks of the output: ``(start, stop, events, copies)`` per chunk.

    ``start:stop`` is the range of input events to read; ``events`` indexes them
    (relative to ``start``) once per output event, ``copies`` is each output
    event's copy number. Every input event appears ``upsample`` times, the last
    one included whatever ``num_events`` is modulo ``step``.

    Example:
        >>> [(a, b, e.tolist(), c.tolist()) for a, b, e, c in
        ...  output_events(3, step=2, upsample=2, order="adjacent")]
        [(0, 1, [0, 0], [0, 1]), (1, 2, [0, 0], [0, 1]), (2, 3, [0, 0], [0, 1])]
    """
    if order not in ORDERS:
        msg = f"order must be one of {', '.join(ORDERS)}, not {order!r}"
        raise ValueError(msg)
    if step <= 0 or upsample <= 0:
        msg = f"step and upsample must be positive, got {step} and {upsample}"
        raise ValueError(msg)
    if order == "blocks":
        for copy in range(upsample):
            for start in range(0, num_events, step):
                stop = min(start + step, num_events)
                n = stop - start
                yield start, stop, np.arange(n, dtype=np.int64), np.full(n, copy, np.int64)
        return
    per = max(1, step // upsample)
    for start in range(0, num_events, per):
        stop = min(start + per, num_events)
        n = stop - start
        events = np.repeat(np.arange(n, dtype=np.int64), upsample)
        copies = np.tile(np.arange(upsample, dtype=np.int64), n)
        yield start, stop, events, copies


def _event_stride(source: RootTreeSource, upsample: int) -> int:
    """Power of ten above the largest event number; checks copies fit the dtype."""
    events = np.asarray(ak.to_numpy(source.read(0, source.num_events, fields=["event"]).event))
    dtype = events.dtype
    largest = int(events.max()) if len(events) else 0
    stride = 10 ** len(str(largest)) if largest > 0 else 1
    top = largest + (upsample - 1) * stride
    if dtype.kind in "iu" and top > np.iinfo(dtype).max:
        msg = (
            f"{source.path}: upsampling x{upsample} gives event numbers up to {top}, which do "
            f"not fit the {dtype} branch 'event'"
        )
        raise CountOverflowError(msg)
    return stride


def _cast(
    values: npt.NDArray[np.float64], dtype: np.dtype[Any], where: str, entries: IntArray
) -> npt.NDArray[Any]:
    """Float64 model values -> the output dtype; integers are rounded, never wrapped.

    ``entries`` gives the input entry of each row, for the error messages.
    """
    if dtype.kind == "f":
        with np.errstate(over="ignore"):  # overflow is found and reported below
            cast = values.astype(dtype)
        overflow = ~np.isfinite(cast) & np.isfinite(values)
        if overflow.any():  # finite in float64, infinite in the branch: never written
            bad = int(np.flatnonzero(overflow)[0])
            msg = (
                f"{where} is {values[bad]:g} for an object of input entry {entries[bad]},"
                f" beyond what a {dtype} branch holds (it would be written as inf)"
            )
            raise CountOverflowError(msg)
        return cast
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        msg = (
            f"{where} is {values[bad]} for an object of input entry {entries[bad]}, which a"
            f" {dtype} branch cannot hold"
        )
        raise ModelError(msg)
    rounded = np.rint(values)
    if dtype.kind == "b":
        flags: npt.NDArray[np.bool_] = rounded != 0
        return flags
    info = np.iinfo(dtype)
    outside = (rounded < info.min) | (rounded > info.max)
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        msg = (
            f"{where} is {values[bad]:g} for an object of input entry {entries[bad]}, outside"
            f" the range of {dtype} [{info.min}, {info.max}]; values are never wrapped around"
        )
        raise CountOverflowError(msg)
    return rounded.astype(dtype)


class _Chunker:
    """Turns one chunk of input events into output events."""

    def __init__(
        self, spec: WritebackSpec, plan: Plan, summary: WritebackSummary, stride: int
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.summary = summary
        self.stride = stride
        self.rows_done: Counter[str] = Counter()  # model rows made so far (noise position)
        self.written = 0

    def _nonfinite(
        self,
        matrix: npt.NDArray[np.float64],
        names: tuple[str, ...],
        label: str,
        rows_event: IntArray,
        keep: npt.NDArray[np.bool_],
        context: tuple[int, IntArray],
    ) -> None:
        """Count non-finite values per column and handle them as the job says (in place)."""
        bad = ~np.isfinite(matrix)
        if not bad.any():
            return
        per_column = bad.sum(axis=0)
        for name, n in zip(names, per_column, strict=True):
            if n:
                self.summary.nonfinite[f"{name} ({label})"] += int(n)
        policy = self.spec.nonfinite
        if policy == "error":
            row, col = (int(v[0]) for v in np.nonzero(bad))
            start, events = context
            entry = start + int(events[rows_event[row]])
            msg = (
                f"{names[col]} ({label}) is {matrix[row, col]} for an object of input entry "
                f"{entry} ({int(per_column.sum())} non-finite values in this chunk); check the "
                "[preprocess] transforms, or set writeback.nonfinite to keep, fill or skip_event"
            )
            if label == "model output":
                raise ModelError(msg)
            raise ConfigError(msg)
        if policy == "fill":
            matrix[bad] = self.spec.fill_value
        elif policy == "skip_event":
            keep[np.unique(rows_event[bad.any(axis=1)])] = False

    def _model(
        self,
        mp: ModelPlan,
        table: ObjectTable,
        keep: npt.NDArray[np.bool_],
        context: tuple[int, IntArray],
    ) -> ak.Array:
        m = mp.spec
        rows_event = table.event_index
        cond = table.matrix(mp.inputs)
        for j, chain in enumerate(mp.input_chains):
            if chain:
                cond[:, j] = forward(chain, cond[:, j])
        names_in = tuple(f"{m.conditioning}.{f}" for f in mp.inputs)
        self._nonfinite(cond, names_in, "conditioning", rows_event, keep, context)
        first = self.rows_done[m.collection]
        noise = normal_noise(
            seed=self.spec.seed, stream=m.index, start=first, rows=len(cond), dim=m.noise
        )
        if len(cond):
            out = apply_generator(
                mp.generator,
                cond,
                noise,
                outputs=len(mp.outputs),
                batch_size=m.batch_size,
                where=m.where,
                first_row=first,
            )
        else:
            out = np.zeros((0, len(mp.outputs)), dtype=np.float64)
        self.rows_done[m.collection] += len(cond)
        for j, chain in enumerate(mp.output_chains):
            if chain:
                out[:, j] = inverse(chain, out[:, j])
        names_out = tuple(f"{m.collection}.{f}" for f in mp.outputs)
        self._nonfinite(out, names_out, "model output", rows_event, keep, context)
        start, events = context
        entries = start + events[rows_event]
        columns = {
            name: _cast(out[:, j], dtype, f"{m.where}.{name}", entries)
            for j, (name, dtype) in enumerate(zip(mp.outputs, mp.output_dtypes, strict=True))
        }
        for name, (values, dtype) in mp.completed_columns(table.columns, len(out)).items():
            columns[name] = _cast(values, dtype, f"{m.where}.{name}", entries)  # e.g. Muon_mass
        if m.link:
            index = table.columns[m.link].astype(np.float64)
            columns[m.link] = _cast(index, mp.link_dtype, f"{m.where}.{m.link}", entries)
        return unflatten(columns, table.counts)

    def __call__(self, batch: ak.Array, start: int, events: IntArray, copies: IntArray) -> ak.Array:
        n = len(events)
        keep = np.ones(n, dtype=bool)
        contents: dict[str, Any] = {}
        for name in self.plan.event_fields:
            values = np.asarray(ak.to_numpy(batch[name]))[events]
            if name == "event" and self.stride and self.spec.upsample > 1:
                values = values + (copies * self.stride).astype(values.dtype)
            contents[name] = values
        for coll, kind in self.plan.collections:
            if kind == "copy":
                table = flatten(batch, coll, self.plan.copy_fields[coll]).take_events(events)
                contents[coll] = unflatten(table.columns, table.counts)
                continue
            mp = self.plan.models[coll]
            table = flatten(
                batch,
                mp.spec.conditioning,
                tuple(dict.fromkeys((*mp.inputs, *mp.copied))),
                select=mp.spec.select or None,
                local_index=mp.spec.link or None,
            ).take_events(events)
            contents[coll] = self._model(mp, table, keep, (start, events))
        out = ak.Array(
            ak.contents.RecordArray(
                [ak.to_layout(v) for v in contents.values()], list(contents), length=n
            )
        )
        if not keep.all():
            self.summary.skipped["non-finite values"] += int((~keep).sum())
            out = out[keep]
        return out


Chunk = tuple[int, int, IntArray, IntArray]


def _prefetched(
    source: RootTreeSource, chunks: Iterator[Chunk], fields: tuple[str, ...]
) -> Iterator[tuple[Chunk, ak.Array]]:
    """Each chunk with its input events, the next chunk read in a thread meanwhile.

    Reading (decompression) and writing (compression, in :class:`_WriteBehind`'s
    thread) release the GIL, so they overlap; at most two input chunks are in
    memory. Only the thread reads the source. With a one-core thread budget
    (:func:`hitprep.threads.threads`) the chunks are read in turn, in this thread.
    """
    if threads() == 1:  # a one-core budget: no read-ahead
        for chunk in chunks:
            yield chunk, source.read(chunk[0], chunk[1], fields=fields)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitprep-read") as pool:
        pending: tuple[Chunk, Future[ak.Array]] | None = None
        for chunk in chunks:
            future = pool.submit(source.read, chunk[0], chunk[1], fields=fields)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (chunk, future)
        if pending is not None:
            yield pending[0], pending[1].result()


class _WriteBehind:
    """Appends output chunks to a tree in a thread, in order, while the next chunk is made.

    Compressing and writing baskets (zlib-ng releases the GIL) then overlaps
    reading and computing. One chunk is written at a time and :meth:`submit`
    waits for the previous one first, so at most one chunk waits in memory; an
    error in a write is raised by the next :meth:`submit` or on leaving the
    ``with`` block, which always waits for the thread, so the writer is never
    aborted under a running write. With a one-core thread budget
    (:func:`hitprep.threads.threads`), chunks are written in the calling thread.
    """

    def __init__(self, writer: NanoAODWriter, tree: str, **options: Any) -> None:
        self._writer, self._tree, self._options = writer, tree, options
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitprep-write")
        self._pending: Future[None] | None = None

    def submit(self, batch: ak.Array) -> None:
        self.wait()
        if threads() == 1:  # a one-core budget: written here and now
            self._extend(batch)
            return
        self._pending = self._pool.submit(self._extend, batch)

    def _extend(self, batch: ak.Array) -> None:
        self._writer.extend(self._tree, batch, **self._options)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> _WriteBehind:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _copy_trees(
    spec: WritebackSpec, path: Path, writer: NanoAODWriter, summary: WritebackSummary
) -> None:
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
            for start in range(0, max(tree.num_events, 1), spec.step):
                batch = tree.read(start, min(start + spec.step, tree.num_events))
                writer.extend(name, batch, counter_dtypes=counters, titles=titles)
            summary.trees_copied[name] = tree.num_events
            if tree.skipped:
                summary.not_copied.update({f"{name}/{b}": r for b, r in tree.skipped.items()})


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
    spec = WritebackSpec.from_job(job)
    changes: dict[str, Any] = {}
    if upsample is not None:
        changes["upsample"] = upsample
    if order is not None:
        changes["order"] = order
    if seed is not None:
        changes["seed"] = seed
    if step is not None:
        changes["step"] = step
    if changes:
        from dataclasses import replace

        spec = replace(spec, **changes)
    if spec.upsample < 1 or spec.step < 1 or spec.seed < 0:
        msg = (
            f"upsample and step must be >= 1 and seed >= 0, got {spec.upsample}, {spec.step},"
            f" {spec.seed}"
        )
        raise ConfigError(msg)
    if spec.order not in ORDERS:
        msg = f"order must be one of {', '.join(ORDERS)}, not {spec.order!r}"
        raise ConfigError(msg)
    if spec.nonfinite not in NONFINITE:
        msg = f"nonfinite must be one of {', '.join(NONFINITE)}, not {spec.nonfinite!r}"
        raise ConfigError(msg)
    in_path, out_path = Path(input), check_output(output, overwrite=overwrite)
    if in_path.exists() and in_path.resolve() == out_path.resolve():
        msg = f"output {out_path} is also the input"
        raise ConfigError(msg)

    summary = WritebackSummary(out_path, upsample=spec.upsample, order=spec.order)
    source = RootTreeSource(in_path, tree=spec.tree, collections=spec.collections)
    with source:
        plan = make_plan(spec, source)
        stride = (
            _event_stride(source, spec.upsample)
            if (spec.upsample > 1 and "event" in plan.event_fields)
            else 0
        )
        chunker = _Chunker(spec, plan, summary, stride)
        total = source.num_events * spec.upsample
        what = f"the per-event offsets of {total:,} output events ({spec.upsample:,} copies)"
        check_memory("upsample", 8.0 * (total + 1), what=what)  # the writer's event index
        chunks = -(-source.num_events // max(1, spec.step)) * spec.upsample
        from tqdm import tqdm

        with (
            NanoAODWriter(
                out_path,
                overwrite=overwrite,
                compression=spec.compression,
                baskets=chunks,
                like=in_path,
            ) as writer,
            tqdm(total=total, unit="ev", disable=not progress, desc=out_path.name) as bar,
        ):
            made = False
            chunks_in = output_events(
                source.num_events, step=spec.step, upsample=spec.upsample, order=spec.order
            )
            with _WriteBehind(
                writer, spec.tree, counter_dtypes=plan.counter_dtypes, titles=plan.titles
            ) as behind:
                for (start, _, events, copies), batch in _prefetched(source, chunks_in, plan.read):
                    out = chunker(batch, start, events, copies)
                    for coll, _ in plan.collections:
                        summary.objects[coll] += int(counts(out[coll]).sum())
                    behind.submit(out)
                    made = True
                    summary.events_written += len(out)
                    bar.update(len(events))
            if not made:  # an input without events still gets its (empty) tree
                empty = chunker(
                    source.read(0, 0, fields=plan.read),
                    0,
                    np.zeros(0, np.int64),
                    np.zeros(0, np.int64),
                )
                writer.extend(
                    spec.tree, empty, counter_dtypes=plan.counter_dtypes, titles=plan.titles
                )
            summary.events_read = source.num_events
            _copy_trees(spec, in_path, writer, summary)
            summary.seconds = time.perf_counter() - started
            attrs = provenance_attrs(
                job_text=job.text,
                job_resolved=job.resolved_json(),
                overrides=job.overrides,
                inputs=input_records([in_path], [source.num_events]),
                accounting=summary.as_dict(),
                command=command,
            )
            writer.write_text(PROVENANCE_KEY, json.dumps(attrs))
            writer.commit()
    summary.seconds = time.perf_counter() - started
    return summary
