"""The per-chunk pipeline a job describes: stages, then representations.

``Pipeline.run(batch)`` takes one event batch from a source and returns the
arrays a sink appends: the images, ``y`` (labels) and ``event_info`` (where
each event came from). Events that cannot be processed are dropped and
counted in :class:`Accounting` with a reason; none is lost silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import Job
from hitprep.detectors.detx import Detector
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.events import counts
from hitprep.labels import Extractor, load_extractor, to_structured
from hitprep.representations.image import BinStats, ImageSpec, make_images
from hitprep.sources.base import Source
from hitprep.stages.calibrate import (
    calibrate_hits,
    center_time,
    correct_mc_time,
    first_triggered_time,
)

__all__ = ["Accounting", "Pipeline"]

_CALIBRATED = {"pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "du", "floor", "t0"}
_EVENT_INFO = ("event_id", "run_id")


@dataclass
class Accounting:
    """Event and hit counts of a job; every input event is written or skipped with a reason."""

    events_read: int = 0
    events_written: int = 0
    hits_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "events_written": self.events_written,
            "events_skipped": dict(self.skipped),
            "hits_read": self.hits_read,
        }

    def merge(self, other: Accounting) -> None:
        self.events_read += other.events_read
        self.events_written += other.events_written
        self.hits_read += other.hits_read
        self.skipped.update(other.skipped)


class Pipeline:
    """Stages and representations of one job, applied chunk by chunk.

    Args:
        job: the validated job.
        detector: geometry for calibration, or None.
    """

    def __init__(self, job: Job, detector: Detector | None) -> None:
        self.job = job
        self.detector = detector
        self.specs = [
            ImageSpec.build(
                im.name, im.axes, weights=im.weights, dtype=im.dtype, collection=im.collection
            )
            for im in job.images
        ]
        if not self.specs:
            msg = f"{job.origin or 'job'}: no [[images]] configured; nothing to write"
            raise ConfigError(msg)
        self.stats = {s.name: BinStats(s) for s in self.specs} if job.output["bin_stats"] else {}
        spec = job.labels["extractor"]
        self.extractor: Extractor | None = load_extractor(spec) if spec else None
        self.hit_collection = self.specs[0].collection
        self.accounting = Accounting()

    # -- what to read -------------------------------------------------------------
    def fields_for(self, source: Source) -> list[str]:
        """Dotted fields to read from ``source``; raises KeyInFileError for missing ones."""
        available = source.fields()
        collections = {s.collection for s in self.specs}
        if self.extractor is not None:
            collections.add("mc_tracks")
        wanted = [f for f in available if f.rpartition(".")[0] in {"", *collections}]
        needed = set()
        for s in self.specs:
            for f in s.fields:
                if f in _CALIBRATED and self.detector is not None:
                    continue
                if f == "time" and s.collection == self.hit_collection:
                    continue  # checked below with the calibration inputs
                needed.add(f"{s.collection}.{f}")
        if self.detector is not None:
            needed |= {f"{self.hit_collection}.{c}" for c in ("dom_id", "channel_id", "time")}
            if self.job.calibration["correct_timeslew"]:
                needed.add(f"{self.hit_collection}.tot")
        if self.job.calibration["center_time"]:
            needed |= {f"{self.hit_collection}.{c}" for c in ("time", "triggered")}
        for f in sorted(needed):
            if f not in available:
                what = "field"
                if f.rpartition(".")[2] in _CALIBRATED:
                    what = "field (hits are not calibrated: pass --detx)"
                raise KeyInFileError(f, file=source.path, available=available, what=what)
        return wanted

    # -- processing -----------------------------------------------------------------
    def process(self, batch: ak.Array, *, source: str) -> ak.Array:
        """Apply the configured stages; drops (and counts) events that cannot be used."""
        cal = self.job.calibration
        names = set(ak.fields(batch))
        if cal["correct_mc_time"] and {"timestamp", "nanoseconds", "mc_time"} <= names:
            batch = correct_mc_time(batch)
        if self.detector is not None:
            batch = calibrate_hits(
                batch,
                self.detector,
                collection=self.hit_collection,
                correct_timeslew=cal["correct_timeslew"],
                source=source,
            )
        if cal["center_time"]:
            has_trigger = np.isfinite(first_triggered_time(batch, collection=self.hit_collection))
            if not has_trigger.all():
                self.accounting.skipped["no triggered hit"] += int((~has_trigger).sum())
                batch = batch[has_trigger]
            batch = center_time(batch, collection=self.hit_collection)
        return batch

    def represent(self, batch: ak.Array, *, file_index: int) -> dict[str, npt.NDArray[Any]]:
        """Images, labels and event info of a processed batch."""
        arrays: dict[str, npt.NDArray[Any]] = {}
        for spec in self.specs:
            arrays[spec.name] = make_images(batch, spec, stats=self.stats.get(spec.name))
        n = len(batch)
        if self.extractor is not None:
            arrays["y"] = to_structured(
                self.extractor(batch), n_events=n, source=self.job.labels["extractor"]
            )
        arrays["event_info"] = self.event_info(batch, file_index=file_index)
        return arrays

    def run(self, batch: ak.Array, *, file_index: int, source: str) -> dict[str, npt.NDArray[Any]]:
        """Process and represent one batch, updating the accounting."""
        self.accounting.events_read += len(batch)
        self.accounting.hits_read += int(counts(batch[self.hit_collection]).sum())
        processed = self.process(batch, source=source)
        arrays = self.represent(processed, file_index=file_index)
        self.accounting.events_written += len(processed)
        return arrays

    @staticmethod
    def event_info(batch: ak.Array, *, file_index: int) -> npt.NDArray[np.void]:
        """Where each event came from: input file index, entry, event id and run (-1 if unknown)."""
        n = len(batch)
        names = set(ak.fields(batch))
        dtype = np.dtype(
            [
                ("file_index", np.int64),
                ("entry", np.int64),
                ("event_id", np.int64),
                ("run_id", np.int64),
            ]
        )
        out = np.empty(n, dtype=dtype)
        out["file_index"] = file_index
        out["entry"] = np.asarray(batch["entry"])
        for name in _EVENT_INFO:
            out[name] = np.asarray(batch[name]) if name in names else -1
        return out
