"""km3pipe HDF5 files (format 5.x, PyTables layout).

Layout, as found in km3net-testdata's ``hdf5/atmospheric_muons_sample.h5`` and
``hdf5/mupage_ARCA.h5``:

- ``event_info``: compound table, one row per event (``event_id``, ``group_id``,
  ``run_id``, ``mc_time``, ``timestamp``, ``nanoseconds``, weights, ...).
- ``hits/`` and ``mc_hits/``: one flat dataset per column plus ``_indices``
  (``index``, ``n_items``) per event. Hits are uncalibrated (no positions).
- ``mc_tracks``: compound table with ``group_id``; an event's rows are those
  whose ``group_id`` equals the event's (the table is sorted by it).
- ``group_info``, ``meta``, ``raw_header``, ``_i_*``: bookkeeping, not read.

Some files use Blosc compression; :mod:`hdf5plugin` is imported when a file needs it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.sources.base import Source
from hitprep.sources.h5chunks import ensure_filters, read_slice

__all__ = ["KM3NeTHDF5Source"]

_SKIP_TABLES = {"event_info", "group_info", "meta", "raw_header"}
_SKIP_COLUMNS = {"_indices", "group_id"}


class KM3NeTHDF5Source(Source):
    """Events of a km3pipe HDF5 file.

    Event fields come from ``event_info``; collections from every group with
    ``_indices`` (``hits``, ``mc_hits``) and every table with ``group_id``
    (``mc_tracks``).

    Example:
        >>> from km3net_testdata import data_path
        >>> with KM3NeTHDF5Source(data_path("hdf5/atmospheric_muons_sample.h5")) as src:
        ...     batch = src.read(0, 10, fields=["hits.time", "hits.dom_id"])
        >>> sorted(batch.hits.fields), ak.num(batch.hits).tolist()[:3]
        (['dom_id', 'time'], [4886, 4576, 4219])
    """

    format_name = "km3net_hdf5"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise FileFormatError(self.path, f"cannot open as HDF5: {err}") from err
        self._indexed: dict[str, list[str]] = {}
        self._grouped: dict[str, list[str]] = {}
        self._group_ids: dict[str, npt.NDArray[np.int64]] = {}
        try:
            self._scan()
        except OSError as err:
            self._file.close()
            raise FileFormatError(self.path, f"cannot read file structure: {err}") from err
        except FileFormatError:
            self._file.close()
            raise

    def _scan(self) -> None:
        f = self._file
        for name, obj in f.items():
            if name.startswith("_i_") or name in _SKIP_TABLES:
                continue
            if isinstance(obj, h5py.Group) and "_indices" in obj:
                cols = [c for c in obj if c not in _SKIP_COLUMNS]
                for col in cols:  # numbers only: strings would reach numpy as bytes
                    kind = obj[col].dtype if isinstance(obj[col], h5py.Dataset) else None
                    if kind is not None and kind.kind not in "biuf":
                        msg = f"{name}/{col} holds {kind} values, not numbers"
                        raise FileFormatError(self.path, msg)
                self._indexed[name] = sorted(cols)
                ensure_filters(d for d in obj.values() if isinstance(d, h5py.Dataset))
            elif isinstance(obj, h5py.Dataset):
                ensure_filters([obj])
                if obj.dtype.names is not None and "group_id" in obj.dtype.names:
                    self._grouped[name] = [c for c in obj.dtype.names if c != "group_id"]
        if "event_info" in f:
            self._n = len(f["event_info"])
            self._event_columns = [c for c in f["event_info"].dtype.names]
        elif self._indexed:
            self._n = len(f[next(iter(self._indexed)) + "/_indices"])
            self._event_columns = []
        else:
            msg = "no event_info table and no hits/_indices: not a km3pipe HDF5 event file"
            raise FileFormatError(self.path, msg)
        for name, cols in self._indexed.items():
            idx = f[name]["_indices"]
            if len(idx) != self._n:
                msg = f"{name}/_indices has {len(idx)} rows but the file has {self._n} events"
                raise FileFormatError(self.path, msg)
            if self._n:
                last = idx[self._n - 1]
                end = int(last["index"]) + int(last["n_items"])
                for c in cols:
                    size = f[name][c].shape[0]
                    if size < end:
                        msg = (
                            f"{name}/_indices says event {self._n - 1} ends at item {end},"
                            f" but {name}/{c} has only {size} items (truncated file?)"
                        )
                        raise FileFormatError(self.path, msg)

    @property
    def num_events(self) -> int:
        return self._n

    def fields(self) -> list[str]:
        out = ["entry", *self._event_columns]
        for name, cols in {**self._indexed, **self._grouped}.items():
            out += [f"{name}.{c}" for c in cols]
        return out

    def close(self) -> None:
        self._file.close()

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        if fields is not None:
            self.check_fields(fields)
        stop = min(stop, self._n)
        n = max(stop - start, 0)
        wanted = self._wanted(fields)
        try:
            event_fields: dict[str, npt.NDArray[np.generic]] = {
                "entry": np.arange(start, start + n, dtype=np.int64)
            }
            info = None
            if "event_info" in self._file:
                info = self._file["event_info"][start:stop]
                for c in wanted.get("", []):
                    event_fields[c] = np.ascontiguousarray(info[c])
            collections: dict[str, ak.Array] = {}
            for name, cols in wanted.items():
                if name in self._indexed:
                    collections[name] = self._read_indexed(name, cols, start, stop)
                elif name in self._grouped:
                    gids = (
                        np.asarray(info["group_id"], dtype=np.int64)
                        if info is not None
                        else np.arange(start, stop, dtype=np.int64)
                    )
                    collections[name] = self._read_grouped(name, cols, gids)
        except OSError as err:
            msg = f"cannot read events {start}..{stop - 1}: {err} (corrupt or truncated file?)"
            raise FileFormatError(self.path, msg) from err
        return make_batch(event_fields, collections, length=n)

    def _wanted(self, fields: Collection[str] | None) -> dict[str, list[str]]:
        """Map collection name ('' = event fields) to the columns to read."""
        if fields is None:
            wanted = {"": list(self._event_columns)}
            wanted.update({k: list(v) for k, v in {**self._indexed, **self._grouped}.items()})
            return wanted
        out: dict[str, list[str]] = {}
        for f in fields:
            if f == "entry":
                continue
            coll, _, col = f.rpartition(".")
            out.setdefault(coll, [])
            if col not in out[coll]:
                out[coll].append(col)
        return out

    def _read_indexed(self, name: str, cols: list[str], start: int, stop: int) -> ak.Array:
        group = self._file[name]
        idx = group["_indices"][start:stop]
        index = idx["index"].astype(np.int64)
        n_items = idx["n_items"].astype(np.int64)
        if np.any(n_items < 0):
            bad = start + int(np.argmax(n_items < 0))
            msg = f"{name}/_indices has a negative item count at event {bad}"
            raise FileFormatError(self.path, msg)
        self._check_ranges(name, cols, index, n_items, start)
        offsets = offsets_from_counts(n_items)
        if len(index) == 0:
            flat = {c: group[c][0:0] for c in cols}
        else:
            lo = int(index[0])
            contiguous = bool(np.all(index == lo + offsets[:-1]))
            if contiguous:
                hi = lo + int(offsets[-1])
                flat = {c: read_slice(group[c], lo, hi) for c in cols}
            else:  # gather event by event ranges, still without a Python loop per event
                lo = int(index.min())
                hi = int((index + n_items).max())
                positions = np.repeat(index - lo - offsets[:-1], n_items) + np.arange(offsets[-1])
                flat = {c: group[c][lo:hi][positions] for c in cols}
        return jagged_from_flat(flat, offsets)

    def _check_ranges(
        self,
        name: str,
        cols: list[str],
        index: npt.NDArray[np.int64],
        n_items: npt.NDArray[np.int64],
        start: int,
    ) -> None:
        """Raise FileFormatError when an event's items lie outside its collection's columns."""
        if not cols or len(index) == 0:
            return
        size = int(self._file[name][cols[0]].shape[0])
        outside = (index < 0) | (index + n_items > size)
        if np.any(outside):
            i = int(np.argmax(outside))
            msg = (
                f"{name}/_indices: event {start + i} points at items {int(index[i])} to"
                f" {int(index[i] + n_items[i])}, outside the {size} items of {name}/{cols[0]}"
            )
            raise FileFormatError(self.path, msg)

    def _table_group_ids(self, name: str) -> npt.NDArray[np.int64]:
        if name not in self._group_ids:
            gid = np.asarray(self._file[name].fields("group_id")[:], dtype=np.int64)
            if np.any(np.diff(gid) < 0):
                msg = f"table {name} is not sorted by group_id; cannot split it into events"
                raise FileFormatError(self.path, msg)
            self._group_ids[name] = gid
        return self._group_ids[name]

    def _read_grouped(self, name: str, cols: list[str], gids: npt.NDArray[np.int64]) -> ak.Array:
        table_gid = self._table_group_ids(name)
        first = np.searchsorted(table_gid, gids, side="left")
        last = np.searchsorted(table_gid, gids, side="right")
        n_items = (last - first).astype(np.int64)
        if len(gids) == 0 or n_items.sum() == 0:
            rows = self._file[name][0:0]
            return jagged_from_flat({c: rows[c] for c in cols}, offsets_from_counts(n_items))
        lo, hi = int(first.min()), int(last.max())
        rows = self._file[name][lo:hi]
        offsets = offsets_from_counts(n_items)
        positions = np.repeat(first - lo - offsets[:-1], n_items) + np.arange(offsets[-1])
        flat = {c: np.ascontiguousarray(rows[c][positions]) for c in cols}
        return jagged_from_flat(flat, offsets)

    def missing(self, key: str) -> KeyInFileError:
        """The error for a dataset the file lacks (names the nearest ones)."""
        return KeyInFileError(key, file=self.path, available=self.fields(), what="dataset")
