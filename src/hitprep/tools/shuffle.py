"""Shuffle the events of a hitprep output out of core, jagged datasets included.

Output event ``p`` is input event ``perm[p]`` for a seeded permutation ``perm``; every
per-event dataset and every jagged item dataset is permuted the same way and the jagged
indices are recomputed. Memory stays within ``max_ram``:

- data that fit in half the budget are shuffled in one pass (read all, permute, write);
- otherwise in two passes over the data, never random reads: output positions are cut
  into *buckets* of at most half the budget; pass 1 reads the input in blocks and writes
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

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, HitprepError
from hitprep.events import offsets_from_counts
from hitprep.sinks.hdf5 import HDF5Sink, check_output
from hitprep.tools.eventfile import (
    Block,
    EventFile,
    EventWriter,
    ToolSummary,
    parse_size,
    spans,
    tool_record,
)

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
        HitprepError: one event alone does not fit half of ``max_ram``.
    """
    started = time.perf_counter()
    budget = parse_size(max_ram)
    out = check_output(output, overwrite=overwrite)
    if Path(input).resolve() == out.resolve():
        msg = f"output {out} is also the input"
        raise ConfigError(msg)
    from tqdm import tqdm

    with ExitStack() as stack:
        src = stack.enter_context(EventFile(input, purpose="shuffle"))
        sizes = src.event_bytes()
        half = max(budget // 2, 1)
        if len(sizes) and int(sizes.max()) > half:
            big = int(np.argmax(sizes))
            msg = (
                f"{src.path}: event {big} alone takes {int(sizes[big]):,} bytes, more than half"
                f" of --max-ram ({budget:,} bytes); raise --max-ram"
            )
            raise HitprepError(msg)
        perm = permutation(src.n_events, seed)
        sink = stack.enter_context(HDF5Sink(out, overwrite=overwrite, compression=None))
        writer = EventWriter(sink, src)
        bar = stack.enter_context(
            tqdm(total=2 * src.n_events, unit="ev", disable=not progress, desc="shuffle")
        )
        if int(sizes.sum()) <= half:
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
            _two_passes(src, perm, sizes, half, scratch, writer, bar.update)
        for name in src.summaries:  # the same events: summaries still hold
            sink.write(name, src.datasets[name][()], attrs=dict(src.datasets[name].attrs))
        sink.set_attrs(src.attrs())
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
        # the scratch sink is never committed: leaving the block deletes it
    detail = f"seed {seed}, {passes} pass{'es' if passes > 1 else ''}"
    return ToolSummary((out,), src.n_events, time.perf_counter() - started, detail)


def _two_passes(
    src: EventFile,
    perm: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    half: int,
    scratch: HDF5Sink,
    writer: EventWriter,
    update: Callable[[int], object],
) -> None:
    # buckets of consecutive output positions, each at most `half` bytes
    buckets = spans(sizes[perm], half)
    bucket_of_position = np.repeat(np.arange(len(buckets)), [b - a for a, b in buckets]).astype(
        np.int64
    )
    dest = np.empty_like(perm)
    dest[perm] = np.arange(len(perm), dtype=np.int64)
    bucket_of_event = bucket_of_position[dest]
    # pass 1: blocks of the input -> scratch, each block's events grouped by bucket
    staged = EventWriter(scratch, src, keep_options=False)
    runs = []  # per block: events per bucket
    scratch_ids = []  # input event of each scratch row
    for a, b in spans(sizes, half):
        order = np.argsort(bucket_of_event[a:b], kind="stable")
        staged.append(src.read(a, b).take(order, src.groups))
        runs.append(np.bincount(bucket_of_event[a:b], minlength=len(buckets)))
        scratch_ids.append(a + order)
        update(b - a)
    ids = np.concatenate(scratch_ids) if scratch_ids else np.zeros(0, np.int64)
    table = np.asarray(runs, dtype=np.int64)  # (blocks, buckets)
    block_start = offsets_from_counts(table.sum(axis=1))[:-1]
    within = np.cumsum(table, axis=1) - table  # start of each bucket's run inside its block
    stage = EventFile.staged(scratch, src)
    # pass 2: each bucket's runs -> final order -> output
    for k in range(len(buckets)):
        parts, rows = [], []
        for blk in range(len(table)):
            n = int(table[blk, k])
            if n:
                first = int(block_start[blk] + within[blk, k])
                parts.append(stage.read(first, first + n))
                rows.append(ids[first : first + n])
        if not parts:
            continue
        bucket = Block.concat(parts)
        order = np.argsort(dest[np.concatenate(rows)])
        writer.append(bucket.take(order, src.groups))
        update(bucket.n_events)
