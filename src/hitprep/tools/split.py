"""Split a hitprep output into train / validation / test parts, optionally keeping groups whole.

Events (or, with ``by``, groups of events sharing an ``event_info`` field such as the run
or the input file) are put in a seeded random order; walking along it, each event or
group goes to the part whose share of the cumulative event count its middle falls in.
Without ``by`` the parts get the requested fractions to within one event; with ``by`` no
group straddles two parts, so the fractions hold as well as the group sizes allow.

Default output: one small HDF5 *index file* per part, ``<prefix>_<name>.index.h5`` with the
sorted event numbers ``index`` (read events ``f["x"][index]``); with ``files``, one
hitprep output per part, ``<prefix>_<name>.h5``, written in one pass over the input.
All outputs appear together, only when all are complete.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.tools.eventfile import EventFile, EventWriter
from hitprep.tools.records import ToolSummary, parse_size, tool_record

__all__ = ["ALIASES", "assign", "default_names", "split"]

#: short names of ``event_info`` fields for ``by``
ALIASES = {"run": "run_id", "file": "file_index", "event": "event_id"}


def default_names(n: int) -> list[str]:
    """``train, test`` / ``train, val, test`` / ``part0, part1, ...``."""
    if n == 2:
        return ["train", "test"]
    if n == 3:
        return ["train", "val", "test"]
    return [f"part{i}" for i in range(n)]


def _fractions(values: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f = np.asarray(values, dtype=np.float64)
    if f.ndim != 1 or len(f) < 2 or not np.all(np.isfinite(f)) or (f <= 0).any():
        msg = f"fractions: give two or more positive numbers, got {list(values)}"
        raise ConfigError(msg)
    if abs(float(f.sum()) - 1.0) > 1e-6:
        msg = f"fractions: must add up to 1, got {list(values)} (sum {float(f.sum()):g})"
        raise ConfigError(msg)
    return f


def assign(
    groups: npt.ArrayLike, fractions: Sequence[float] | npt.NDArray[np.float64], *, seed: int = 0
) -> npt.NDArray[np.int64]:
    """Part number of each event; events with equal ``groups`` values share a part.

    Args:
        groups: one key per event (e.g. ``np.arange(n)`` for no grouping).
        fractions: share of events per part (positive, sum 1).
        seed: seed of the random group order.

    Example:
        >>> assign(np.arange(10), [0.8, 0.2], seed=1).tolist().count(1)
        2
    """
    f = _fractions(fractions)
    keys = np.asarray(groups)
    _, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(sizes))
    ends = np.cumsum(sizes[order])
    middle = ends - sizes[order] / 2.0
    bounds = np.cumsum(f)[:-1] * len(keys)
    part_in_order = np.searchsorted(bounds, middle, side="right")
    part_of_group = np.empty(len(sizes), dtype=np.int64)
    part_of_group[order] = part_in_order
    return part_of_group[inverse.reshape(-1)]


def split(
    input: str | Path,
    fractions: Sequence[float],
    *,
    names: Sequence[str] | None = None,
    by: str | None = None,
    seed: int = 0,
    files: bool = False,
    prefix: str | Path | None = None,
    overwrite: bool = False,
    max_ram: str | int = "1GB",
    command: str | None = None,
) -> ToolSummary:
    """Split ``input`` into parts by ``fractions``.

    Args:
        input: a hitprep output.
        fractions: share of events per part, e.g. ``[0.8, 0.1, 0.1]``.
        names: part names (default: train/val/test, train/test or part<i>).
        by: ``event_info`` field (or ``run``, ``file``, ``event``) whose groups stay whole.
        seed: seed of the random order.
        files: write each part's events as a hitprep output instead of an index file.
        prefix: output path prefix (default: the input path without ``.h5``).
        overwrite: replace existing outputs.
        max_ram: memory for one block of events (``files`` only).
        command: command line for the provenance.

    Raises:
        ConfigError: bad fractions or names, or a part that would get no events.
        KeyInFileError: ``by`` is not a field of ``event_info`` (the message lists them).
    """
    started = time.perf_counter()
    f = _fractions(fractions)
    labels = _part_names(names, len(f))
    budget = parse_size(max_ram)
    src_path = Path(input)
    outputs = _part_outputs(src_path, labels, prefix=prefix, files=files, overwrite=overwrite)
    with ExitStack() as stack:
        src = stack.enter_context(EventFile(src_path, purpose="split"))
        field = ALIASES.get(by, by) if by else None
        part, sizes, n_groups = _assign_parts(src, field, f, labels, seed=seed)
        info = {
            "input": str(src.path.resolve()),
            "fractions": f.tolist(),
            "names": labels,
            "by": field,
            "seed": seed,
            "groups": n_groups,
            "events": sizes.tolist(),
        }
        # summaries that add up over events (bin statistics) would describe the whole input
        # in each part, and count it twice when parts are joined again: they are dropped
        summed = [n for n in src.summaries if src.layout.entries[n].combine == "sum"]
        kept = [n for n in src.summaries if n not in summed]
        if files and kept:
            info["summaries"] = f"copied from the input, they describe all its events: {kept}"
        if files and summed:
            info["dropped_summaries"] = summed
        sinks = [
            stack.enter_context(HDF5Sink(o, overwrite=overwrite, compression="gzip"))
            for o in outputs
        ]
        _start_parts(src, sinks, part, labels, files=files, command=command, info=info)
        if files:
            _write_parts(src, sinks, part, budget, kept=kept, summed=summed)
        for sink in sinks:
            sink.commit()
    detail = ", ".join(f"{n}: {int(s)}" for n, s in zip(labels, sizes, strict=True))
    if field:
        detail += f" ({n_groups} groups of {field})"
    return ToolSummary(tuple(outputs), src.n_events, time.perf_counter() - started, detail)


def _part_names(names: Sequence[str] | None, n: int) -> list[str]:
    labels = list(names) if names else default_names(n)
    if len(labels) != n or len(set(labels)) != len(labels):
        msg = f"names: give {n} different names, one per fraction, got {labels}"
        raise ConfigError(msg)
    return labels


def _part_outputs(
    src_path: Path,
    labels: list[str],
    *,
    prefix: str | Path | None,
    files: bool,
    overwrite: bool,
) -> list[Path]:
    """``<prefix>_<name>.h5`` (``files``) or ``.index.h5`` per part, checked before any work."""
    base = Path(prefix) if prefix else src_path.with_suffix("")
    suffix = ".h5" if files else ".index.h5"
    outputs = [check_output(f"{base}_{name}{suffix}", overwrite=overwrite) for name in labels]
    if any(o.resolve() == src_path.resolve() for o in outputs):
        msg = f"an output would replace the input {src_path}"
        raise ConfigError(msg)
    return outputs


def _assign_parts(
    src: EventFile,
    field: str | None,
    f: npt.NDArray[np.float64],
    labels: list[str],
    *,
    seed: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Part of each event, events per part and number of groups; no part may be empty."""
    keys = _group_keys(src, field)
    part = assign(keys, f, seed=seed)
    sizes = np.bincount(part, minlength=len(f))
    n_groups = len(np.unique(keys))
    if src.n_events and (sizes == 0).any():
        empty = labels[int(np.argmin(sizes))]
        what = f"{n_groups} groups of {field}" if field else f"{src.n_events} events"
        msg = f"split {empty!r} would get no events ({what}); change the fractions"
        raise ConfigError(msg)
    return part, sizes, n_groups


def _start_parts(
    src: EventFile,
    sinks: list[HDF5Sink],
    part: npt.NDArray[np.int64],
    labels: list[str],
    *,
    files: bool,
    command: str | None,
    info: dict[str, Any],
) -> None:
    """Each part's provenance, and for index files their event numbers."""
    for k, sink in enumerate(sinks):
        record = tool_record("split", command, part=labels[k], **info)
        if files:
            sink.set_attrs(src.attrs())
            sink.set_attrs({"split": record})
        else:
            index = np.flatnonzero(part == k).astype(np.int64)
            sink.write("index", index, attrs={"description": "event numbers in the input"})
            sink.set_attrs({"split": record, "source": str(src.path.resolve())})


def _write_parts(
    src: EventFile,
    sinks: list[HDF5Sink],
    part: npt.NDArray[np.int64],
    budget: int,
    *,
    kept: list[str],
    summed: list[str],
) -> None:
    """One pass over the input in blocks of ``budget`` bytes, each event to its part's file."""
    writers = [
        EventWriter(s, src, items=src.items(np.flatnonzero(part == k))) for k, s in enumerate(sinks)
    ]
    first = 0
    for block in src.blocks(budget):
        here = part[first : first + block.n_events]
        for k, w in enumerate(writers):
            w.append(block.take(np.flatnonzero(here == k), src.groups))
        first += block.n_events
    for name in kept:  # they describe the whole input (see the split attr)
        for sink in sinks:
            sink.write(name, src.datasets[name][()], attrs=dict(src.datasets[name].attrs))
    for w in writers:
        w.finish(dropped=summed)


def _group_keys(src: EventFile, field: str | None) -> npt.NDArray[np.generic]:
    if field is None:
        return np.arange(src.n_events, dtype=np.int64)
    info = src.datasets.get("event_info")
    names = list(info.dtype.names or ()) if info is not None else []
    if info is None or field not in names:
        raise KeyInFileError(
            field, file=src.path, available=[*names, *ALIASES], what="event_info field"
        )
    return np.asarray(info[field])
