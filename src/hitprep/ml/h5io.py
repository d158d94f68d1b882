"""HDF5 access for datasets: per-process lazy handles, batched row reads, labels and scalars.

Handles are opened on first use in each process (a DataLoader worker re-opens
its own; an h5py handle never crosses a fork). Rows of a batch are read in as
few slices as the chunk layout allows, never one h5py call per event when the
events lie close together.
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.events import offsets_from_counts

__all__ = [
    "ChunkCache",
    "LazyFile",
    "column_names",
    "group_runs",
    "read_column",
    "read_rows",
    "read_spans",
]

#: HDF5 chunk cache per dataset (decompressed chunks kept for nearby reads)
CACHE_BYTES = 32 << 20


class LazyFile:
    """An HDF5 file opened read-only on first use in each process.

    Pickling keeps only the path, so a :class:`torch.utils.data.DataLoader`
    worker opens its own handle.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: h5py.File | None = None
        self._pid = -1

    def get(self) -> h5py.File:
        """The open handle of this process."""
        if self._file is None or self._pid != os.getpid():
            self._file = open_h5(self.path)
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._file = None
        self._pid = -1


def open_h5(path: str | Path) -> h5py.File:
    """Open an HDF5 file read-only with a chunk cache; errors name the file."""
    import hdf5plugin  # noqa: F401  (Blosc-compressed inputs)

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(p, "no such file")
    try:
        return h5py.File(p, "r", rdcc_nbytes=CACHE_BYTES, rdcc_nslots=10007)
    except OSError as err:
        raise FileFormatError(p, f"cannot read as HDF5: {err}") from err


def dataset(f: h5py.File, name: str, *, what: str = "dataset") -> h5py.Dataset:
    """``f[name]``, or a :class:`KeyInFileError` listing the datasets the file has."""
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise KeyInFileError(name, file=f.filename, available=_datasets(f), what=what)
    return obj


def _datasets(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def column_names(f: h5py.File) -> list[str]:
    """Names usable as a label or scalar: fields of ``y`` and top-level 1-D datasets."""
    names: list[str] = []
    y = f.get("y")
    if isinstance(y, h5py.Dataset) and y.dtype.names:
        names.extend(y.dtype.names)
    for key, obj in f.items():
        plain = isinstance(obj, h5py.Dataset) and obj.dtype.names is None
        if plain and (obj.ndim == 1 or (obj.ndim == 2 and obj.shape[1] == 1)):
            names.append(key)
    return names


def read_column(f: h5py.File, name: str, *, n_rows: int, what: str = "field") -> npt.NDArray[Any]:
    """One value per event: field ``name`` of ``y``, else a top-level dataset ``name``.

    Raises:
        KeyInFileError: neither exists (the message lists the fields and datasets that do).
        FileFormatError: it does not hold one number per event.
    """
    y = f.get("y")
    if isinstance(y, h5py.Dataset) and y.dtype.names and name in y.dtype.names:
        values = np.asarray(y.fields(name)[:])
        where = f"y[{name!r}]"
    elif isinstance(f.get(name), h5py.Dataset) and f[name].dtype.names is None:
        values = np.asarray(f[name][:])
        where = repr(name)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
    else:
        raise KeyInFileError(name, file=f.filename, available=column_names(f), what=what)
    if values.ndim != 1 or len(values) != n_rows or values.dtype.kind not in "biuf":
        detail = (
            f"{where} should hold one number per event ({n_rows}),"
            f" found shape {values.shape} dtype {values.dtype}"
        )
        raise FileFormatError(f.filename, detail)
    return values


def group_runs(sorted_rows: npt.NDArray[np.int64], gap: int) -> npt.NDArray[np.int64]:
    """Start positions of runs in ``sorted_rows`` whose neighbours are at most ``gap`` apart.

    Returns the boundaries ``[0, ..., len(sorted_rows)]``.
    """
    if len(sorted_rows) == 0:
        return np.zeros(1, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(sorted_rows) > gap) + 1
    return np.concatenate([[0], breaks, [len(sorted_rows)]]).astype(np.int64)


def read_rows(ds: h5py.Dataset | npt.NDArray[Any], rows: Sequence[int] | npt.NDArray[Any]) -> Any:
    """``ds[rows]`` for any (unsorted, repeated) rows, in as few slice reads as the chunks allow.

    Rows closer than one chunk are read as one slice; a numpy array is simply indexed.
    """
    index = np.asarray(rows, dtype=np.int64)
    if isinstance(ds, np.ndarray):
        return ds[index]
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    gap = ds.chunks[0] if ds.chunks else 64
    bounds = group_runs(ordered, gap)
    out = np.empty((len(index), *ds.shape[1:]), dtype=ds.dtype)
    for lo, hi in itertools.pairwise(bounds):
        first, last = int(ordered[lo]), int(ordered[hi - 1])
        block = ds[first : last + 1]
        out[order[lo:hi]] = block[ordered[lo:hi] - first]
    return out


class ChunkCache:
    """Decompressed storage chunks of compressed datasets, least recently used dropped first.

    A batch drawn by :class:`~hitprep.ml.loader.ChunkShuffleSampler` touches a few
    chunks that the next batches touch again; keeping them decoded means each
    chunk is decompressed about once per epoch. Each process has its own cache
    (it is not pickled).

    Args:
        max_bytes: memory budget of the decoded chunks.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._blocks: OrderedDict[tuple[str, int], npt.NDArray[Any]] = OrderedDict()
        self._bytes = 0

    @staticmethod
    def applies(ds: h5py.Dataset) -> bool:
        """Whether ``ds`` is chunked along events and compressed."""
        return ds.chunks is not None and ds.compression is not None

    def rows(self, ds: h5py.Dataset, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """``ds[rows]``, reading whole chunks (one loop step per chunk, not per event)."""
        size = int(ds.chunks[0])
        index = np.asarray(rows, dtype=np.int64)
        chunk = index // size
        out = np.empty((len(index), *ds.shape[1:]), dtype=ds.dtype)
        for c in np.unique(chunk):
            sel = chunk == c
            out[sel] = self._block(ds, int(c), size)[index[sel] - int(c) * size]
        return out

    def _block(self, ds: h5py.Dataset, c: int, size: int) -> npt.NDArray[Any]:
        key = (str(ds.name), c)
        cached = self._blocks.get(key)
        if cached is not None:
            self._blocks.move_to_end(key)
            return cached
        block: npt.NDArray[Any] = np.asarray(ds[c * size : min((c + 1) * size, int(ds.shape[0]))])
        self._blocks[key] = block
        self._bytes += block.nbytes
        while self._bytes > self.max_bytes and len(self._blocks) > 1:
            _, dropped = self._blocks.popitem(last=False)
            self._bytes -= dropped.nbytes
        return block


def read_spans(
    ds: h5py.Dataset | npt.NDArray[Any],
    starts: npt.NDArray[np.int64],
    stops: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Concatenate ``ds[start:stop]`` for each span (jagged events), in span order.

    Spans that lie close together in the file are read as one slice.

    Returns:
        The concatenated values and the per-span counts.
    """
    counts = (stops - starts).astype(np.int64)
    total = int(counts.sum())
    out = np.empty((total, *ds.shape[1:]), dtype=ds.dtype)
    if total == 0:
        return out, counts
    dest = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if isinstance(ds, np.ndarray):
        return ds[np.repeat(starts, counts) + _ramp(counts)], counts
    order = np.argsort(starts, kind="stable")
    gap = ds.chunks[0] if ds.chunks else 4096
    s_sorted, e_sorted = starts[order], stops[order]
    # a new read starts where a span begins beyond the furthest end seen so far plus the gap
    furthest = np.maximum.accumulate(e_sorted)
    breaks = np.flatnonzero(s_sorted[1:] > furthest[:-1] + gap) + 1
    bounds = np.concatenate([[0], breaks, [len(order)]])
    for lo, hi in itertools.pairwise(bounds):
        first, last = int(s_sorted[lo]), int(furthest[hi - 1])
        if last <= first:
            continue
        block = ds[first:last]
        spans = order[lo:hi]
        n = counts[spans]
        within = _ramp(n)
        out[np.repeat(dest[spans], n) + within] = block[
            np.repeat(starts[spans] - first, n) + within
        ]
    return out, counts


def _ramp(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``[0..counts[0]), [0..counts[1]), ...`` concatenated."""
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
        offsets_from_counts(counts)[:-1], counts
    )
