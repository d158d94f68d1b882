from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.sources import km3net_offline as km3net_offline_module
from hitprep.sources import open_source
from hitprep.sources.km3net_offline import KM3NeTOfflineSource

km3net_testdata = pytest.importorskip("km3net_testdata")

NUMUCC = "offline/numucc.root"
OFFLINE = "offline/km3net_offline.root"
CALIBRATED = (
    "offline/mcv6.0.gsg_muon_highE-CC_50-500GeV.km3sim.jterbr00008357.jorcarec.aanet.905.root"
)
V9 = (
    "offline/KM3NeT_00000049_00011291.mc.gsg_neutrinos.km3sim_sirene_merged.jterbr"
    ".jppmuon_jppshower_static.offline.v9.2.sample.root"
)
MUON_CC = "offline/muon_cc_events.root"
EMPTY = "offline/empty_events.root"
ALL_FILES = [NUMUCC, OFFLINE, CALIBRATED, V9, MUON_CC, EMPTY]

EVENT_FIELDS = [
    "event_id",
    "run_id",
    "det_id",
    "mc_id",
    "mc_run_id",
    "frame_index",
    "trigger_mask",
    "trigger_counter",
    "overlays",
    "mc_time",
    "timestamp",
    "nanoseconds",
    "weight_w1",
    "weight_w2",
    "weight_w3",
    "weight_w4",
]
HITS = ["hits.dom_id", "hits.channel_id", "hits.time", "hits.tot", "hits.triggered"]
CALIB = [f"hits.{p}_{c}" for p in ("pos", "dir") for c in "xyz"]
MC_HITS = ["mc_hits.pmt_id", "mc_hits.time", "mc_hits.a", "mc_hits.origin"]
TRACK_GEOMETRY = [f"{p}_{c}" for p in ("pos", "dir") for c in "xyz"]
MC_TRACKS = [
    "mc_tracks.id",
    "mc_tracks.type",
    "mc_tracks.energy",
    *[f"mc_tracks.{g}" for g in TRACK_GEOMETRY],
    "mc_tracks.time",
    "mc_tracks.length",
]
TRACKS = [
    "tracks.id",
    "tracks.energy",
    *[f"tracks.{g}" for g in TRACK_GEOMETRY],
    "tracks.time",
    "tracks.length",
    "tracks.likelihood",
    "tracks.rec_type",
]


def _path(name: str) -> Path:
    return Path(km3net_testdata.data_path(name))


def _tree(name: str) -> Any:
    return uproot.open(_path(name))["E"]


def test_field_names_uncalibrated_file() -> None:
    with KM3NeTOfflineSource(_path(NUMUCC)) as src:
        assert src.format_name == "km3net_offline"
        assert src.num_events == 10
        assert src.fields() == [
            *EVENT_FIELDS,
            *HITS,
            *MC_HITS,
            *MC_TRACKS,
            "mc_tracks.bjorkeny",
            *TRACKS,
        ]


def test_calibrated_file_offers_positions() -> None:
    with KM3NeTOfflineSource(_path(CALIBRATED)) as src:
        assert src.fields()[16 : 16 + len(HITS) + 6] == HITS + CALIB
        batch = src.read(0, 20, fields=CALIB)
    direct = _tree(CALIBRATED).arrays(
        [f"hits.{p}.{c}" for p in ("pos", "dir") for c in "xyz"], entry_stop=20
    )
    for p in ("pos", "dir"):
        for c in "xyz":
            assert ak.array_equal(batch.hits[f"{p}_{c}"], direct[f"hits.{p}.{c}"])
    assert ak.any(batch.hits.pos_x != 0)


def test_old_file_without_usr_has_no_bjorkeny() -> None:
    with KM3NeTOfflineSource(_path(OFFLINE)) as src:
        assert "mc_tracks.bjorkeny" not in src.fields()
        assert "hits.pos_x" not in src.fields()  # stored, but all zero
        assert "mc_tracks.energy" in src.fields()


@pytest.mark.parametrize("name", [NUMUCC, OFFLINE, V9])
def test_hit_counts_equal_counter(name: str) -> None:
    tree = _tree(name)
    n_hits = tree["Evt/hits"].array(uproot.AsDtype(">i4"), library="np")
    n_mc_hits = tree["Evt/mc_hits"].array(uproot.AsDtype(">i4"), library="np")
    n_trks = tree["Evt/trks"].array(uproot.AsDtype(">i4"), library="np")
    with KM3NeTOfflineSource(_path(name)) as src:
        batch = src.read(0, src.num_events, fields=["hits.time", "mc_hits.a", "tracks.energy"])
    np.testing.assert_array_equal(ak.to_numpy(ak.num(batch.hits, axis=1)), n_hits)
    np.testing.assert_array_equal(ak.to_numpy(ak.num(batch.mc_hits, axis=1)), n_mc_hits)
    np.testing.assert_array_equal(ak.to_numpy(ak.num(batch.tracks, axis=1)), n_trks)
    assert n_hits.sum() > 0


@pytest.mark.parametrize("name", [NUMUCC, OFFLINE])
def test_values_match_uproot(name: str) -> None:
    tree = _tree(name)
    direct = tree.arrays(
        [
            "id",
            "run_id",
            "frame_index",
            "trigger_counter",
            "mc_t",
            "t.fSec",
            "t.fNanoSec",
            "hits.dom_id",
            "hits.channel_id",
            "hits.t",
            "hits.tot",
            "hits.trig",
            "mc_hits.pmt_id",
            "mc_hits.t",
            "mc_hits.a",
            "mc_hits.origin",
            "mc_trks.E",
            "mc_trks.type",
            "mc_trks.len",
            "trks.lik",
            "trks.rec_type",
            "trks.dir.z",
        ]
    )
    with KM3NeTOfflineSource(_path(name)) as src:
        batch = src.read(0, src.num_events)
    pairs = {
        "event_id": "id",
        "run_id": "run_id",
        "frame_index": "frame_index",
        "trigger_counter": "trigger_counter",
        "mc_time": "mc_t",
        "timestamp": "t.fSec",
        "nanoseconds": "t.fNanoSec",
    }
    for ours, theirs in pairs.items():
        assert ak.array_equal(batch[ours], direct[theirs]), ours
        assert ak.to_numpy(batch[ours]).dtype == ak.to_numpy(direct[theirs]).dtype
    collection_pairs = {
        ("hits", "dom_id"): "hits.dom_id",
        ("hits", "channel_id"): "hits.channel_id",
        ("hits", "time"): "hits.t",
        ("hits", "tot"): "hits.tot",
        ("hits", "triggered"): "hits.trig",
        ("mc_hits", "pmt_id"): "mc_hits.pmt_id",
        ("mc_hits", "time"): "mc_hits.t",
        ("mc_hits", "a"): "mc_hits.a",
        ("mc_hits", "origin"): "mc_hits.origin",
        ("mc_tracks", "energy"): "mc_trks.E",
        ("mc_tracks", "type"): "mc_trks.type",
        ("mc_tracks", "length"): "mc_trks.len",
        ("tracks", "likelihood"): "trks.lik",
        ("tracks", "rec_type"): "trks.rec_type",
        ("tracks", "dir_z"): "trks.dir.z",
    }
    for (coll, field), theirs in collection_pairs.items():
        assert ak.array_equal(batch[coll][field], direct[theirs]), f"{coll}.{field}"


def test_weights() -> None:
    w = _tree(NUMUCC)["w"].array()
    assert set(ak.num(w, axis=1).tolist()) == {3}
    with KM3NeTOfflineSource(_path(NUMUCC)) as src:
        batch = src.read(0, 10, fields=["weight_w1", "weight_w2", "weight_w3", "weight_w4"])
    for i in range(3):
        np.testing.assert_array_equal(ak.to_numpy(batch[f"weight_w{i + 1}"]), ak.to_numpy(w[:, i]))
    assert np.isnan(ak.to_numpy(batch.weight_w4)).all()
    with KM3NeTOfflineSource(_path(OFFLINE)) as src:  # data: no weights at all
        assert np.isnan(ak.to_numpy(src.read(0, 10, fields=["weight_w1"]).weight_w1)).all()


def test_bjorkeny_from_usr() -> None:
    tree = _tree(NUMUCC)
    usr = tree["mc_trks.usr"].array().tolist()
    names = tree["mc_trks.usr_names"].array().tolist()
    expected = [
        [v[n.index("by")] if "by" in n else np.nan for v, n in zip(vs, ns, strict=True)]
        for vs, ns in zip(usr, names, strict=True)
    ]
    with KM3NeTOfflineSource(_path(NUMUCC)) as src:
        batch = src.read(0, 10, fields=["mc_tracks.bjorkeny", "mc_tracks.energy"])
    got = batch.mc_tracks.bjorkeny
    assert ak.num(got, axis=1).tolist() == [len(e) for e in expected]
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got)), np.concatenate(expected))
    first = ak.to_numpy(got[:, 0])
    assert np.all((first > 0) & (first < 1))  # the neutrino carries by in every event


def test_usr_values_without_names_give_nan() -> None:
    with KM3NeTOfflineSource(_path(V9)) as src:
        batch = src.read(0, src.num_events, fields=["mc_tracks.bjorkeny"])
    assert np.isnan(ak.to_numpy(ak.flatten(batch.mc_tracks.bjorkeny))).all()


@pytest.mark.parametrize(("name", "step"), [(NUMUCC, 3), (MUON_CC, 97), (V9, 7)])
def test_chunked_iteration_concatenates(name: str, step: int) -> None:
    with KM3NeTOfflineSource(_path(name)) as src:
        full = src.read(0, src.num_events)
        chunks = list(src.iterate(step=step))
    assert all(len(c) <= step for c in chunks)
    joined = ak.concatenate(chunks)
    assert ak.array_equal(joined, full, equal_nan=True)
    np.testing.assert_array_equal(ak.to_numpy(joined.entry), np.arange(len(full)))


def test_entry_range() -> None:
    with KM3NeTOfflineSource(_path(MUON_CC)) as src:
        part = src.read(500, 520, fields=["event_id", "mc_hits.time"])
        assert part.entry.tolist() == list(range(500, 520))
    direct = _tree(MUON_CC).arrays(["id", "mc_hits.t"], entry_start=500, entry_stop=520)
    assert ak.array_equal(part.event_id, direct["id"])
    assert ak.array_equal(part.mc_hits.time, direct["mc_hits.t"])


def test_reads_only_requested_branches(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    original = km3net_offline_module.read_branches

    def spy(tree: Any, path: Path, branches: list[str], start: int, stop: int) -> Any:
        seen.append(list(branches))
        return original(tree, path, branches, start, stop)

    with KM3NeTOfflineSource(_path(NUMUCC)) as src:
        monkeypatch.setattr(km3net_offline_module, "read_branches", spy)
        batch = src.read(0, 4, fields=["event_id", "hits.time", "mc_tracks.bjorkeny"])
    assert seen == [
        ["Evt/id", "Evt/hits/hits.t", "Evt/mc_trks/mc_trks.usr", "Evt/mc_trks/mc_trks.usr_names"]
    ]
    assert batch.fields == ["entry", "event_id", "hits", "mc_tracks"]
    assert ak.fields(batch.hits) == ["time"]


def test_empty_file() -> None:
    with KM3NeTOfflineSource(_path(EMPTY)) as src:
        assert src.num_events == 0
        assert list(src.iterate(step=5)) == []
        batch = src.read(0, 0)
    assert len(batch) == 0
    assert {"entry", "event_id", "hits", "mc_tracks"} <= set(batch.fields)


def test_unknown_field_lists_nearest() -> None:
    with (
        KM3NeTOfflineSource(_path(NUMUCC)) as src,
        pytest.raises(KeyInFileError, match=r"'hits\.time'"),
    ):
        src.read(0, 2, fields=["hits.t"])


def test_file_without_tree_e(tmp_path: Path) -> None:
    path = tmp_path / "other.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"x": np.float64}).extend({"x": np.zeros(3)})
    with pytest.raises(KeyInFileError, match="'Events'"):
        KM3NeTOfflineSource(path)


def test_truncated_file(tmp_path: Path) -> None:
    data = _path(NUMUCC).read_bytes()
    cut = tmp_path / "numucc_half.root"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError) as err:
        src = KM3NeTOfflineSource(cut)
        src.read(0, src.num_events)
    assert str(cut) in str(err.value)


@pytest.mark.parametrize("name", ALL_FILES)
def test_registry_opens_offline(name: str) -> None:
    with open_source(_path(name), format="km3net_offline") as src:
        assert isinstance(src, KM3NeTOfflineSource)
        assert src.num_events == _tree(name).num_entries
