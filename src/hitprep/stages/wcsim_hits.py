"""The ``[wcsim_hits]`` job section: which WCSim hits an event keeps, and their time reference.

WCSim splits an event into triggers; digits belong to one trigger and their
times are relative to it (plus WCSim's 950 ns offset). This stage picks, per
event, the first trigger (earliest time, then lowest index) whose type is in
``types`` (default: NDigits, type 0), keeps that trigger's digits, shifts
their times as configured, optionally keeps only hits below ``max_time``, and
adds them to the batch as collection ``hits`` (``pmt``, ``time`` and
``charge``). An event without such a trigger stays, with zero hits, so that
rows align across files; the CLI summary counts these events.

With ``hits = "true"`` the true photon hits are used instead (``pmt``,
``time``, ``parent``; WCSim stores them once per event with absolute times, so
no trigger is selected and ``time_shift`` must be ``"none"``).

``time_shift``:
  - ``"none"``: times as stored;
  - ``"trigger_time"``: plus the trigger's time (``fEvtHdr.fDate``), i.e. on
    the simulation clock;
  - ``"trigger_info"``: plus ``fTriggerInfo[2]`` minus ``fTriggerInfo[1]``
    (DataTools' correction, for triggers that carry both; others unshifted).

``time_offset`` (ns) is added after the shift, e.g. −950 to remove WCSim's offset.

Example job section::

    [wcsim_hits]
    hits = "digi"
    types = [0]
    time_shift = "none"
    time_offset = 0.0
    max_time = 0.0       # 0: no cut
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic import model_validator

from hitprep.config import Job
from hitprep.events import (
    counts,
    event_index,
    flat_column,
    jagged_from_flat,
    offsets_from_counts,
    with_fields,
)
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Stage
from hitprep.sources.base import Source

__all__ = [
    "JOB_SECTIONS",
    "TriggerSelection",
    "WcsimHitsSection",
    "build_stages",
    "select_trigger",
]

_COLLECTION = {"digi": "digi_hits", "true": "true_hits"}
NO_TRIGGER = "events without a trigger of the chosen types (kept, no hits)"


class WcsimHitsSection(Section):
    """``[wcsim_hits]``: which hits of a WCSim event, and their times."""

    hits: Literal["digi", "true"] = "digi"
    """Digitised hits (charge and time per PMT) or true photon hits."""
    types: tuple[int, ...] = (0,)
    """Trigger types to choose from; each event keeps the hits of its earliest such trigger."""
    time_shift: Literal["none", "trigger_time", "trigger_info"] = "none"
    """Digi hit times: as stored, minus the chosen trigger's time, or minus its info time."""
    time_offset: float = 0.0
    """Added to every hit time (ns)."""
    max_time: float = 0.0
    """Hits later than this (after the shift and offset) are dropped (0: keep all)."""

    @model_validator(mode="after")
    def _consistent(self) -> WcsimHitsSection:
        if not self.types:
            msg = "types: expected a non-empty list of trigger types, got []"
            raise ValueError(msg)
        if self.hits == "true" and self.time_shift != "none":
            msg = "time_shift: true hits carry absolute times; use 'none'"
            raise ValueError(msg)
        return self


def select_trigger(
    n_triggers: npt.ArrayLike,
    types: npt.NDArray[Any],
    times: npt.NDArray[Any],
    allowed: Sequence[int],
) -> npt.NDArray[np.int64]:
    """Per event, the index of its earliest trigger whose type is allowed (−1 if none).

    Args:
        n_triggers: triggers per event.
        types: flat trigger types (all events, in order).
        times: flat trigger times.
        allowed: trigger types to choose from.

    Example:
        >>> select_trigger([2, 1, 2], np.array([1, 0, 1, 0, 0]), np.array([0, 5, 0, 9, 3]), [0])
        array([ 1, -1,  1])
    """
    n = np.asarray(n_triggers, dtype=np.int64)
    offsets = offsets_from_counts(n)
    event = event_index(n)
    ok = np.isin(types, np.asarray(allowed))
    # sort candidates by (event, time, index); the first candidate of each event wins
    index = np.arange(len(types), dtype=np.int64)
    order = np.lexsort((index, times, event))
    order = order[ok[order]]
    out = np.full(len(n), -1, dtype=np.int64)
    first = np.unique(event[order], return_index=True)
    out[first[0]] = order[first[1]] - offsets[first[0]]
    return out


class TriggerSelection(Stage):
    """Adds collection ``hits``: the selected trigger's digits (or the true hits)."""

    preserves_counts = True

    def __init__(
        self,
        *,
        hits: str = "digi",
        types: Sequence[int] = (0,),
        time_shift: str = "none",
        time_offset: float = 0.0,
        max_time: float = 0.0,
    ) -> None:
        self.source = _COLLECTION[hits]
        self.types = tuple(types)
        self.time_shift = time_shift
        self.time_offset = time_offset
        self.max_time = max_time
        third = "charge" if hits == "digi" else "parent"
        self.columns = ("pmt", "time", third)
        required = {f"{self.source}.{c}" for c in self.columns}
        if hits == "digi":
            required |= {"digi_hits.trigger", "triggers.type", "triggers.time"}
        if time_shift == "trigger_info":
            required |= {"triggers.info_1", "triggers.info_2"}
        self.required = frozenset(required)
        self.provides = frozenset(f"hits.{c}" for c in self.columns)
        self.missing_hint = "needs WCSim output or a WCSim event dump"

    def __call__(self, batch: ak.Array, ctx: Context) -> ak.Array:
        coll = batch[self.source]
        n_hits = counts(coll)
        cols = {c: flat_column(coll, c) for c in self.columns}
        time: npt.NDArray[Any] = cols["time"]
        if self.source == "digi_hits":
            trig = batch["triggers"]
            n_trig = counts(trig)
            chosen, keep = self._chosen(coll, trig, n_hits, n_trig)
            missing = int((chosen < 0).sum())
            if missing:
                ctx.accounting.items_read[NO_TRIGGER] += missing
            if np.count_nonzero(keep) < len(keep):  # else every digit stays: no copies
                cols = {c: v[keep] for c, v in cols.items()}
                n_hits = _kept(keep, n_hits)
            time = cols["time"]
            if self.time_shift != "none":
                slot = np.repeat(offsets_from_counts(n_trig)[:-1] + chosen, n_hits)
                time = time + self._shift(trig)[slot]
        if self.time_offset:
            time = time + self.time_offset
        if self.max_time > 0:
            early = time < self.max_time
            cols = {c: v[early] for c, v in cols.items()}
            time, n_hits = time[early], _kept(early, n_hits)
        cols["time"] = time.astype(np.float32, copy=False)
        hits = jagged_from_flat(cols, offsets_from_counts(n_hits))
        return with_fields(batch, {"hits": hits})

    def _chosen(
        self,
        coll: ak.Array,
        trig: ak.Array,
        n_hits: npt.NDArray[np.int64],
        n_trig: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Each event's chosen trigger (−1: none) and the mask of the digits it keeps."""
        chosen = select_trigger(
            n_trig, flat_column(trig, "type"), flat_column(trig, "time"), self.types
        )
        trigger = flat_column(coll, "trigger")
        # trigger numbers are small: repeat the choice (-1: none) in the digits' own signed
        # integer dtype rather than int64
        dtype = trigger.dtype if trigger.dtype.kind == "i" else np.dtype(np.int64)
        keep = trigger == np.repeat(chosen.astype(dtype), n_hits)
        return chosen, keep

    def count_items(
        self, collection: str, source: Source, start: int, stop: int, *, step: int
    ) -> int | None:
        """Hits of events ``[start, stop)``, from the trigger columns only (columnar sources,
        no ``max_time`` cut)."""
        if collection != "hits" or self.max_time > 0 or not source.columnar:
            return None
        if self.source == "true_hits":
            fields = ["true_hits.pmt"]
        else:
            fields = ["digi_hits.trigger", "triggers.type", "triggers.time"]
        total = 0
        for batch in source.iterate(step=step, start=start, stop=stop, fields=fields):
            coll = batch[self.source]
            if self.source == "true_hits":
                total += len(flat_column(coll, "pmt"))
                continue
            trig = batch["triggers"]
            _, keep = self._chosen(coll, trig, counts(coll), counts(trig))
            total += int(np.count_nonzero(keep))
        return total

    def _shift(self, trig: ak.Array) -> npt.NDArray[np.float64]:
        """Time shift of each trigger (flat, all events)."""
        if self.time_shift == "trigger_time":
            return np.asarray(flat_column(trig, "time"), dtype=np.float64)
        delta = flat_column(trig, "info_2") - flat_column(trig, "info_1")
        return np.asarray(np.nan_to_num(delta.astype(np.float64), nan=0.0), dtype=np.float64)


def _kept(mask: npt.NDArray[np.bool_], n_per_event: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Items per event that ``mask`` (flat, aligned with the events' items) keeps.

    Example:
        >>> _kept(np.array([True, False, True, True]), np.array([2, 0, 2])).tolist()
        [1, 0, 2]
    """
    n = np.asarray(n_per_event, dtype=np.int64)
    ends = offsets_from_counts(n)[1:]
    kept = int(np.count_nonzero(mask))
    if 2 * kept >= len(mask):  # mostly kept: count what goes (usually a few items)
        dropped = np.flatnonzero(~mask)
        return n - np.bincount(np.searchsorted(ends, dropped, side="right"), minlength=len(n))
    stay = np.flatnonzero(mask)
    return np.bincount(np.searchsorted(ends, stay, side="right"), minlength=len(n))


def build_stages(job: Job, options: BuildOptions) -> Sequence[Stage]:
    """The hit-selection stage of a job with a ``[wcsim_hits]`` section."""
    del options
    sec: WcsimHitsSection = job.get("wcsim_hits")
    return [
        TriggerSelection(
            hits=sec.hits,
            types=sec.types,
            time_shift=sec.time_shift,
            time_offset=sec.time_offset,
            max_time=sec.max_time,
        )
    ]


JOB_SECTIONS = (JobSection("wcsim_hits", WcsimHitsSection, 120, kind="stage", build=build_stages),)
