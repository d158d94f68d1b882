"""KM3NeT calibration stages: positions and directions from a ``.detx``, t0, time slewing,
MC-time conversion and centring on the first triggered hit.

The arithmetic follows km3pipe/OrcaSong step by step, in float64, so that
images equal OrcaSong's bin for bin:

1. ``correct_mc_time``: ``t_mc - (timestamp * 1e9 + nanoseconds) + mc_time`` for
   ``mc_hits`` and ``mc_tracks`` (km3pipe's ``MCTimeCorrector``).
2. ``calibrate_hits``: ``time + t0`` by (dom_id, channel_id), then minus the
   time slew of the hit's ToT; adds ``pos_*``, ``dir_*``, ``t0``, ``du``, ``floor``.
   ``calibrate_mc_hits`` adds positions/directions by ``pmt_id`` (no t0, as km3pipe).
3. ``center_time``: subtract each event's earliest triggered hit time from
   ``hits.time`` and ``mc_hits.time`` (not from ``mc_tracks``, as OrcaSong).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.detectors.detx import Detector
from hitprep.errors import CalibrationError
from hitprep.events import (
    counts,
    event_index,
    flat_column,
    offsets_from_counts,
    with_collection_fields,
)
from hitprep.stages.timeslew import time_slew

__all__ = [
    "GEOMETRY",
    "calibrate_hits",
    "calibrate_mc_hits",
    "center_time",
    "correct_mc_time",
    "first_triggered_time",
]


GEOMETRY = ("pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "du", "floor", "t0")


def _geometry_columns(
    detector: Detector, rows: npt.NDArray[np.int64], names: Collection[str]
) -> dict[str, npt.NDArray[Any]]:
    return {name: getattr(detector, name)[rows] for name in GEOMETRY if name in names}


def calibrate_hits(
    batch: ak.Array,
    detector: Detector,
    *,
    collection: str = "hits",
    correct_timeslew: bool = True,
    geometry: Collection[str] = GEOMETRY,
    source: str = "",
) -> ak.Array:
    """Add geometry to each hit and correct its time by t0 (and time slewing).

    Args:
        batch: event batch with ``collection`` holding ``dom_id``, ``channel_id``,
            ``time`` and (for slewing) ``tot``.
        detector: parsed ``.detx``.
        collection: name of the hit collection.
        correct_timeslew: subtract the ToT-dependent time slew (OrcaSong default).
        geometry: which of ``pos_x/y/z``, ``dir_x/y/z``, ``du``, ``floor``, ``t0`` to add
            (all by default; a pipeline adds only those it uses).
        source: input file name, for error messages.

    Returns:
        The batch with the geometry columns added and ``time`` calibrated.
    """
    hits = batch[collection]
    rows = detector.dom_channel_index(
        flat_column(hits, "dom_id"), flat_column(hits, "channel_id"), source=source
    )
    time = flat_column(hits, "time")
    if time.dtype != np.float64:  # km3pipe adds t0 in float32 when the hit time is not float64
        time = time.astype(np.float32) + detector.t0[rows].astype(np.float32)
    elif detector.has_t0:  # adding an all-zero t0 would change no value
        time = time + detector.t0[rows]
    if correct_timeslew:
        tot = flat_column(hits, "tot")
        try:
            time = time - time_slew(tot)
        except ValueError as err:
            bad = int(np.argmax((tot < 0) | (tot > 255)))
            entry = _entry_of_item(batch, hits, bad)
            msg = f"{source}: event entry {entry}: {err}"
            raise CalibrationError(msg) from err
    columns = _geometry_columns(detector, rows, geometry)
    columns["time"] = time
    return with_collection_fields(batch, collection, columns)


def calibrate_mc_hits(
    batch: ak.Array, detector: Detector, *, collection: str = "mc_hits", source: str = ""
) -> ak.Array:
    """Add positions and directions to MC hits by ``pmt_id`` (their time is left as is)."""
    hits = batch[collection]
    rows = detector.pmt_id_index(flat_column(hits, "pmt_id"), source=source)
    return with_collection_fields(batch, collection, _geometry_columns(detector, rows, GEOMETRY))


def correct_mc_time(
    batch: ak.Array, *, collections: tuple[str, ...] = ("mc_hits", "mc_tracks")
) -> ak.Array:
    """Convert MC times to the event's DAQ (JTE) time frame, as km3pipe's MCTimeCorrector.

    ``t_jte = t_mc - (timestamp * 1e9 + nanoseconds) + mc_time`` per event, in float64.
    Collections absent from the batch are skipped.
    """
    timestamp_ns = np.asarray(batch["timestamp"]) * 1e9 + np.asarray(batch["nanoseconds"])
    mc_time = np.asarray(batch["mc_time"], dtype=np.float64)
    for name in collections:
        if name not in ak.fields(batch) or "time" not in ak.fields(batch[name]):
            continue
        coll = batch[name]
        idx = event_index(counts(coll))
        t = flat_column(coll, "time").astype(float)
        batch = with_collection_fields(batch, name, {"time": t - timestamp_ns[idx] + mc_time[idx]})
    return batch


def first_triggered_time(batch: ak.Array, *, collection: str = "hits") -> npt.NDArray[np.float64]:
    """Earliest ``time`` among each event's triggered hits; ``nan`` where there is none."""
    hits = batch[collection]
    n = counts(hits)
    time = flat_column(hits, "time").astype(np.float64, copy=True)
    time[flat_column(hits, "triggered") == 0] = np.inf
    out = np.full(len(n), np.inf)
    nonempty = n > 0
    if nonempty.any():
        starts = offsets_from_counts(n)[:-1][nonempty]
        out[nonempty] = np.minimum.reduceat(time, starts)
    out[~np.isfinite(out)] = np.nan
    return out


def center_time(
    batch: ak.Array,
    *,
    collection: str = "hits",
    also: tuple[str, ...] = ("mc_hits",),
) -> ak.Array:
    """Subtract each event's first triggered hit time from its hit (and MC hit) times.

    Events without a triggered hit get ``nan`` times; the pipeline drops such
    events before this stage and counts them (OrcaSong crashes on them).
    """
    t_first = first_triggered_time(batch, collection=collection)
    for name in (collection, *also):
        if name not in ak.fields(batch):
            continue
        coll = batch[name]
        idx = event_index(counts(coll))
        t = flat_column(coll, "time")
        batch = with_collection_fields(batch, name, {"time": np.subtract(t, t_first[idx])})
    return batch


def _entry_of_item(batch: ak.Array, collection: ak.Array, item: int) -> int:
    offsets = offsets_from_counts(counts(collection))
    event = int(np.searchsorted(offsets, item, side="right") - 1)
    return int(batch["entry"][event]) if "entry" in ak.fields(batch) else event
