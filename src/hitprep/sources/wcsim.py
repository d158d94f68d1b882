"""WCSim ROOT output (trees ``wcsimT`` and ``wcsimGeoT``), read without ROOT or WCSim.

Only two things are read from the file: ``wcsimT/wcsimrootevent/fEventList``
(a ``TObjArray`` of ``WCSimRootTrigger`` per entry) and
``wcsimGeoT/wcsimrootgeom``; their bytes are decoded by
:mod:`hitprep.sources.wcsim_bytes` using the file's own streamer info.

Batch layout (PMT numbers are 0-based: ``pmt`` = WCSim tube number − 1):

- event fields: ``entry``, ``event_id``, ``run``, ``n_triggers`` and trigger 0's
  ``mode``, ``vtxvol``, ``vtx_x/y/z`` (the primary vertex), ``vec_rec_number``,
  ``jmu``, ``jp``, ``npar``;
- ``triggers``: ``type`` (``ETriggerType``: 0 = NDigits; −1 where the file holds
  garbage; 0 for class version 1, which predates trigger types), ``time`` (ns,
  ``fEvtHdr.fDate``), ``number``, ``n_digi_hits``, ``n_digitized_tubes``,
  ``n_tracks``, ``n_tube_hits``, ``n_photons``, ``sum_q``, ``n_info`` and
  ``info_0``..``info_2`` (``fTriggerInfo``; NaN where absent);
- ``digi_hits``: ``pmt``, ``charge``, ``time`` (as stored: relative to the trigger,
  WCSim's 950 ns offset included), ``trigger`` (index within the event);
- ``true_hits`` (one per photon, trigger 0 only in WCSim): ``pmt``, ``time``,
  ``parent`` (``fPrimaryParentID``), ``trigger``;
- ``tracks``: ``pdg`` (``fIpnu``), ``flag``, ``mass``, ``p``, ``energy``,
  ``start_vol``, ``stop_vol``, ``dir_x/y/z``, ``px/py/pz``, ``start_x/y/z``,
  ``stop_x/y/z``, ``parent_pdg`` (``fParenttype``: the parent's PDG code),
  ``time``, ``id``, ``trigger``;
- ``track_boundaries``, only where the file's ``WCSimRootTrack`` has numeric
  vector members (newer WCSim: ``fBoundaryKEs``, ``fBoundaryTimes``,
  ``fBoundaryTypes``): one row per boundary crossing, ``track`` (the track's
  index in the event's ``tracks``), ``ke``, ``time``, ``type``. Vectors of
  vectors (``fBoundaryPoints``) are skipped.

Every decoded trigger is checked against what the file says about itself: the
number of tracks, Cherenkov hits, photons and digits stored beside each array
must equal the array's length, every photon must belong to exactly one
Cherenkov hit, tube numbers must lie in 1..number of PMTs, and track
directions must be unit vectors (or zero, WCSim's placeholder). Any mismatch is
a :class:`~hitprep.errors.FileFormatError` naming file, entry and trigger.

The decoder walks the ~10 triggers of each entry in Python (one step per
object, a few dozen per trigger); every array inside is one numpy call.

Example:
    >>> with WCSimSource("wcsim_10events_2015.root") as src:  # a real WCSim file
    ...     batch = src.read(0, 10, fields=["digi_hits.pmt", "digi_hits.charge"])
    >>> ak.num(batch.digi_hits).tolist()[:3]
    [8236, 9186, 8182]
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.detectors.wcsim_geometry import TankGeometry
from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.sources.base import Source
from hitprep.sources.root_tree import check_range, open_root
from hitprep.sources.wcsim_bytes import Clones, Decoded, Layouts, Reader

__all__ = ["WCSimSource", "read_wcsim_geometry"]

EVENT_TREE = "wcsimT"
GEOMETRY_TREE = "wcsimGeoT"
_EVENT_BRANCH = "wcsimrootevent/fEventList"
_GEOMETRY_BRANCH = "wcsimrootgeom"
_TRIGGER = "WCSimRootTrigger"
_GARBAGE = -1717986919  # 0x99999999: WCSim's "unset" fill pattern
_F32 = np.float32

#: event field -> (trigger-0 member, component of a fixed array or -1)
_EVENT_MEMBERS: dict[str, tuple[str, int]] = {
    "event_id": ("fEvtHdr.fEvtNum", -1),
    "run": ("fEvtHdr.fRun", -1),
    "mode": ("fMode", -1),
    "vtxvol": ("fVtxvol", -1),
    "vtx_x": ("fVtx", 0),
    "vtx_y": ("fVtx", 1),
    "vtx_z": ("fVtx", 2),
    "vec_rec_number": ("fVecRecNumber", -1),
    "jmu": ("fJmu", -1),
    "jp": ("fJp", -1),
    "npar": ("fNpar", -1),
}
_TRIGGER_FIELDS = [
    "type",
    "time",
    "number",
    "n_digi_hits",
    "n_digitized_tubes",
    "n_tracks",
    "n_tube_hits",
    "n_photons",
    "sum_q",
    "n_info",
    "info_0",
    "info_1",
    "info_2",
]
#: track field -> (WCSimRootTrack member, component or -1)
_TRACK_MEMBERS: dict[str, tuple[str, int]] = {
    "pdg": ("fIpnu", -1),
    "flag": ("fFlag", -1),
    "mass": ("fM", -1),
    "p": ("fP", -1),
    "energy": ("fE", -1),
    "start_vol": ("fStartvol", -1),
    "stop_vol": ("fStopvol", -1),
    **{f"dir_{c}": ("fDir", i) for i, c in enumerate("xyz")},
    **{f"p{c}": ("fPdir", i) for i, c in enumerate("xyz")},
    **{f"start_{c}": ("fStart", i) for i, c in enumerate("xyz")},
    **{f"stop_{c}": ("fStop", i) for i, c in enumerate("xyz")},
    "parent_pdg": ("fParenttype", -1),
    "time": ("fTime", -1),
    "id": ("fId", -1),
}
_COLLECTIONS: dict[str, list[str]] = {
    "triggers": _TRIGGER_FIELDS,
    "digi_hits": ["pmt", "charge", "time", "trigger"],
    "true_hits": ["pmt", "time", "parent", "trigger"],
    "tracks": [*_TRACK_MEMBERS, "trigger"],
}
#: trigger members a usable layout must have, and the element classes' members
_REQUIRED = {
    _TRIGGER: [
        "fEvtHdr",
        "fNtrack",
        "fTracks",
        "fNcherenkovhits",
        "fCherenkovHits",
        "fNcherenkovhittimes",
        "fCherenkovHitTimes",
        "fNcherenkovdigihits",
        "fCherenkovDigiHits",
    ],
    "WCSimRootCherenkovDigiHit": ["fQ", "fT", "fTubeId"],
    "WCSimRootTrack": [m for m, _ in _TRACK_MEMBERS.values()],
    "WCSimRootCherenkovHit": ["fTubeID", "fTotalPe"],
    "WCSimRootCherenkovHitTime": ["fTruetime", "fPrimaryParentID"],
}
#: numeric vector members of WCSimRootTrack (newer WCSim) -> fields of ``track_boundaries``
_BOUNDARY_NAMES = {"fBoundaryKEs": "ke", "fBoundaryTimes": "time", "fBoundaryTypes": "type"}
_CLONES_OF = {
    "tracks": "fTracks",
    "digi_hits": "fCherenkovDigiHits",
    "true_hits": "fCherenkovHitTimes",
}


@dataclass
class _Basket:
    index: int
    data: bytes
    starts: npt.NDArray[np.int64]
    keylen: int
    first_entry: int


class WCSimSource(Source):
    """Events of a WCSim ROOT file, decoded from raw bytes by the file's streamers.

    Args:
        path: the ``.root`` file.
        check_tubes: check digit and photon tube numbers against the geometry's
            PMT count (reads ``wcsimGeoT`` once).
    """

    format_name = "wcsim"

    def __init__(self, path: str | Path, *, check_tubes: bool = True) -> None:
        super().__init__(path)
        self._file = open_root(self.path)
        try:
            self._open()
        except BaseException:
            self._file.close()
            raise
        self._check_tubes = check_tubes
        self._geometry: TankGeometry | None = None
        self._basket: _Basket | None = None

    def _open(self) -> None:
        try:
            keys = {k.split(";")[0] for k in self._file.keys(recursive=False)}
        except Exception as err:
            msg = f"cannot list the file's contents: {type(err).__name__}: {_one_line(err)}"
            raise FileFormatError(self.path, msg) from err
        if EVENT_TREE not in keys:
            raise KeyInFileError(EVENT_TREE, file=self.path, available=keys, what="WCSim tree")
        self._keys = keys
        try:
            tree = self._file[EVENT_TREE]
            self._branch = tree[_EVENT_BRANCH]
            self.layouts = Layouts(self._file.file.streamers, file=self.path)
        except KeyError as err:
            msg = f"{EVENT_TREE} has no branch {_EVENT_BRANCH!r}; not WCSim output"
            raise FileFormatError(self.path, msg) from err
        except Exception as err:
            msg = f"cannot read {EVENT_TREE}: {type(err).__name__}: {_one_line(err)}"
            raise FileFormatError(self.path, msg) from err
        self._num_events = int(tree.num_entries)
        self._entry_offsets = np.asarray(self._branch.entry_offsets, dtype=np.int64)
        self.trigger_versions = self.layouts.versions(_TRIGGER)
        if not self.trigger_versions:
            msg = f"no streamer for {_TRIGGER} in the file; not WCSim output"
            raise FileFormatError(self.path, msg)
        for version in self.trigger_versions:
            self._check_layout(self.layouts.get(_TRIGGER, version))
        self.collections = dict(_COLLECTIONS)
        self.track_vectors: dict[str, str] = {}
        track_versions = self.layouts.versions("WCSimRootTrack")
        if track_versions:
            track = self.layouts.get("WCSimRootTrack", track_versions[-1])
            self.track_vectors = {
                m.name: _BOUNDARY_NAMES.get(m.name, m.name.removeprefix("f").lower())
                for m in track.members
                if m.kind == "vector"
            }
        if self.track_vectors:
            self.collections["track_boundaries"] = ["track", *self.track_vectors.values()]

    def _check_layout(self, layout: Any) -> None:
        """Fail early, naming the layout found, when a class lacks a member we need."""
        for name in [_TRIGGER, *(c for c in _REQUIRED if c != _TRIGGER)]:
            lay = layout if name == _TRIGGER else None
            if lay is None:
                versions = self.layouts.versions(name)
                if not versions:
                    continue  # the class appears only if the file stores one; checked on use
                lay = self.layouts.get(name, versions[-1])
            missing = [m for m in _REQUIRED[name] if lay.member(m) is None]
            if missing:
                msg = (
                    f"unsupported WCSim layout: {name} lacks {', '.join(missing)}"
                    f" (found {lay.describe()})"
                )
                raise FileFormatError(self.path, msg)

    # -- Source interface ------------------------------------------------------------
    @property
    def num_events(self) -> int:
        return self._num_events

    def fields(self) -> list[str]:
        names = ["entry", "n_triggers", *_EVENT_MEMBERS]
        for coll, cols in self.collections.items():
            names += [f"{coll}.{c}" for c in cols]
        return names

    @property
    def geometry(self) -> TankGeometry:
        """The tank geometry from ``wcsimGeoT`` (read on first use)."""
        if self._geometry is None:
            self._geometry = read_wcsim_geometry(self.path, file=self._file, layouts=self.layouts)
        return self._geometry

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        check_range(start, stop, self.num_events)
        wanted = set(self.fields()) if fields is None else set(fields)
        self.check_fields(wanted)
        colls = {f.partition(".")[0] for f in wanted if "." in f}
        skip = frozenset(m for c, m in _CLONES_OF.items() if c not in colls)
        if "true_hits" not in colls:
            skip |= {"fCherenkovHits"}
        check = self._check_tubes and bool(colls & {"digi_hits", "true_hits"})
        boundaries = "track_boundaries" in colls
        vectors = self.track_vectors if boundaries else {}
        if boundaries:
            skip -= {"fTracks"}
        acc = _Accumulator(self.geometry.num_pmts if check else 0, self.collections, vectors)
        for entry in range(start, stop):
            reader, end = self._entry_reader(entry, skip, vectors=boundaries)
            acc.add_event(entry, reader.objarray(what="fEventList"), reader)
            if reader.pos != end:
                msg = f"entry decoded to byte {reader.pos}, but it ends at {end}"
                raise reader.error(msg)
        return acc.batch(wanted, colls, length=stop - start)

    def close(self) -> None:
        self._file.close()

    # -- bytes ---------------------------------------------------------------------------
    def _load_basket(self, index: int) -> _Basket:
        if self._basket is None or self._basket.index != index:
            try:
                basket = self._branch.basket(index)
                data = bytes(np.asarray(basket.data, dtype=np.uint8))
                offsets = basket.byte_offsets
                keylen = int(basket.member("fKeylen"))
            except Exception as err:
                first, last = self._entry_offsets[index], self._entry_offsets[index + 1] - 1
                msg = (
                    f"{EVENT_TREE} basket {index} (entries {first}..{last}) cannot be read"
                    f" (truncated or corrupt file): {type(err).__name__}: {_one_line(err)}"
                )
                raise FileFormatError(self.path, msg) from err
            first = int(self._entry_offsets[index])
            n = int(self._entry_offsets[index + 1]) - first
            if offsets is None or len(offsets) != n + 1:
                msg = f"{EVENT_TREE} basket {index} has no byte offsets for its {n} entries"
                raise FileFormatError(self.path, msg)
            starts = np.asarray(offsets, dtype=np.int64)
            self._basket = _Basket(index, data, starts, keylen, first)
        return self._basket

    def _entry_reader(
        self, entry: int, skip: frozenset[str], *, vectors: bool = False
    ) -> tuple[Reader, int]:
        """A reader positioned after the entry's TObjArray class tag, and where the entry ends."""
        index = int(np.searchsorted(self._entry_offsets, entry, side="right")) - 1
        basket = self._load_basket(index)
        k = entry - basket.first_entry
        begin, end = int(basket.starts[k]), int(basket.starts[k + 1])
        reader = Reader(
            basket.data,
            self.layouts,
            keylen=basket.keylen,
            pos=begin,
            context=f"{EVENT_TREE} entry {entry}",
            skip=skip,
            vectors=frozenset({"fTracks"}) if vectors else False,
        )
        name = reader.class_tag()
        if name != "TObjArray":
            msg = f"expected a TObjArray of triggers, found {name!r}"
            raise reader.error(msg)
        return reader, end


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _column(c: Clones | None, name: str, component: int = -1) -> npt.NDArray[Any]:
    if c is None or c.count == 0:
        return np.zeros(0, dtype=np.float32)
    col = c.columns[name]
    return col[:, component] if component >= 0 else col


class _Accumulator:
    """Collects decoded triggers of a chunk, checks them, and builds the batch."""

    def __init__(
        self,
        n_pmts: int,
        collections: dict[str, list[str]],
        track_vectors: dict[str, str],
    ) -> None:
        self.n_pmts = n_pmts
        self.collections = collections
        self.track_vectors = track_vectors
        self.events: dict[str, list[Any]] = {
            k: [] for k in ["entry", "n_triggers", *_EVENT_MEMBERS]
        }
        self.cols: dict[str, dict[str, list[npt.NDArray[Any]]]] = {
            c: {f: [] for f in fs} for c, fs in collections.items()
        }
        self.counts: dict[str, list[int]] = {c: [] for c in collections}

    def add_event(self, entry: int, triggers: list[Any], reader: Reader) -> None:
        base = reader.context
        per_event = dict.fromkeys(self.collections, 0)
        for t, slot in enumerate(triggers):
            reader.context = f"{base}, trigger {t}"
            if slot is None:
                msg = "empty trigger slot"
                raise reader.error(msg)
            name, dec = slot
            if name != _TRIGGER:
                msg = f"expected a {_TRIGGER}, found {name}"
                raise reader.error(msg)
            if t == 0:
                for key, (member, comp) in _EVENT_MEMBERS.items():
                    value = dec.get(member)
                    if value is None:
                        value = -1
                    elif comp >= 0:
                        value = value[comp]
                    self.events[key].append(value)
            for coll, n in self._add_trigger(t, dec, reader, per_event["tracks"]).items():
                per_event[coll] += n
        reader.context = base
        if not triggers:
            for key in _EVENT_MEMBERS:
                self.events[key].append(-1)
        self.events["entry"].append(entry)
        self.events["n_triggers"].append(len(triggers))
        for coll, n in per_event.items():
            self.counts[coll].append(n)

    def _add_trigger(
        self, t: int, dec: Decoded, reader: Reader, tracks_before: int
    ) -> dict[str, int]:
        def stored(member: str, clones: str) -> int:
            value = int(dec[member])
            c = dec.get(clones)
            if c is None:  # skipped (not requested): trust the stored count
                return value
            if value != c.count:
                msg = f"{member} says {value} but {clones} holds {c.count}"
                raise reader.error(msg)
            return int(c.count)

        n_tracks = stored("fNtrack", "fTracks")
        n_digi = stored("fNcherenkovdigihits", "fCherenkovDigiHits")
        n_tube = stored("fNcherenkovhits", "fCherenkovHits") if "fNcherenkovhits" in dec else 0
        n_phot = (
            stored("fNcherenkovhittimes", "fCherenkovHitTimes")
            if "fNcherenkovhittimes" in dec
            else 0
        )
        info = np.asarray(dec.get("fTriggerInfo", np.zeros(0, _F32)), dtype=np.float64)
        ttype = int(dec.get("fTriggerType", 0))
        trig = self.cols["triggers"]
        values = {
            "type": -1 if ttype == _GARBAGE else ttype,
            "time": float(dec["fEvtHdr.fDate"]),
            "number": int(dec["fEvtHdr.fSubEvtNumber"]) if "fEvtHdr.fSubEvtNumber" in dec else t,
            "n_digi_hits": n_digi,
            "n_digitized_tubes": int(dec.get("fNumDigitizedTubes", -1)),
            "n_tracks": n_tracks,
            "n_tube_hits": n_tube,
            "n_photons": n_phot,
            "sum_q": float(dec.get("fSumQ", np.nan)),
            "n_info": len(info),
            **{f"info_{i}": info[i] if len(info) > i else np.nan for i in range(3)},
        }
        for key, value in values.items():
            trig[key].append(np.asarray([value]))
        out = {"triggers": 1}
        digi = dec.get("fCherenkovDigiHits")
        if isinstance(digi, Clones) and "fTubeId" in digi.columns:
            tube = digi.columns["fTubeId"]
            self._check_tubes(tube, "digit", reader)
            d = self.cols["digi_hits"]
            d["pmt"].append(tube - 1)
            d["charge"].append(digi.columns["fQ"])
            d["time"].append(digi.columns["fT"])
            d["trigger"].append(np.full(n_digi, t, dtype=np.int32))
            out["digi_hits"] = n_digi
        times = dec.get("fCherenkovHitTimes")
        if isinstance(times, Clones) and n_phot and "fTruetime" in times.columns:
            pmt = self._photon_tubes(dec.get("fCherenkovHits"), n_phot, reader)
            h = self.cols["true_hits"]
            h["pmt"].append(pmt)
            h["time"].append(times.columns["fTruetime"])
            h["parent"].append(times.columns["fPrimaryParentID"])
            h["trigger"].append(np.full(n_phot, t, dtype=np.int32))
            out["true_hits"] = n_phot
        tracks = dec.get("fTracks")
        if isinstance(tracks, Clones) and n_tracks:
            self._check_directions(tracks.columns["fDir"], reader)
            tr = self.cols["tracks"]
            for key, (member, comp) in _TRACK_MEMBERS.items():
                tr[key].append(_column(tracks, member, comp))
            tr["trigger"].append(np.full(n_tracks, t, dtype=np.int32))
            out["tracks"] = n_tracks
            if self.track_vectors:
                out["track_boundaries"] = self._boundaries(tracks, tracks_before, reader)
        return out

    def _boundaries(self, tracks: Clones, tracks_before: int, reader: Reader) -> int:
        """Each track's boundary crossings (parallel vector members) as flat columns."""
        sizes: npt.NDArray[np.int64] | None = None
        cols = self.cols["track_boundaries"]
        for member, name in self.track_vectors.items():
            if member not in tracks.vectors:
                msg = f"WCSimRootTrack v{tracks.version} lacks {member}"
                raise reader.error(msg)
            n, values = tracks.vectors[member]
            if sizes is not None and not np.array_equal(n, sizes):
                msg = f"track vectors {', '.join(self.track_vectors)} differ in length"
                raise reader.error(msg)
            sizes = n
            cols[name].append(values)
        assert sizes is not None
        index = np.arange(tracks_before, tracks_before + tracks.count, dtype=np.int32)
        cols["track"].append(np.repeat(index, sizes))
        return int(sizes.sum())

    def _check_tubes(self, tube: npt.NDArray[Any], what: str, reader: Reader) -> None:
        if not self.n_pmts or len(tube) == 0:
            return
        lo, hi = int(tube.min()), int(tube.max())
        if lo < 1 or hi > self.n_pmts:
            bad = lo if lo < 1 else hi
            msg = f"{what} tube number {bad} outside 1..{self.n_pmts} (the geometry's PMTs)"
            raise reader.error(msg)

    def _photon_tubes(self, hits: Any, n_phot: int, reader: Reader) -> npt.NDArray[np.int32]:
        """Tube of each photon: Cherenkov hit i owns photons fTotalPe[i,0] .. +fTotalPe[i,1]."""
        if not isinstance(hits, Clones) or hits.count == 0:
            msg = f"{n_phot} photons but no Cherenkov hits to assign them to tubes"
            raise reader.error(msg)
        tube = hits.columns["fTubeID"]
        first, count = hits.columns["fTotalPe"][:, 0], hits.columns["fTotalPe"][:, 1]
        self._check_tubes(tube, "Cherenkov hit", reader)
        if (count < 0).any() or (first < 0).any() or (first + count > n_phot).any():
            msg = f"Cherenkov hit photon ranges fall outside the {n_phot} photons"
            raise reader.error(msg)
        owner = np.full(n_phot, -1, dtype=np.int64)
        within = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(count) - count, count
        )
        slots = np.repeat(first.astype(np.int64), count) + within
        owner[slots] = np.repeat(np.arange(hits.count), count)
        if int(count.sum()) != n_phot or (owner < 0).any():
            msg = f"Cherenkov hits claim {int(count.sum())} photons, the trigger holds {n_phot}"
            raise reader.error(msg)
        pmt: npt.NDArray[np.int32] = (tube[owner] - 1).astype(np.int32)
        return pmt

    @staticmethod
    def _check_directions(direction: npt.NDArray[Any], reader: Reader) -> None:
        norm = np.linalg.norm(direction.astype(np.float64), axis=1)
        ok = (np.abs(norm - 1.0) < 1e-3) | (norm == 0.0)
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            msg = f"track {bad} direction has length {norm[bad]:.4f} (neither 1 nor 0)"
            raise reader.error(msg)

    def batch(self, wanted: set[str], colls: set[str], *, length: int) -> ak.Array:
        events: dict[str, npt.NDArray[Any]] = {}
        dtypes = {"entry": np.int64, "vtx_x": _F32, "vtx_y": _F32, "vtx_z": _F32}
        for key, values in self.events.items():
            if key == "entry" or key in wanted:
                events[key] = np.asarray(values, dtype=dtypes.get(key, np.int32))
        collections = {}
        for coll in sorted(colls):
            offsets = offsets_from_counts(self.counts[coll])
            columns = {
                f: _concat(self.cols[coll][f], f)
                for f in self.collections[coll]
                if f"{coll}.{f}" in wanted
            }
            collections[coll] = jagged_from_flat(columns, offsets)
        return make_batch(events, collections, length=length)


_COLUMN_DTYPES = {
    "pmt": np.int32,
    "trigger": np.int32,
    "parent": np.int32,
    "type": np.int32,
    "number": np.int32,
    "time": np.float64,
    "sum_q": np.float64,
    "pdg": np.int32,
    "flag": np.int32,
    "start_vol": np.int32,
    "stop_vol": np.int32,
    "parent_pdg": np.int32,
    "id": np.int32,
}


def _concat(parts: list[npt.NDArray[Any]], name: str) -> npt.NDArray[Any]:
    if name.startswith(("n_", "info_")):
        dtype: Any = np.float64 if name.startswith("info_") else np.int64
    else:
        dtype = _COLUMN_DTYPES.get(name, np.float32)
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def read_wcsim_geometry(
    path: str | Path, *, file: Any = None, layouts: Layouts | None = None
) -> TankGeometry:
    """The tank geometry stored in a WCSim file's ``wcsimGeoT`` tree.

    ``fPMTArray`` holds ``fWCNumPMT + 1`` entries (tube numbers 1..N, then one
    unset entry); the extra one is dropped after checking it is the only one.

    Raises:
        FileFormatError: no ``wcsimGeoT``, an undecodable layout, or PMT arrays
            inconsistent with the stored PMT count.
    """
    p = Path(path)
    f = file if file is not None else open_root(p)
    try:
        keys = {k.split(";")[0] for k in f.keys(recursive=False)}
        if GEOMETRY_TREE not in keys:
            raise KeyInFileError(GEOMETRY_TREE, file=p, available=keys, what="WCSim tree")
        lay = layouts if layouts is not None else Layouts(f.file.streamers, file=p)
        try:
            branch = f[GEOMETRY_TREE][_GEOMETRY_BRANCH]
            version = int(branch.member("fClassVersion"))
            basket = branch.basket(0)
            data = bytes(np.asarray(basket.data, dtype=np.uint8))
            keylen = int(basket.member("fKeylen"))
        except Exception as err:
            msg = (
                f"cannot read {GEOMETRY_TREE}/{_GEOMETRY_BRANCH}:"
                f" {type(err).__name__}: {_one_line(err)}"
            )
            raise FileFormatError(p, msg) from err
        reader = Reader(data, lay, keylen=keylen, context=f"{GEOMETRY_TREE} entry 0")
        layout = lay.get("WCSimRootGeom", version)
        dec: Decoded = {}
        reader.members(layout, dec)
    finally:
        if file is None:
            f.close()
    return _geometry(dec, p, layout.describe(), reader)


def _geometry(dec: Decoded, path: Path, layout: str, reader: Reader) -> TankGeometry:
    need = ["fWCCylRadius", "fWCCylLength", "fWCNumPMT", "fPMTArray"]
    missing = [k for k in need if k not in dec]
    if missing:
        msg = f"unsupported geometry layout: lacks {', '.join(missing)} (found {layout})"
        raise FileFormatError(path, msg)
    pmts = dec["fPMTArray"]
    n = int(dec["fWCNumPMT"])
    if not isinstance(pmts, Clones) or pmts.count not in (n, n + 1):
        have = pmts.count if isinstance(pmts, Clones) else 0
        msg = f"geometry says {n} PMTs but its PMT array holds {have}"
        raise reader.error(msg)
    cols = {k: v[:n] for k, v in pmts.columns.items()}
    geo = TankGeometry(
        radius=float(dec["fWCCylRadius"]),
        length=float(dec["fWCCylLength"]),
        tube=cols["fTubeNo"].astype(np.int32),
        position=cols["fPosition"].astype(np.float64),
        direction=cols["fOrientation"].astype(np.float64),
        cyl_loc=cols["fCylLoc"].astype(np.int32),
        pmt_radius=float(dec.get("fWCPMTRadius", 0.0)),
        offset=np.asarray(dec.get("fWCOffset", np.zeros(3)), dtype=np.float64),
        origin=str(path),
    )
    geo.check()
    return geo
