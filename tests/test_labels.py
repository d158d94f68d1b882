"""Label extractors: the built-in KM3NeT MC truth and a user's module:function."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.config import Job, load_job
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.labels import LabelRepresentation, km3net_mc, load_extractor, reads, to_structured
from hitprep.runners import convert
from hitprep.sources import open_source


def test_km3net_mc_first_track_and_muon_bundle(km3net_h5: Path) -> None:
    batch = open_source(km3net_h5).read(0, 50)
    y = km3net_mc(batch)
    with h5py.File(km3net_h5) as f:
        tracks = f["mc_tracks"][:]
        info = f["event_info"][:50]
    for i in (0, 7, 49):
        rows = tracks[tracks["group_id"] == info["group_id"][i]]
        assert y["energy"][i] == rows["energy"][0]
        assert y["particle_type"][i] == rows["type"][0]
        assert y["n_mc_tracks"][i] == len(rows)
        muons = rows[np.abs(rows["type"]) == 13]
        assert y["n_muons"][i] == len(muons)
        assert y["muon_energy_sum"][i] == pytest.approx(muons["energy"].sum())
    np.testing.assert_array_equal(y["event_id"], info["event_id"])


def test_user_extractor(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "my_labels.py"
    module.write_text(
        "import awkward as ak\n"
        "def n_hits(batch):\n"
        "    return {'n_hits': ak.to_numpy(ak.num(batch.hits)), 'run': ak.to_numpy(batch.run_id)}\n"
        "def bad(batch):\n"
        "    return {'oops': [1, 2]}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    job = load_job("km3net_zt", overrides=["labels.extractor=my_labels:n_hits"])
    out = tmp_path / "o.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx)
    with h5py.File(out) as f, h5py.File(km3net_h5) as src:
        np.testing.assert_array_equal(f["y"]["n_hits"], src["hits/_indices"]["n_items"])
    bad = load_job("km3net_zt", overrides=["labels.extractor=my_labels:bad"])
    with pytest.raises(ConfigError, match=r"my_labels:bad.*'oops'.*expected 500 numbers"):
        convert(bad, [km3net_h5], tmp_path / "bad.h5", detx=km3net_detx, step=500)
    assert not (tmp_path / "bad.h5").exists()
    sys.modules.pop("my_labels", None)


def test_extractor_specs() -> None:
    assert load_extractor("km3net_mc") is km3net_mc
    with pytest.raises(ConfigError, match="neither a built-in"):
        load_extractor("nonsense")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        load_extractor("no_such_module_xyz:f")
    packed = to_structured({"a": np.arange(3), "b": np.ones(3)}, n_events=3, source="t")
    assert packed.dtype.names == ("a", "b")


WRAPPERS = (
    "from hitprep.labels import km3net_mc, reads\n"
    "def plain(batch):\n"
    "    y = km3net_mc(batch)\n"
    "    return {'energy': y['energy'], 'n': y['n_mc_tracks']}\n"
    "@reads('mc_tracks')\n"
    "def declared(batch):\n"
    "    return plain(batch)\n"
)


@pytest.mark.parametrize("name", ["plain", "declared"])
def test_extractor_wrapping_km3net_mc_gets_the_truth(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, name: str
) -> None:
    (tmp_path / "wrap.py").write_text(WRAPPERS)
    job = load_job("km3net_zt", overrides=[f"labels.extractor={tmp_path / 'wrap.py'}:{name}"])
    out = tmp_path / "o.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx)
    truth = km3net_mc(open_source(km3net_h5).read(0, 500))
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["y"]["energy"], truth["energy"])
        np.testing.assert_array_equal(f["y"]["n"], truth["n_mc_tracks"])
    assert np.all(np.asarray(truth["n_mc_tracks"]) > 0)


def test_source_collections_on_km3net_hdf5(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path
) -> None:
    job = load_job("km3net_zt", overrides=['source.collections=["hits", "mc_tracks"]'])
    out = tmp_path / "o.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx)
    with h5py.File(out) as f:
        assert np.all(f["y"]["n_mc_tracks"][:] > 0)
    bad = load_job("km3net_zt", overrides=['source.collections=["hits", "mc_trks"]'])
    with pytest.raises(KeyInFileError, match=r"collection 'mc_trks' not found.*mc_tracks"):
        convert(bad, [km3net_h5], tmp_path / "bad.h5", detx=km3net_detx)
    assert not (tmp_path / "bad.h5").exists()


def test_python_api_takes_a_function(km3net_h5: Path, km3net_detx: Path, tmp_path: Path) -> None:
    @reads("mc_tracks")
    def muons(batch: ak.Array) -> dict[str, np.ndarray]:
        return {"n_muons": km3net_mc(batch)["n_muons"]}

    raw = tomllib.loads(load_job("km3net_zt").text)
    api_job = Job.from_dict({**raw, "labels": {"extractor": muons}})
    assert load_extractor(muons) is muons
    out = tmp_path / "o.h5"
    convert(api_job, [km3net_h5], out, detx=km3net_detx)
    truth = km3net_mc(open_source(km3net_h5).read(0, 500))
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["y"]["n_muons"], truth["n_muons"])
    assert LabelRepresentation(muons).collections == {"mc_tracks"}
    assert LabelRepresentation("hitprep.stages.trigger:trigger_labels").collections == {"*"}


def test_a_declared_collection_the_input_lacks_is_an_error(tmp_path: Path) -> None:
    from hitprep.errors import KeyInFileError
    from hitprep.toys.ldmx import write_root

    @reads("mc_tracks")
    def truth(batch: ak.Array) -> dict[str, np.ndarray]:
        return {"n_tracks": np.zeros(len(batch), dtype=np.int64)}

    raw = tomllib.loads(load_job("ldmx_xyz").text)
    job = Job.from_dict({**raw, "labels": {"extractor": truth}})
    ecal = write_root(tmp_path / "b.root", n_events=5, seed=1)
    with pytest.raises(KeyInFileError, match=r"collection .mc_tracks. not found in .*b\.root"):
        convert(job, [ecal], tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists()
