"""Four-vector fields a model does not output: written as NanoAOD has them, or an error."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import pytest
import uproot

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.toys.nanoaod import write_toy_nanoaod
from hitprep.writeback import writeback
from hitprep.writeback.fourvector import completion, nanoaod_float


def test_completion_rules() -> None:
    assert completion("Muon", ["pt", "eta", "phi"], ["pt", "mass"]) == (
        ("mass", float(nanoaod_float(0.1056583755)[0])),
    )
    assert completion("Photon", ["pt", "eta", "phi"], []) == (("mass", 0.0),)
    assert completion("Jet", ["pt", "btagDeepFlavB"], ["pt", "eta", "phi", "mass"]) == (
        ("eta", None),
        ("phi", None),
        ("mass", None),
    )
    assert completion("MyScores", ["score"], []) == ()  # not a NanoAOD four-vector collection
    with pytest.raises(ConfigError, match=r"Tau has mass .* add 'mass' to the outputs"):
        completion("Tau", ["pt", "eta", "phi"], ["pt", "eta", "phi"])


def _job(collection: str, outputs: list[str]) -> Job:
    model = {
        "collection": collection,
        "conditioning": "GenJet",
        "inputs": ["pt", "eta", "phi"],
        "outputs": outputs,
        "generator": "hitprep.writeback.toy_model:identity",
    }
    return Job.from_dict({"writeback": {"passthrough": ["GenJet"]}, "model": [model]})


def test_jet_mass_comes_from_its_gen_jet(tmp_path: Path) -> None:
    toy = write_toy_nanoaod(tmp_path / "toy.root", 30, seed=2)
    out = tmp_path / "out.root"
    writeback(_job("Jet", ["pt", "eta", "phi"]), toy, out)
    with uproot.open(out) as f:
        events = f["Events"].arrays(["Jet_mass", "GenJet_mass", "Jet_pt"])
        assert f["Events"]["Jet_mass"].typename == "float[]"
    assert ak.array_equal(events["Jet_mass"], events["GenJet_mass"])
    assert ak.sum(ak.num(events["Jet_mass"])) > 0


def test_a_missing_component_nobody_has_is_an_error_before_writing(tmp_path: Path) -> None:
    toy = write_toy_nanoaod(tmp_path / "toy.root", 5, seed=2)
    out = tmp_path / "out.root"
    model = {
        "collection": "Tau",
        "conditioning": "PSWeight",  # no mass to take
        "inputs": ["value"],
        "outputs": ["pt", "eta", "phi"],
        "generator": "hitprep.writeback.toy_model:identity",
    }
    with pytest.raises(ConfigError, match="model for Tau: NanoAOD's Tau has mass"):
        writeback(Job.from_dict({"writeback": {}, "model": [model]}), toy, out)
    assert not out.exists()
