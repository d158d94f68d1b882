"""Trigger label: hand-built edge cases through the whole chain, and a reference on toy data."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.config import Job, load_job
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.pipeline import Accounting, Context
from hitprep.runners import convert
from hitprep.sources.acts_csv import ActsCsvSource
from hitprep.stages.barrel import BarrelSelection
from hitprep.stages.trigger import TriggerLabel, distinct_layers, trigger_decision
from hitprep.toys.acts import write_acts

#: seven distinct barrel layers as (volume id, layer id); global layers 0-6
SEVEN = [(8, 2), (8, 4), (8, 6), (8, 8), (13, 2), (13, 4), (13, 6)]


def write_event_files(
    tmp: Path, events: dict[int, list[tuple[float, list[tuple[int, int]]]]]
) -> Path:
    """ACTS CSV pair: per event, particles as (pT, [(volume, layer), ...] of their hits)."""
    hits = ["evtid,hitid,barcode,volid,layid,x,y,z"]
    parts = ["evtid,barcode,vx,vy,vz,px,py,pz,q"]
    for evt, particles in events.items():
        hit_id = 0
        for k, (pt, layers) in enumerate(particles):
            barcode = 4503599627370496 + 65536 * (k + 1)
            parts.append(f"{evt},{barcode},0,0,0,{pt!r},0.0,0.5,1")
            for vol, lay in layers:
                hit_id += 1
                hits.append(f"{evt},{hit_id},{barcode},{vol},{lay},30.0,1.0,2.0")
        hits.append(f"{evt},{hit_id + 1},0,8,2,-30.0,1.0,2.0")  # a noise hit
    (tmp / "clusters_1.csv").write_text("\n".join(hits) + "\n")
    (tmp / "particles_1.csv").write_text("\n".join(parts) + "\n")
    return tmp / "clusters_1.csv"


def run_trigger(path: Path, **cuts: float) -> tuple[list[bool], list[int]]:
    with ActsCsvSource(path) as src:
        batch = src.read(0, src.num_events)
    ctx = Context(str(path), 0, Accounting())
    batch = BarrelSelection()(batch, ctx)
    batch = TriggerLabel(**cuts)(batch, ctx)  # type: ignore[arg-type]
    return batch.trigger.tolist(), batch.n_trigger_tracks.tolist()


def test_hand_built_edge_cases(tmp_path: Path) -> None:
    six_distinct_of_seven = [*SEVEN[:6], SEVEN[5]]  # 7 hits, 6 distinct layers
    with_endcap = [*SEVEN[:6], (9, 2)]  # 6 barrel layers + an end-cap disk
    events = {
        0: [(2.5, SEVEN)] * 3,  # exactly 7 layers each: passes
        1: [(2.5, SEVEN), (2.5, SEVEN), (2.0, SEVEN)],  # one pT exactly 2 GeV: fails
        2: [(2.5, SEVEN)] * 2,  # 2 passing tracks: fails
        3: [(2.5, SEVEN)] * 3 + [(0.5, SEVEN)],  # 3 passing tracks (+ a soft one): passes
        4: [(2.5, SEVEN), (2.5, SEVEN), (2.5, six_distinct_of_seven)],  # 7 hits, 6 layers: fails
        5: [(2.5, SEVEN), (2.5, SEVEN), (2.5, with_endcap)],  # end-cap hit does not count
        6: [(2.0000001, SEVEN)] * 3,  # just above 2 GeV: passes
        7: [(30.0, [*SEVEN, (13, 8), (17, 2), (17, 4)])] * 3,  # all ten layers: passes
    }
    passed, n_good = run_trigger(write_event_files(tmp_path, events))
    assert passed == [True, False, False, True, False, False, True, True]
    assert n_good == [3, 2, 2, 3, 2, 2, 3, 3]


def test_cuts_come_from_the_job(tmp_path: Path) -> None:
    events = {0: [(2.5, SEVEN[:5])] * 2, 1: [(1.5, SEVEN)] * 4}
    path = write_event_files(tmp_path, events)
    assert run_trigger(path)[0] == [False, False]
    assert run_trigger(path, tracks=2, layers=5)[0] == [True, False]
    assert run_trigger(path, pt=1.0)[0] == [False, True]


def test_distinct_layers_counts_layers_not_hits() -> None:
    particle = np.array([0, 0, 0, 0, 1, 1, -1, 2])
    layer = np.array([0, 0, 1, 9, 4, 4, 3, 2])
    assert distinct_layers(particle, layer, 4).tolist() == [3, 1, 1, 0]
    none = np.array([], dtype=np.int64)
    assert distinct_layers(none, none, 2).tolist() == [0, 0]


def reference_trigger(clusters: Path, particles: Path) -> dict[int, bool]:
    """Per event with Python dicts, from the CSV text: the rule as the HEPTrkX recipe states it."""
    barrel = {8: 0, 13: 1, 17: 2}
    layers: dict[tuple[int, int], set[int]] = defaultdict(set)
    events: set[int] = set()
    with clusters.open() as fh:
        for row in csv.DictReader(fh):
            evt, vol = int(row["evtid"]), int(row["volid"])
            events.add(evt)
            if vol in barrel:
                layers[evt, int(row["barcode"])].add(int(row["layid"]) // 2 - 1 + 4 * barrel[vol])
    good: dict[int, int] = defaultdict(int)
    with particles.open() as fh:
        for row in csv.DictReader(fh):
            evt = int(row["evtid"])
            events.add(evt)
            pt = float(row["p"]) * np.sin(float(row["theta"]))
            if pt > 2.0 and len(layers[evt, int(row["barcode"])]) >= 7:
                good[evt] += 1
    return {evt: good[evt] >= 3 for evt in sorted(events)}


def test_trigger_equals_reference_on_toy_files(tmp_path: Path) -> None:
    clusters = write_acts(tmp_path, n_events=150, files=2, seed=11)
    job = load_job("acts_barrel_trigger")
    out = tmp_path / "trigger.h5"
    summary = convert(job, clusters, out, step=40)
    assert summary.accounting.events_written == 300
    with h5py.File(out) as f:
        y = f["y"][:]
    expected = {}
    for c in clusters:
        expected |= reference_trigger(c, c.with_name(c.name.replace("clusters", "particles")))
    assert y["event_id"].tolist() == list(expected)
    assert y["trigger"].tolist() == list(expected.values())
    assert 0.1 < y["trigger"].mean() < 0.9  # the toy makes both kinds


def test_trigger_needs_the_barrel_stage(tmp_path: Path) -> None:
    path = write_event_files(tmp_path, {0: [(2.5, SEVEN)] * 3})
    job = Job.from_dict(
        {"trigger": {}, "labels": {"extractor": "hitprep.stages.trigger:trigger_labels"}}
    )
    with pytest.raises(KeyInFileError, match=r"add a \[barrel\] section"):
        convert(job, [path], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"layers": 0}, "layers >= 1"),
        ({"tracks": -1}, "tracks >= 0"),
        ({"pt": "2"}, r"trigger\]\.pt: expected float"),
        ({"min_pt": 2.0}, "unknown key 'min_pt'"),
    ],
)
def test_bad_trigger_sections(table: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Job.from_dict({"trigger": table}, origin="job.toml")


def test_trigger_decision_on_events_without_particles() -> None:
    barrel = ak.Array([[{"layer": 0, "particle": -1}], []])
    particles = ak.Array([{"pt": [1.0]}, {"pt": []}]).pt[:, :0]
    batch = ak.zip({"barrel": barrel, "particles": ak.zip({"pt": particles})}, depth_limit=1)
    passed, n_good = trigger_decision(batch)
    assert passed.tolist() == [False, False] and n_good.tolist() == [0, 0]
    assert trigger_decision(batch, tracks=0)[0].tolist() == [True, True]
