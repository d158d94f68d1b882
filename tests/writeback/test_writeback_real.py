"""Writeback on real CMS open data (NanoAOD 2015 ttbar, 200 events)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import shared_file

from hitprep.config import Job, load_job
from hitprep.sources.root_tree import RootTreeSource
from hitprep.writeback import writeback

NANO = "nanoaod/nanoAOD_2015_CMS_Open_Data_ttbar.root"


@pytest.fixture(scope="module")
def nano() -> Path:
    return shared_file(NANO)


@pytest.fixture(scope="module")
def identity_all(nano: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """Every collection through the identity model, every event field kept; chunks of 199 + 1."""
    with RootTreeSource(nano) as src:
        collections = src.collection_names()
    raw = {
        "source": {"tree": "Events", "step": 199},
        "writeback": {"passthrough": ["*"]},
        "model": [
            {"collection": c, "generator": "hitprep.writeback.toy_model:identity"}
            for c in collections
        ],
    }
    out = tmp_path_factory.mktemp("identity") / "identity.root"
    summary = writeback(Job.from_dict(raw, origin="identity"), nano, out)
    return out, summary


def test_identity_round_trip_equals_input_branch_for_branch(
    nano: Path, identity_all: tuple[Path, Any]
) -> None:
    out, summary = identity_all
    assert summary.events_read == summary.events_written == 200
    with uproot.open(nano) as fin, uproot.open(out) as fout:
        tin, tout = fin["Events"], fout["Events"]
        assert tout.num_entries == tin.num_entries == 200
        names_in = [b.name for b in tin.branches]
        assert sorted(names_in) == sorted(b.name for b in tout.branches)
        assert len(names_in) == 947
        a = tin.arrays(library="ak")
        b = tout.arrays(library="ak")
        for name in names_in:
            assert tout[name].typename == tin[name].typename, name
            assert tout[name].title == tin[name].title, name
            assert ak.type(b[name]) == ak.type(a[name]), name
            assert ak.array_equal(b[name], a[name], equal_nan=True), name
            count = tin[name].count_branch
            if count is not None:
                assert tout[name].count_branch.name == count.name, name
        # counters are NanoAOD's uint32 and agree with the lists
        for counter in ("nJet", "nMuon", "nElectron", "nGenPart", "nPSWeight", "nLHEPdfWeight"):
            assert tout[counter].typename == "uint32_t"
            np.testing.assert_array_equal(b[counter], a[counter])
        assert int(ak.sum(b["nMuon"] == 0)) == 160  # events without muons are kept in place


def test_identity_provenance(identity_all: tuple[Path, Any]) -> None:
    out, _ = identity_all
    with uproot.open(out) as f:
        prov = json.loads(str(f["hitprep_provenance"]))
    accounting = json.loads(prov["accounting"])
    assert accounting["events_read"] == 200
    assert accounting["events_written"] == 200
    assert accounting["objects_written"]["Jet"] == 537
    assert json.loads(prov["inputs"])[0]["events"] == 200
    assert '"model"' in prov["job_resolved"]


@pytest.fixture(scope="module")
def flashsim(nano: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("flashsim")
    job = load_job("nanoaod_flashsim")
    runs = {}
    for name, kwargs in {
        "one": {},
        "blocks": {"upsample": 3, "order": "blocks", "step": 64},
        "adjacent": {"upsample": 3, "order": "adjacent", "step": 64},
        "step33": {"step": 33},
    }.items():
        out = folder / f"{name}.root"
        writeback(job, nano, out, **kwargs)
        with uproot.open(out) as f:
            runs[name] = f["Events"].arrays(library="np")
    with uproot.open(nano) as f:
        runs["input"] = f["Events"].arrays(
            ["event", "nGenJet", "nGenPart", "GenPart_pdgId", "GenPart_status", "GenJet_pt"],
            library="np",
        )
    return runs


def _gen_muons(source: dict[str, Any]) -> np.ndarray:
    return np.array(
        [
            int(np.sum((np.abs(p) == 13) & (s == 1)))
            for p, s in zip(source["GenPart_pdgId"], source["GenPart_status"], strict=True)
        ]
    )


def test_flashsim_preset_structure_on_real_data(flashsim: dict[str, Any]) -> None:
    source, out = flashsim["input"], flashsim["one"]
    np.testing.assert_array_equal(out["nJet"], source["nGenJet"])
    np.testing.assert_array_equal(out["nGenJet"], source["nGenJet"])
    np.testing.assert_array_equal(out["nMuon"], _gen_muons(source))
    assert out["nJet"].dtype == np.uint32
    assert out["Jet_pt"][0].dtype == np.float32  # the input's reco Jet_pt dtype
    assert out["Muon_charge"][0].dtype == np.int32
    np.testing.assert_array_equal(out["event"], source["event"])
    for idx, pdg, status in zip(
        out["Muon_genPartIdx"], source["GenPart_pdgId"], source["GenPart_status"], strict=True
    ):
        assert np.all(np.abs(pdg[idx]) == 13)
        assert np.all(status[idx] == 1)
    for idx, n in zip(out["Jet_genJetIdx"], out["nJet"], strict=True):
        assert idx.tolist() == list(range(n))
    ratio = np.concatenate(out["Jet_pt"]) / np.concatenate(source["GenJet_pt"])
    assert 0.9 < np.median(ratio) < 1.05
    btag = np.concatenate(out["Jet_btagDeepFlavB"])
    assert np.all((btag >= 0) & (btag <= 1))


@pytest.mark.parametrize("order", ["blocks", "adjacent"])
def test_flashsim_upsampling_on_real_data(flashsim: dict[str, Any], order: str) -> None:
    source, out = flashsim["input"], flashsim[order]
    n = len(source["event"])
    assert len(out["event"]) == 3 * n
    copy_of = np.tile(np.arange(n), 3) if order == "blocks" else np.repeat(np.arange(n), 3)
    np.testing.assert_array_equal(out["nJet"], source["nGenJet"][copy_of])
    np.testing.assert_array_equal(out["nMuon"], _gen_muons(source)[copy_of])
    assert len(np.unique(out["event"])) == 3 * n
    np.testing.assert_array_equal(out["event"] % 10**9, source["event"][copy_of])
    # copies share the gen event but not the noise
    first, second = (0, n) if order == "blocks" else (0, 1)
    assert np.array_equal(out["GenJet_pt"][first], out["GenJet_pt"][second])
    assert not np.array_equal(out["Jet_pt"][first], out["Jet_pt"][second])


def _flat(values: np.ndarray) -> np.ndarray:
    return np.concatenate(values) if values.dtype == object else values


def test_result_does_not_depend_on_chunk_size(flashsim: dict[str, Any]) -> None:
    """Noise is addressed by output row, so chunking changes nothing."""
    a, b = flashsim["one"], flashsim["step33"]
    for name in ("nJet", "Jet_pt", "Jet_btagDeepFlavB", "Muon_pt", "Muon_charge", "event"):
        np.testing.assert_array_equal(_flat(a[name]), _flat(b[name]))
