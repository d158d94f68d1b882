"""``hitprep inspect`` on what hitprep reads and writes: real outputs, toy inputs, real NanoAOD."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_file

from hitprep.cli import main
from hitprep.errors import FileFormatError
from hitprep.tools.inspect import COMPACT_BRANCHES, describe


@pytest.fixture(scope="module")
def acts_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("acts")
    assert main(["toy", "acts", "-n", "5", "--files", "2", "-o", str(folder / "in")]) == 0
    return folder / "in"


@pytest.fixture(scope="module")
def graphs(km3net_h5: Path, km3net_detx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("graph") / "graphs.h5"
    argv = ["convert", "km3net_graph", str(km3net_h5), "-o", str(out), "--detx", str(km3net_detx)]
    assert main([*argv, "--no-progress", "--set", "source.step=500"]) == 0
    return out


def test_csv_folder_lists_columns_and_rows(acts_folder: Path) -> None:
    text = describe(acts_folder)
    assert "clusters_0.csv (CSV," in text and "particles_1.csv (CSV," in text
    assert "columns: evtid, hitid, barcode, volid, layid, x, y, z" in text
    rows = (acts_folder / "clusters_0.csv").read_text().count("\n") - 1
    assert f"{rows:,} rows" in describe(acts_folder / "clusters_0.csv")


def test_hdf5_filter_and_dataset_attributes(graphs: Path) -> None:
    text = describe(graphs, pattern="x*")
    assert "  x: (2228941, 9) float32" in text
    assert "@features: ['pos_x', 'pos_y', 'pos_z'," in text  # the graph's feature names
    assert "event_info" not in text and "y:" not in text
    assert "event_info" in describe(graphs)


def test_nanoaod_is_compact_unless_filtered() -> None:
    nano = shared_file("nanoaod/nanoAOD_2015_CMS_Open_Data_ttbar.root")
    compact = describe(nano)
    assert "branches (list them with --filter PATTERN" in compact
    assert "nJet (uint32_t): 537 objects, 40 branches" in compact
    assert len(compact.splitlines()) < COMPACT_BRANCHES
    jets = describe(nano, pattern="Jet_*")
    assert "    Jet_pt: float[]" in jets and "Muon_pt" not in jets


def test_unknown_kind_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(FileFormatError, match=r"notes\.txt.*not a file hitprep reads"):
        describe(path)


def test_closed_pipe_is_quiet(graphs: Path) -> None:
    """``hitprep inspect FILE | head``: the reader gone, no Broken pipe message, exit 0."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hitprep", "inspect", str(graphs)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""


def test_rntuple_fields_with_types(tmp_path: Path) -> None:
    import awkward as ak
    import numpy as np
    import uproot

    path = tmp_path / "nano_rntuple.root"
    with uproot.recreate(path) as f:
        jets = ak.Array([[50.0], [20.0, 30.0]])
        f.mkrntuple("Events", {"nJet": np.array([1, 2], np.uint32), "Jet_pt": jets})
    text = describe(path, pattern="Jet_*")
    assert "Events;1: ROOT::RNTuple" in text and "entries: 2" in text
    assert "    Jet_pt: std::vector<double>" in text and "nJet" not in text
