"""Barrel selection, unmatched-hit policies, and per-volume images against a per-event reference."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.config import Job, load_job
from hitprep.errors import ConfigError, CountOverflowError, FileFormatError
from hitprep.pipeline import Accounting, Context
from hitprep.runners import convert
from hitprep.sources.acts_csv import ActsCsvSource
from hitprep.stages.barrel import BarrelSelection
from hitprep.toys.acts import write_acts

HITS = "evtid,hitid,barcode,volid,layid,x,y,z"
PARTS = "evtid,barcode,vx,vy,vz,px,py,pz,q"

#: HEPTrkX reference binning: (layer range, z range, bins) per volume
VOLUMES = {
    0: ((0, 4), (-500, 500), (4, 128, 128)),
    1: ((4, 8), (-1080, 1080), (4, 128, 128)),
    2: ((8, 10), (-1031, 1031), (2, 128, 21)),
}


def pair(tmp: Path, hits: list[str], parts: list[str]) -> Path:
    (tmp / "clusters_0.csv").write_text("\n".join([HITS, *hits]) + "\n")
    (tmp / "particles_0.csv").write_text("\n".join([PARTS, *parts]) + "\n")
    return tmp / "clusters_0.csv"


def test_numbering_and_derived_fields(tmp_path: Path) -> None:
    path = pair(
        tmp_path,
        ["0,1,5,8,2,3,4,10", "0,2,5,13,8,0,-2,20", "0,3,5,17,4,-1,0,30", "0,4,5,9,2,1,1,700"],
        ["0,5,0,0,0,1,0,0,1"],
    )
    with ActsCsvSource(path) as src:
        batch = BarrelSelection()(src.read(0, 1), Context(str(path), 0, Accounting()))
    b = batch.barrel[0]
    assert b.volume.tolist() == [0, 1, 2] and b.layer.tolist() == [0, 7, 9]
    assert b.r.tolist() == [5.0, 2.0, 1.0]
    assert b.phi.tolist() == pytest.approx([np.arctan2(4, 3), -np.pi / 2, np.pi])
    assert b.z.tolist() == [10.0, 20.0, 30.0]
    assert [batch[f"barrel{v}"][0].layer.tolist() for v in range(3)] == [[0], [7], [9]]


def test_layer_id_outside_the_numbering_is_an_error(tmp_path: Path) -> None:
    path = pair(tmp_path, ["0,1,5,8,10,1,1,1"], ["0,5,0,0,0,1,0,0,1"])
    with ActsCsvSource(path) as src:
        batch = src.read(0, 1)
    with pytest.raises(FileFormatError, match="layer_id 10 in volume 8"):
        BarrelSelection()(batch, Context(str(path), 0, Accounting()))


UNMATCHED = [
    "0,1,5,8,2,1,1,1",
    "1,1,5,8,2,1,1,1",
    "1,2,77,8,4,1,1,1",  # event 1: barcode 77 is not a particle
    "1,3,0,8,6,1,1,1",  # noise: fine
    "2,1,5,8,2,1,1,1",  # event 2: hits, no particles
]


def _job(policy: str) -> Job:
    return Job.from_dict(
        {
            "barrel": {"on_unmatched": policy},
            "trigger": {},
            "labels": {"extractor": "hitprep.stages.trigger:trigger_labels"},
        }
    )


def test_unmatched_hits_fail_by_default(tmp_path: Path) -> None:
    path = pair(tmp_path, UNMATCHED, ["0,5,0,0,0,1,0,0,1", "1,5,0,0,0,1,0,0,1"])
    out = tmp_path / "out.h5"
    with pytest.raises(FileFormatError, match=r"entry 1 \(event id 1\) has 1 hits .* 77"):
        convert(_job("fail"), [path], out)
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_unmatched_skip_event_is_counted(tmp_path: Path) -> None:
    path = pair(tmp_path, UNMATCHED, ["0,5,0,0,0,1,0,0,1", "1,5,0,0,0,1,0,0,1"])
    out = tmp_path / "out.h5"
    summary = convert(_job("skip_event"), [path], out)
    assert summary.accounting.skipped == {"hits without a matching particle": 2}
    assert "2 skipped (hits without a matching particle: 2)" in summary.line()
    with h5py.File(out) as f:
        assert f["y"]["event_id"].tolist() == [0]
        accounting = json.loads(f.attrs["accounting"])
    assert accounting["events_skipped"] == {"hits without a matching particle": 2}


def test_unmatched_skip_hits_is_counted(tmp_path: Path) -> None:
    path = pair(tmp_path, UNMATCHED, ["0,5,0,0,0,1,0,0,1", "1,5,0,0,0,1,0,0,1"])
    out = tmp_path / "out.h5"
    summary = convert(_job("skip_hits"), [path], out)
    assert summary.accounting.items_skipped == {"hits without a matching particle": 2}
    assert "2 hits without a matching particle skipped" in summary.line()
    with h5py.File(out) as f:
        assert f["y"]["event_id"].tolist() == [0, 1, 2]
        accounting = json.loads(f.attrs["accounting"])
    assert accounting["items_skipped"] == {"hits without a matching particle": 2}


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"on_unmatched": "ignore"}, "on_unmatched: expected one of 'fail', 'skip_hits' or"),
        ({"volumes": [8, 8]}, "distinct volume ids"),
        ({"volumes": ["8"]}, r"\[barrel\].volumes\[0\]: expected int, got '8'"),
        ({"layers_per_volume": 0}, "layers_per_volume must be >= 1"),
    ],
)
def test_bad_barrel_sections(table: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Job.from_dict({"barrel": table}, origin="job.toml")


def reference_images(clusters: Path) -> dict[int, list[np.ndarray]]:
    """Per event and volume, np.histogramdd of that event's hits, from the CSV text."""
    barrel = {8: 0, 13: 1, 17: 2}
    per_event: dict[int, list[list[tuple[float, float, float]]]] = defaultdict(lambda: [[], [], []])
    with clusters.open() as fh:
        for row in csv.DictReader(fh):
            vol = barrel.get(int(row["volid"]))
            evt = int(row["evtid"])
            per_event[evt]  # every event has an entry
            if vol is None:
                continue
            layer = int(row["layid"]) // 2 - 1 + 4 * vol
            phi = np.arctan2(float(row["y"]), float(row["x"]))
            per_event[evt][vol].append((layer, phi, float(row["z"])))
    out = {}
    for evt, vols in per_event.items():
        images = []
        for v, (layers, zs, bins) in VOLUMES.items():
            hits = np.array(vols[v], dtype=np.float64).reshape(-1, 3)
            ranges = [layers, (-np.pi, np.pi), zs]
            images.append(np.histogramdd(hits, bins=bins, range=ranges)[0])
        out[evt] = images
    return out


def test_volume_images_equal_per_event_reference(tmp_path: Path) -> None:
    clusters = write_acts(tmp_path, n_events=40, seed=3)[0]
    out = tmp_path / "images.h5"
    convert(load_job("acts_barrel_trigger"), [clusters], out, step=15)
    expected = reference_images(clusters)
    with h5py.File(out) as f:
        images = [f[f"v{v}"][:] for v in range(3)]
        ids = f["event_info"]["event_id"].tolist()
        assert [im.dtype for im in images] == [np.uint16] * 3
    assert ids == sorted(expected)
    for i, evt in enumerate(ids):
        for v in range(3):
            np.testing.assert_array_equal(images[v][i], expected[evt][v], err_msg=f"{evt} v{v}")
    assert sum(int(im.sum()) for im in images) > 1000


def test_volume_image_counts_fail_rather_than_wrap(tmp_path: Path) -> None:
    hits = [f"0,{i},5,8,2,30,0,1" for i in range(300)]  # 300 hits in one pixel
    path = pair(tmp_path, hits, ["0,5,0,0,0,1,0,0,1"])
    out = tmp_path / "images.h5"
    job = load_job("acts_barrel_trigger", overrides=["images.0.dtype=uint8"])
    with pytest.raises(CountOverflowError, match="'v0': event entry 0"):
        convert(job, [path], out)
    assert not out.exists()
    convert(load_job("acts_barrel_trigger"), [path], out)
    with h5py.File(out) as f:
        assert int(f["v0"][:].max()) == 300


def test_barrel_collections_only_when_used(tmp_path: Path) -> None:
    path = pair(tmp_path, ["0,1,5,8,2,1,1,1"], ["0,5,0,0,0,1,0,0,1"])
    stage = BarrelSelection()
    stage.restrict({"barrel.layer", "barrel2.z"})
    with ActsCsvSource(path) as src:
        batch = stage(src.read(0, 1), Context(str(path), 0, Accounting()))
    assert {"barrel", "barrel2"} <= set(batch.fields)
    assert "barrel0" not in batch.fields and "barrel1" not in batch.fields
    assert ak.num(batch.barrel2, axis=1).tolist() == [0]
