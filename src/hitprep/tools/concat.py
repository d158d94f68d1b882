"""Concatenate hitprep outputs: events of every input, one after another, in one file.

Every input's declared layout (:mod:`hitprep.layout`) must agree. Per-event and jagged
datasets are appended block by block (memory bounded by ``max_ram``) with the first
input's chunking, compression, storage and attributes; jagged indices are recomputed
(contiguous WatChMaL hits stay contiguous); ``event_info.file_index`` is shifted so that
it points into the merged ``inputs`` attribute. Summaries join by their declared rule:
``sum`` (bin statistics, LDMX lattice, hit counts) adds up, ``identical`` ones are kept
when identical in every input and dropped (and listed) otherwise; side data (geometry,
PMT maps) must be identical. Provenance: merged ``inputs`` and summed
``accounting``; each input's own attributes are kept in the ``concat`` attribute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.errors import ConfigError, FileFormatError
from hitprep.layout import combine
from hitprep.progress import progress_bar
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.tools.eventfile import EventFile, EventWriter
from hitprep.tools.records import ToolSummary, json_attr, parse_size, tool_record

__all__ = ["check_compatible", "concat", "merge_accounting"]


def check_compatible(first: EventFile, other: EventFile) -> None:
    """Raise FileFormatError (naming the file and dataset) unless the two files line up."""
    names_a = {*first.per_event, *(n for g in first.groups for n in g.items)}
    names_b = {*other.per_event, *(n for g in other.groups for n in g.items)}
    if names_a != names_b:
        missing = sorted(names_a - names_b)
        extra = sorted(names_b - names_a)
        detail = f"cannot join with {first.path}: datasets missing {missing}, extra {extra}"
        raise FileFormatError(other.path, detail)
    for name in sorted(set(first.layout.entries) & set(other.layout.entries)):
        if first.layout.entries[name] != other.layout.entries[name]:
            detail = (
                f"cannot join with {first.path}: dataset {name!r} is declared"
                f" {other.layout.entries[name].as_json()} here,"
                f" {first.layout.entries[name].as_json()} there"
            )
            raise FileFormatError(other.path, detail)
    for name in sorted(names_a):
        a, b = first.datasets[name], other.datasets[name]
        if a.dtype != b.dtype or a.shape[1:] != b.shape[1:]:
            detail = (
                f"dataset {name!r} is (n, *{b.shape[1:]}) {b.dtype} here but"
                f" (n, *{a.shape[1:]}) {a.dtype} in {first.path}"
            )
            raise FileFormatError(other.path, detail)
        for key in sorted(set(a.attrs) | set(b.attrs)):
            if key not in a.attrs or key not in b.attrs or not _same(a.attrs[key], b.attrs[key]):
                detail = f"dataset {name!r}: attribute {key!r} differs from {first.path}'s"
                raise FileFormatError(other.path, detail)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return bool(a == b)


def merge_accounting(records: Sequence[Any]) -> Any:
    """Sum numbers (recursively through dicts) of several accounting records."""
    dicts = [r for r in records if isinstance(r, dict)]
    if dicts:
        keys = list(dict.fromkeys(k for d in dicts for k in d))
        return {k: merge_accounting([d[k] for d in dicts if k in d]) for k in keys}
    numbers = [r for r in records if isinstance(r, int | float) and not isinstance(r, bool)]
    return sum(numbers) if numbers else (records[0] if records else None)


def _json(attrs: dict[str, Any], key: str, default: Any) -> Any:
    if key not in attrs:
        return default
    value = attrs[key]
    try:
        return json.loads(value.decode() if isinstance(value, bytes) else str(value))
    except json.JSONDecodeError:
        return default


def _accountings(files: Sequence[EventFile], every: list[dict[str, Any]]) -> list[Any]:
    """Each input's accounting; one that is unreadable, or missing while others have one,
    is an error (its events would be left out of the sum)."""
    records = [_json(a, "accounting", None) for a in every]
    have = [r is not None for r in records]
    for f, a, ok in zip(files, every, have, strict=True):
        if not ok and ("accounting" in a or any(have)):
            what = "is not readable JSON" if "accounting" in a else "is missing"
            msg = f"attribute 'accounting' {what}; concat cannot count this input's events"
            raise FileFormatError(f.path, msg)
    return [r for r in records if r is not None]


def _summaries(files: Sequence[EventFile]) -> tuple[dict[str, npt.NDArray[Any]], list[str]]:
    """Summaries joined by their declared rule (:func:`hitprep.layout.combine`), by name,
    and the names dropped (missing in an input, or ``identical`` ones that differ).

    Raises:
        FileFormatError: side data differ, or ``sum`` summaries of different shapes.
    """
    first = files[0]
    merged: dict[str, npt.NDArray[Any]] = {}
    dropped = []
    for name in first.summaries:
        entry = first.layout.entries[name]
        if not all(name in f.summaries for f in files):
            dropped.append(name)
            continue
        value: npt.NDArray[Any] | None = np.asarray(first.datasets[name][()])
        for f in files[1:]:
            if value is None:
                break
            try:
                value = combine(name, entry, value, np.asarray(f.datasets[name][()]))
            except ValueError as err:
                raise FileFormatError(f.path, f"cannot join with {first.path}: {err}") from err
        if value is None:
            dropped.append(name)
        else:
            merged[name] = value
    # sums over bins whose edges (siblings kept only when identical) were dropped mean nothing
    parents = {name.rpartition("/")[0] for name in dropped}
    for name in list(merged):
        if first.layout.entries[name].combine == "sum" and name.rpartition("/")[0] in parents:
            dropped.append(name)
            del merged[name]
    return merged, dropped


def concat(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    overwrite: bool = False,
    max_ram: str | int = "1GB",
    progress: bool = False,
    command: str | None = None,
) -> ToolSummary:
    """Write the events of ``inputs`` one after another into ``output``.

    Args:
        inputs: hitprep outputs with the same datasets (dtype, shape, attributes).
        output: file to write (appears only when complete).
        overwrite: replace an existing output.
        max_ram: memory for one block of events (e.g. ``"1GB"``).
        progress: progress bar on stderr.
        command: command line for the provenance (default: this process's).

    Raises:
        FileFormatError: an input is not a hitprep output or does not line up with the first.
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
    """
    started = time.perf_counter()
    budget = parse_size(max_ram)
    if not inputs:
        msg = "concat: give at least one input"
        raise ConfigError(msg)
    out = check_output(output, overwrite=overwrite)
    if any(Path(p).resolve() == out.resolve() for p in inputs):
        msg = f"output {out} is also an input"
        raise ConfigError(msg)
    with ExitStack() as stack:
        files = [stack.enter_context(EventFile(p, purpose="concat")) for p in inputs]
        for other in files[1:]:
            check_compatible(files[0], other)
        summaries, dropped = _summaries(files)
        total = sum(f.n_events for f in files)
        sink = stack.enter_context(HDF5Sink(out, overwrite=overwrite, compression=None))
        items = {g.index: sum(f.items()[g.index] for f in files) for g in files[0].groups}
        writer = EventWriter(sink, files[0], items=items)
        records: list[dict[str, Any]] = []
        bar = stack.enter_context(progress_bar(total=total, enabled=progress))
        for f in files:
            attrs = f.attrs()
            own = _json(attrs, "inputs", None) or [{"path": str(f.path), "events": f.n_events}]
            base = len(records)
            for r in own:
                records.append({**r, "index": len(records)})
            for block in f.blocks(budget):
                info = block.arrays.get("event_info")
                if info is not None and info.dtype.names and "file_index" in info.dtype.names:
                    info = info.copy()
                    info["file_index"] += base
                    block.arrays["event_info"] = info
                writer.append(block)
                bar.update(block.n_events)
        for name, value in summaries.items():
            source = files[0].datasets[name]
            sink.write(name, value, attrs=dict(source.attrs))
        sink.set_attrs(_attrs(files, records, dropped, command))
        writer.finish(dropped=dropped)
        sink.commit()
    detail = f"{len(files)} inputs"
    if dropped:
        detail += f"; dropped summaries that differ: {', '.join(dropped)}"
    return ToolSummary((out,), writer.n_events, time.perf_counter() - started, detail)


def _attrs(
    files: Sequence[EventFile], records: list[dict[str, Any]], dropped: list[str], command: Any
) -> dict[str, Any]:
    every = [f.attrs() for f in files]
    out: dict[str, Any] = {}
    for key in ("job", "job_resolved", "job_overrides"):  # kept when every input agrees
        values = [a.get(key) for a in every]
        if values[0] is not None and all(_same(values[0], v) for v in values[1:]):
            out[key] = values[0]
    out["inputs"] = json_attr(records)
    out["accounting"] = json_attr(merge_accounting(_accountings(files, every)))
    joined = [
        {
            "path": str(f.path.resolve()),
            "size_bytes": f.path.stat().st_size,
            "events": f.n_events,
            "attrs": {k: json_attr(v) if not isinstance(v, str) else v for k, v in a.items()},
        }
        for f, a in zip(files, every, strict=True)
    ]
    record = tool_record("concat", command, inputs=joined, dropped_summaries=dropped)
    out["concat"] = record
    parsed = json.loads(record)
    out["hitprep_version"] = parsed["hitprep_version"]
    out["command"] = parsed["command"]
    out["timestamp"] = parsed["timestamp"]
    return out
