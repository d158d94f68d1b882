"""The km3pipe HDF5 source on km3net-testdata files, checked against direct h5py reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import h5py
import km3net_testdata
import numpy as np
import pytest

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.sources import detect_format, open_source
from hitprep.sources.km3net_hdf5 import KM3NeTHDF5Source


def test_counts_and_values_match_h5py(km3net_h5: Path) -> None:
    source = open_source(km3net_h5)
    assert isinstance(source, KM3NeTHDF5Source)
    assert detect_format(km3net_h5) == "km3net_hdf5"
    assert source.num_events == 500
    batch = source.read(0, 500, fields=["hits.time", "hits.dom_id", "event_id"])
    with h5py.File(km3net_h5) as f:
        idx = f["hits/_indices"][:]
        np.testing.assert_array_equal(ak.num(batch.hits), idx["n_items"])
        np.testing.assert_array_equal(ak.flatten(batch.hits.time), f["hits/time"][:])
        np.testing.assert_array_equal(ak.flatten(batch.hits.dom_id), f["hits/dom_id"][:])
        np.testing.assert_array_equal(batch.event_id, f["event_info"]["event_id"])
    assert int(ak.sum(ak.num(batch.hits))) == 2_228_941
    assert ak.fields(batch) == ["entry", "event_id", "hits"]
    np.testing.assert_array_equal(batch.entry, np.arange(500))


def test_chunked_iteration_equals_one_read(km3net_h5: Path) -> None:
    source = open_source(km3net_h5)
    fields = ["hits.time", "hits.triggered", "mc_tracks.energy", "run_id"]
    whole = source.read(0, source.num_events, fields=fields)
    parts = list(source.iterate(step=77, fields=fields))
    assert [len(p) for p in parts] == [77] * 6 + [38]
    joined = ak.concatenate(parts)
    assert ak.array_equal(joined, whole)
    np.testing.assert_array_equal(joined.entry, np.arange(500))


def test_mc_tracks_grouped_by_group_id(km3net_h5: Path) -> None:
    source = open_source(km3net_h5)
    batch = source.read(120, 130, fields=["mc_tracks.energy", "mc_tracks.type", "group_id"])
    with h5py.File(km3net_h5) as f:
        table = f["mc_tracks"][:]
    for i, gid in enumerate(np.asarray(batch.group_id)):
        rows = table[table["group_id"] == gid]
        np.testing.assert_array_equal(batch.mc_tracks.energy[i], rows["energy"])
        np.testing.assert_array_equal(batch.mc_tracks["type"][i], rows["type"])


def test_other_real_files_read() -> None:
    path = Path(km3net_testdata.data_path("hdf5/mupage_ARCA.h5"))
    source = open_source(path)
    batch = source.read(0, source.num_events)
    with h5py.File(path) as f:
        assert int(ak.sum(ak.num(batch.hits))) == int(f["hits/_indices"]["n_items"].sum())
        assert int(ak.sum(ak.num(batch.mc_tracks))) == len(f["mc_tracks"])


def test_missing_field_names_nearest(km3net_h5: Path) -> None:
    source = open_source(km3net_h5)
    with pytest.raises(KeyInFileError) as info:
        source.read(0, 1, fields=["hits.tim"])
    message = str(info.value)
    assert "hits.tim" in message and "hits.time" in message and str(km3net_h5) in message
    assert isinstance(info.value, KeyError)


def test_truncated_file_is_a_clear_error(km3net_h5: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.h5"
    data = km3net_h5.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError) as info:
        source = open_source(cut)
        for _ in source.iterate(step=100):
            pass
    assert str(cut) in str(info.value)


def test_not_an_event_file(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["something"] = np.arange(3)
    with pytest.raises(FileFormatError, match="not a km3pipe HDF5 event file"):
        open_source(path)


def test_hit_count_beyond_data_is_detected(km3net_h5: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad_index.h5"
    shutil.copy(km3net_h5, path)
    with h5py.File(path, "r+") as f:
        idx = f["hits/_indices"][:]
        idx["n_items"][-1] += 10
        f["hits/_indices"][...] = idx
    with pytest.raises(FileFormatError, match=r"hits/_indices says event 499 ends"):
        open_source(path)


def test_hdf5plugin_is_imported_only_for_files_that_need_it() -> None:
    """Blosc files (numu_cc_test.h5) load hdf5plugin; gzip files start faster without it."""
    script = (
        "import sys, km3net_testdata as k\n"
        "from hitprep.sources import open_source\n"
        "open_source(k.data_path('hdf5/atmospheric_muons_sample.h5')).read(0, 2)\n"
        "print('hdf5plugin' in sys.modules)\n"
        "s = open_source(k.data_path('hdf5/numu_cc_test.h5'))\n"
        "print('hdf5plugin' in sys.modules, s.read(0, s.num_events).trigger_counter.tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "False"
    assert out[1].startswith("True [")
