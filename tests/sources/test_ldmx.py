"""LDMX hit trees (toy files in the real layout): grouping, aliases, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.sources import detect_format, open_source
from hitprep.sources.ldmx import LdmxEcalSource
from hitprep.sources.root_tree import RootTreeSource
from hitprep.toys.ldmx import write_root


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_root(tmp_path_factory.mktemp("ldmx") / "sig.root", n_events=40, mass=10.0, seed=3)


def _write_tree(path: Path, data: dict[str, Any], tree: str = "ecalHits") -> Path:
    """Write flat numpy columns and jagged float lists (each with its own counter)."""
    types = {k: "var * float64" if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
    with uproot.recreate(path) as f:
        f.mktree(tree, types)
        f[tree].extend(data)
    return path


def test_fields_and_values_equal_uproot(toy: Path) -> None:
    with LdmxEcalSource(toy) as src:
        assert src.fields() == ["event_id", "hits.x", "hits.y", "hits.z", "hits.E"]
        assert src.num_events == 40
        batch = src.read(5, 17)
    with uproot.open(toy) as f:
        raw = f["ecalHits"].arrays(
            ["eventNumber", "x", "y", "z", "E"], entry_start=5, entry_stop=17
        )
    assert batch.entry.tolist() == list(range(5, 17))
    assert batch.event_id.tolist() == raw.eventNumber.tolist() == list(range(6, 18))
    for name in "xyzE":
        assert ak.all(batch.hits[name] == raw[name])
    assert ak.sum(ak.num(batch.hits, axis=1)) > 0


def test_detect_and_open_by_format(toy: Path) -> None:
    assert detect_format(toy) == "ldmx_ecal"
    with open_source(toy) as src:
        assert isinstance(src, LdmxEcalSource)


def test_groups_on_root_tree_with_field_names(toy: Path) -> None:
    with RootTreeSource(toy, groups={"cells": {"energy": "E", "depth": "z"}}) as src:
        fields = src.fields()
        assert "cells.energy" in fields and "cells.depth" in fields
        assert "E.value" not in fields  # grouped branches leave the prefix grouping
        assert "x.value" in fields  # ungrouped ones stay as they were
        batch = src.read(0, 3, fields=["cells.energy"])
    with uproot.open(toy) as f:
        energy = f["ecalHits"]["E"].array(entry_stop=3)
    assert ak.all(batch.cells.energy == energy)


def test_bad_groups_are_clear(toy: Path) -> None:
    with pytest.raises(ConfigError, match="non-empty list of branch names"):
        RootTreeSource(toy, groups={"hits": "x"})  # type: ignore[dict-item]
    with pytest.raises(KeyInFileError, match="did you mean: 'E'"):
        RootTreeSource(toy, groups={"hits": ["x", "EE"]})
    with pytest.raises(FileFormatError, match="'eventNumber' of groups"):
        RootTreeSource(toy, groups={"hits": ["x", "eventNumber"]})


def test_custom_branch_names_and_tree(tmp_path: Path) -> None:
    data = {
        "evt": np.array([7, 8], dtype=np.int64),
        "xpos": ak.Array([[1.0, 2.0], [3.0]]),
        "ypos": ak.Array([[0.0, 0.0], [1.0]]),
        "zpos": ak.Array([[250.0, 260.0], [300.0]]),
        "edep": ak.Array([[0.5, 0.25], [1.0]]),
    }
    path = _write_tree(tmp_path / "hcal.root", data, tree="hcalHits")
    groups = {"hits": {"x": "xpos", "y": "ypos", "z": "zpos", "E": "edep"}}
    with LdmxEcalSource(path, tree="hcalHits", groups=groups, event_branch="evt") as src:
        batch = src.read(0, 2)
    assert batch.event_id.tolist() == [7, 8]
    assert batch.hits.E.tolist() == [[0.5, 0.25], [1.0]]
    with pytest.raises(KeyInFileError, match="did you mean: 'hcalHits'"):
        LdmxEcalSource(path, tree="hcalHit", groups=groups, event_branch="evt")
    with pytest.raises(KeyInFileError, match="'evt'"):
        LdmxEcalSource(path, tree="hcalHits", groups=groups)  # no eventNumber branch


def test_unequal_lengths_in_an_event_name_branch_and_entry(tmp_path: Path) -> None:
    data = {
        "eventNumber": np.array([1, 2, 3], dtype=np.int32),
        "x": ak.Array([[1.0], [2.0, 3.0], []]),
        "y": ak.Array([[1.0], [2.0, 3.0], []]),
        "z": ak.Array([[250.0], [250.0, 260.0], []]),
        "E": ak.Array([[1.0], [2.0], []]),  # entry 1 has one energy for two hits
    }
    path = _write_tree(tmp_path / "bad.root", data)
    with LdmxEcalSource(path) as src, pytest.raises(FileFormatError, match=r"entry 1\b") as info:
        src.read(0, 3)
    assert "'E'" in str(info.value) or "'x'" in str(info.value)
    assert str(path) in str(info.value)


def test_not_root_is_a_file_format_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.root"
    path.write_bytes(b"root" + b"\0" * 20)
    with pytest.raises(FileFormatError, match=r"fake\.root"):
        LdmxEcalSource(path)
