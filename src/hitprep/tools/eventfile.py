"""hitprep outputs as events: the file model behind ``concat``, ``shuffle``, ``split``, ``mix``.

A hitprep output (file attribute ``hitprep_version``) declares its layout
(:mod:`hitprep.layout`); older outputs get the layout's named inference rules. From it:

- **per event**: datasets with one row per event (``event_info``, ``y``, images,
  ``x_n_hits``, fixed-length graphs, ``x_mask``) and the index datasets of the groups;
- **jagged groups**: item datasets with one row per item, indexed by a per-event
  dataset: ``D`` by ``D_indices`` (fields ``index``, ``n_items``: km3pipe, OrcaSong and
  hitprep graphs), or the ``hit_*`` datasets by ``event_hits_index`` (start offsets,
  WatChMaL). Items must be stored in event order, without gaps;
- **summaries** and side data, not tied to events (bin statistics, geometry).

Events are read in :class:`Block` s (contiguous or reordered); an :class:`EventWriter`
appends blocks to an :class:`~hitprep.sinks.hdf5.HDF5Sink`, recomputing every index
from the running item counts, with the input's chunking, compression, attributes and
storage: a contiguous group (WatChMaL's memory-mapped hits) stays contiguous and
uncompressed, a ``starts`` index stays int64 start offsets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.closing import Closing
from hitprep.errors import FileFormatError
from hitprep.events import offsets_from_counts
from hitprep.layout import LAYOUT_ATTR, JaggedGroup, Layout, read_layout
from hitprep.sinks.hdf5 import HDF5Sink

__all__ = [
    "Block",
    "EventFile",
    "EventWriter",
    "JaggedGroup",
    "dataset_options",
    "gather_ranges",
    "spans",
]

IntArray = npt.NDArray[np.int64]
INDICES_DTYPE = np.dtype([("index", "<i8"), ("n_items", "<i8")])


def gather_ranges(starts: npt.ArrayLike, lengths: npt.ArrayLike) -> IntArray:
    """Concatenated ``range(start, start + length)`` for each pair, without a loop.

    Example:
        >>> gather_ranges([5, 0, 9], [2, 0, 3]).tolist()
        [5, 6, 9, 10, 11]
    """
    s = np.asarray(starts, dtype=np.int64)
    n = np.asarray(lengths, dtype=np.int64)
    out_start = offsets_from_counts(n)
    return np.arange(int(out_start[-1]), dtype=np.int64) + np.repeat(s - out_start[:-1], n)


@dataclass
class Block:
    """Some events of a file: per-event rows, item rows, and item counts per group index."""

    n_events: int
    arrays: dict[str, npt.NDArray[Any]]
    counts: dict[str, IntArray] = field(default_factory=dict)

    def take(self, order: npt.ArrayLike, groups: Sequence[JaggedGroup]) -> Block:
        """The events at positions ``order`` (any order, repeats allowed)."""
        o = np.asarray(order, dtype=np.int64)
        items = {g.index for g in groups} | {name for g in groups for name in g.items}
        arrays = {k: v[o] for k, v in self.arrays.items() if k not in items}
        counts = {}
        for g in groups:
            n = self.counts[g.index]
            rows = gather_ranges(offsets_from_counts(n)[:-1][o], n[o])
            for name in g.items:
                arrays[name] = self.arrays[name][rows]
            counts[g.index] = n[o]
        return Block(len(o), arrays, counts)

    @staticmethod
    def concat(blocks: Sequence[Block]) -> Block:
        """Events of several blocks one after another."""
        first = blocks[0]
        arrays = {k: np.concatenate([b.arrays[k] for b in blocks]) for k in first.arrays}
        counts = {k: np.concatenate([b.counts[k] for b in blocks]) for k in first.counts}
        return Block(sum(b.n_events for b in blocks), arrays, counts)

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())


class EventFile(Closing):
    """A hitprep output opened read-only, as events.

    Raises:
        FileFormatError: not HDF5, not written by hitprep, or datasets that do not line
            up with the events (the message names the dataset).
    """

    def __init__(self, path: str | Path, *, purpose: str = "read") -> None:
        import hdf5plugin  # noqa: F401  (inputs may use Blosc and friends)

        self.path = Path(path)
        if not self.path.is_file():
            raise FileFormatError(self.path, "no such file")
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as err:
            raise FileFormatError(self.path, f"cannot open as HDF5: {err}") from err
        try:
            self._scan(purpose)
        except BaseException:
            self.file.close()
            raise

    def _scan(self, purpose: str) -> None:
        f = self.file
        if "hitprep_version" not in f.attrs:
            found = ", ".join(sorted(f)[:8])
            hint = " (an OrcaSong / km3pipe file?)" if "orcasong" in f.attrs else ""
            detail = (
                f"not a hitprep output{hint}: no 'hitprep_version' attribute; {purpose} works on"
                f" files written by hitprep (convert, concat, shuffle, split); top level: {found}"
            )
            raise FileFormatError(self.path, detail)
        self.layout, self.datasets = read_layout(f, self.path)
        layout = self.layout
        self.groups = layout.groups
        index_names = [g.index for g in self.groups]
        self.per_event = [*layout.names("events"), *index_names]
        self.summaries = layout.names("summary", "side")
        self.n_events = self._count_events()
        self.counts: dict[str, IntArray] = {}
        self.offsets: dict[str, IntArray] = {}
        for g in self.groups:
            self._check_group(g)

    @classmethod
    def staged(cls, writer: EventWriter) -> EventFile:
        """The events ``writer`` wrote so far (e.g. to a scratch file), read back without
        closing its sink."""
        self = cls.__new__(cls)
        f = _open_file(writer.sink)
        f.flush()
        like = writer.like
        self.path, self.file, self.layout = writer.sink.tmp_path, f, like.layout
        self.datasets = {n: f[n] for n in like.datasets if n in f}
        self.groups, self.per_event, self.summaries = like.groups, like.per_event, []
        self.n_events = writer.n_events
        self.counts = writer.counts()
        self.offsets = {k: offsets_from_counts(v) for k, v in self.counts.items()}
        return self

    def _count_events(self) -> int:
        d = self.datasets
        if "event_info" in d:
            n = len(d["event_info"])
        else:
            lengths = {len(d[name]) for name in self.per_event if d[name].ndim}
            if len(lengths) > 1:
                detail = f"per-event datasets differ in length: {sorted(lengths)}"
                raise FileFormatError(self.path, detail)
            n = lengths.pop() if lengths else 0
        for name in self.per_event:
            if d[name].ndim == 0 or len(d[name]) != n:
                detail = f"dataset {name!r} has {len(d[name])} rows for {n} events"
                raise FileFormatError(self.path, detail)
        return n

    def _check_group(self, g: JaggedGroup) -> None:
        raw = self.datasets[g.index][:]
        lengths = {len(self.datasets[name]) for name in g.items}
        if len(lengths) > 1:
            sizes = {name: len(self.datasets[name]) for name in g.items}
            detail = f"the items of {g.index!r} differ in length: {sizes}"
            raise FileFormatError(self.path, detail)
        total = lengths.pop()
        if g.starts_only:
            if raw.dtype.names or raw.dtype.kind not in "iu":
                detail = f"{g.index!r} is declared as start offsets but holds {raw.dtype}"
                raise FileFormatError(self.path, detail)
            starts = np.asarray(raw, dtype=np.int64)
            n = np.diff(np.append(starts, total)) if len(starts) else np.zeros(0, np.int64)
        else:
            if not {"index", "n_items"} <= set(raw.dtype.names or ()):
                detail = f"{g.index!r} is declared as (index, n_items) records, has {raw.dtype}"
                raise FileFormatError(self.path, detail)
            starts = np.asarray(raw["index"], dtype=np.int64)
            n = np.asarray(raw["n_items"], dtype=np.int64)
        offsets = offsets_from_counts(n)
        if (n < 0).any() or not np.array_equal(starts, offsets[:-1]):
            bad = int(np.argmax((starts != offsets[:-1]) | (n < 0)))
            detail = (
                f"{g.index!r}: items are not stored in event order without gaps (event {bad}"
                f" starts at {int(starts[bad])}, expected {int(offsets[bad])})"
            )
            raise FileFormatError(self.path, detail)
        for name in g.items:
            if len(self.datasets[name]) != offsets[-1]:
                detail = (
                    f"{name!r} has {len(self.datasets[name])} rows, {g.index!r} counts"
                    f" {int(offsets[-1])}"
                )
                raise FileFormatError(self.path, detail)
        self.counts[g.index] = n
        self.offsets[g.index] = offsets

    def items(self, events: npt.ArrayLike | None = None) -> dict[str, int]:
        """Items of each group (by its index dataset) in ``events`` (default: all)."""
        if events is None:
            return {g.index: int(self.offsets[g.index][-1]) for g in self.groups}
        e = np.asarray(events, dtype=np.int64)
        return {g.index: int(self.counts[g.index][e].sum()) for g in self.groups}

    def event_bytes(self) -> IntArray:
        """Bytes each event takes in memory (all its rows of every dataset)."""
        out = np.zeros(self.n_events, dtype=np.int64)
        for name in self.per_event:
            out += _row_bytes(self.datasets[name])
        for g in self.groups:
            per_item = sum(_row_bytes(self.datasets[n]) for n in g.items)
            out += self.counts[g.index] * per_item
        return out

    def read(self, start: int, stop: int) -> Block:
        """Events ``start`` to ``stop`` (exclusive)."""
        index_names = {g.index for g in self.groups}
        arrays = {n: self.datasets[n][start:stop] for n in self.per_event if n not in index_names}
        counts = {}
        for g in self.groups:
            off = self.offsets[g.index]
            for name in g.items:
                arrays[name] = self.datasets[name][off[start] : off[stop]]
            counts[g.index] = self.counts[g.index][start:stop]
        return Block(stop - start, arrays, counts)

    def blocks(self, budget: int, *, start: int = 0, stop: int | None = None) -> Iterator[Block]:
        """Consecutive blocks of events, each at most ``budget`` bytes (at least one event)."""
        end = self.n_events if stop is None else stop
        for a, b in spans(self.event_bytes()[start:end], budget):
            yield self.read(start + a, start + b)

    def attrs(self) -> dict[str, Any]:
        return {k: self.file.attrs[k] for k in self.file.attrs}

    def close(self) -> None:
        self.file.close()


def spans(sizes: npt.ArrayLike, budget: int) -> list[tuple[int, int]]:
    """Cut consecutive items into runs of at most ``budget`` total size (>= 1 item each).

    Example:
        >>> spans([4, 4, 4, 9, 1], 8)
        [(0, 2), (2, 3), (3, 4), (4, 5)]
    """
    s = np.asarray(sizes, dtype=np.int64)
    out: list[tuple[int, int]] = []
    first, n = 0, len(s)
    cum = offsets_from_counts(s)
    while first < n:
        last = int(np.searchsorted(cum, cum[first] + budget, side="right")) - 1
        last = min(max(last, first + 1), n)
        out.append((first, last))
        first = last
    return out


def _row_bytes(ds: h5py.Dataset) -> int:
    return int(ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))


def dataset_options(ds: h5py.Dataset) -> dict[str, Any]:
    """``create_dataset`` options that reproduce ``ds``'s chunking, filters and fill."""
    opts: dict[str, Any] = {"chunks": ds.chunks or True}
    if ds.compression is not None:
        opts["compression"] = ds.compression
        opts["compression_opts"] = ds.compression_opts
    else:  # a plugin filter (Blosc, zstd, ...): copy it by id
        plist = ds.id.get_create_plist()
        builtin = {h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, h5py.h5z.FILTER_SCALEOFFSET}
        for i in range(plist.get_nfilters()):
            code, _flags, values, _name = plist.get_filter(i)
            if code not in builtin:
                opts["compression"] = int(code)
                opts["compression_opts"] = tuple(int(v) for v in values)
                break
    opts["shuffle"] = bool(ds.shuffle)
    opts["fletcher32"] = bool(ds.fletcher32)
    if ds.scaleoffset is not None:
        opts["scaleoffset"] = ds.scaleoffset
    return opts


def _open_file(sink: HDF5Sink) -> h5py.File:
    if sink.file is None:
        msg = f"sink for {sink.path} is closed"
        raise RuntimeError(msg)
    return sink.file


class EventWriter:
    """Append blocks of events to a sink, with the layout of ``like``.

    Args:
        sink: output (its file is written directly to keep each dataset's options).
        like: the input whose datasets, chunking, filters, storage and attributes are copied.
        keep_options: copy chunking, filters and contiguous storage (False: everything
            chunked with the sink's defaults, e.g. a scratch file).
        items: total items of each contiguous group's index (keep_options only): their
            item datasets are created contiguous at that length and filled at offsets.

    Call :meth:`finish` after the last block: it writes the ``starts`` indices (WatChMaL's
    ``event_hits_index``) and declares the layout.
    """

    def __init__(
        self,
        sink: HDF5Sink,
        like: EventFile,
        *,
        keep_options: bool = True,
        items: dict[str, int] | None = None,
    ) -> None:
        self.sink = sink
        self.like = like
        self.groups = like.groups
        self.running = {g.index: 0 for g in like.groups}
        self._counts: dict[str, list[IntArray]] = {g.index: [] for g in like.groups}
        self.n_events = 0
        f = _open_file(sink)
        self._starts = {g.index for g in like.groups if g.starts_only}
        contiguous = [g for g in like.groups if g.contiguous and keep_options]
        self._fixed: dict[str, int] = {}  # contiguous item datasets: their length
        for g in contiguous:
            if items is None or g.index not in items:
                msg = f"EventWriter: the total items of contiguous group {g.index!r} are needed"
                raise ValueError(msg)
            for name in g.items:
                ds = like.datasets[name]
                self._fixed[name] = items[g.index]
                sink.allocate(
                    name,
                    length=items[g.index],
                    dtype=ds.dtype,
                    row=ds.shape[1:],
                    attrs=dict(ds.attrs),
                )
        self._in_place = sink.writer(list(self._fixed)) if self._fixed else None
        names = [*like.per_event, *(n for g in like.groups for n in g.items)]
        for name in names:
            if name in self._fixed or name in self._starts:
                continue
            ds = like.datasets[name]
            options = dataset_options(ds) if keep_options else {"chunks": True}
            out = f.create_dataset(
                name,
                shape=(0, *ds.shape[1:]),
                maxshape=(None, *ds.shape[1:]),
                dtype=ds.dtype,
                **options,
            )
            _copy_attrs(ds, out)

    def counts(self) -> dict[str, IntArray]:
        """Items per event written so far, by group index."""
        return {k: _joined(v) for k, v in self._counts.items()}

    def append(self, block: Block) -> None:
        """Append the block's events; indices continue from the rows already written."""
        arrays = dict(block.arrays)
        for g in self.groups:
            n = block.counts[g.index]
            start = self.running[g.index] + offsets_from_counts(n)[:-1]
            self._counts[g.index].append(np.asarray(n, dtype=np.int64))
            if g.starts_only:
                arrays.pop(g.index, None)
            else:
                idx = np.empty(len(n), dtype=INDICES_DTYPE)
                idx["index"], idx["n_items"] = start, n
                arrays[g.index] = idx
            for name in g.items:
                if self._in_place is not None and name in self._fixed:
                    self._in_place.write(name, self.running[g.index], arrays.pop(name))
            self.running[g.index] += int(n.sum())
        f = _open_file(self.sink)
        for name, arr in arrays.items():  # match the stored dtype (e.g. index structs)
            ds = f[name]
            if arr.dtype != ds.dtype:
                arrays[name] = np.asarray(arr).astype(ds.dtype)
        self.sink.append(arrays)
        self.n_events += block.n_events

    def finish(self, *, dropped: Sequence[str] = ()) -> None:
        """Write the ``starts`` indices and declare the layout (less ``dropped`` summaries)."""
        f = _open_file(self.sink)
        for name in self._starts:
            n = _joined(self._counts[name])
            like = self.like.datasets[name]
            options = {**dataset_options(like), "maxshape": (None,)} if like.chunks else {}
            ds = f.create_dataset(name, data=offsets_from_counts(n)[:-1], **options)
            _copy_attrs(like, ds)
        if self._in_place is not None:
            self._in_place.close()
        for name, length in self._fixed.items():
            written = self.running[self.like.layout.entries[name].index or ""]
            if length != written:
                msg = f"{name}: {length} items allocated, {written} written"
                raise RuntimeError(msg)
        layout: Layout = self.like.layout.without(dropped)
        self.sink.set_attrs({LAYOUT_ATTR: Layout(layout.entries).to_attr()})


def _joined(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _copy_attrs(source: h5py.Dataset, target: h5py.Dataset) -> None:
    for key, value in source.attrs.items():
        target.attrs[key] = value
