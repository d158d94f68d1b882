"""Merge shards into one output, in task order, while later tasks still run.

Rows (datasets a sink appends to) are concatenated; ``<name>_indices`` datasets
with fields ``index`` and ``n_items`` are per-event offsets into ``<name>`` and
are shifted by the rows of ``<name>`` in earlier shards. Summaries (fixed-shape
datasets written by a representation's ``finish``) are folded shard by shard
with that representation's ``combine_summary``. Dataset attributes come from the
first shard that has the dataset. With ``virtual=True`` the rows stay in the
shards and the output holds HDF5 virtual datasets over them (offset datasets and
summaries are still written into the output).

Memory is bounded: rows are copied in slices of at most ``SLICE_BYTES``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import RunnerError
from hitprep.pipeline import Pipeline, Representation
from hitprep.sinks.hdf5 import HDF5Sink, dataset_names

__all__ = ["SLICE_BYTES", "Merger", "offset_base"]

#: largest slice of a dataset held in memory while merging
SLICE_BYTES = 32 << 20


def offset_base(name: str, dtype: np.dtype[Any], rows: set[str]) -> str | None:
    """The dataset that ``name`` holds per-event offsets into, or None.

    ``x_indices`` with fields ``index`` and ``n_items`` indexes dataset ``x``.
    """
    base = name.removesuffix("_indices")
    fields = set(dtype.names or ())
    if base != name and {"index", "n_items"} <= fields and base in rows:
        return base
    return None


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
    owner: int | None


class Merger:
    """Feeds finished shards into ``sink`` in task order.

    Args:
        sink: the output.
        pipeline: the job's pipeline (its representations combine summaries).
        n_tasks: number of tasks; :meth:`add` must see every index once.
        virtual: leave rows in the shards (virtual datasets).
        root: directory of the output; virtual datasets name shards relative to it.
    """

    def __init__(
        self, sink: HDF5Sink, pipeline: Pipeline, n_tasks: int, *, virtual: bool, root: Path
    ) -> None:
        self.sink = sink
        self.pipeline = pipeline
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
            owners: dict[str, int] = json.loads(f.attrs.get("summaries", "{}"))
            rows = dataset_names(f, extendable=True)
            before = dict(self._count)
            for name in rows:
                self._add_rows(f[name], name, path, set(rows), before)
            for name in dataset_names(f, extendable=False):
                self._add_summary(f[name], name, owners.get(name))

    def _add_rows(
        self, ds: h5py.Dataset, name: str, path: Path, rows: set[str], before: dict[str, int]
    ) -> None:
        meta = self._rows.get(name)
        if meta is None:
            meta = _Rows(
                ds.dtype, ds.shape[1:], ds.chunks, dict(ds.attrs), offset_base(name, ds.dtype, rows)
            )
            self._rows[name] = meta
            if not self.virtual or meta.base is not None:
                self.sink.create(
                    name, dtype=meta.dtype, shape=meta.shape, chunks=meta.chunks, attrs=meta.attrs
                )
        elif ds.dtype != meta.dtype or ds.shape[1:] != meta.shape:
            msg = (
                f"{name} has shape {ds.shape[1:]} and dtype {ds.dtype} per row, earlier shards"
                f" {meta.shape} and {meta.dtype}"
            )
            raise ValueError(msg)
        n = int(ds.shape[0])
        self._count[name] = self._count.get(name, 0) + n
        if self.virtual and meta.base is None:
            if n:
                meta.parts.append((str(path.resolve().relative_to(self.root)), n))
            return
        offset = before.get(meta.base, 0) if meta.base else 0
        row_bytes = max(ds.dtype.itemsize * int(np.prod(meta.shape, dtype=np.int64)), 1)
        step = max(1, SLICE_BYTES // row_bytes)
        for first in range(0, n, step):
            part = ds[first : first + step]
            if offset:
                part["index"] += offset
            self.sink.append({name: part})

    def _add_summary(self, ds: h5py.Dataset, name: str, owner: int | None) -> None:
        value = np.asarray(ds[()])
        seen = self._summaries.get(name)
        if seen is None:
            self._summaries[name] = _Summary(value, dict(ds.attrs), owner)
            return
        reps = self.pipeline.representations
        rep = reps[owner] if owner is not None and owner < len(reps) else Representation()
        seen.value = np.asarray(rep.combine_summary(name, seen.value, value))

    def finish(self) -> None:
        """Write virtual datasets and the combined summaries."""
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
        for name, summary in self._summaries.items():
            self.sink.write(name, summary.value, attrs=summary.attrs)
        self.seconds += time.perf_counter() - started
