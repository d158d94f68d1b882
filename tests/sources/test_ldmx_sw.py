"""ldmx-sw event files: the same events give the same images as the flattened ecalHits tree."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from hitprep.config import load_job
from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.runners import convert
from hitprep.sources import detect_format, open_source
from hitprep.sources.ldmx_sw import LdmxSwSource, decode_layer
from hitprep.toys.ldmx import EcalGeometry, write_ldmx_sw, write_root


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ldmx_sw")
    kw = {"n_events": 120, "mass": 50.0, "seed": 7, "chunk": 50}
    return write_root(tmp / "flat.root", **kw), write_ldmx_sw(tmp / "sw.root", **kw)  # type: ignore[arg-type]


def test_branch_layout_is_ldmx_sw(pair: tuple[Path, Path]) -> None:
    with uproot.open(pair[1]) as f:
        tree = f["LDMX_Events"]
        names = set(tree.keys())
        assert tree.num_entries == 120
    members = {f"EcalRecHits_valid.{m}_" for m in ("xpos", "ypos", "zpos", "energy", "id")}
    assert members <= names and "EventHeader.eventNumber_" in names
    assert detect_format(pair[1]) == "ldmx_sw"


def test_images_equal_those_of_the_flat_tree(pair: tuple[Path, Path], tmp_path: Path) -> None:
    flat, sw = pair
    out_flat, out_sw = tmp_path / "flat.h5", tmp_path / "sw.h5"
    convert(load_job("ldmx_xyz"), [flat], out_flat, step=40)
    convert(load_job("ldmx_sw_xyz"), [sw], out_sw, step=40)
    with h5py.File(out_flat) as a, h5py.File(out_sw) as b:
        assert a["image"].shape == b["image"].shape == (120, 40, 40, 3)
        np.testing.assert_array_equal(a["image"][:], b["image"][:])
        np.testing.assert_array_equal(a["event_info"]["event_id"], b["event_info"]["event_id"])
        assert float(a["image"][:].sum()) > 1000.0


def test_layer_decoded_from_the_detector_id(pair: tuple[Path, Path]) -> None:
    with open_source(pair[1]) as src, open_source(pair[0]) as ref:
        assert isinstance(src, LdmxSwSource) and src.collection == "EcalRecHits_valid"
        batch, flat = src.read(0, 30), ref.read(0, 30)
    assert batch.event_id.tolist() == flat.event_id.tolist() == list(range(1, 31))
    for f in ("x", "y", "z", "E"):
        assert ak.all(batch.hits[f] == flat.hits[f])
    z = ak.to_numpy(ak.flatten(batch.hits.z))
    layer = ak.to_numpy(ak.flatten(batch.hits.layer))
    np.testing.assert_allclose(EcalGeometry().layer_z[layer], z, rtol=1e-6)
    ids = ak.to_numpy(ak.flatten(batch.hits.id))
    assert set((ids.astype(np.int64) >> 26).tolist()) == {5}  # the ECal subdetector
    assert decode_layer([(5 << 26) | (33 << 17) | (31 << 12) | 0xFFF]).tolist() == [33]


def test_which_collection(pair: tuple[Path, Path], tmp_path: Path) -> None:
    with LdmxSwSource(pair[1], collections=["EcalRecHits_valid"]) as src:
        assert src.read(0, 1).hits.layer.ndim == 2
    with pytest.raises(KeyInFileError, match=r"EcalRecHits_v14.*EcalRecHits_valid"):
        LdmxSwSource(pair[1], collections=["EcalRecHits_v14"])
    with pytest.raises(ConfigError, match="one hit collection"):
        LdmxSwSource(pair[1], collections=["a", "b"])
    two = tmp_path / "two.root"
    hits = ak.zip({"id_": ak.Array([[1]]), "xpos_": ak.Array([[1.0]])})
    with uproot.recreate(two) as f:
        f.mktree("LDMX_Events", {"EcalRecHits_a": hits.type, "EcalRecHits_b": hits.type},
                 field_name=lambda o, i: f"{o}.{i}")  # fmt: skip
        f["LDMX_Events"].extend({"EcalRecHits_a": hits, "EcalRecHits_b": hits})
    with pytest.raises(FileFormatError, match=r"\(EcalRecHits_a, EcalRecHits_b\); choose one"):
        LdmxSwSource(two)
    with pytest.raises(KeyInFileError, match=r"EcalRecHits_a\.ypos_"):
        LdmxSwSource(two, collections=["EcalRecHits_a"])
