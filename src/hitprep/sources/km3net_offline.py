"""KM3NeT offline ROOT files (aanet / Jpp ``Evt`` format), read with uproot.

The events live in tree ``E``, branch ``Evt``; uproot reads its split
``std::vector<Hit>`` / ``std::vector<Trk>`` members (``hits.t``, ``mc_trks.E``,
...) as jagged arrays. Names follow the km3pipe HDF5 source so stages run on both.

Event fields (file branch in brackets): ``event_id`` (``id``), ``run_id``,
``det_id``, ``mc_id``, ``mc_run_id``, ``frame_index``, ``trigger_mask``,
``trigger_counter``, ``overlays``, ``mc_time`` (``mc_t``), ``timestamp``
(``t.fSec``), ``nanoseconds`` (``t.fNanoSec``), and ``weight_w1`` ...
``weight_w4`` (``w[0]`` ... ``w[3]``, NaN where an event has fewer weights;
data files have none, MC files three or four).

Collections:

========== ============ ===========================================================
collection file         fields (file member in brackets where the name differs)
========== ============ ===========================================================
hits       ``hits``     ``dom_id``, ``channel_id``, ``time`` (``t``), ``tot``,
                        ``triggered`` (``trig``); ``pos_x/y/z`` (``pos.x`` ...)
                        and ``dir_x/y/z`` only in calibrated files, see below
mc_hits    ``mc_hits``  ``pmt_id``, ``time`` (``t``), ``a``, ``origin``
mc_tracks  ``mc_trks``  ``id``, ``type``, ``energy`` (``E``), ``pos_x/y/z``,
                        ``dir_x/y/z``, ``time`` (``t``), ``length`` (``len``),
                        ``bjorkeny`` (``usr`` value named ``"by"``)
tracks     ``trks``     ``id``, ``energy`` (``E``), ``pos_x/y/z``, ``dir_x/y/z``,
                        ``time`` (``t``), ``length`` (``len``), ``likelihood``
                        (``lik``), ``rec_type``
========== ============ ===========================================================

Format notes (from the km3net-testdata files):

- Hit positions and directions are stored but are all zero unless the file was
  calibrated (e.g. ``numucc.root`` and ``km3net_offline.root`` are not,
  ``mcv6...jorcarec.aanet.905.root`` is). ``hits.pos_*`` / ``hits.dir_*`` are
  offered only when the first basket holding hits has a non-zero value;
  otherwise calibrate with a ``.detx`` file.
- ``bjorkeny`` is offered when the file has ``mc_trks.usr`` and
  ``mc_trks.usr_names`` (old files have ``usr_data`` instead); it is NaN for
  tracks without a ``"by"`` entry. ``usr`` and ``usr_names`` can differ in
  length (some files fill ``usr`` without names); only named values are used.
- Dtypes are kept as stored; ``hits.trig`` is int32 in some files and uint64 in
  others, as in the km3pipe HDF5 files made from them.
- ``mc_t`` is uninitialised memory (~1e-310) in ``usr-sample.root``; it is
  passed through unchanged.

Only the branches behind the requested fields are read.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
import numpy.typing as npt
import uproot

from hitprep.errors import FileFormatError, HitprepError
from hitprep.events import jagged_from_flat, offsets_from_counts
from hitprep.sources.base import Source
from hitprep.sources.root_tree import (
    check_range,
    find_tree,
    numeric_dtype,
    open_root,
    read_branches,
)

__all__ = ["KM3NeTOfflineSource"]

TREE = "E"

#: event field -> member of Evt (last component of the branch path)
EVENT_FIELDS: dict[str, str] = {
    "event_id": "id",
    "run_id": "run_id",
    "det_id": "det_id",
    "mc_id": "mc_id",
    "mc_run_id": "mc_run_id",
    "frame_index": "frame_index",
    "trigger_mask": "trigger_mask",
    "trigger_counter": "trigger_counter",
    "overlays": "overlays",
    "mc_time": "mc_t",
    "timestamp": "t.fSec",
    "nanoseconds": "t.fNanoSec",
}
#: event field -> position in the ``w`` vector
WEIGHTS: dict[str, int] = {f"weight_w{i + 1}": i for i in range(4)}

_POS_DIR = {
    "pos_x": "pos.x",
    "pos_y": "pos.y",
    "pos_z": "pos.z",
    "dir_x": "dir.x",
    "dir_y": "dir.y",
    "dir_z": "dir.z",
}
_TRACK = {"id": "id", "energy": "E", **_POS_DIR, "time": "t", "length": "len"}

#: collection -> (Evt member, {field: sub-member})
COLLECTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "hits": (
        "hits",
        {
            "dom_id": "dom_id",
            "channel_id": "channel_id",
            "time": "t",
            "tot": "tot",
            "triggered": "trig",
        },
    ),
    "mc_hits": ("mc_hits", {"pmt_id": "pmt_id", "time": "t", "a": "a", "origin": "origin"}),
    "mc_tracks": (
        "mc_trks",
        {"id": "id", "type": "type", **{k: v for k, v in _TRACK.items() if k != "id"}},
    ),
    "tracks": ("trks", {**_TRACK, "likelihood": "lik", "rec_type": "rec_type"}),
}
#: hits fields offered only when the file holds non-zero values
CALIBRATED_HIT_FIELDS: dict[str, str] = dict(_POS_DIR)
#: mc_tracks field -> name in ``mc_trks.usr_names``
USR_FIELDS: dict[str, str] = {"bjorkeny": "by"}


def _member(tree: Any) -> dict[str, str]:
    """Last path component -> full branch path (``"hits.t"`` -> ``"Evt/hits/hits.t"``)."""
    out: dict[str, str] = {}
    for key in tree.keys(recursive=True):
        out.setdefault(key.rsplit("/", 1)[-1], key)
    return out


def _usr_column(usr: ak.Array, names: ak.Array, key: str) -> npt.NDArray[np.float64]:
    """Per track (flat), the ``usr`` value whose name is ``key``; NaN where there is none."""
    values = ak.flatten(usr, axis=1)  # per track: list of numbers
    labels = ak.flatten(names, axis=1)  # per track: list of names
    if len(labels) != len(values):
        msg = f"usr has {len(values)} tracks but usr_names has {len(labels)}"
        raise ValueError(msg)
    match = labels == key
    has = np.asarray(ak.to_numpy(ak.any(match, axis=1)), dtype=bool)
    pos = np.asarray(ak.to_numpy(ak.fill_none(ak.argmax(match, axis=1), 0)), dtype=np.int64)
    n_values = np.asarray(ak.to_numpy(ak.num(values, axis=1)), dtype=np.int64)
    ok = has & (pos < n_values)
    flat = np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)
    out = np.full(len(n_values), np.nan, dtype=np.float64)
    out[ok] = flat[(offsets_from_counts(n_values)[:-1] + pos)[ok]]
    return out


class KM3NeTOfflineSource(Source):
    """Events of a KM3NeT offline (aanet) ROOT file; see the module docs for the names.

    Args:
        path: offline ROOT file with tree ``E``.

    Raises:
        FileFormatError: not readable as ROOT, or ``E`` has no known ``Evt`` branches.
        KeyInFileError: the file has no tree ``E`` (the message lists its trees).
    """

    format_name: ClassVar[str] = "km3net_offline"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._file = open_root(self.path)
        try:
            _, self._tree = find_tree(self._file, self.path, TREE)
            try:
                self._branches = self._map_branches()
            except HitprepError:
                raise
            except Exception as err:
                msg = f"cannot read the branches of tree {TREE!r}: {type(err).__name__}: {err}"
                raise FileFormatError(self.path, msg) from err
            self._num_events = int(self._tree.num_entries)
        except BaseException:
            self._file.close()
            raise

    # -- layout ---------------------------------------------------------------------------

    def _map_branches(self) -> dict[str, str]:
        """Dotted field -> branch path, for the fields this file has.

        Also sets ``self._usr_names``: the path of ``mc_trks.usr_names`` when the
        ``usr`` fields are offered.
        """
        members = _member(self._tree)
        self._usr_names: str | None = None

        def numeric(name: str, *, jagged: bool) -> str | None:
            path = members.get(name)
            if path is None:
                return None
            interp = self._tree[path].interpretation
            if jagged:
                if not isinstance(interp, uproot.AsJagged):
                    return None
                interp = interp.content
            return path if numeric_dtype(interp) is not None else None

        out: dict[str, str] = {}
        for name, member in EVENT_FIELDS.items():
            path = numeric(member, jagged=False)
            if path is not None:
                out[name] = path
        weights = numeric("w", jagged=True)
        if weights is not None:
            out.update(dict.fromkeys(WEIGHTS, weights))
        for coll, (prefix, fields) in COLLECTIONS.items():
            for name, member in fields.items():
                path = numeric(f"{prefix}.{member}", jagged=True)
                if path is not None:
                    out[f"{coll}.{name}"] = path
        calibrated = {
            f: numeric(f"hits.{m}", jagged=True) for f, m in CALIBRATED_HIT_FIELDS.items()
        }
        for group in ("pos_", "dir_"):
            paths = {f: p for f, p in calibrated.items() if f.startswith(group) and p is not None}
            if len(paths) == 3 and self._any_nonzero(list(paths.values())):
                out.update({f"hits.{f}": p for f, p in paths.items()})
        usr, usr_names = members.get("mc_trks.usr"), members.get("mc_trks.usr_names")
        if usr is not None and usr_names is not None:
            self._usr_names = usr_names
            for name in USR_FIELDS:
                out[f"mc_tracks.{name}"] = usr
        rank = {coll: i + 1 for i, coll in enumerate(COLLECTIONS)}
        out = dict(sorted(out.items(), key=lambda kv: rank.get(kv[0].partition(".")[0], 0)))
        if not any(not f.startswith("weight_") for f in out):
            msg = f"tree {TREE!r} has none of the Evt branches of the KM3NeT offline format"
            raise FileFormatError(self.path, msg)
        return out

    def _any_nonzero(self, paths: Sequence[str]) -> bool:
        """Whether the first basket holding any values of ``paths`` has a non-zero value."""
        first = self._tree[paths[0]]
        for i in range(first.num_baskets):
            start, stop = first.basket_entry_start_stop(i)
            arrays = read_branches(self._tree, self.path, paths, int(start), int(stop))
            flat = [np.asarray(ak.to_numpy(ak.flatten(a, axis=1))) for a in arrays.values()]
            if any(len(f) for f in flat):
                return any(bool(np.any(f != 0)) for f in flat)
        return False

    # -- Source interface -----------------------------------------------------------------

    @property
    def num_events(self) -> int:
        return self._num_events

    def fields(self) -> list[str]:
        return list(self._branches)

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        check_range(start, stop, self._num_events)
        wanted = self.fields() if fields is None else list(dict.fromkeys(fields))
        self.check_fields(wanted)
        branches = [self._branches[f] for f in wanted]
        usr_wanted = any(f"mc_tracks.{name}" in wanted for name in USR_FIELDS)
        if usr_wanted and self._usr_names is not None:
            branches.append(self._usr_names)
        arrays = read_branches(self._tree, self.path, list(dict.fromkeys(branches)), start, stop)

        contents: dict[str, ak.contents.Content] = {
            "entry": ak.contents.NumpyArray(np.arange(start, stop, dtype=np.int64))
        }
        per_coll: dict[str, list[str]] = {}
        for name in wanted:
            coll, dot, fname = name.partition(".")
            if dot:
                per_coll.setdefault(coll, []).append(fname)
            elif name in WEIGHTS:
                w = ak.pad_none(arrays[self._branches[name]], len(WEIGHTS), axis=1, clip=True)
                values = ak.fill_none(w[:, WEIGHTS[name]], np.nan)
                contents[name] = ak.contents.NumpyArray(
                    np.asarray(ak.to_numpy(values), dtype=np.float64)
                )
            else:
                values = np.asarray(ak.to_numpy(arrays[self._branches[name]]))
                contents[name] = ak.contents.NumpyArray(values)
        for coll, fnames in per_coll.items():
            contents[coll] = self._collection(coll, fnames, arrays, start).layout
        layout = ak.contents.RecordArray(
            list(contents.values()), list(contents), length=stop - start
        )
        return ak.Array(layout)

    def _collection(
        self, coll: str, fnames: Sequence[str], arrays: Mapping[str, ak.Array], start: int
    ) -> ak.Array:
        """One collection as ``var * {fields}``, after checking that all lengths agree."""
        paths = [self._branches[f"{coll}.{f}"] for f in fnames]
        reference = np.asarray(ak.to_numpy(ak.num(arrays[paths[0]], axis=1)), dtype=np.int64)
        columns: dict[str, npt.NDArray[np.generic]] = {}
        for fname, path in zip(fnames, paths, strict=True):
            values = arrays[path]
            counts = np.asarray(ak.to_numpy(ak.num(values, axis=1)), dtype=np.int64)
            bad = np.flatnonzero(counts != reference)
            if len(bad):
                i = int(bad[0])
                msg = (
                    f"branch {path!r} has {counts[i]} items at entry {start + i} but "
                    f"{paths[0]!r} has {reference[i]}"
                )
                raise FileFormatError(self.path, msg)
            if coll == "mc_tracks" and fname in USR_FIELDS and self._usr_names is not None:
                names = arrays[self._usr_names]
                try:
                    columns[fname] = _usr_column(values, names, USR_FIELDS[fname])
                except ValueError as err:
                    msg = f"entries {start}:{start + len(counts)}: {err}"
                    raise FileFormatError(self.path, msg) from err
            else:
                columns[fname] = np.asarray(ak.to_numpy(ak.flatten(values, axis=1)))
        return jagged_from_flat(columns, offsets_from_counts(reference))

    def close(self) -> None:
        self._file.close()
