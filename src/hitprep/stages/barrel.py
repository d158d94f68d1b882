"""Barrel selection of tracker hits (HEPTrkX numbering), with derived ``r`` and ``phi``.

The stage of the ``[barrel]`` section. From collection ``hits`` (fields
``volume_id, layer_id, x, y, z, barcode, particle`` as the ACTS and TrackML
sources give them) it builds:

- ``barrel``: the hits in ``volumes`` (default 8, 13, 17), with ``volume`` (their
  position in ``volumes``: 0, 1, 2), ``layer = layer_id / 2 - 1 +
  layers_per_volume * volume`` (layers 0-9 for the TrackML barrel), ``r``,
  ``phi = arctan2(y, x)``, ``z``, ``x``, ``y``, ``barcode`` and ``particle``;
- ``barrel0``, ``barrel1``, ...: the same, per volume (for one image per volume),
  built only when a later component reads them.

Hits whose non-zero barcode is not a particle of their event (*unmatched*) are
handled as ``on_unmatched`` says: ``fail`` (default: an error naming the file,
event and barcode), ``skip_hits`` (dropped; counted in the accounting's
``items_skipped``) or ``skip_event`` (the event is skipped and counted). Barcode
0 is noise: kept, belonging to no particle. A barrel hit whose ``layer_id`` does
not fit the numbering (odd, or beyond ``layers_per_volume``) is an error rather
than a hit on a neighbouring volume's layer.

Job section::

    [barrel]
    volumes = [8, 13, 17]
    layers_per_volume = 4
    on_unmatched = "fail"      # fail | skip_hits | skip_event
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic import model_validator

from hitprep.config import Job
from hitprep.errors import ConfigError, FileFormatError
from hitprep.events import counts, event_index, flat_column, jagged_from_flat, offsets_from_counts
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Stage

__all__ = [
    "JOB_SECTIONS",
    "POLICIES",
    "BarrelSection",
    "BarrelSelection",
    "build_stages",
    "select_barrel",
]

#: what to do with hits whose barcode is not a particle of their event
POLICIES = ("fail", "skip_hits", "skip_event")
_UNMATCHED = "hits without a matching particle"
_INPUT = ("volume_id", "layer_id", "x", "y", "z", "barcode", "particle")
_BAD = -2  # a barrel hit whose layer_id does not fit the numbering
_OUTPUT = ("volume", "layer", "r", "phi", "z", "x", "y", "barcode", "particle")


def select_barrel(
    batch: ak.Array,
    *,
    volumes: Sequence[int] = (8, 13, 17),
    layers_per_volume: int = 4,
    split: Sequence[int] = (),
    drop: npt.NDArray[np.bool_] | None = None,
    fields: Sequence[str] = _OUTPUT,
    source: str = "",
) -> ak.Array:
    """Add collection ``barrel`` (and ``barrel<i>`` for each volume index in ``split``).

    Args:
        batch: events with collection ``hits``.
        volumes: barrel volume ids, renumbered 0, 1, ... in this order.
        layers_per_volume: layers per volume in the global layer number.
        split: volume indices that get a collection of their own.
        drop: flat mask of hits to leave out (e.g. unmatched ones).
        fields: the fields to compute (default: all of ``volume, layer, r, phi, z, x, y,
            barcode, particle``).
        source: file name for error messages.

    Raises:
        FileFormatError: a barrel hit's ``layer_id`` does not fit the layer numbering.
    """
    hits = batch["hits"]
    n_hits = counts(hits)
    code = _layer_table(volumes, layers_per_volume)
    rows, cols = code.shape
    volume_id = np.clip(flat_column(hits, "volume_id") + 1, 0, rows - 1)
    layer_id = np.clip(flat_column(hits, "layer_id") + 1, 0, cols - 1)
    layer = code.reshape(-1)[volume_id * cols + layer_id]  # one lookup: select, renumber, check
    keep = layer >= 0
    if drop is not None:
        keep &= ~drop
    if np.any(layer == _BAD):
        i = int(np.flatnonzero(layer == _BAD)[0])
        entry = int(batch["entry"][event_index(n_hits)[i]])
        msg = (
            f"entry {entry}: barrel hit with layer_id {int(flat_column(hits, 'layer_id')[i])}"
            f" in volume {int(flat_column(hits, 'volume_id')[i])}; the numbering layer ="
            f" layer_id / 2 - 1 + {layers_per_volume} * volume needs even layer ids"
            f" 2..{2 * layers_per_volume}"
        )
        raise FileFormatError(source or "input", msg)
    layer = layer[keep]
    volume = layer // layers_per_volume
    wanted = set(fields) | ({"volume"} if split else set())
    out: dict[str, npt.NDArray[np.generic]] = {}
    for name in _OUTPUT:  # computed only when wanted, in a fixed order
        if name not in wanted:
            continue
        if name == "volume":
            out[name] = volume
        elif name == "layer":
            out[name] = layer
        elif name in ("r", "phi"):
            x, y = flat_column(hits, "x")[keep], flat_column(hits, "y")[keep]
            out[name] = np.hypot(x, y) if name == "r" else np.arctan2(y, x)
        else:
            out[name] = flat_column(hits, name)[keep]
    offsets = offsets_from_counts(n_hits)
    kept = _kept_offsets(keep, offsets)
    batch = ak.with_field(batch, jagged_from_flat(out, kept), "barrel")
    for v in split:
        mine = volume == v
        part = {k: a[mine] for k, a in out.items()}
        batch = ak.with_field(
            batch, jagged_from_flat(part, _kept_offsets(mine, kept)), f"barrel{v}"
        )
    return batch


def _kept_offsets(keep: npt.NDArray[np.bool_], offsets: npt.NDArray[np.int64]) -> Any:
    """Offsets of the items that ``keep`` keeps, per event of ``offsets``."""
    running = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=running[1:])
    return running[offsets]


def _layer_table(volumes: Sequence[int], layers_per_volume: int) -> npt.NDArray[np.int64]:
    """(volume_id + 1, layer_id + 1) -> global layer; -1 outside the barrel, _BAD for bad ids.

    The last row and column stand for every larger id (inputs are clipped to the table).
    """
    top = max(volumes) + 2
    table = np.full((top + 1, 2 * layers_per_volume + 3), -1, dtype=np.int64)
    for v, vid in enumerate(volumes):  # a handful of volumes, not hits
        table[vid + 1, :] = _BAD
        for k in range(layers_per_volume):
            table[vid + 1, 2 * (k + 1) + 1] = k + layers_per_volume * v
    return table


class BarrelSelection(Stage):
    """The ``[barrel]`` stage (see the module docstring)."""

    def __init__(
        self,
        *,
        volumes: Sequence[int] = (8, 13, 17),
        layers_per_volume: int = 4,
        on_unmatched: str = "fail",
    ) -> None:
        if on_unmatched not in POLICIES:
            msg = (
                f"[barrel].on_unmatched must be one of {', '.join(POLICIES)}, got {on_unmatched!r}"
            )
            raise ConfigError(msg)
        if not volumes or len(set(volumes)) != len(volumes) or min(volumes) < 0:
            msg = f"[barrel].volumes must be distinct volume ids >= 0, got {list(volumes)}"
            raise ConfigError(msg)
        if layers_per_volume < 1:
            msg = f"[barrel].layers_per_volume must be >= 1, got {layers_per_volume}"
            raise ConfigError(msg)
        self.volumes = tuple(int(v) for v in volumes)
        self.layers_per_volume = layers_per_volume
        self.on_unmatched = on_unmatched
        self.required = frozenset(f"hits.{f}" for f in _INPUT)
        names = ["barrel", *(f"barrel{i}" for i in range(len(self.volumes)))]
        self.provides = frozenset(f"{c}.{f}" for c in names for f in _OUTPUT)
        self.split: tuple[int, ...] = tuple(range(len(self.volumes)))
        self.fields: tuple[str, ...] = _OUTPUT

    def restrict(self, needed: set[str]) -> None:
        """Build only the per-volume collections and fields that later components read."""
        used = {f.partition(".")[0] for f in needed}
        self.split = tuple(i for i in range(len(self.volumes)) if f"barrel{i}" in used)
        mine = {f.partition(".")[2] for f in needed if f.partition(".")[0].startswith("barrel")}
        self.fields = tuple(f for f in _OUTPUT if f in mine)

    def __call__(self, batch: ak.Array, ctx: Context) -> ak.Array:
        hits = batch["hits"]
        unmatched = (flat_column(hits, "particle") < 0) & (flat_column(hits, "barcode") != 0)
        drop = None
        if np.any(unmatched):
            n_hits = counts(hits)
            per_event = np.bincount(event_index(n_hits)[unmatched], minlength=len(n_hits))
            if self.on_unmatched == "fail":
                i = int(np.flatnonzero(per_event)[0])
                first = int(flat_column(hits, "barcode")[np.flatnonzero(unmatched)[0]])
                event = f"entry {int(batch['entry'][i])}"
                if "event_id" in ak.fields(batch):
                    event += f" (event id {int(batch['event_id'][i])})"
                msg = (
                    f"{event} has {int(per_event[i])} hits whose barcode is not among its"
                    f' particles (first: {first}); set [barrel] on_unmatched = "skip_hits"'
                    ' or "skip_event" to go on'
                )
                raise FileFormatError(ctx.source, msg)
            if self.on_unmatched == "skip_event":
                keep = per_event == 0
                ctx.accounting.skip(_UNMATCHED, int((~keep).sum()))
                batch = batch[keep]
            else:
                ctx.accounting.skip_items(_UNMATCHED, int(unmatched.sum()))
                drop = unmatched
        return select_barrel(
            batch,
            volumes=self.volumes,
            layers_per_volume=self.layers_per_volume,
            split=self.split,
            drop=drop,
            fields=self.fields,
            source=ctx.source,
        )


class BarrelSection(Section):
    """``[barrel]``: the barrel hits of a tracker, renumbered by layer."""

    volumes: tuple[int, ...] = (8, 13, 17)
    """Barrel volume ids, renumbered 0, 1, ... in this order (collection barrel<i> each)."""
    layers_per_volume: int = 4
    """Layers per volume in the global layer number."""
    on_unmatched: Literal["fail", "skip_hits", "skip_event"] = "fail"
    """Hits whose barcode is not a particle of their event: stop, drop the hits, or drop
    the events."""

    @model_validator(mode="after")
    def _usable(self) -> BarrelSection:
        BarrelSelection(**dict(self))  # its checks
        return self


def build_stages(job: Job, options: BuildOptions) -> list[BarrelSelection]:
    """The barrel stage of a job with a ``[barrel]`` section."""
    return [BarrelSelection(**dict(job.get("barrel")))]


JOB_SECTIONS = (JobSection("barrel", BarrelSection, 30, kind="stage", build=build_stages),)
