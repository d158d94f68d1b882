from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.sources import detect_format, open_source
from hitprep.sources import root_tree as root_tree_module
from hitprep.sources.root_tree import RootTreeSource

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NANOAOD = SHARED / "nanoaod" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
GEANT4 = SHARED / "geant4" / "uproot-from-geant4.root"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test file {path} is not available")
    return path


@pytest.fixture(scope="module")
def nano() -> Any:
    with RootTreeSource(_need(NANOAOD)) as src:
        yield src


@pytest.fixture(scope="module")
def nano_tree() -> Any:
    with uproot.open(_need(NANOAOD)) as f:
        yield f["Events"]


# --- NanoAOD -----------------------------------------------------------------------------


def test_nanoaod_tree_and_entries(nano: RootTreeSource) -> None:
    assert nano.format_name == "root_tree"
    assert nano.tree_name == "Events"
    assert nano.num_events == 200
    assert "events=200" in repr(nano)


def test_nanoaod_field_listing(nano: RootTreeSource, nano_tree: Any) -> None:
    fields = nano.fields()
    assert len(fields) == len(set(fields))
    assert fields[:3] == ["run", "luminosityBlock", "event"]
    for name in ["Muon.pt", "Muon.eta", "Jet.pt", "Jet.btagDeepB", "CaloMET_pt", "PSWeight.value"]:
        assert name in fields
    for name in ["nMuon", "nJet", "Muon_pt", "Muon.value", "entry"]:
        assert name not in fields
    assert nano.counters["Muon"] == "nMuon"
    assert nano.counters["Jet"] == "nJet"
    assert nano.branch_of("Muon.pt") == "Muon_pt"
    assert nano.branch_of("PSWeight.value") == "PSWeight"
    # every branch is a field or a counter; NanoAOD has nothing non-numeric
    jagged = [b.name for b in nano_tree.branches if isinstance(b.interpretation, uproot.AsJagged)]
    counters = {b.count_branch.name for b in nano_tree.branches if b.count_branch is not None}
    assert len(fields) == len(nano_tree.branches) - len(counters)
    assert len([f for f in fields if "." in f]) == len(jagged)
    assert set(nano.counters.values()) == counters
    assert nano.skipped == {}


def test_nanoaod_counts_equal_counters(nano: RootTreeSource, nano_tree: Any) -> None:
    batch = nano.read(0, nano.num_events, fields=["Muon.pt", "Muon.charge", "Jet.pt"])
    direct = nano_tree.arrays(["nMuon", "nJet"], library="np")
    np.testing.assert_array_equal(ak.to_numpy(ak.num(batch.Muon, axis=1)), direct["nMuon"])
    np.testing.assert_array_equal(ak.to_numpy(ak.num(batch.Jet, axis=1)), direct["nJet"])
    assert ak.sum(ak.num(batch.Jet, axis=1)) > 0


def test_nanoaod_values_equal_uproot(nano: RootTreeSource, nano_tree: Any) -> None:
    names = ["run", "event", "HLT_IsoMu27", "HTXS_njets25", "Muon.pt", "Jet.eta", "Jet.jetId"]
    batch = nano.read(0, nano.num_events, fields=names)
    direct = nano_tree.arrays(
        ["run", "event", "HLT_IsoMu27", "HTXS_njets25", "Muon_pt", "Jet_eta", "Jet_jetId"],
        library="ak",
    )
    assert batch.fields == ["entry", "run", "event", "HLT_IsoMu27", "HTXS_njets25", "Muon", "Jet"]
    assert ak.array_equal(batch.run, direct.run)
    assert ak.array_equal(batch.event, direct.event)
    assert ak.array_equal(batch.HLT_IsoMu27, direct.HLT_IsoMu27)
    assert ak.array_equal(batch.Muon.pt, direct.Muon_pt)
    assert ak.array_equal(batch.Jet.eta, direct.Jet_eta)
    assert ak.array_equal(batch.Jet.jetId, direct.Jet_jetId)
    # dtypes are kept as stored
    assert ak.to_numpy(batch.event).dtype == np.uint64
    assert ak.to_numpy(batch.HLT_IsoMu27).dtype == np.bool_
    assert ak.to_numpy(batch.HTXS_njets25).dtype == np.uint8
    assert ak.to_numpy(ak.flatten(batch.Jet.jetId)).dtype == np.int32
    assert str(batch.Muon.type.content) == "var * {pt: float32}"


def test_nanoaod_full_read_has_everything(nano: RootTreeSource) -> None:
    batch = nano.read(0, 20)
    assert len(batch) == 20
    assert set(nano.collection_names()) <= set(batch.fields)
    assert len(ak.fields(batch.Muon)) == 57
    assert len(batch.fields) == 1 + len([f for f in nano.fields() if "." not in f]) + len(
        nano.collection_names()
    )


def test_nanoaod_chunked_iteration_concatenates(nano: RootTreeSource) -> None:
    names = ["run", "event", "Muon.pt", "Muon.eta", "Electron.pt", "Jet.pt", "PSWeight.value"]
    full = nano.read(0, nano.num_events, fields=names)
    chunks = list(nano.iterate(step=7, fields=names))
    assert [len(c) for c in chunks] == [7] * 28 + [4]
    joined = ak.concatenate(chunks)
    assert ak.array_equal(joined, full)
    np.testing.assert_array_equal(ak.to_numpy(joined.entry), np.arange(200))


def test_nanoaod_entry_range(nano: RootTreeSource, nano_tree: Any) -> None:
    batch = nano.read(13, 20, fields=["event", "Jet.pt"])
    assert batch.entry.tolist() == list(range(13, 20))
    assert ak.to_numpy(batch.entry).dtype == np.int64
    direct = nano_tree.arrays(["event", "Jet_pt"], entry_start=13, entry_stop=20, library="ak")
    assert ak.array_equal(batch.event, direct.event)
    assert ak.array_equal(batch.Jet.pt, direct.Jet_pt)
    empty = nano.read(5, 5, fields=["Jet.pt"])
    assert len(empty) == 0
    assert empty.fields == ["entry", "Jet"]


def test_nanoaod_reads_only_requested_branches(
    nano: RootTreeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    original = root_tree_module.read_branches

    def spy(tree: Any, path: Path, branches: list[str], start: int, stop: int) -> Any:
        seen.append(list(branches))
        return original(tree, path, branches, start, stop)

    monkeypatch.setattr(root_tree_module, "read_branches", spy)
    batch = nano.read(0, 10, fields=["run", "Muon.pt"])
    assert seen == [["run", "Muon_pt", "nMuon"]]
    assert batch.fields == ["entry", "run", "Muon"]
    assert ak.fields(batch.Muon) == ["pt"]


def test_nanoaod_collections_restrict(nano_tree: Any) -> None:
    with RootTreeSource(_need(NANOAOD), collections=["Muon", "Jet"]) as src:
        assert src.collection_names() == ["Jet", "Muon"]  # tree order
        fields = src.fields()
        assert "Muon.pt" in fields
        assert "Electron.pt" not in fields
        assert "run" in fields
        assert "nElectron" not in fields  # still a counter, never an event field
        assert "Electron_pt" in src.skipped
        assert "nElectron" in src.skipped
        batch = src.read(0, 5)
        assert {"Muon", "Jet"} <= set(batch.fields)
        assert "Electron" not in batch.fields


def test_missing_field_lists_nearest(nano: RootTreeSource) -> None:
    with pytest.raises(KeyInFileError) as err:
        nano.read(0, 5, fields=["Muon.ptt"])
    message = str(err.value)
    assert "'Muon.pt'" in message
    assert str(NANOAOD) in message


def test_missing_tree_lists_trees() -> None:
    with pytest.raises(KeyInFileError) as err:
        RootTreeSource(_need(NANOAOD), tree="Event")
    assert "'Events'" in str(err.value)


def test_unknown_collection_lists_nearest() -> None:
    with pytest.raises(KeyInFileError) as err:
        RootTreeSource(_need(NANOAOD), collections=["Muons"])
    assert "'Muon'" in str(err.value)


def test_bad_entry_range(nano: RootTreeSource) -> None:
    with pytest.raises(ValueError, match="entry range"):
        nano.read(-1, 5)
    with pytest.raises(ValueError, match="entry range"):
        nano.read(10, 201)
    with pytest.raises(ValueError, match="entry range"):
        nano.read(10, 5)


def test_truncated_file(tmp_path: Path) -> None:
    data = _need(NANOAOD).read_bytes()
    cut = tmp_path / "half.root"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError) as err:
        src = RootTreeSource(cut)
        src.read(0, src.num_events)
    assert str(cut) in str(err.value)


def test_not_root_and_missing_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file\n" * 20)
    with pytest.raises(FileFormatError, match=r"notes\.root"):
        RootTreeSource(text)
    with pytest.raises(FileFormatError, match="no such file"):
        RootTreeSource(tmp_path / "absent.root")


def test_registry_opens_root_tree() -> None:
    assert detect_format(_need(NANOAOD)) == "root_tree"
    with open_source(NANOAOD, tree="Events") as src:
        assert isinstance(src, RootTreeSource)
        assert src.num_events == 200


# --- Geant4 example file: several flat trees, string branches ----------------------------


def test_geant4_several_trees_need_a_choice() -> None:
    with pytest.raises(ConfigError) as err:
        RootTreeSource(_need(GEANT4))
    for name in ["Details", "HitStrips", "GeneratedTracks", "TrackedRays"]:
        assert name in str(err.value)


def test_geant4_flat_tree_values() -> None:
    with RootTreeSource(_need(GEANT4), tree="HitStrips") as src, uproot.open(GEANT4) as f:
        assert src.num_events == 4808
        assert src.fields() == ["Event", "Laystrip", "Energy"]
        assert src.collection_names() == []
        batch = src.read(0, src.num_events)
        direct = f["HitStrips"].arrays(library="np")
        for name in ["Event", "Laystrip", "Energy"]:
            np.testing.assert_array_equal(ak.to_numpy(batch[name]), direct[name])
        chunks = list(src.iterate(step=1000, fields=["Energy"]))
        assert len(chunks) == 5
        assert ak.array_equal(ak.concatenate(chunks).Energy, batch.Energy)


def test_geant4_string_branches_are_skipped() -> None:
    with RootTreeSource(_need(GEANT4), tree="Details") as src:
        assert src.fields() == ["timeperray", "totaltime", "nrays", "numgood", "numvalid"]
        assert set(src.skipped) == {"opts", "gdml"}
        assert "char*" in src.skipped["opts"]
        assert src.read(0, 1).nrays.tolist() == [1000]
        with pytest.raises(FileFormatError, match="'opts'"):
            src.read(0, 1, fields=["opts"])


# --- files written here: grouping rules and broken data ----------------------------------


def _write_tree(path: Path, branches: dict[str, Any], chunks: list[dict[str, Any]]) -> Path:
    with uproot.recreate(path) as f:
        tree = f.mktree("t", branches)
        for chunk in chunks:
            tree.extend(chunk)
    return path


def test_grouping_rules(tmp_path: Path) -> None:
    path = _write_tree(
        tmp_path / "groups.root",
        {"eventNumber": np.int64, "x": "var * float32", "Hit": ak.zip({"e": [[1.0]]}).type.content},
        [
            {
                "eventNumber": np.array([7, 8]),
                "x": ak.Array([[1.0, 2.0], []]),
                "Hit": ak.zip({"e": ak.Array([[0.5], [1.5, 2.5]])}),
            }
        ],
    )
    with RootTreeSource(path) as src:
        # uproot wrote counters nx and nHit; neither is a field
        assert src.fields() == ["eventNumber", "x.value", "Hit.e"]
        assert src.counters == {"Hit": "nHit", "x": "nx"}
        batch = src.read(0, 2)
        assert batch.x.value.tolist() == [[1.0, 2.0], []]
        assert batch.Hit.e.tolist() == [[0.5], [1.5, 2.5]]
        assert batch.eventNumber.tolist() == [7, 8]


def test_declared_prefix_with_underscore(tmp_path: Path) -> None:
    path = _write_tree(
        tmp_path / "ecal.root",
        {"ecal_hits_x": "var * float64", "ecal_hits_E": "var * float64"},
        [{"ecal_hits_x": ak.Array([[1.0], [2.0, 3.0]]), "ecal_hits_E": ak.Array([[4.0], [5, 6]])}],
    )
    with RootTreeSource(path) as src:
        assert src.fields() == ["ecal.hits_x", "ecal.hits_E"]
    with RootTreeSource(path, collections=["ecal_hits"]) as src:
        assert src.fields() == ["ecal_hits.x", "ecal_hits.E"]
        assert src.read(1, 2).ecal_hits.E.tolist() == [[5.0, 6.0]]


def test_unequal_lengths_in_a_collection(tmp_path: Path) -> None:
    pt = ak.Array([[1.0], [2.0, 3.0], [], [4.0, 5.0], [6.0]])
    eta = ak.Array([[1.0], [2.0, 3.0], [], [4.0], [6.0]])
    path = _write_tree(
        tmp_path / "unequal.root",
        {"Muon_pt": "var * float64", "Muon_eta": "var * float64"},
        [{"Muon_pt": pt, "Muon_eta": eta}],
    )
    with RootTreeSource(path) as src:
        assert src.fields() == ["Muon.pt", "Muon.eta"]
        assert src.read(0, 3).Muon.eta.tolist() == [[1.0], [2.0, 3.0], []]
        with pytest.raises(FileFormatError) as err:
            src.read(0, 5)
        message = str(err.value)
        assert str(path) in message
        assert "'Muon_eta'" in message
        assert "entry 3" in message
        with pytest.raises(FileFormatError, match="entry 3"):
            src.read(2, 5)


def test_counter_disagreeing_with_lists(tmp_path: Path) -> None:
    path = _write_tree(
        tmp_path / "counter.root",
        {"nHit": np.int32, "Hit_e": "var * float64"},
        [{"nHit": np.array([1, 2, 2]), "Hit_e": ak.Array([[1.0], [2.0, 3.0], [4.0]])}],
    )
    with RootTreeSource(path) as src:
        assert src.fields() == ["Hit.e"]
        assert src.counters["Hit"] == "nHit"
        with pytest.raises(FileFormatError, match=r"'Hit_e'.*entry 2.*'nHit'"):
            src.read(0, 3)


def test_corrupt_basket_fails_at_read(tmp_path: Path) -> None:
    chunk = {"x": np.arange(100, dtype=np.float64)}
    path = _write_tree(tmp_path / "two.root", {"x": np.float64}, [chunk, chunk])
    with uproot.open(path) as f:
        branch = f["t"]["x"]
        seek = int(branch.member("fBasketSeek")[1])
        nbytes = int(branch.member("fBasketBytes")[1])
    data = bytearray(path.read_bytes())
    data[seek : seek + nbytes] = b"\xff" * nbytes
    bad = tmp_path / "bad.root"
    bad.write_bytes(bytes(data))
    with RootTreeSource(bad) as src:
        assert src.read(0, 100).x.tolist() == list(range(100))
        with pytest.raises(FileFormatError) as err:
            src.read(90, 200)
    assert str(bad) in str(err.value)
    assert "90:200" in str(err.value)
