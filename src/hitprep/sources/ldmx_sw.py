"""ldmx-sw event files: tree ``LDMX_Events``, hit collections split into member branches.

ldmx-sw writes one entry per event to the tree ``LDMX_Events``; a hit collection
``EcalRecHits_<pass>`` (``EcalSimHits_<pass>``, ``HcalRecHits_<pass>``, ...) is a
split ``std::vector`` whose members are branches ``<collection>.xpos_``,
``.ypos_``, ``.zpos_``, ``.energy_``, ``.id_`` (sim hits: ``.x_``, ``.y_``, ``.z_``,
``.edep_``). In files written by ldmx-sw they are sub-branches of the collection's
branch; :mod:`hitprep.toys.ldmx` writes them as top-level branches of the same
names. Both read the same.

Batch layout, as :class:`~hitprep.sources.ldmx.LdmxEcalSource` gives the seed's
flattened ``ecalHits`` tree (so the LDMX presets and images take either): event
field ``event_id`` (``EventHeader``'s ``eventNumber_`` when the file has it) and
collection ``hits`` with ``x, y, z`` [mm], ``E`` [MeV], ``id`` (the raw detector id)
and ``layer``, decoded from the id as ldmx-sw's ``EcalID`` packs it: subdetector
in bits 26-31, layer in bits 17-22, module in 12-16, cell in 0-11.

Which collection: ``collections=["EcalRecHits_valid"]`` (``[source] collections`` in
a job) names it, or the one collection whose name starts with ``EcalRecHits_`` is
taken; none or several raise errors that list what the file has.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.events import jagged_from_flat, make_batch
from hitprep.sources.base import Source, check_range
from hitprep.sources.root_tree import open_root

__all__ = ["LAYER_MASK", "LAYER_SHIFT", "LdmxSwSource", "decode_layer"]

TREE = "LDMX_Events"
LAYER_SHIFT, LAYER_MASK = 17, 0x3F
#: hitprep field -> member names it may have (rec hits first, then sim hits)
MEMBERS: dict[str, tuple[str, ...]] = {
    "x": ("xpos_", "x_"),
    "y": ("ypos_", "y_"),
    "z": ("zpos_", "z_"),
    "E": ("energy_", "edep_"),
    "id": ("id_",),
}
_EVENT_NUMBER = ("EventHeader.eventNumber_", "eventNumber_")


def decode_layer(ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """ECal layer of raw detector ids (``EcalID``: ``(id >> 17) & 0x3F``).

    Example:
        >>> decode_layer([(5 << 26) | (12 << 17) | (3 << 12) | 100]).tolist()
        [12]
    """
    raw = np.asarray(ids).astype(np.int64) & 0xFFFFFFFF
    out: npt.NDArray[np.int64] = (raw >> LAYER_SHIFT) & LAYER_MASK
    return out


class LdmxSwSource(Source):
    """Hits of one collection of an ldmx-sw event file, as collection ``hits``.

    Args:
        path: ROOT file with the tree ``LDMX_Events``.
        collections: the hit collection, as a list of one name (default: the one
            ``EcalRecHits_*``).

    Raises:
        KeyInFileError: no such tree or collection, or a member branch missing
            (what the file has is listed).
        FileFormatError: several candidate collections, or unreadable branches.
    """

    format_name: ClassVar[str] = "ldmx_sw"
    columnar: ClassVar[bool] = True

    def __init__(self, path: str | Path, *, collections: Sequence[str] | None = None) -> None:
        super().__init__(path)
        if collections is not None and (isinstance(collections, str) or len(collections) != 1):
            msg = f"ldmx_sw reads one hit collection; collections= names {collections!r}"
            raise ConfigError(msg)
        self._file = open_root(self.path)
        try:
            if TREE not in {k.split(";")[0] for k in self._file.keys(recursive=False)}:
                keys = [k.split(";")[0] for k in self._file]
                raise KeyInFileError(TREE, file=self.path, available=keys, what="tree")
            self._tree = self._file[TREE]
            self._branches = {b.name: b for b in self._tree.itervalues(recursive=True)}
            self.collection = collections[0] if collections else self._only_collection()
            self._members = {f: self._member(f) for f in MEMBERS}
            self._event = next(
                (self._branches[n] for n in _EVENT_NUMBER if n in self._branches), None
            )
        except BaseException:
            self._file.close()
            raise

    def _collections(self) -> list[str]:
        return sorted({n.rpartition(".")[0] for n in self._branches if n.endswith(".id_")})

    def _only_collection(self) -> str:
        found = [c for c in self._collections() if c.startswith("EcalRecHits_")]
        if len(found) != 1:
            if not found:
                pattern = "EcalRecHits_*"
                have = self._collections()
                raise KeyInFileError(pattern, file=self.path, available=have, what="collection")
            msg = (
                f"several ECal hit collections ({', '.join(found)});"
                " choose one with [source] collections = [name]"
            )
            raise FileFormatError(self.path, msg)
        return found[0]

    def _member(self, field: str) -> Any:
        for name in MEMBERS[field]:
            if f"{self.collection}.{name}" in self._branches:
                return self._branches[f"{self.collection}.{name}"]
        want = f"{self.collection}.{MEMBERS[field][0]}"
        if not any(n.startswith(self.collection + ".") for n in self._branches):
            have = self._collections()
            raise KeyInFileError(self.collection, file=self.path, available=have, what="collection")
        raise KeyInFileError(want, file=self.path, available=list(self._branches), what="branch")

    @property
    def num_events(self) -> int:
        return int(self._tree.num_entries)

    def fields(self) -> list[str]:
        events = ["event_id"] if self._event is not None else []
        return [*events, *(f"hits.{f}" for f in (*MEMBERS, "layer"))]

    def close(self) -> None:
        self._file.close()

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        check_range(start, stop, self.num_events)
        wanted = set(self.fields() if fields is None else fields)
        self.check_fields(wanted)
        event_fields: dict[str, Any] = {"entry": np.arange(start, stop, dtype=np.int64)}
        if "event_id" in wanted and self._event is not None:
            event_fields["event_id"] = ak.to_numpy(self._array(self._event, start, stop)).astype(
                np.int64
            )
        names = [f for f in (*MEMBERS, "layer") if f"hits.{f}" in wanted]
        collections = {}
        if names:
            read = {f for f in names if f != "layer"} | ({"id"} if "layer" in names else set())
            lists = {f: self._array(self._members[f], start, stop) for f in sorted(read)}
            counts = [ak.num(a, axis=1) for a in lists.values()]
            for f, n in zip(lists, counts, strict=True):
                if not np.array_equal(n, counts[0]):
                    bad = start + int(np.flatnonzero(np.asarray(n) != np.asarray(counts[0]))[0])
                    msg = f"entry {bad}: {self._members[f].name} has a different number of hits"
                    raise FileFormatError(self.path, msg)
            flat = {f: ak.to_numpy(ak.flatten(a)) for f, a in lists.items()}
            if "layer" in names:
                flat["layer"] = decode_layer(flat["id"])
            offsets = np.concatenate([[0], np.cumsum(np.asarray(counts[0]))]).astype(np.int64)
            collections["hits"] = jagged_from_flat({f: flat[f] for f in names}, offsets)
        return make_batch(event_fields, collections, length=stop - start)

    def _array(self, branch: Any, start: int, stop: int) -> Any:
        try:
            return branch.array(entry_start=start, entry_stop=stop, library="ak")
        except Exception as err:  # uproot raises many kinds on broken files
            msg = f"cannot read {branch.name!r} (entries {start}-{stop}): {err}"
            raise FileFormatError(self.path, msg) from err
