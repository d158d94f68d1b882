"""ACTS CSV dumps (HEPTrkX layout): ``clusters_K.csv`` hits joined to ``particles_K.csv``.

Each file pair holds many events, told apart by an ``evtid`` column. Columns are
found by name in the header line; accepted spellings (first found wins):

========== ===================================================================
field      header names
========== ===================================================================
hits       ``evtid``/``event_id``, ``hitid``/``hit_id`` (optional), ``barcode``/
           ``particle_id``, ``volid``/``volume_id``, ``layid``/``layer_id``,
           ``x``/``gx``, ``y``/``gy``, ``z``/``gz``
particles  ``evtid``/``event_id``, ``barcode``/``particle_id``, ``vx vy vz``
           (optional), momentum as ``px py pz`` or as ``p theta phi``, ``q``/``charge``
========== ===================================================================

Batch layout: event field ``event_id`` (the ``evtid``); collection ``hits``
with ``hit_id, barcode, volume_id, layer_id, x, y, z`` and ``particle``, the
index of the hit's particle in the event's ``particles`` (-1: none); collection
``particles`` with ``barcode, vx, vy, vz, px, py, pz, pt, eta, q``. Barcode 0
marks noise. Integer columns are parsed as int64 (barcodes exceed float
precision). Events are ordered by ``evtid``; an id that appears only in the
particles file is an event without hits.

A hit whose barcode is neither 0 nor a particle of its event is *unmatched*:
``particle`` is -1 and :attr:`ActsCsvSource.unmatched` counts them; the
``[barrel]`` stage skips those hits or their events, or fails, as the job says.

The pair is read whole when the source opens (files of this layout hold a few
hundred thousand hits). Missing columns raise
:class:`~hitprep.errors.KeyInFileError` listing the columns the file has;
non-numeric values raise :class:`~hitprep.errors.FileFormatError` naming the
file, line and column.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.events import jagged_from_flat, make_batch
from hitprep.sources.base import Source

__all__ = [
    "ActsCsvSource",
    "Column",
    "derive_momentum",
    "match_particles",
    "read_csv",
]

IntArray = npt.NDArray[np.int64]
Columns = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class Column:
    """A CSV column: the field name hitprep uses, the header names accepted, int or float."""

    name: str
    aliases: tuple[str, ...]
    integer: bool = False
    required: bool = True


def _header(path: Path) -> list[str]:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
    except OSError as err:
        raise FileFormatError(path, f"cannot read: {err}") from err
    names = [n.strip().strip('"').strip("'") for n in first.strip().split(",")]
    if not first.strip() or all(re.fullmatch(r"[-+0-9.eE]*", n) for n in names):
        msg = "has no header line (the first line must name the columns)"
        raise FileFormatError(path, msg)
    return names


def _first_bad_value(path: Path, positions: Sequence[int], names: Sequence[str]) -> str:
    """Find the first line with a missing or non-numeric value (error path only)."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        fh.readline()
        for number, line in enumerate(fh, start=2):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = line.rstrip("\r\n").split(",")
            for pos, name in zip(positions, names, strict=True):
                if pos >= len(cells):
                    return f"line {number} has {len(cells)} values; column {name!r} is missing"
                try:
                    float(cells[pos])
                except ValueError:
                    return f"line {number}, column {name!r}: {cells[pos].strip()!r} is not a number"
    return "a value could not be parsed"


def read_csv(path: str | Path, columns: Sequence[Column]) -> Columns:
    """Read the named columns of a headed CSV file (numpy's C parser, whole file).

    Args:
        path: CSV file with a header line.
        columns: what to read; each is looked up by its aliases.

    Returns:
        ``{column.name: array}`` (int64 or float64); optional columns the file
        lacks are left out.

    Raises:
        KeyInFileError: a required column is missing (the message lists the file's columns).
        FileFormatError: no header, a short line or a non-numeric value (line and column named).
    """
    p = Path(path)
    if not p.is_file():
        msg = "no such file"
        raise FileFormatError(p, msg)
    names = _header(p)
    chosen: list[tuple[Column, int, str]] = []
    for col in columns:
        found = next((a for a in col.aliases if a in names), None)
        if found is None:
            if col.required:
                accepted = "/".join(col.aliases)
                raise KeyInFileError(accepted, file=p, available=names, what="column")
            continue
        chosen.append((col, names.index(found), found))
    dtype = np.dtype([(c.name, np.int64 if c.integer else np.float64) for c, _, _ in chosen])
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input contained no data.*")
            table = np.loadtxt(
                p,
                delimiter=",",
                skiprows=1,
                usecols=[pos for _, pos, _ in chosen],
                dtype=dtype,
                ndmin=1,
            )
    except ValueError as err:
        where = _first_bad_value(p, [pos for _, pos, _ in chosen], [n for _, _, n in chosen])
        raise FileFormatError(p, where) from err
    return {c.name: np.ascontiguousarray(table[c.name]) for c, _, _ in chosen}


def derive_momentum(particles: Columns, path: Path) -> Columns:
    """Complete ``px py pz pt eta`` from either ``px py pz`` or ``p theta phi``.

    With ``p theta phi``, ``pt = p sin(theta)`` and ``eta = -ln tan(theta / 2)``
    exactly as the HEPTrkX scripts computed them.
    """
    out = dict(particles)
    with np.errstate(divide="ignore", invalid="ignore"):
        if {"px", "py", "pz"} <= out.keys():
            out["pt"] = np.hypot(out["px"], out["py"])
            out["eta"] = np.arcsinh(out["pz"] / out["pt"])
        elif {"p", "theta", "phi"} <= out.keys():
            p, theta, phi = out.pop("p"), out.pop("theta"), out.pop("phi")
            out["pt"] = p * np.sin(theta)
            out["px"] = out["pt"] * np.cos(phi)
            out["py"] = out["pt"] * np.sin(phi)
            out["pz"] = p * np.cos(theta)
            out["eta"] = -np.log(np.tan(theta / 2.0))
        else:
            msg = "particles need momentum columns px, py, pz or p, theta, phi"
            raise FileFormatError(path, msg)
    return out


def match_particles(
    hit_event: IntArray,
    hit_barcode: IntArray,
    particle_event: IntArray,
    particle_barcode: IntArray,
    particle_offsets: IntArray,
) -> IntArray:
    """For each hit, the index of its particle within its event's particles, or -1.

    Events are given as dense indices (``0 .. n_events - 1``); particles are
    grouped by event with ``particle_offsets``. Whole arrays, no loop over events.

    Raises:
        ValueError: a barcode appears twice among one event's particles.

    Example:
        >>> match_particles(np.array([0, 0, 1]), np.array([7, 9, 7]), np.array([0, 1]),
        ...                 np.array([7, 7]), np.array([0, 1, 2])).tolist()
        [0, -1, 0]
    """
    codes, p_code = np.unique(particle_barcode, return_inverse=True)
    n_codes = max(len(codes), 1)
    p_key = particle_event * n_codes + p_code
    order = np.argsort(p_key, kind="stable")
    sorted_key = p_key[order]
    if len(sorted_key) > 1 and np.any(sorted_key[1:] == sorted_key[:-1]):
        dup = int(np.flatnonzero(sorted_key[1:] == sorted_key[:-1])[0])
        row = int(order[dup])
        msg = f"barcode {int(particle_barcode[row])} appears twice among one event's particles"
        raise ValueError(msg)
    out = np.full(len(hit_barcode), -1, dtype=np.int64)
    if not len(codes) or not len(hit_barcode):
        return out
    h_code = np.minimum(np.searchsorted(codes, hit_barcode), len(codes) - 1)
    known = codes[h_code] == hit_barcode
    h_key = hit_event * n_codes + h_code
    pos = np.minimum(np.searchsorted(sorted_key, h_key), len(sorted_key) - 1)
    found = known & (sorted_key[pos] == h_key)
    row = order[pos[found]]
    out[found] = row - particle_offsets[hit_event[found]]
    return out


_HIT_COLUMNS = (
    Column("event_id", ("evtid", "event_id", "event"), integer=True),
    Column("hit_id", ("hitid", "hit_id"), integer=True, required=False),
    Column("barcode", ("barcode", "particle_id"), integer=True),
    Column("volume_id", ("volid", "volume_id"), integer=True),
    Column("layer_id", ("layid", "layer_id"), integer=True),
    Column("x", ("x", "gx")),
    Column("y", ("y", "gy")),
    Column("z", ("z", "gz")),
)
_PARTICLE_COLUMNS = (
    Column("event_id", ("evtid", "event_id", "event"), integer=True),
    Column("barcode", ("barcode", "particle_id"), integer=True),
    *(Column(v, (v,), required=False) for v in ("vx", "vy", "vz")),
    *(Column(m, (m,), required=False) for m in ("px", "py", "pz", "p", "theta", "phi")),
    Column("q", ("q", "charge"), integer=True),
)


class ActsCsvSource(Source):
    """Events of one ACTS CSV pair: ``hits`` joined to ``particles`` by (evtid, barcode).

    Args:
        path: the hits file, ``clusters_K.csv``.
        particles: the particles file (default: ``particles_K.csv`` beside ``path``).

    Raises:
        FileFormatError: unreadable or malformed file, duplicate particles.
        KeyInFileError: a required column is missing.
        ConfigError: no particles file given and none found by name.
    """

    format_name: ClassVar[str] = "acts_csv"

    def __init__(self, path: str | Path, *, particles: str | Path | None = None) -> None:
        super().__init__(path)
        self.particles_path = Path(particles) if particles else self._particles_beside()
        hits = read_csv(self.path, _HIT_COLUMNS)
        parts = derive_momentum(read_csv(self.particles_path, _PARTICLE_COLUMNS), self.path)
        self._init_events(hits, parts)

    def _particles_beside(self) -> Path:
        name = self.path.name
        if not name.startswith("clusters"):
            msg = (
                f"{self.path}: cannot tell the particles file of a hits file not named"
                " clusters_K.csv; pass particles= (or rename it)"
            )
            raise ConfigError(msg)
        return self.path.with_name("particles" + name[len("clusters") :])

    def _init_events(self, hits: Columns, parts: Columns) -> None:
        events = np.unique(np.concatenate([hits["event_id"], parts["event_id"]]))
        self._event_ids = events
        h_order = np.argsort(hits["event_id"], kind="stable")
        p_order = np.argsort(parts["event_id"], kind="stable")
        self._hits = {k: v[h_order] for k, v in hits.items()}
        self._parts = {k: v[p_order] for k, v in parts.items()}
        h_event = np.searchsorted(events, self._hits["event_id"])
        p_event = np.searchsorted(events, self._parts["event_id"])
        self._h_off = np.searchsorted(h_event, np.arange(len(events) + 1)).astype(np.int64)
        self._p_off = np.searchsorted(p_event, np.arange(len(events) + 1)).astype(np.int64)
        if "hit_id" not in self._hits:
            local = np.arange(len(h_event)) - self._h_off[h_event]
            self._hits["hit_id"] = local + 1
        try:
            particle = match_particles(
                h_event, self._hits["barcode"], p_event, self._parts["barcode"], self._p_off
            )
        except ValueError as err:
            raise FileFormatError(self.particles_path, str(err)) from err
        self._hits["particle"] = particle
        unmatched = (particle < 0) & (self._hits["barcode"] != 0)
        #: hits whose (non-zero) barcode is not a particle of their event, per event
        self.unmatched = np.bincount(h_event[unmatched], minlength=len(events)).astype(np.int64)
        del self._hits["event_id"], self._parts["event_id"]

    @property
    def num_events(self) -> int:
        return len(self._event_ids)

    def fields(self) -> list[str]:
        return [
            "event_id",
            *(f"hits.{f}" for f in self._hits),
            *(f"particles.{f}" for f in self._parts),
        ]

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        if not 0 <= start <= stop <= self.num_events:
            msg = f"entry range {start}:{stop} is not within the file's {self.num_events} events"
            raise ValueError(msg)
        wanted = set(self.fields() if fields is None else fields)
        self.check_fields(wanted)
        event_fields = {"entry": np.arange(start, stop, dtype=np.int64)}
        if "event_id" in wanted:
            event_fields["event_id"] = self._event_ids[start:stop]
        collections = {}
        tables = (("hits", self._hits, self._h_off), ("particles", self._parts, self._p_off))
        for name, table, off in tables:
            names = [f for f in table if f"{name}.{f}" in wanted]
            if names:
                lo, hi = int(off[start]), int(off[stop])
                cols = {f: table[f][lo:hi] for f in names}
                collections[name] = jagged_from_flat(cols, off[start : stop + 1] - lo)
        return make_batch(event_fields, collections, length=stop - start)
