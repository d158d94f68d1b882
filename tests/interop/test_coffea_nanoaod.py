"""coffea's NanoAODSchema opens hitprep's synthetic NanoAOD whole.

On the real CMS file (2015 ttbar, 200 events) and the toy, with and without upsampling:
every collection written opens as its coffea type, its four-vector equals the branches,
``matched_gen`` resolves (``Jet_genJetIdx`` -> GenJet, ``Muon_genPartIdx`` -> GenPart) to
the gen object the model was conditioned on, and each collection's count equals ``nX``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import shared_file

from hitprep.config import load_job
from hitprep.toys.nanoaod import write_toy_nanoaod
from hitprep.writeback import writeback
from hitprep.writeback.fourvector import FOUR_VECTOR, nanoaod_float

coffea_nanoevents = pytest.importorskip(
    "coffea.nanoevents", reason="coffea is absent (pip install 'hitprep[interop]')"
)

NANO = "nanoaod/nanoAOD_2015_CMS_Open_Data_ttbar.root"
WRITTEN_INDICES = ("Jet_genJetIdx", "Muon_genPartIdx")


def _input(kind: str, tmp: Path) -> Path:
    if kind == "cms":
        return shared_file(NANO)
    return write_toy_nanoaod(tmp / "toy_nano.root", 60, seed=5, trailing_without_muons=4)


@pytest.fixture(
    scope="module",
    params=[
        ("cms", 1, "blocks"),
        ("cms", 3, "blocks"),
        ("toy", 1, "blocks"),
        ("toy", 2, "adjacent"),
    ],
    ids=lambda p: f"{p[0]}-x{p[1]}-{p[2]}",
)
def synthetic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    kind, upsample, order = request.param
    tmp = tmp_path_factory.mktemp(f"coffea_{kind}")
    source = _input(kind, tmp)
    job = load_job(
        "nanoaod_flashsim",
        overrides=[f"writeback.upsample={upsample}", f"writeback.order={order}"],
    )
    out = tmp / "synthetic.root"
    writeback(job, source, out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = coffea_nanoevents.NanoEventsFactory.from_root(
            {str(out): "Events"}, schemaclass=coffea_nanoevents.NanoAODSchema, mode="eager"
        ).events()
    with uproot.open(out) as f:
        branches = f["Events"].arrays(library="ak")
    return events, branches, [str(w.message) for w in caught], upsample


def _collections(branches: ak.Array) -> list[str]:
    return [name[1:] for name in branches.fields if name.startswith("n") and name[1:2].isupper()]


def test_every_collection_opens_with_its_four_vector_and_count(synthetic: Any) -> None:
    events, branches, _, _ = synthetic
    written = _collections(branches)
    assert {"Jet", "Muon", "GenJet", "GenPart"} <= set(written)
    for coll in written:
        objects = events[coll]  # raises for a collection coffea cannot build
        np.testing.assert_array_equal(ak.to_numpy(ak.num(objects)), branches[f"n{coll}"])
        if coll not in FOUR_VECTOR:
            continue
        for component in ("pt", "eta", "phi", "mass"):
            assert ak.array_equal(
                objects[component], branches[f"{coll}_{component}"], check_parameters=False
            ), coll
        energy = ak.to_numpy(ak.flatten(objects.energy))  # a Lorentz vector per object
        assert len(energy) == int(np.sum(branches[f"n{coll}"]))
        moving = ak.to_numpy(ak.flatten(objects.pt)) > 0  # GenPart's incoming partons: pt 0
        assert np.all(np.isfinite(energy[moving])), coll


def test_muon_mass_is_stored_as_nanoaod_stores_it(synthetic: Any) -> None:
    events, _, _, _ = synthetic
    mass = ak.to_numpy(ak.flatten(events.Muon.mass))
    assert len(mass) > 0
    stored = nanoaod_float(0.1056583755)[0]  # PDG mass, float32 with a 10-bit mantissa
    np.testing.assert_array_equal(mass, stored)
    assert mass.dtype == np.float32


def test_the_muon_mass_written_is_one_cms_muons_carry() -> None:
    with uproot.open(shared_file(NANO)) as f:
        cms = ak.to_numpy(ak.flatten(f["Events"]["Muon_mass"].array()))
    # m_mu at NanoAOD's precision, and one 10-bit step above (the candidate's rounding noise)
    assert set(cms.tolist()) == {0.10565185546875, 0.105712890625}
    assert float(nanoaod_float(0.1056583755)[0]) == 0.10565185546875


def test_matched_gen_resolves_to_the_conditioning_object(synthetic: Any) -> None:
    events, branches, _, _ = synthetic
    jet_gen = events.Jet.matched_gen
    muon_gen = events.Muon.matched_gen
    for gen in (jet_gen, muon_gen):  # an index of -1 or past the end would give None
        assert not ak.any(ak.is_none(gen, axis=1))
    jet_gen, muon_gen = (ak.drop_none(gen, axis=1) for gen in (jet_gen, muon_gen))
    expected = branches["GenJet_pt"][branches["Jet_genJetIdx"]]
    assert ak.array_equal(jet_gen.pt, expected, check_parameters=False)
    pdg = ak.to_numpy(ak.flatten(muon_gen.pdgId))
    assert len(pdg) == int(np.sum(branches["nMuon"])) > 0
    assert set(np.abs(pdg).tolist()) == {13}
    assert set(ak.to_numpy(ak.flatten(muon_gen.status)).tolist()) == {1}
    gen_pt = ak.to_numpy(ak.flatten(muon_gen.pt)).astype(np.float64)
    reco_pt = ak.to_numpy(ak.flatten(events.Muon.pt)).astype(np.float64)
    assert 0.9 < float(np.median(reco_pt / gen_pt)) < 1.1  # a muon from its own gen muon


def test_written_cross_references_raise_no_warning(synthetic: Any) -> None:
    events, branches, messages, upsample = synthetic
    for name in WRITTEN_INDICES:
        assert not [m for m in messages if name in m], messages
    assert not [m for m in messages if "Missing cross-reference target" in m], messages
    assert len(events) == len(branches)
    if upsample > 1:  # copies carry new event numbers and their own gen objects
        assert len(np.unique(ak.to_numpy(events.event))) == len(events)
