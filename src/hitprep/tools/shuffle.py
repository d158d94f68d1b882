"""Shuffle the events of a hitprep output out of core, jagged datasets included.

Output event ``p`` is input event ``perm[p]`` for a seeded permutation ``perm``; every
per-event dataset and every jagged item dataset is permuted the same way and the jagged
indices are recomputed. Memory stays within ``max_ram``:

- data that fit in a third of the budget are shuffled in one pass (read, permute, write);
- otherwise in two passes over the data, never random reads: output positions are cut
  into *buckets* of at most a third of the budget; pass 1 reads the input in blocks and writes
  each block's events, grouped by destination bucket, to an uncompressed scratch file
  beside the output; pass 2 reads each bucket's runs back, puts the bucket in its final
  order and appends it to the output.

The scratch file is deleted in every case; the output appears only when complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.errors import ConfigError, HitprepError
from hitprep.events import offsets_from_counts
from hitprep.progress import progress_bar
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.tools.eventfile import Block, EventFile, EventWriter, gather_ranges, spans
from hitprep.tools.records import ToolSummary, parse_size, tool_record

__all__ = ["permutation", "shuffle"]


def permutation(n_events: int, seed: int) -> npt.NDArray[np.int64]:
    """The permutation ``shuffle`` applies: output event ``p`` is input event ``perm[p]``."""
    return np.random.default_rng(seed).permutation(n_events).astype(np.int64)


def shuffle(
    input: str | Path,
    output: str | Path,
    *,
    seed: int = 0,
    max_ram: str | int = "2GB",
    tmpdir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> ToolSummary:
    """Write the events of ``input`` to ``output`` in a seeded random order.

    Args:
        input: a hitprep output.
        output: file to write (appears only when complete).
        seed: permutation seed (same seed, same order).
        max_ram: memory budget for event data (e.g. ``"2GB"``).
        tmpdir: folder for the scratch file (default: beside the output).
        overwrite: replace an existing output.
        progress: progress bar on stderr.
        command: command line for the provenance.

    Raises:
        FileFormatError: ``input`` is not a hitprep output (nothing is written).
        HitprepError: one event alone does not fit a third of ``max_ram``.
    """
    started = time.perf_counter()
    budget = parse_size(max_ram)
    out = check_output(output, overwrite=overwrite)
    if Path(input).resolve() == out.resolve():
        msg = f"output {out} is also the input"
        raise ConfigError(msg)
    with ExitStack() as stack:
        src = stack.enter_context(EventFile(input, purpose="shuffle"))
        sizes, limit = _event_sizes(src, budget)
        perm = permutation(src.n_events, seed)
        sink = stack.enter_context(HDF5Sink(out, overwrite=overwrite, compression=None))
        writer = EventWriter(sink, src, items=src.items())
        bar = stack.enter_context(
            progress_bar(total=2 * src.n_events, enabled=progress, desc="shuffle")
        )
        if int(sizes.sum()) <= limit:
            passes = 1
            if src.n_events:
                writer.append(src.read(0, src.n_events).take(perm, src.groups))
            bar.update(2 * src.n_events)
        else:
            passes = 2
            scratch_dir = Path(tmpdir) if tmpdir else out.parent
            scratch = stack.enter_context(
                HDF5Sink(scratch_dir / f".{out.name}.scratch.h5", overwrite=True, compression=None)
            )
            _two_passes(src, perm, sizes, limit, scratch, writer, bar.update)
        _finish(src, sink, writer, command=command, seed=seed, budget=budget, passes=passes)
        # the scratch sink is never committed: leaving the block deletes it
    detail = f"seed {seed}, {passes} pass{'es' if passes > 1 else ''}"
    return ToolSummary((out,), src.n_events, time.perf_counter() - started, detail)


def _event_sizes(src: EventFile, budget: int) -> tuple[npt.NDArray[np.int64], int]:
    """Bytes of each event and the block limit; every event must fit the limit."""
    sizes = src.event_bytes()
    # blocks and buckets of a third of the budget: with the reordered copy and the row
    # indices made while reordering, event data in memory stay within the budget
    limit = max(budget // 3, 1)
    if len(sizes) and int(sizes.max()) > limit:
        big = int(np.argmax(sizes))
        msg = (
            f"{src.path}: event {big} alone takes {int(sizes[big]):,} bytes, more than a"
            f" third of --max-ram ({budget:,} bytes); raise --max-ram"
        )
        raise HitprepError(msg)
    return sizes, limit


def _finish(
    src: EventFile,
    sink: HDF5Sink,
    writer: EventWriter,
    *,
    command: str | None,
    seed: int,
    budget: int,
    passes: int,
) -> None:
    """The input's summaries and attributes, the shuffle record, then the output appears."""
    for name in src.summaries:  # the same events: summaries still hold
        sink.write(name, src.datasets[name][()], attrs=dict(src.datasets[name].attrs))
    sink.set_attrs(src.attrs())
    writer.finish()
    sink.set_attrs(
        {
            "shuffle": tool_record(
                "shuffle",
                command,
                input=str(src.path.resolve()),
                seed=seed,
                max_ram_bytes=budget,
                passes=passes,
            )
        }
    )
    sink.commit()


def _two_passes(
    src: EventFile,
    perm: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    limit: int,
    scratch: HDF5Sink,
    writer: EventWriter,
    update: Callable[[int], object],
) -> None:
    """Scatter blocks of the input into per-bucket runs (pass 1), gather each bucket (pass 2).

    Memory: pass 1 holds one input block and one bucket's share of it; pass 2 holds one
    bucket (filled in place, in its final order) and one run of it: each at most ``limit``.
    """
    buckets = spans(sizes[perm], limit)  # consecutive output positions, <= limit bytes each
    bucket_of_position = np.repeat(np.arange(len(buckets)), [b - a for a, b in buckets])
    dest = np.empty_like(perm)
    dest[perm] = np.arange(len(perm), dtype=np.int64)
    bucket_of_event = bucket_of_position[dest]
    # pass 1: input blocks -> scratch, each block's events in runs by bucket
    staged = EventWriter(scratch, src, keep_options=False)
    runs, scratch_ids = [], []  # events per (block, bucket); input event of each scratch row
    for a, b in spans(sizes, limit):
        block = src.read(a, b)
        order = np.argsort(bucket_of_event[a:b], kind="stable")
        per_bucket = np.bincount(bucket_of_event[a:b], minlength=len(buckets))
        for run in np.split(order, np.cumsum(per_bucket)[:-1]):
            if len(run):
                staged.append(block.take(run, src.groups))
        del block
        runs.append(per_bucket)
        scratch_ids.append(a + order)
        update(b - a)
    ids = np.concatenate(scratch_ids) if scratch_ids else np.zeros(0, np.int64)
    table = np.asarray(runs, dtype=np.int64).reshape(-1, len(buckets))  # (blocks, buckets)
    run_start = offsets_from_counts(table.reshape(-1))[:-1].reshape(table.shape)
    stage = EventFile.staged(staged)
    items = {name for g in src.groups for name in g.items}
    # pass 2: each bucket's runs -> their final places -> output
    for k, (a, b) in enumerate(buckets):
        final = perm[a:b]  # input events of output positions a..b
        filled = _empty_block(src, final)
        per_event = [name for name in filled.arrays if name not in items]
        starts = {g.index: offsets_from_counts(filled.counts[g.index]) for g in src.groups}
        for blk in np.flatnonzero(table[:, k]):
            first = int(run_start[blk, k])
            stop = first + int(table[blk, k])
            part = stage.read(first, stop)
            local = dest[ids[first:stop]] - a
            for name in per_event:
                filled.arrays[name][local] = part.arrays[name]
            for g in src.groups:
                rows = gather_ranges(starts[g.index][:-1][local], part.counts[g.index])
                for item in g.items:
                    filled.arrays[item][rows] = part.arrays[item]
        writer.append(filled)
        update(b - a)


def _empty_block(src: EventFile, events: npt.NDArray[np.int64]) -> Block:
    """Uninitialised arrays for ``events`` (in that order), with their item counts."""
    index_names = {g.index for g in src.groups}
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name in src.per_event:
        if name not in index_names:
            ds = src.datasets[name]
            arrays[name] = np.empty((len(events), *ds.shape[1:]), dtype=ds.dtype)
    counts = {g.index: src.counts[g.index][events] for g in src.groups}
    for g in src.groups:
        total = int(counts[g.index].sum())
        for item in g.items:
            ds = src.datasets[item]
            arrays[item] = np.empty((total, *ds.shape[1:]), dtype=ds.dtype)
    return Block(len(events), arrays, counts)
