"""RNTuple input through RootTreeSource, and the dtype/title accessors used by writeback."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import shared_file

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.sources.root_tree import RootTreeSource

NANO = "nanoaod/nanoAOD_2015_CMS_Open_Data_ttbar.root"


def _muons() -> ak.Array:
    return ak.zip(
        {
            "pt": ak.Array([[30.0, 12.5], [], [7.0], []]),
            "charge": ak.Array([[1, -1], [], [1], []]),
        }
    )


@pytest.fixture
def uproot_ntuple(tmp_path: Path) -> Path:
    """What uproot >= 5.7 writes for ``f[name] = dict``: an RNTuple with a record collection."""
    path = tmp_path / "nano_rntuple.root"
    with uproot.recreate(path) as f:
        f["Events"] = {
            "run": np.array([1, 1, 2, 2], np.uint32),
            "event": np.array([10, 11, 12, 13], np.uint64),
            "nMuon": np.array([2, 0, 1, 0], np.uint32),
            "Muon": _muons(),
            "PSWeight": ak.Array([[1.0, 0.5], [1.0, 0.5], [1.0, 0.5], [1.0, 0.5]]),
            "Jet_pt": ak.Array([[50.0], [40.0, 30.0], [], [20.0]]),
            "tag": ["a", "b", "c", "d"],
        }
    return path


def test_rntuple_reads_like_a_tree(uproot_ntuple: Path) -> None:
    with RootTreeSource(uproot_ntuple) as src:
        assert src.tree_name == "Events"
        assert src.num_events == 4
        assert set(src.collection_names()) == {"Muon", "PSWeight", "Jet"}
        assert src.counters == {"Muon": "nMuon"}
        assert "tag" in src.skipped
        assert src.branch_of("Muon.pt") == "Muon_pt"
        batch = src.read(1, 4)
        assert batch.entry.tolist() == [1, 2, 3]
        assert batch.Muon.pt.tolist() == [[], [7.0], []]
        assert batch.Muon.charge.tolist() == [[], [1], []]
        assert batch.Jet.pt.tolist() == [[40.0, 30.0], [], [20.0]]
        assert batch.PSWeight.value.tolist() == [[1.0, 0.5]] * 3
        assert src.dtype_of("nMuon") == np.uint32
        assert src.dtype_of("Muon.charge") == np.int64
        assert src.dtype_of("event") == np.uint64
        with pytest.raises(FileFormatError, match="tag"):
            src.read(0, 1, fields=["tag"])


def test_rntuple_untyped_collection_and_projections(tmp_path: Path) -> None:
    """ROOT's importer layout: ``_collection0`` members, read as NanoAOD-named branches."""
    path = tmp_path / "imported.root"
    members = ak.zip(
        {
            "Muon_pt": ak.Array([[5.0], [], [6.0, 7.0]]),
            "Muon_eta": ak.Array([[0.1], [], [0.2, 0.3]]),
        }
    )
    with uproot.recreate(path) as f:
        f["Events"] = {"nMuon": np.array([1, 0, 2], np.uint32), "_collection0": members}
    with RootTreeSource(path, tree="Events") as src:
        assert src.collection_names() == ["Muon"]
        assert src.counters == {"Muon": "nMuon"}
        batch = src.read(0, 3)
        assert batch.Muon.pt.tolist() == [[5.0], [], [6.0, 7.0]]
        assert batch.Muon.eta.tolist() == [[0.1], [], [0.2, 0.3]]


def test_missing_tree_lists_trees(uproot_ntuple: Path) -> None:
    with pytest.raises(KeyInFileError, match="Events"):
        RootTreeSource(uproot_ntuple, tree="Event")


def test_dtype_and_title_of_real_nanoaod() -> None:
    with RootTreeSource(shared_file(NANO)) as src:
        assert src.dtype_of("nJet") == np.uint32
        assert src.dtype_of("Jet.pt") == np.float32
        assert src.dtype_of("Jet.nConstituents") == np.uint8
        assert src.dtype_of("PSWeight.value") == np.float32
        assert src.dtype_of("event") == np.uint64
        assert src.dtype_of("Jet.pt").isnative
        assert src.title_of("nJet").startswith("slimmedJets")
        assert src.title_of("Jet.pt") == "pt"
        with pytest.raises(KeyInFileError, match=r"Jet\.pt"):
            src.dtype_of("Jet.ptt")
