"""TrackML challenge events: per-event ``-hits``, ``-truth`` and ``-particles`` CSV files.

An event ``event000001000`` is three files: ``-hits.csv`` (``hit_id, x, y, z,
volume_id, layer_id, module_id``), ``-truth.csv`` (``hit_id, particle_id, tx, ty,
tz, tpx, tpy, tpz, weight``; ``particle_id`` 0 is noise) and ``-particles.csv``
(``particle_id, vx, vy, vz, px, py, pz, q, nhits``). The source's path is a
directory of such events, one ``-hits.csv`` file, or an event prefix; events
are ordered by their number, which becomes ``event_id``.

The batch layout is that of :mod:`hitprep.sources.acts_csv`, so stages and
presets run on both: hits get ``barcode`` (the truth ``particle_id``, joined on
``hit_id``) and ``particle`` (index into the event's ``particles``, -1 when
none), particles get ``pt`` and ``eta``. A hit without a truth row is an error
naming the file and hit id; a particle id that is not in the particles file
makes the hit *unmatched* (counted in :attr:`TrackMLSource.unmatched` and
handled by the ``[barrel]`` stage as the job says).

Each ``read`` opens the files of the events it returns (one event of TrackML
holds ~100k hits); joins run on the whole batch at once.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.errors import FileFormatError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.sources.acts_csv import Column, derive_momentum, match_particles, read_csv
from hitprep.sources.base import Source

__all__ = ["TrackMLSource", "find_events"]

_EVENT = re.compile(r"^event(\d+)-hits\.csv$")
_HITS = (
    Column("hit_id", ("hit_id",), integer=True),
    Column("x", ("x",)),
    Column("y", ("y",)),
    Column("z", ("z",)),
    Column("volume_id", ("volume_id",), integer=True),
    Column("layer_id", ("layer_id",), integer=True),
    Column("module_id", ("module_id",), integer=True, required=False),
)
_TRUTH = (
    Column("hit_id", ("hit_id",), integer=True),
    Column("particle_id", ("particle_id",), integer=True),
)
_PARTICLES = (
    Column("barcode", ("particle_id",), integer=True),
    *(Column(v, (v,), required=False) for v in ("vx", "vy", "vz")),
    Column("px", ("px",)),
    Column("py", ("py",)),
    Column("pz", ("pz",)),
    Column("q", ("q",), integer=True),
    Column("nhits", ("nhits",), integer=True, required=False),
)
_HIT_FIELDS = ("hit_id", "barcode", "volume_id", "layer_id", "x", "y", "z", "particle")
_PARTICLE_FIELDS = ("barcode", "vx", "vy", "vz", "px", "py", "pz", "pt", "eta", "q")


def find_events(path: str | Path) -> list[tuple[int, Path]]:
    """``(event number, prefix)`` of the TrackML events at ``path``, ordered by number.

    Raises:
        FileFormatError: nothing there, or no ``event#########-hits.csv`` in a directory.
    """
    p = Path(path)
    if p.is_dir():
        found = [(m, f) for f in p.iterdir() if (m := _EVENT.match(f.name))]
        if not found:
            msg = "directory holds no TrackML events (event#########-hits.csv)"
            raise FileFormatError(p, msg)
        events = [(int(m.group(1)), f.with_name(f.name[: -len("-hits.csv")])) for m, f in found]
        _check_complete(p, {prefix.name for _, prefix in events})
        return sorted(events)
    match = _EVENT.match(p.name)
    if match and p.is_file():
        return [(int(match.group(1)), p.with_name(p.name[: -len("-hits.csv")]))]
    hits = p.with_name(p.name + "-hits.csv")
    number = re.fullmatch(r"event(\d+)", p.name)
    if number and hits.is_file():
        return [(int(number.group(1)), p)]
    msg = "not a TrackML event: expected a directory, event#########-hits.csv or its prefix"
    raise FileFormatError(p, msg)


_ANY_PART = re.compile(r"^(event\d+)-(hits|truth|particles|cells)\.csv$")


def _check_complete(folder: Path, with_hits: set[str]) -> None:
    """Raise FileFormatError for an event of ``folder`` that has files but no ``-hits.csv``.

    Such an event would otherwise vanish from the output without a count.
    """
    others = {m.group(1) for f in folder.iterdir() if (m := _ANY_PART.match(f.name))}
    lacking = sorted(others - with_hits)
    if lacking:
        more = f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else ""
        msg = f"event {lacking[0]} has no {lacking[0]}-hits.csv{more}; it would be lost"
        raise FileFormatError(folder, msg)


class TrackMLSource(Source):
    """TrackML events (a directory, one ``-hits.csv`` file or a prefix).

    Raises:
        FileFormatError: no events found, a file of an event missing or malformed.
        KeyInFileError: a required column is missing.
    """

    format_name: ClassVar[str] = "trackml"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.events = find_events(self.path)
        #: unmatched hits per event read so far (event index -> count), filled by ``read``
        self.unmatched: dict[int, int] = {}

    @property
    def num_events(self) -> int:
        return len(self.events)

    def fields(self) -> list[str]:
        return [
            "event_id",
            *(f"hits.{f}" for f in _HIT_FIELDS),
            *(f"particles.{f}" for f in _PARTICLE_FIELDS),
        ]

    def _event(self, prefix: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        hits = read_csv(Path(f"{prefix}-hits.csv"), _HITS)
        truth_path = Path(f"{prefix}-truth.csv")
        truth = read_csv(truth_path, _TRUTH)
        parts_path = Path(f"{prefix}-particles.csv")
        parts = derive_momentum(read_csv(parts_path, _PARTICLES), parts_path)
        order = np.argsort(truth["hit_id"], kind="stable")
        known = truth["hit_id"][order]
        pos = np.minimum(np.searchsorted(known, hits["hit_id"]), max(len(known) - 1, 0))
        ok = known[pos] == hits["hit_id"] if len(known) else np.zeros(len(pos), dtype=bool)
        if not np.all(ok):
            missing = int(hits["hit_id"][np.flatnonzero(~ok)[0]])
            msg = f"hit_id {missing} of {prefix.name}-hits.csv has no truth row"
            raise FileFormatError(truth_path, msg)
        hits["barcode"] = truth["particle_id"][order][pos]
        return hits, parts

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        if not 0 <= start <= stop <= self.num_events:
            msg = f"entry range {start}:{stop} is not within the {self.num_events} events"
            raise ValueError(msg)
        wanted = set(self.fields() if fields is None else fields)
        self.check_fields(wanted)
        chosen = self.events[start:stop]
        loaded = [self._event(prefix) for _, prefix in chosen]  # one file triple per event
        n_hits = np.array([len(h["hit_id"]) for h, _ in loaded], dtype=np.int64)
        n_parts = np.array([len(p["barcode"]) for _, p in loaded], dtype=np.int64)
        hits = _concat([h for h, _ in loaded], _HIT_FIELDS[:-1])
        parts = _concat([p for _, p in loaded], _PARTICLE_FIELDS)
        n = len(chosen)
        h_event = np.repeat(np.arange(n), n_hits)
        p_off = offsets_from_counts(n_parts)
        try:
            particle = match_particles(
                h_event, hits["barcode"], np.repeat(np.arange(n), n_parts), parts["barcode"], p_off
            )
        except ValueError as err:
            raise FileFormatError(self.path, str(err)) from err
        hits["particle"] = particle
        bad = np.bincount(h_event[(particle < 0) & (hits["barcode"] != 0)], minlength=n)
        self.unmatched.update({start + int(i): int(bad[i]) for i in np.flatnonzero(bad)})
        event_fields = {"entry": np.arange(start, stop, dtype=np.int64)}
        if "event_id" in wanted:
            event_fields["event_id"] = np.array([e for e, _ in chosen], dtype=np.int64)
        collections = {}
        for name, table, counts in (("hits", hits, n_hits), ("particles", parts, n_parts)):
            cols = {f: v for f, v in table.items() if f"{name}.{f}" in wanted}
            if cols:
                collections[name] = jagged_from_flat(cols, offsets_from_counts(counts))
        return make_batch(event_fields, collections, length=n)


def _concat(tables: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    """Concatenate per-event columns; a column some events lack becomes NaN there."""
    out: dict[str, npt.NDArray[Any]] = {}
    for name in names:
        parts = [t.get(name, np.full(len(next(iter(t.values()))), np.nan)) for t in tables]
        out[name] = np.concatenate(parts) if parts else np.zeros(0)
    return out
