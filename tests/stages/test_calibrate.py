"""KM3NeT calibration stages on real hits, checked against the detx and by hand."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hitprep.detectors.detx import read_detx
from hitprep.events import jagged_from_flat, make_batch
from hitprep.pipeline import Accounting, Context
from hitprep.sources import open_source
from hitprep.stages.calibrate import (
    calibrate_hits,
    center_time,
    correct_mc_time,
    first_triggered_time,
)
from hitprep.stages.km3net import KM3NeTCalibration
from hitprep.stages.timeslew import SLEW_TABLE, time_slew


def test_time_slew_table() -> None:
    assert len(SLEW_TABLE) == 256
    assert time_slew(np.array([0, 26, 27, 255])).tolist() == [8.01, 0.07, -0.1, -9.04]
    assert np.all(np.diff(SLEW_TABLE) <= 0)  # longer pulses are delayed less
    with pytest.raises(ValueError, match="ToT 256"):
        time_slew(np.array([3, 256]))


def test_calibrated_hits_match_detx(km3net_h5: Path, km3net_detx: Path) -> None:
    det = read_detx(km3net_detx)
    batch = open_source(km3net_h5).read(0, 5)
    cal = calibrate_hits(batch, det)
    raw, hits = batch.hits, cal.hits
    for i in (0, 4):
        for j in (0, 100, len(raw[i]) - 1):
            dom, ch = int(raw[i].dom_id[j]), int(raw[i].channel_id[j])
            row = np.flatnonzero((det.dom_id == dom) & (det.channel_id == ch))[0]
            assert hits[i].pos_z[j] == det.pos_z[row] and hits[i].dir_x[j] == det.dir_x[row]
            expected = (raw[i].time[j] + det.t0[row]) - SLEW_TABLE[int(raw[i].tot[j])]
            assert hits[i].time[j] == expected
    no_slew = calibrate_hits(batch, det, correct_timeslew=False)
    np.testing.assert_allclose(
        ak.flatten(no_slew.hits.time - cal.hits.time),
        time_slew(np.asarray(ak.flatten(raw.tot))),
        atol=1e-6,
    )


def test_center_time_and_events_without_trigger() -> None:
    hits = jagged_from_flat(
        {
            "time": np.array([5.0, 3.0, 9.0, 1.0, 2.0, 7.0]),
            "triggered": np.array([0, 1, 1, 0, 0, 1]),
        },
        [0, 3, 5, 5, 6],
    )
    batch = make_batch({"entry": np.arange(4)}, {"hits": hits}, length=4)
    first = first_triggered_time(batch)
    assert first[0] == 3.0 and np.isnan(first[1]) and np.isnan(first[2]) and first[3] == 7.0
    centred = center_time(batch[[0, 3]])
    assert centred.hits.time.tolist() == [[2.0, 0.0, 6.0], [0.0]]
    stage = KM3NeTCalibration(None)
    ctx = Context("memory", 0, Accounting())
    out = stage(batch, ctx)
    assert out.entry.tolist() == [0, 3]
    assert ctx.accounting.skipped == {"no triggered hit": 2}


def test_mc_time_to_daq_frame() -> None:
    tracks = jagged_from_flat({"time": np.array([0.0, 10.0, 5.0])}, [0, 2, 3])
    batch = make_batch(
        {
            "entry": np.arange(2),
            "timestamp": np.array([1, 0]),
            "nanoseconds": np.array([100, 200]),
            "mc_time": np.array([1e9 + 150.0, 210.0]),
        },
        {"mc_tracks": tracks},
        length=2,
    )
    out = correct_mc_time(batch)
    assert out.mc_tracks.time.tolist() == [[50.0, 60.0], [15.0]]
