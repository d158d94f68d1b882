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
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import Job, Schema, check_keys
from hitprep.errors import ConfigError, FileFormatError
from hitprep.events import counts, event_index, flat_column, jagged_from_flat, offsets_from_counts
from hitprep.pipeline import BuildOptions, Context, Stage

__all__ = ["POLICIES", "BarrelSelection", "build_stages", "check_section", "select_barrel"]

#: what to do with hits whose barcode is not a particle of their event
POLICIES = ("fail", "skip_hits", "skip_event")
_UNMATCHED = "hits without a matching particle"
_INPUT = ("volume_id", "layer_id", "x", "y", "z", "barcode", "particle")
_OUTPUT = ("volume", "layer", "r", "phi", "z", "x", "y", "barcode", "particle")


def select_barrel(
    batch: ak.Array,
    *,
    volumes: Sequence[int] = (8, 13, 17),
    layers_per_volume: int = 4,
    split: Sequence[int] = (),
    drop: npt.NDArray[np.bool_] | None = None,
    source: str = "",
) -> ak.Array:
    """Add collection ``barrel`` (and ``barrel<i>`` for each volume index in ``split``).

    Args:
        batch: events with collection ``hits``.
        volumes: barrel volume ids, renumbered 0, 1, ... in this order.
        layers_per_volume: layers per volume in the global layer number.
        split: volume indices that get a collection of their own.
        drop: flat mask of hits to leave out (e.g. unmatched ones).
        source: file name for error messages.

    Raises:
        FileFormatError: a barrel hit's ``layer_id`` does not fit the layer numbering.
    """
    hits = batch["hits"]
    n_hits = counts(hits)
    col = {f: flat_column(hits, f) for f in _INPUT}
    vol_ids = np.asarray(volumes, dtype=np.int64)
    order = np.argsort(vol_ids)
    pos = np.minimum(np.searchsorted(vol_ids[order], col["volume_id"]), len(vol_ids) - 1)
    keep = vol_ids[order][pos] == col["volume_id"]
    if drop is not None:
        keep &= ~drop
    volume = order[pos][keep]
    layer_id = col["layer_id"][keep]
    local = layer_id // 2 - 1
    bad = (layer_id % 2 != 0) | (local < 0) | (local >= layers_per_volume)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        entry = int(batch["entry"][event_index(n_hits)[keep][i]])
        msg = (
            f"entry {entry}: barrel hit with layer_id {int(layer_id[i])} in volume"
            f" {int(vol_ids[volume[i]])}; the numbering layer = layer_id / 2 - 1 +"
            f" {layers_per_volume} * volume needs even layer ids 2..{2 * layers_per_volume}"
        )
        raise FileFormatError(source or "input", msg)
    x, y = col["x"][keep], col["y"][keep]
    out: dict[str, npt.NDArray[np.generic]] = {
        "volume": volume.astype(np.int64),
        "layer": local + layers_per_volume * volume,
        "r": np.hypot(x, y),
        "phi": np.arctan2(y, x),
        "z": col["z"][keep],
        "x": x,
        "y": y,
        "barcode": col["barcode"][keep],
        "particle": col["particle"][keep],
    }
    event = event_index(n_hits)[keep]
    n_events = len(n_hits)
    batch = ak.with_field(
        batch,
        jagged_from_flat(out, offsets_from_counts(np.bincount(event, minlength=n_events))),
        "barrel",
    )
    for v in split:
        mine = out["volume"] == v
        part = {k: a[mine] for k, a in out.items()}
        per_event = np.bincount(event[mine], minlength=n_events)
        batch = ak.with_field(
            batch, jagged_from_flat(part, offsets_from_counts(per_event)), f"barrel{v}"
        )
    return batch


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
        if not volumes or len(set(volumes)) != len(volumes):
            msg = f"[barrel].volumes must be distinct volume ids, got {list(volumes)}"
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

    def restrict(self, needed: set[str]) -> None:
        used = {f.partition(".")[0] for f in needed}
        self.split = tuple(i for i in range(len(self.volumes)) if f"barrel{i}" in used)

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
            source=ctx.source,
        )


def check_section(where: str, value: Any) -> dict[str, Any]:
    """Validate the ``[barrel]`` table."""
    schema: Schema = {
        "volumes": (list, [8, 13, 17]),
        "layers_per_volume": (int, 4),
        "on_unmatched": (str, "fail"),
    }
    table = check_keys(where, value, schema)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in table["volumes"]):
        msg = f"{where}.volumes: expected a list of integer volume ids, got {table['volumes']!r}"
        raise ConfigError(msg)
    try:
        BarrelSelection(**table)
    except ConfigError as err:
        msg = f"{where}: {err}"
        raise ConfigError(msg) from err
    return table


def build_stages(job: Job, options: BuildOptions) -> list[BarrelSelection]:
    """The barrel stage of a job with a ``[barrel]`` section."""
    return [BarrelSelection(**job.get("barrel"))]
