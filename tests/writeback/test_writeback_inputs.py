"""Inputs other than a NanoAOD TTree: an RNTuple (what uproot >= 5.7 writes by default)."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.config import Job, load_job
from hitprep.errors import ConfigError
from hitprep.writeback import writeback


@pytest.fixture
def ntuple(tmp_path: Path) -> Path:
    path = tmp_path / "nano_rntuple.root"
    counts = np.array([2, 0, 3, 1, 0])
    n = int(counts.sum())
    genjet = ak.unflatten(
        ak.zip(
            {
                "pt": np.linspace(20, 90, n).astype(np.float32),
                "eta": np.linspace(-2, 2, n).astype(np.float32),
                "phi": np.linspace(-3, 3, n).astype(np.float32),
                "mass": np.full(n, 5.0, np.float32),
                "hadronFlavour": np.array([5, 0, 4, 0, 5, 0], np.uint8),
            }
        ),
        counts,
    )
    with uproot.recreate(path) as f:
        f["Events"] = {
            "run": np.ones(5, np.uint32),
            "luminosityBlock": np.ones(5, np.uint32),
            "event": np.arange(1, 6, dtype=np.uint64),
            "nGenJet": counts.astype(np.uint32),
            "GenJet": genjet,
        }
    with uproot.open(path) as f:
        assert f.classnames()["Events;1"] == "ROOT::RNTuple"
    return path


def test_rntuple_input_gives_a_nanoaod_ttree(ntuple: Path, tmp_path: Path) -> None:
    raw = {
        "writeback": {"passthrough": ["GenJet"]},
        "model": [
            {
                "collection": "Jet",
                "conditioning": "GenJet",
                "inputs": ["pt", "eta", "phi", "mass", "hadronFlavour"],
                "outputs": ["pt", "eta", "phi", "mass", "btagDeepFlavB"],
                "link": "genJetIdx",
                "generator": "hitprep.writeback.toy_model:jets",
                "noise": 5,
            }
        ],
        "preprocess": {
            "GenJet": {"pt": ["log"], "mass": ["log1p"]},
            "Jet": {"pt": ["log"], "mass": ["log1p"]},
        },
    }
    out = tmp_path / "from_rntuple.root"
    summary = writeback(Job.from_dict(raw), ntuple, out, upsample=2)
    assert summary.events_written == 10
    with uproot.open(out) as f:
        assert f.classnames()["Events;1"] == "TTree"
        tree = f["Events"]
        assert tree["nJet"].typename == "uint32_t"  # the input's nGenJet type
        assert tree["nGenJet"].typename == "uint32_t"
        assert tree["Jet_pt"].typename == "float[]"  # conditioning field's dtype
        assert tree["Jet_btagDeepFlavB"].typename == "float[]"  # new field: float32
        arrays = tree.arrays(library="np")
    assert arrays["nJet"].tolist() == [2, 0, 3, 1, 0] * 2
    assert [list(i) for i in arrays["Jet_genJetIdx"][:4]] == [[0, 1], [], [0, 1, 2], [0]]


def test_other_source_formats_are_refused(ntuple: Path, tmp_path: Path) -> None:
    job = load_job("nanoaod_flashsim", overrides=['source.format="km3net_hdf5"'])
    with pytest.raises(ConfigError, match="writeback reads ROOT files"):
        writeback(job, ntuple, tmp_path / "out.root")
