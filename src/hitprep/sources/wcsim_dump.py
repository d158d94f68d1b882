"""WCSim event dumps: WatChMaL DataTools' ``.npz`` and hitprep's pickle-free HDF5 twin.

DataTools' ``event_dump.py`` writes one ``.npz`` per WCSim file: per event
``event_id``, ``root_file``, ``pid``, ``position`` (3), ``direction`` (3),
``energy``; per event a variable-length array for each of ``digi_hit_*``
(``pmt``, ``charge``, ``time``, ``trigger``), ``true_hit_*`` (``pmt``, ``time``,
``parent``, ...), ``track_*`` (``id``, ``pid``, ``start_time``, ``energy``,
``start_position``, ``stop_position``, ``parent``, ``flag``) and ``trigger_*``
(``time``, ``type``). PMT numbers are already 0-based and digit times already
carry DataTools' trigger-time correction.

The variable-length arrays are numpy *object* arrays, which ``np.load`` can
only read by unpickling, and unpickling runs code from the file. So
:class:`WCSimNpzSource` refuses such files unless ``trust_pickle=True``
(``hitprep convert --trust-pickle``), naming the pickled arrays.

:class:`WCSimH5Source` reads the same fields from an HDF5 file without any
pickle: per-event arrays as they are, each variable-length family flat
(``digi_hit_pmt`` holds every event's digits in order) with
``<family>_offsets`` (N + 1 int64). The file attribute ``hitprep_format`` is
``"wcsim_dump"``; a ``geometry`` group holds the tank (see
:meth:`~hitprep.detectors.wcsim_geometry.TankGeometry.to_arrays`). The toy
simulator :mod:`hitprep.toys.wcsim` writes this layout.

Both give batches shaped like :class:`~hitprep.sources.wcsim.WCSimSource`'s:
event fields ``entry``, ``event_id``, ``pid``, ``energy``, ``position_x/y/z``,
``direction_x/y/z``, ``root_file`` (a string); collections ``digi_hits``,
``true_hits``, ``tracks`` and ``triggers`` (``track_pid`` becomes
``tracks.pdg``, ``track_parent`` ``tracks.parent_pdg``, ``track_start_time``
``tracks.time``, 3-vectors ``_x/_y/_z``).
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import numpy.typing as npt

from hitprep.detectors.wcsim_geometry import TankGeometry
from hitprep.errors import FileFormatError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts, with_fields
from hitprep.sources.base import Source, check_range
from hitprep.sources.h5raw import unfiltered_reader

__all__ = [
    "DUMP_FORMAT",
    "FAMILIES",
    "WCSimH5Source",
    "WCSimNpzSource",
    "field_name",
    "pickled_arrays",
    "string_column",
]

DUMP_FORMAT = "wcsim_dump"
#: key prefix of a variable-length family -> collection name
FAMILIES = {
    "digi_hit": "digi_hits",
    "true_hit": "true_hits",
    "track": "tracks",
    "trigger": "triggers",
}
_EVENT_KEYS = {"event_id", "pid", "energy", "position", "direction"}
_RENAMES = {
    "track_pid": "pdg",
    "track_parent": "parent_pdg",
    "track_start_time": "time",
    "track_start_position": "start",
    "track_stop_position": "stop",
}
_INT32 = {"pmt", "trigger", "parent", "pdg", "parent_pdg", "flag", "id", "type", "pid", "event_id"}
_STRING = "root_file"


@functools.lru_cache(maxsize=1024)  # asked for every key of every chunk
def field_name(key: str) -> tuple[str, str]:
    """``(collection, field)`` of a dump key (collection ``""`` for event fields).

    Example:
        >>> field_name("track_pid"), field_name("digi_hit_charge"), field_name("energy")
        (('tracks', 'pdg'), ('digi_hits', 'charge'), ('', 'energy'))
    """
    for prefix, collection in FAMILIES.items():
        if key.startswith(prefix + "_"):
            return collection, _RENAMES.get(key, key[len(prefix) + 1 :])
    return "", key


def pickled_arrays(path: str | Path) -> list[str]:
    """Names of the ``.npz`` members stored as object arrays (those needing pickle).

    Reads only the ``.npy`` headers; nothing is unpickled.
    """
    names = []
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        _, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        _, _, dtype = np.lib.format.read_array_header_2_0(fh)
                if dtype.hasobject:
                    names.append(info.filename[: -len(".npy")])
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        msg = f"cannot read as .npz: {err}"
        raise FileFormatError(path, msg) from err
    return names


class _DumpSource(Source):
    """Shared field listing and batch building of the two dump layouts."""

    columnar = True
    prefetch = False  # h5py holds the GIL while reading: a prefetch thread overlaps nothing
    _keys: list[str]
    _n: int
    _fields: list[str] | None = None
    _shapes: dict[str, tuple[int, ...]]

    def _event_keys(self) -> list[str]:
        return [k for k in self._keys if field_name(k)[0] == "" and k != "root_file"]

    def fields(self) -> list[str]:
        if self._fields is None:  # asked once per chunk (check_fields): listed once
            self._fields = self._list_fields()
        return list(self._fields)

    def _list_fields(self) -> list[str]:
        out = ["entry"]
        for key in self._keys:
            coll, name = field_name(key)
            if key.endswith("_offsets") and key[: -len("_offsets")] in FAMILIES:
                continue
            shape = self._shape(key)
            names = [f"{name}_{c}" for c in "xyz"] if len(shape) == 2 and shape[1] == 3 else [name]
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 3):
                continue  # other matrices have no dotted name
            out += [f"{coll}.{n}" if coll else n for n in names]
        return out

    @property
    def num_events(self) -> int:
        return self._n

    def _shape(self, key: str) -> tuple[int, ...]:
        """Shape of one item: event arrays (N, ...) as is; family arrays per hit."""
        raise NotImplementedError

    def _wanted(self, key: str, names: Collection[str]) -> bool:
        """Whether array ``key`` holds one of ``names`` (3-vectors: ``name_x``, ...)."""
        name = field_name(key)[1]
        if key not in self._shapes:
            self._shapes[key] = self._shape(key)
        shape = self._shapes[key]
        if len(shape) == 2 and shape[1] == 3:
            return any(f"{name}_{c}" in names for c in "xyz")
        return name in names

    def _event_array(self, key: str, start: int, stop: int) -> npt.NDArray[Any]:
        raise NotImplementedError

    def _num_pmts(self) -> int:
        """PMTs of the file's geometry (0: the file has none to check against)."""
        return 0

    def _check_pmts(
        self,
        prefix: str,
        offsets: npt.NDArray[np.int64],
        flat: Mapping[str, npt.NDArray[Any]],
        start: int,
    ) -> None:
        """Raise FileFormatError for a hit on a PMT the file's geometry does not have."""
        pmt = flat.get(f"{prefix}_pmt")
        n = self._num_pmts() if pmt is not None and len(pmt) else 0
        if not n or pmt is None:
            return
        outside = (pmt < 0) | (pmt >= n)
        if np.any(outside):
            i = int(np.argmax(outside))
            event = start + int(np.searchsorted(offsets, i, side="right")) - 1
            msg = (
                f"{prefix}_pmt: event {event} has a hit on PMT {int(pmt[i])}, outside"
                f" 0..{n - 1} (the geometry's {n} PMTs)"
            )
            raise FileFormatError(self.path, msg)

    def _family(
        self, prefix: str, keys: list[str], start: int, stop: int
    ) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[Any]]]:
        raise NotImplementedError

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        check_range(start, stop, self.num_events)
        wanted = set(self.fields()) if fields is None else set(fields)
        self.check_fields(wanted)
        events: dict[str, npt.NDArray[Any]] = {"entry": np.arange(start, stop, dtype=np.int64)}
        for key in self._event_keys():
            if self._wanted(key, wanted):  # only what is asked for is read
                events.update(_split(key, self._event_array(key, start, stop), wanted))
        collections: dict[str, ak.Array] = {}
        for prefix, coll in FAMILIES.items():
            inside = {w.partition(".")[2] for w in wanted if w.startswith(coll + ".")}
            keys = [k for k in self._keys if field_name(k)[0] == coll]
            keys = [k for k in keys if k != f"{prefix}_offsets" and self._wanted(k, inside)]
            if not keys:
                continue
            offsets, flat = self._family(prefix, keys, start, stop)
            self._check_pmts(prefix, offsets, flat, start)
            columns: dict[str, npt.NDArray[Any]] = {}
            for key, arr in flat.items():
                columns.update(_split(key, arr, inside))
            collections[coll] = jagged_from_flat(columns, offsets)
        batch = make_batch(events, collections, length=stop - start)
        if _STRING in self._keys and _STRING in wanted:
            names = np.asarray(self._event_array(_STRING, start, stop))
            batch = with_fields(batch, {_STRING: string_column(names)})
        return batch


def string_column(values: npt.NDArray[Any]) -> ak.contents.Content:
    """An awkward string column built from numpy strings (``str``, or UTF-8 ``bytes`` objects
    as h5py reads variable-length strings), vectorized.

    ``ak.Array(values.tolist())`` checks every string in Python; this builds the
    UTF-8 characters and offsets with numpy.

    Example:
        >>> ak.Array(string_column(np.array(["ab", "", "c"]))).tolist()
        ['ab', '', 'c']
        >>> ak.Array(string_column(np.array(["dé".encode(), b""], dtype=object))).tolist()
        ['dé', '']
    """
    values = np.asarray(values)
    if values.dtype == object and all(isinstance(v, bytes) for v in values[:1]):
        try:  # already UTF-8: joined as they are, no decoding and encoding again
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
            data = np.frombuffer(b"".join(values), dtype=np.uint8)
        except TypeError:  # not all bytes after all
            pass
        else:
            content = ak.contents.NumpyArray(data, parameters={"__array__": "char"})
            offsets = ak.index.Index64(offsets_from_counts(lengths))
            return ak.contents.ListOffsetArray(offsets, content, parameters={"__array__": "string"})
        values = values.astype(str)
    encoded = np.char.encode(np.asarray(values, dtype=str), "utf-8")
    width = encoded.dtype.itemsize
    lengths = np.char.str_len(encoded).astype(np.int64)
    chars = encoded.view(np.uint8).reshape(len(encoded), width)
    data = chars[np.arange(width) < lengths[:, None]]
    content = ak.contents.NumpyArray(data, parameters={"__array__": "char"})
    offsets = ak.index.Index64(offsets_from_counts(lengths))
    return ak.contents.ListOffsetArray(offsets, content, parameters={"__array__": "string"})


def _split(key: str, arr: npt.NDArray[Any], wanted: Collection[str]) -> dict[str, Any]:
    """Wanted columns of one array: 3-vectors split into ``_x/_y/_z``, ids as int32."""
    name = field_name(key)[1]
    out: dict[str, npt.NDArray[Any]] = {}
    if arr.ndim == 2 and arr.shape[1] == 3:
        for i, c in enumerate("xyz"):
            if f"{name}_{c}" in wanted:
                out[f"{name}_{c}"] = np.ascontiguousarray(arr[:, i])
    elif arr.ndim == 1 and name in wanted:
        out[name] = arr.astype(np.int32, copy=False) if name in _INT32 else arr
    return out


class WCSimNpzSource(_DumpSource):
    """DataTools ``event_dump.py`` output (``.npz``).

    Args:
        path: the ``.npz`` file.
        trust_pickle: allow unpickling its object arrays (they can run code from the file).

    Raises:
        FileFormatError: the file needs pickle and ``trust_pickle`` is False, or it
            is not an ``.npz`` with ``event_id``.
    """

    format_name = "wcsim_npz"

    def __init__(self, path: str | Path, *, trust_pickle: bool = False) -> None:
        super().__init__(path)
        pickled = pickled_arrays(self.path)
        if pickled and not trust_pickle:
            shown = ", ".join(pickled[:6]) + (" ..." if len(pickled) > 6 else "")
            msg = (
                f"arrays {shown} are pickled Python objects, and unpickling runs code from"
                " the file; pass --trust-pickle (source option trust_pickle = true) if you"
                " trust where it came from"
            )
            raise FileFormatError(self.path, msg)
        try:
            self._npz = np.load(self.path, allow_pickle=trust_pickle)
        except (ValueError, OSError) as err:
            raise FileFormatError(self.path, f"cannot read as .npz: {err}") from err
        self._keys = list(self._npz.files)
        if "event_id" not in self._keys:
            msg = f"not a WCSim event dump: no 'event_id' (arrays: {', '.join(self._keys)})"
            raise FileFormatError(self.path, msg)
        self._cache: dict[str, npt.NDArray[Any]] = {}
        self._shapes = {}
        self._flat: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[Any]]] = {}
        self._n = len(self._get("event_id"))

    def _get(self, key: str) -> npt.NDArray[Any]:
        if key not in self._cache:
            self._cache[key] = np.asarray(self._npz[key])
        return self._cache[key]

    def _shape(self, key: str) -> tuple[int, ...]:
        arr = self._get(key)
        if arr.dtype.hasobject and field_name(key)[0]:
            first = next((np.asarray(a) for a in arr if len(a)), np.zeros(0))
            return (0, *first.shape[1:])
        return arr.shape

    def _event_array(self, key: str, start: int, stop: int) -> npt.NDArray[Any]:
        return self._get(key)[start:stop]

    def _flatten(self, key: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
        """Offsets and flat content of one object array (one step per event, done once)."""
        if key not in self._flat:
            per_event = self._get(key)
            counts = np.fromiter((len(a) for a in per_event), dtype=np.int64, count=len(per_event))
            offsets = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            parts = [np.asarray(a) for a in per_event if len(a)]
            flat = np.concatenate(parts) if parts else np.zeros(0)
            self._flat[key] = (offsets, flat)
        return self._flat[key]

    def _family(
        self, prefix: str, keys: list[str], start: int, stop: int
    ) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[Any]]]:
        out: dict[str, npt.NDArray[Any]] = {}
        offsets: npt.NDArray[np.int64] | None = None
        for key in keys:
            off, flat = self._flatten(key)
            if offsets is not None and not np.array_equal(off[start : stop + 1], offsets):
                bad = int(np.flatnonzero(np.diff(off[start : stop + 1]) != np.diff(offsets))[0])
                msg = f"{key} and {keys[0]} have different lengths in event {start + bad}"
                raise FileFormatError(self.path, msg)
            offsets = off[start : stop + 1]
            out[key] = flat[off[start] : off[stop]]
        assert offsets is not None
        return offsets - offsets[0], out

    def close(self) -> None:
        self._npz.close()


class WCSimH5Source(_DumpSource):
    """hitprep's pickle-free WCSim dump (HDF5, attribute ``hitprep_format = "wcsim_dump"``)."""

    format_name = "wcsim_h5"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._shapes = {}
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise FileFormatError(self.path, f"cannot open as HDF5: {err}") from err
        try:
            found = self._file.attrs.get("hitprep_format", "")
            if found != DUMP_FORMAT:
                msg = f"not a hitprep WCSim dump (attribute hitprep_format={found!r})"
                raise FileFormatError(self.path, msg)
            self._keys = [k for k, v in self._file.items() if isinstance(v, h5py.Dataset)]
            if "event_id" not in self._keys:
                msg = f"WCSim dump without 'event_id' (datasets: {', '.join(self._keys)})"
                raise FileFormatError(self.path, msg)
            self._datasets: dict[str, h5py.Dataset] = {k: self._file[k] for k in self._keys}
            # uncompressed 1-d datasets are read with os.preadv at their file offsets
            self._readers = {k: unfiltered_reader(ds) for k, ds in self._datasets.items()}
            self._n = len(self._datasets["event_id"])
            for prefix in FAMILIES:
                if f"{prefix}_offsets" in self._datasets:
                    off = self._datasets[f"{prefix}_offsets"]
                    if off.shape != (self._n + 1,):
                        msg = f"{prefix}_offsets has shape {off.shape}, expected ({self._n + 1},)"
                        raise FileFormatError(self.path, msg)
                    if int(off[0]) != 0:  # items before it would belong to no event
                        msg = f"{prefix}_offsets starts at {int(off[0])}, not 0"
                        raise FileFormatError(self.path, msg)
            for key in self._keys:
                if field_name(key)[0] and not key.endswith("_offsets"):
                    self._check_family_size(key)
        except BaseException:
            self._file.close()
            raise
        self._geometry: TankGeometry | None = None

    def _num_pmts(self) -> int:
        return self.geometry.num_pmts if "geometry" in self._file else 0

    @property
    def geometry(self) -> TankGeometry:
        """The tank stored in the file's ``geometry`` group."""
        if self._geometry is None:
            if "geometry" not in self._file:
                msg = "has no geometry group"
                raise FileFormatError(self.path, msg)
            group = self._file["geometry"]
            arrays: Mapping[str, Any] = {k: group[k][()] for k in group}
            self._geometry = TankGeometry.from_arrays(arrays, origin=str(self.path))
        return self._geometry

    def _check_family_size(self, key: str) -> None:
        """A family array holds as many items as its offsets say (checked once, on opening)."""
        prefix = next(p for p, c in FAMILIES.items() if key.startswith(p + "_"))
        name = f"{prefix}_offsets"
        if name not in self._datasets:
            return  # reported when the family is read
        items, total = self._datasets[key].shape[0], int(self._datasets[name][-1])
        if items != total:
            msg = f"{key} holds {items} items, {name} says {total}"
            raise FileFormatError(self.path, msg)

    def _shape(self, key: str) -> tuple[int, ...]:
        shape: tuple[int, ...] = self._datasets[key].shape
        return shape

    def _slice(self, key: str, start: int, stop: int) -> npt.NDArray[Any]:
        reader = self._readers[key]
        if reader is not None:
            return reader(start, stop)
        try:
            return np.asarray(self._datasets[key][start:stop])
        except OSError as err:  # a damaged chunk: name the dataset and the items
            msg = f"{key}: items {start} to {stop} cannot be read ({err})"
            raise FileFormatError(self.path, msg) from err

    def _event_array(self, key: str, start: int, stop: int) -> npt.NDArray[Any]:
        return self._slice(key, start, stop)

    def _family(
        self, prefix: str, keys: list[str], start: int, stop: int
    ) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[Any]]]:
        name = f"{prefix}_offsets"
        if name not in self._datasets:
            msg = f"{keys[0]} has no {name} dataset"
            raise FileFormatError(self.path, msg)
        offsets = np.asarray(self._slice(name, start, stop + 1), dtype=np.int64)
        steps = np.diff(offsets)
        if np.any(steps < 0):
            i = int(np.argmax(steps < 0))
            msg = f"{name} decreases at event {start + i} ({offsets[i]} to {offsets[i + 1]})"
            raise FileFormatError(self.path, msg)
        first, last = int(offsets[0]), int(offsets[-1])
        out = {key: self._slice(key, first, last) for key in keys}
        return offsets - first, out

    def close(self) -> None:
        self._file.close()
