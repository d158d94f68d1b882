"""The ``[calibration]`` job section as a pipeline stage (KM3NeT, OrcaSong's order and defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import awkward as ak
import numpy as np

from hitprep.config import Job
from hitprep.detectors.detx import Detector, read_detx
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Stage
from hitprep.stages.calibrate import (
    GEOMETRY,
    calibrate_hits,
    center_time,
    correct_mc_time,
    first_triggered_time,
)

__all__ = ["JOB_SECTIONS", "CalibrationSection", "KM3NeTCalibration", "build_stages"]


class CalibrationSection(Section):
    """``[calibration]``: KM3NeT hit calibration and time centring, in OrcaSong's order."""

    detx: str = ""
    """Detector file (.detx) giving hits positions, directions and time offsets ("": hits
    are calibrated already); --detx sets it."""
    correct_timeslew: bool = True
    """Subtract the PMT time slewing (by time over threshold) from hit times."""
    center_time: bool = True
    """Centre hit times on the event's first triggered hit (events without one are dropped)."""
    correct_mc_time: bool = True
    """Shift MC hit and track times into the detector's time frame (mc_t)."""

    input_files: ClassVar[dict[str, str]] = {"detx": "detector file"}


class KM3NeTCalibration(Stage):
    """MC-time conversion, detx calibration with time slewing, and time centring.

    Events without a triggered hit cannot be centred; with ``center_time`` they
    are dropped and counted as ``"no triggered hit"`` (OrcaSong crashes on them).
    The detector may still be loading (a future): the first batch waits for it.
    """

    def __init__(
        self,
        detector: Detector | Future[Detector] | None,
        *,
        correct_timeslew: bool = True,
        center: bool = True,
        mc_time: bool = True,
        collection: str = "hits",
    ) -> None:
        self._detector = detector
        self.correct_timeslew = correct_timeslew
        self.center = center
        self.mc_time = mc_time
        self.collection = collection
        required = {f"{collection}.time"}
        if detector is not None:
            required |= {f"{collection}.dom_id", f"{collection}.channel_id"}
            if correct_timeslew:
                required.add(f"{collection}.tot")
            self.provides = frozenset(f"{collection}.{g}" for g in GEOMETRY)
        self.geometry: tuple[str, ...] = GEOMETRY
        if center:
            required.add(f"{collection}.triggered")
        self.required = frozenset(required)

    @property
    def detector(self) -> Detector | None:
        """The detector (waits for it while it is loaded in the background)."""
        if isinstance(self._detector, Future):
            self._detector = self._detector.result()
        return self._detector

    def ready(self) -> None:
        """Wait for the detector file to be read (raises its errors)."""
        _ = self.detector

    def restrict(self, needed: set[str]) -> None:
        """Add only the geometry columns that later components use."""
        prefix = f"{self.collection}."
        self.geometry = tuple(g for g in GEOMETRY if prefix + g in needed)

    def __call__(self, batch: ak.Array, ctx: Context) -> ak.Array:
        names = set(ak.fields(batch))
        if self.mc_time and {"timestamp", "nanoseconds", "mc_time"} <= names:
            batch = correct_mc_time(batch)
        detector = self.detector
        if detector is not None:
            batch = calibrate_hits(
                batch,
                detector,
                collection=self.collection,
                correct_timeslew=self.correct_timeslew,
                geometry=self.geometry,
                source=ctx.source,
            )
        if self.center:
            has_trigger = np.isfinite(first_triggered_time(batch, collection=self.collection))
            if not has_trigger.all():
                ctx.accounting.skip("no triggered hit", int((~has_trigger).sum()))
                batch = batch[has_trigger]
            batch = center_time(batch, collection=self.collection)
        return batch


def build_stages(job: Job, options: BuildOptions) -> Sequence[Stage]:
    """The calibration stage of a job with a ``[calibration]`` section."""
    cal: CalibrationSection = job.get("calibration")
    del options
    return [
        KM3NeTCalibration(
            _read_in_background(Path(cal.detx)) if cal.detx else None,
            correct_timeslew=cal.correct_timeslew,
            center=cal.center_time,
            mc_time=cal.correct_mc_time,
        )
    ]


def _read_in_background(path: Path) -> Future[Detector]:
    """Parse a detx file in a thread: it overlaps the first chunk's read (GIL-free inflate)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detx")
    try:
        return pool.submit(read_detx, path)
    finally:
        pool.shutdown(wait=False)


JOB_SECTIONS = (
    JobSection("calibration", CalibrationSection, 20, kind="stage", build=build_stages),
)
