"""Merge shards into one output, in task order, while later tasks still run.

Every shard declares its layout (:mod:`hitprep.layout`); the merge reads it and nothing
else. Rows of events and chunked item datasets are concatenated; an ``indices`` index
(records ``index``, ``n_items``) is shifted by the items of its group in earlier shards.
Contiguous item datasets and ``starts`` indices (WatChMaL's hits and
``event_hits_index``) are created once in the output, contiguous, at their final length
(the sum of the shards' lengths), and each shard's values are copied into them in task
order when the last shard is in (:meth:`Merger.finish`), starts shifted by the items of
earlier shards. Summaries join by their declared rule (:func:`hitprep.layout.combine`):
``sum`` adds up, ``identical`` and side data must agree. Dataset attributes come from the
first shard that has the dataset; the output declares the first shard's layout. With
``virtual=True`` the rows that need no shift stay in the shards and the output holds HDF5
virtual datasets over them (indices, summaries and contiguous items are still written into
the output: a virtual dataset cannot be memory-mapped).

Memory is bounded: rows are copied in slices of at most ``SLICE_BYTES``,
contiguous datasets in slices of at most ``COPY_BYTES`` (read with
``os.preadv`` and written with ``os.pwrite`` at the datasets' file offsets
where their storage allows it, :mod:`hitprep.sources.h5raw`; one slice is read
while the one before is written).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import RunnerError
from hitprep.layout import LAYOUT_ATTR, Entry, Layout, combine, read_layout
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.sources.h5raw import unfiltered_reader

__all__ = ["COPY_BYTES", "SLICE_BYTES", "Merger"]

#: largest slice of a dataset held in memory while merging
SLICE_BYTES = 32 << 20
#: largest slice of a concatenated summary read at once (two in memory at most)
COPY_BYTES = 8 << 20

Write = Callable[[int, npt.NDArray[Any]], None]


@dataclass
class _Rows:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    attrs: dict[str, Any]
    base: str | None
    parts: list[tuple[str, int]] = field(default_factory=list)  # virtual: (shard, rows)


@dataclass
class _Summary:
    value: npt.NDArray[Any]
    attrs: dict[str, Any]
    entry: Entry


@dataclass
class _Concatenated:
    """A summary concatenated across shards: where each shard's part lies, and its shift."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    attrs: dict[str, Any]
    base: str | None  # the dataset its values index, or None
    parts: list[tuple[Path, int, int]] = field(default_factory=list)  # (shard, rows, shift)


def _concatenated(layout: Layout, name: str) -> bool:
    """Written whole at its final length: a ``starts`` index, or contiguous items."""
    entry = layout.entries[name]
    owner = layout.entries[entry.index] if entry.role == "items" and entry.index else entry
    if entry.role == "index" and entry.form == "starts":
        return True
    return entry.role == "items" and owner.storage == "contiguous"


def _shift_by(layout: Layout, name: str) -> str | None:
    """The item dataset whose rows in earlier shards shift index ``name`` (None: no shift)."""
    entry = layout.entries[name]
    return entry.items[0] if entry.role == "index" else None


def _row_bytes(dtype: np.dtype[Any], shape: tuple[int, ...]) -> int:
    """Bytes per row of a dataset (at least 1)."""
    return max(dtype.itemsize * int(np.prod(shape, dtype=np.int64)), 1)


def _read_h5py(source: h5py.Dataset, first: int, stop: int) -> npt.NDArray[Any]:
    """Rows ``first:stop`` of ``source``, read by h5py."""
    return np.asarray(source[first:stop])


def _copy_rows(source: h5py.Dataset, write: Write, *, start: int, shift: int = 0) -> None:
    """Copy every row of ``source`` through ``write(first_row, rows)``, rows ``start`` on.

    At most ``COPY_BYTES`` are read at once (with ``os.preadv`` where the dataset's
    storage allows it); each slice is shifted by ``shift`` (offsets) before it is written.
    """
    read = unfiltered_reader(source) or partial(_read_h5py, source)
    n = int(source.shape[0])
    step = max(1, COPY_BYTES // _row_bytes(source.dtype, source.shape[1:]))
    for first in range(0, n, step):
        rows = read(first, min(first + step, n))
        if shift:
            rows += shift
        write(start + first, rows)


def _check_rows_match(
    name: str, ds: h5py.Dataset, dtype: np.dtype[Any], shape: tuple[int, ...]
) -> None:
    """Raise ValueError when a shard's rows of ``name`` differ from earlier shards'."""
    if ds.dtype != dtype or ds.shape[1:] != shape:
        msg = (
            f"{name} has shape {ds.shape[1:]} and dtype {ds.dtype} per row, earlier shards"
            f" {shape} and {dtype}"
        )
        raise ValueError(msg)


class Merger:
    """Feeds finished shards into ``sink`` in task order.

    Args:
        sink: the output.
        n_tasks: number of tasks; :meth:`add` must see every index once.
        virtual: leave rows in the shards (virtual datasets).
        root: directory of the output; virtual datasets name shards relative to it.
    """

    def __init__(self, sink: HDF5Sink, n_tasks: int, *, virtual: bool, root: Path) -> None:
        self.sink = sink
        self.n_tasks = n_tasks
        self.virtual = virtual
        self.root = root.resolve()
        self.seconds = 0.0
        self.merged = 0
        self._pending: dict[int, Path | None] = {}
        self._next = 0
        self._rows: dict[str, _Rows] = {}
        self._count: dict[str, int] = {}
        self._summaries: dict[str, _Summary] = {}
        self._concatenated: dict[str, _Concatenated] = {}
        self.layout: Layout | None = None  # the first shard's

    @property
    def complete(self) -> bool:
        """Every task's shard (or failure) has been seen."""
        return self._next == self.n_tasks

    def add(self, index: int, shard: Path | None) -> None:
        """Task ``index`` finished with ``shard`` (None: it failed, nothing to merge)."""
        self._pending[index] = shard
        while self._next in self._pending:
            path = self._pending.pop(self._next)
            self._next += 1
            if path is not None:
                started = time.perf_counter()
                try:
                    self._merge(path)
                except (OSError, ValueError, KeyError) as err:
                    msg = f"cannot merge shard {path}: {err}"
                    raise RunnerError(msg) from err
                self.seconds += time.perf_counter() - started
                self.merged += 1

    def _merge(self, path: Path) -> None:
        with h5py.File(path, "r") as f:
            layout, datasets = read_layout(f, path)
            if not layout.declared:
                msg = f"shard {path} declares no layout (written by an older hitprep?)"
                raise ValueError(msg)
            if self.layout is None:
                self.layout = layout
            elif layout.entries != self.layout.entries:
                msg = "its layout differs from the first shard's"
                raise ValueError(msg)
            before = dict(self._count)
            for name, entry in layout.entries.items():
                ds = datasets[name]
                if entry.role in ("summary", "side"):
                    self._add_summary(ds, name, entry)
                elif _concatenated(layout, name):
                    self._add_concatenated(ds, name, path, _shift_by(layout, name), before)
                else:
                    self._add_rows(ds, name, path, _shift_by(layout, name), before)

    def _add_rows(
        self, ds: h5py.Dataset, name: str, path: Path, base: str | None, before: dict[str, int]
    ) -> None:
        if ds.ndim == 0 or ds.chunks is None:
            msg = f"{name} is declared as rows but is not an extendable dataset"
            raise ValueError(msg)
        meta = self._rows.get(name)
        if meta is None:
            meta = _Rows(ds.dtype, ds.shape[1:], ds.chunks, dict(ds.attrs), base)
            self._rows[name] = meta
            if not self.virtual or meta.base is not None:
                self.sink.create(
                    name, dtype=meta.dtype, shape=meta.shape, chunks=meta.chunks, attrs=meta.attrs
                )
        else:
            _check_rows_match(name, ds, meta.dtype, meta.shape)
        n = int(ds.shape[0])
        self._count[name] = self._count.get(name, 0) + n
        if self.virtual and meta.base is None:
            if n:
                meta.parts.append((str(path.resolve().relative_to(self.root)), n))
            return
        offset = before.get(meta.base, 0) if meta.base else 0
        step = max(1, SLICE_BYTES // _row_bytes(ds.dtype, meta.shape))
        read = unfiltered_reader(ds) or partial(_read_h5py, ds)  # raw shards: os.preadv
        for first in range(0, n, step):
            part = read(first, min(first + step, n))
            if offset:
                part["index"] += offset
            self.sink.append({name: part})

    def _add_concatenated(
        self, ds: h5py.Dataset, name: str, path: Path, base: str | None, before: dict[str, int]
    ) -> None:
        """Note where a shard's part of a concatenated summary lies (copied by finish)."""
        if ds.ndim == 0:
            msg = f"{name} is a scalar: it cannot be concatenated"
            raise ValueError(msg)
        meta = self._concatenated.get(name)
        if meta is None:
            meta = _Concatenated(ds.dtype, ds.shape[1:], dict(ds.attrs), base)
            self._concatenated[name] = meta
        else:
            _check_rows_match(name, ds, meta.dtype, meta.shape)
        n = int(ds.shape[0])
        shift = before.get(base, 0) if base else 0
        meta.parts.append((path, n, shift))
        self._count[name] = self._count.get(name, 0) + n

    def _add_summary(self, ds: h5py.Dataset, name: str, entry: Entry) -> None:
        value = np.asarray(ds[()])
        seen = self._summaries.get(name)
        if seen is None:
            self._summaries[name] = _Summary(value, dict(ds.attrs), entry)
            return
        joined = combine(name, entry, seen.value, value)
        if joined is None:
            msg = f"summary {name!r} differs between shards (declared {entry.combine!r})"
            raise ValueError(msg)
        seen.value = np.asarray(joined)

    def _write_concatenated(self, name: str, meta: _Concatenated) -> None:
        """Create a concatenated dataset at its final length and copy the shards' parts in."""
        self.sink.allocate(
            name, length=self._count[name], dtype=meta.dtype, row=meta.shape, attrs=meta.attrs
        )
        writer = self.sink.writer([name], max_pending=1)
        first = 0
        try:
            for path, n, shift in meta.parts:
                try:
                    with h5py.File(path, "r") as shard:
                        source = shard[name]
                        if source.shape[0] != n:
                            msg = f"{n} rows when it was added, {source.shape[0]} now"
                            raise ValueError(msg)
                        _copy_rows(source, partial(writer.write, name), start=first, shift=shift)
                except (OSError, ValueError, KeyError) as err:
                    msg = f"cannot merge shard {path}: {name}: {err}"
                    raise RunnerError(msg) from err
                first += n
        finally:
            writer.close()  # every value in the file before HDF5 goes on

    def finish(self) -> None:
        """Write virtual datasets, concatenated summaries and the combined summaries."""
        if not self.complete:
            msg = f"merge incomplete: {self._next} of {self.n_tasks} tasks seen"
            raise RunnerError(msg)
        started = time.perf_counter()
        for name, meta in self._rows.items():
            if not self.virtual or meta.base is not None:
                continue
            total = self._count[name]
            if total == 0:
                self.sink.create(
                    name, dtype=meta.dtype, shape=meta.shape, chunks=meta.chunks, attrs=meta.attrs
                )
                continue
            layout = h5py.VirtualLayout(shape=(total, *meta.shape), dtype=meta.dtype)
            first = 0
            for shard, n in meta.parts:
                source = h5py.VirtualSource(shard, name, shape=(n, *meta.shape), dtype=meta.dtype)
                layout[first : first + n] = source
                first += n
            self.sink.write_virtual(name, layout, attrs=meta.attrs)
        for name, concatenated in self._concatenated.items():
            self._write_concatenated(name, concatenated)
        for name, summary in self._summaries.items():
            self.sink.write(name, summary.value, attrs=summary.attrs)
        if self.layout is not None:
            self.sink.set_attrs({LAYOUT_ATTR: self.layout.to_attr()})
        self.seconds += time.perf_counter() - started
