"""HDF5 sink: append arrays chunk by chunk; the output appears only when complete.

The file is written under a hidden temporary name beside the target and
renamed on :meth:`HDF5Sink.commit`. Any error (or leaving the ``with`` block
by an exception) removes the temporary file, so no half-written output is
ever left behind.

Rows appended to gzip datasets (deflate, optionally after byte shuffle, nothing else) are
compressed a whole chunk at a time in hitprep's thread pool (:mod:`hitprep.threads`, with
:mod:`hitprep.deflate`: ISA-L or zlib-ng) and stored with ``write_direct_chunk``: h5py
would deflate them one after another in this thread. Rows that do not fill a chunk wait
for the next append and are written by h5py (its gzip filter) when the file is used
(:attr:`HDF5Sink.file`) or committed. The files are ordinary HDF5: any reader inflates
them with its gzip filter.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep import deflate, fastpaths, threads
from hitprep.atomic import check_output, partial_path, publish
from hitprep.sinks.lifecycle import OutputLifecycle
from hitprep.sinks.raw import ContiguousWriter, create_allocated

__all__ = ["HDF5Sink", "dataset_names"]

_CHUNK_BYTES = 1 << 18
_DEFLATE, _SHUFFLE = 1, 2  # HDF5 filter ids
_QUEUED_BYTES = 1 << 25  # uncompressed chunks being compressed at most (then wait)


@dataclass
class _Direct:
    """How to write one dataset's chunks directly, and its rows not yet in the file."""

    rows: int  # rows per chunk
    level: int  # deflate level
    shuffle: bool  # byte shuffle before deflate
    itemsize: int
    pending: npt.NDArray[Any] | None = None  # rows after the last full chunk
    pending_start: int = 0  # their first row


def _direct(ds: h5py.Dataset) -> _Direct | None:
    """The direct-write plan of ``ds``, or None when h5py must write it."""
    dtype = ds.dtype
    chunks = ds.chunks
    if (
        not fastpaths.enabled()
        or chunks is None
        or ds.ndim < 1
        or tuple(chunks[1:]) != tuple(ds.shape[1:])
        or dtype.kind not in "iufb"
        or not dtype.isnative
        or ds.id.get_type().get_size() != dtype.itemsize
        or chunks[0] * int(np.prod(chunks[1:], dtype=np.int64)) == 0
    ):
        return None
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    ids = tuple(f[0] for f in filters)
    if ids not in ((_DEFLATE,), (_SHUFFLE, _DEFLATE)):
        return None
    values = filters[-1][2]
    level = int(values[0]) if len(values) else 6
    return _Direct(int(chunks[0]), level, len(ids) == 2, dtype.itemsize)


def _encode(block: npt.NDArray[Any], *, itemsize: int, shuffle: bool, level: int) -> bytes:
    """One chunk as HDF5's shuffle and deflate filters store it."""
    data = block.reshape(-1).view(np.uint8)
    if shuffle and itemsize > 1:  # byte planes: all first bytes, all second bytes, ...
        data = np.ascontiguousarray(data.reshape(-1, itemsize).T)
    return deflate.compress(data, level)


def dataset_names(group: h5py.Group, *, extendable: bool | None = None) -> list[str]:
    """Paths of the datasets under ``group``, sorted.

    Args:
        group: an open file or group.
        extendable: ``True``: only datasets made by :meth:`HDF5Sink.append` (rows, first
            axis unlimited); ``False``: only fixed-shape ones (summaries made by
            :meth:`HDF5Sink.write`); ``None``: both.
    """
    names: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            rows = bool(obj.maxshape) and obj.maxshape[0] is None
            if extendable is None or rows == extendable:
                names.append(name)

    group.visititems(visit)
    return sorted(names)


def _close_quietly(h5: h5py.File) -> None:
    """Close ``h5`` and every object open in it, swallowing HDF5's errors (no segfault).

    h5py's ``File.close`` can fail half-way (a full disk), leaving identifiers that
    crash the interpreter when they are freed later; closing with the low-level API,
    object by object, and then the file, never leaves one half-closed.
    """
    fid = h5.id
    if not fid.valid:
        return
    local = h5py.h5f.OBJ_LOCAL
    for kinds in (local | ~h5py.h5f.OBJ_FILE, local | h5py.h5f.OBJ_FILE):
        with contextlib.suppress(Exception):
            fid._close_open_objects(kinds)
    with contextlib.suppress(Exception):
        fid.close()
    gc.collect()


@contextlib.contextmanager
def _quiet_dealloc() -> Iterator[None]:
    """Silence HDF5's errors from freeing identifiers of a file being thrown away."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        yield
    finally:
        sys.unraisablehook = hook


class HDF5Sink(OutputLifecycle):
    """Extendable, chunked, compressed datasets written to a temporary file.

    Args:
        path: final output path.
        overwrite: replace an existing output on commit.
        compression: ``"gzip"``, ``"lzf"`` or ``None``.
        compression_level: gzip level 0-9.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        compression: str | None = "gzip",
        compression_level: int = 1,
        shuffle: bool = True,
    ) -> None:
        self.path = check_output(path, overwrite=overwrite)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = partial_path(self.path)
        self.compression = compression
        self.compression_level = compression_level if compression == "gzip" else None
        self.shuffle = shuffle and compression is not None
        try:
            self._h5: h5py.File | None = h5py.File(self.tmp_path, "w")
        except BaseException:  # e.g. a full disk: no empty temporary left behind
            self.tmp_path.unlink(missing_ok=True)
            raise
        self._plans: dict[str, _Direct | None] = {}
        # appended datasets, their row shape and dtype: h5py's lookups cost ~0.1 ms each,
        # ten datasets per chunk (datasets appended to are never deleted or replaced)
        self._appended: dict[str, tuple[h5py.Dataset, tuple[int, ...], np.dtype[Any]]] = {}
        self._queue: deque[tuple[h5py.Dataset, tuple[int, ...], Future[bytes], int]] = deque()
        self._queued_bytes = 0
        self._writers: list[ContiguousWriter] = []

    @property
    def file(self) -> h5py.File | None:
        """The open temporary file (None once committed or aborted), every row written."""
        if self._h5 is not None:
            for writer in self._writers:
                writer.flush()
            self._flush()
        return self._h5

    def _file(self) -> h5py.File:
        if self._h5 is None:
            msg = f"sink for {self.path} is closed"
            raise RuntimeError(msg)
        return self._h5

    def _flush(self) -> None:
        """Write every appended row to the file (chunks still compressing, partial chunks)."""
        self._drain(everything=True)
        for name, plan in self._plans.items():
            if plan is not None and plan.pending is not None:
                self._write_pending(self._file()[name], plan)

    def _drain(self, *, everything: bool = False) -> None:
        """Store compressed chunks in order: those done (all with ``everything``)."""
        queue = self._queue
        while queue and (everything or self._queued_bytes > _QUEUED_BYTES or queue[0][2].done()):
            ds, offsets, future, nbytes = queue.popleft()
            self._queued_bytes -= nbytes
            ds.id.write_direct_chunk(offsets, future.result(), filter_mask=0)

    @staticmethod
    def _write_pending(ds: h5py.Dataset, plan: _Direct) -> None:
        """Write a dataset's partial last chunk through h5py (its own gzip filter)."""
        pending, plan.pending = plan.pending, None
        if pending is not None and len(pending):
            stop = min(plan.pending_start + len(pending), ds.shape[0])
            if stop > plan.pending_start:
                ds[plan.pending_start : stop] = pending[: stop - plan.pending_start]

    def _append_direct(self, ds: h5py.Dataset, plan: _Direct, arr: npt.NDArray[Any]) -> None:
        """Append rows, compressing the chunks they complete in the thread pool."""
        start = int(ds.shape[0])
        first = start - start % plan.rows  # first row of the chunk the new rows start in
        if plan.pending is not None and plan.pending_start + len(plan.pending) != start:
            self._write_pending(ds, plan)  # the dataset was resized by someone else
        if plan.pending is not None:
            prefix = plan.pending
        elif first < start:  # a partial chunk already in the file: read it back
            self._drain(everything=True)
            prefix = np.asarray(ds[first:start])
        else:
            prefix = arr[:0]
        rows = np.concatenate([prefix, arr]) if len(prefix) else np.array(arr, order="C")
        ds.resize(start + len(arr), axis=0)
        n_full = len(rows) // plan.rows
        tail = (0,) * (ds.ndim - 1)
        for i in range(n_full):
            block = rows[i * plan.rows : (i + 1) * plan.rows]
            future = threads.submit(
                _encode, block, itemsize=plan.itemsize, shuffle=plan.shuffle, level=plan.level
            )
            self._queue.append((ds, (first + i * plan.rows, *tail), future, block.nbytes))
            self._queued_bytes += block.nbytes
            self._drain()
        rest = rows[n_full * plan.rows :]
        plan.pending = rest if len(rest) else None
        plan.pending_start = first + n_full * plan.rows

    def append(self, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
        """Append each array along its first axis to its dataset (created on first use)."""
        f = self._file()
        for name, array in arrays.items():
            arr = np.asarray(array)
            known = self._appended.get(name)
            if known is None and name not in f:
                row_bytes = max(arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)), 1)
                rows = int(max(1, min(_CHUNK_BYTES // row_bytes, max(len(arr), 1) * 4)))
                f.create_dataset(
                    name,
                    shape=(0, *arr.shape[1:]),
                    maxshape=(None, *arr.shape[1:]),
                    dtype=arr.dtype,
                    chunks=(rows, *arr.shape[1:]),
                    compression=self.compression,
                    compression_opts=self.compression_level,
                    shuffle=self.shuffle,
                )
            if known is None:
                ds = f[name]
                known = self._appended[name] = (ds, ds.shape[1:], ds.dtype)
            ds, row_shape, dtype = known
            if row_shape != arr.shape[1:] or dtype != arr.dtype:
                msg = (
                    f"{name}: chunk of shape {arr.shape} and dtype {arr.dtype} does not match"
                    f" the dataset's {row_shape} / {dtype}"
                )
                raise ValueError(msg)
            if name not in self._plans:
                self._plans[name] = _direct(ds)
            plan = self._plans[name]
            if plan is not None:
                if len(arr):
                    self._append_direct(ds, plan, arr)
                continue
            start = ds.shape[0]
            ds.resize(start + len(arr), axis=0)
            ds[start:] = arr

    def create(
        self,
        name: str,
        *,
        dtype: npt.DTypeLike,
        shape: tuple[int, ...],
        chunks: tuple[int, ...],
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Create an empty dataset for :meth:`append` with a given chunk shape (e.g. a shard's).

        Args:
            name: dataset path.
            dtype: element type.
            shape: shape of one row (everything after the first axis).
            chunks: chunk shape, rows first.
            attrs: attributes to set.
        """
        ds = self._file().create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=chunks,
            compression=self.compression,
            compression_opts=self.compression_level,
            shuffle=self.shuffle,
        )
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def allocate(
        self,
        name: str,
        *,
        length: int,
        dtype: npt.DTypeLike,
        row: tuple[int, ...] = (),
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Create a contiguous, uncompressed dataset of ``length`` rows, its storage allocated
        now (readers can memory-map it, as WatChMaL does); fill it through :meth:`writer`."""
        ds = create_allocated(self._file(), name, length=length, dtype=dtype, row=row)
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def writer(self, names: Sequence[str], *, max_pending: int = 8) -> ContiguousWriter:
        """A writer of rows at offsets of the :meth:`allocate` d datasets ``names`` (writes go
        straight to the file where they can; at most ``max_pending`` in flight). The sink
        waits for its writes before the file is used, committed or aborted."""
        f = self._file()
        writer = ContiguousWriter({n: f[n] for n in names}, max_pending=max_pending)
        self._writers.append(writer)
        return writer

    def _close_writers(self) -> None:
        writers, self._writers = self._writers, []
        for writer in writers:
            writer.close()

    def write_virtual(
        self, name: str, layout: h5py.VirtualLayout, *, attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write a virtual dataset (rows that stay in other files, e.g. shards)."""
        ds = self._file().create_virtual_dataset(name, layout)
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def dataset_names(self, *, extendable: bool | None = None) -> list[str]:
        """Datasets written so far (see :func:`dataset_names`)."""
        return dataset_names(self._file(), extendable=extendable)

    def write(
        self, name: str, array: npt.ArrayLike, *, attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write a whole (small) dataset at once, e.g. bin statistics."""
        ds = self._file().create_dataset(name, data=np.asarray(array))
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def set_attrs(self, attrs: Mapping[str, Any], *, group: str = "/") -> None:
        """Set attributes on the file (or a group)."""
        target = self._file().require_group(group) if group != "/" else self._file()
        for key, value in attrs.items():
            target.attrs[key] = value

    def commit(self) -> Path:
        """Close the file, sync it to disk and move it to its final path."""
        self._close_writers()
        self._flush()
        self._file().close()
        self._h5 = None
        return publish(self.tmp_path, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file; never raises for a file that cannot close.

        The file is emptied first, so that HDF5's last metadata writes find room even on
        a full disk; an error closing it is swallowed (the file is being thrown away),
        and the temporary is removed whatever happened.
        """
        h5, self._h5 = self._h5, None
        try:
            with contextlib.suppress(Exception):  # writes in flight end before the file does
                self._close_writers()
            if h5 is not None:
                with contextlib.suppress(OSError):  # room for HDF5's last writes
                    os.truncate(self.tmp_path, 0)
            self._queue.clear()  # chunks still compressing are dropped
            self._queued_bytes = 0
            with _quiet_dealloc():  # freeing a dataset handle may write metadata
                self._appended.clear()
                self._plans.clear()
                if h5 is not None:
                    _close_quietly(h5)
        finally:
            self.tmp_path.unlink(missing_ok=True)

    @property
    def is_open(self) -> bool:
        return self._h5 is not None
