"""WatChMaL HDF5 output: DataTools' names and dtypes, read back the way WatChMaL reads it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.runners import convert, merge
from hitprep.runners.manifest import parts_folder
from hitprep.sinks.hdf5 import HDF5Sink, dataset_names
from hitprep.sources.wcsim import WCSimSource
from hitprep.sources.wcsim_dump import WCSimH5Source
from hitprep.toys.wcsim import write_dump

PER_EVENT = {
    "labels": ((), np.int32),
    "event_ids": ((), np.int32),
    "energies": ((1,), np.float32),
    "positions": ((1, 3), np.float32),
    "angles": ((2,), np.float32),
    "veto": ((), np.bool_),
    "veto2": ((), np.bool_),
    "fully_contained": ((), np.bool_),
    "event_hits_index": ((), np.int64),
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dump(tmp_path_factory.mktemp("wm") / "toy.h5", 240, seed=21)


def watchmal_hits(path: Path, name: str) -> list[np.ndarray[Any, Any]]:
    """Each event's values of hit dataset ``name``, the way WatChMaL's H5Dataset gets them."""
    with h5py.File(path, "r") as f:
        ds = f[name]
        starts = np.append(f["event_hits_index"], f["hit_pmt"].shape[0]).astype(np.int64)
        offset = ds.id.get_offset()
        assert offset is not None, f"{name} is not contiguous"
        mm = np.memmap(path, mode="r", shape=ds.shape, offset=offset, dtype=ds.dtype)
        return [np.array(mm[starts[i] : starts[i + 1]]) for i in range(len(starts) - 1)]


def test_digi_layout_and_round_trip(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "digi.h5"
    convert(load_job("wcsim_watchmal_digi"), [toy], out, step=100)
    with h5py.File(out, "r") as f:
        n = len(f["labels"])
        assert n == 240
        for name, (shape, dtype) in PER_EVENT.items():
            assert f[name].shape == (n, *shape), name
            assert f[name].dtype == dtype, name
        assert h5py.check_string_dtype(f["root_files"].dtype) is not None
        assert f["root_files"][0].decode() == str(toy)
        assert f["hit_pmt"].dtype == np.int32
        assert f["hit_time"].dtype == np.float32
        assert f["hit_charge"].dtype == np.float32
        assert "hit_parent" not in f
        for name in ["hit_pmt", "hit_time", "hit_charge"]:
            assert f[name].chunks is None and f[name].compression is None
        for attr in ["git-describe", "command", "timestamp", "job", "accounting"]:
            assert attr in f.attrs
        assert f.attrs["git-describe"].startswith("hitprep-")
        labels, ids = f["labels"][:], f["event_ids"][:]
        angles, positions = f["angles"][:], f["positions"][:, 0]
    with WCSimH5Source(toy) as src:
        batch = src.read(0, 240)
    # hits of the first NDigits trigger (trigger 0 in the toy), exactly, event by event
    digi = batch["digi_hits"][batch["digi_hits"]["trigger"] == 0]
    for name, field in [("hit_pmt", "pmt"), ("hit_time", "time"), ("hit_charge", "charge")]:
        got = watchmal_hits(out, name)
        for e in range(240):
            np.testing.assert_array_equal(got[e], digi[field][e].to_numpy())
    pid = batch["pid"].to_numpy()
    assert np.array_equal(labels, np.select([pid == 22, pid == 11, pid == 13], [0, 1, 2], -1))
    assert np.array_equal(ids, batch["event_id"].to_numpy())
    direction = np.stack([batch[f"direction_{c}"].to_numpy() for c in "xyz"], axis=1)
    np.testing.assert_allclose(angles[:, 0], np.arccos(direction[:, 1]), rtol=1e-6)
    np.testing.assert_allclose(
        angles[:, 1], np.arctan2(direction[:, 2], direction[:, 0]), rtol=1e-6
    )
    np.testing.assert_allclose(positions[:, 2], batch["position_z"].to_numpy())


def test_compressed_layout_same_content(toy: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "contiguous.h5", tmp_path / "compressed.h5"
    convert(load_job("wcsim_watchmal_digi"), [toy], a)
    job = load_job("wcsim_watchmal_digi", overrides=["watchmal.layout=compressed"])
    convert(job, [toy], b)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fb["hit_pmt"].compression == "gzip"
        for name in [*PER_EVENT, "hit_pmt", "hit_time", "hit_charge"]:
            np.testing.assert_array_equal(fa[name][:], fb[name][:], err_msg=name)


def test_true_hits(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "true.h5"
    convert(load_job("wcsim_watchmal_truehit"), [toy], out)
    with h5py.File(out, "r") as f:
        assert f["hit_parent"].dtype == np.int32
        assert "hit_charge" not in f
        parents = f["hit_parent"][:]
    with WCSimH5Source(toy) as src:
        batch = src.read(0, 240, fields=["true_hits.pmt", "true_hits.time", "true_hits.parent"])
    assert len(parents) == int(ak.sum(ak.num(batch["true_hits"])))
    got = watchmal_hits(out, "hit_pmt")
    for e in [0, 57, 239]:
        np.testing.assert_array_equal(got[e], batch["true_hits"]["pmt"][e].to_numpy())


def test_several_inputs_merge_like_one(toy: Path, tmp_path: Path) -> None:
    other = write_dump(tmp_path / "other.h5", 70, seed=22)
    both, first, second = tmp_path / "both.h5", tmp_path / "first.h5", tmp_path / "second.h5"
    job = load_job("wcsim_watchmal_digi")
    convert(job, [toy, other], both)
    convert(job, [toy], first)
    convert(job, [other], second)
    with h5py.File(both, "r") as fb, h5py.File(first, "r") as f1, h5py.File(second, "r") as f2:
        for name in ["hit_pmt", "hit_time", "hit_charge", "labels", "veto"]:
            np.testing.assert_array_equal(fb[name][:], np.concatenate([f1[name][:], f2[name][:]]))
        starts = np.concatenate(
            [f1["event_hits_index"][:], f2["event_hits_index"][:] + len(f1["hit_pmt"])]
        )
        np.testing.assert_array_equal(fb["event_hits_index"][:], starts)
        assert fb["hit_pmt"].id.get_offset() is not None  # still contiguous
    assert (
        watchmal_hits(both, "hit_pmt")[240].tolist() == watchmal_hits(second, "hit_pmt")[0].tolist()
    )


def test_real_wcsim_file(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "wcsim" / "wcsim_10events_2015.root"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    out = tmp_path / "real.h5"
    assert main(["convert", "wcsim_watchmal_digi", str(path), "-o", str(out)]) == 0
    with WCSimSource(path) as src:
        stored = src.read(0, 10, fields=["triggers.n_digi_hits"])["triggers"]["n_digi_hits"]
    per_event = [len(h) for h in watchmal_hits(out, "hit_pmt")]
    assert per_event == stored[:, 0].tolist()  # trigger 0 is the first NDigits trigger
    assert per_event[0] == 7386
    with h5py.File(out, "r") as f:
        assert f["labels"][:].tolist() == [2] * 10  # mu+ -> |pid| 13 -> 2
        np.testing.assert_allclose(f["energies"][:, 0], 1105.6583, atol=1e-3)
        assert f["hit_pmt"][:3].tolist() == [27157, 27310, 17246]
        assert not f["veto"][:].any()
        assert f["root_files"][0].decode() == str(path)


def test_empty_input(tmp_path: Path) -> None:
    empty = write_dump(tmp_path / "empty.h5", 0)
    out = tmp_path / "out.h5"
    convert(load_job("wcsim_watchmal_digi"), [empty], out)
    with h5py.File(out, "r") as f:
        assert f["labels"].shape == (0,)
        assert f["hit_pmt"].shape == (0,)
        assert f["event_hits_index"].shape == (0,)


def test_spooled_hits_same_as_written_directly(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a columnar source lets the hits be counted first and written straight into place;
    # otherwise they are spooled and copied at the end: the same output either way
    direct, spooled = tmp_path / "direct.h5", tmp_path / "spooled.h5"
    convert(load_job("wcsim_watchmal_digi"), [toy], direct, step=70)
    monkeypatch.setattr(WCSimH5Source, "columnar", False)
    convert(load_job("wcsim_watchmal_digi"), [toy], spooled, step=70)
    with h5py.File(direct, "r") as fd, h5py.File(spooled, "r") as fs:
        for name in [*PER_EVENT, "hit_pmt", "hit_time", "hit_charge", "event_hits_index"]:
            np.testing.assert_array_equal(fd[name][:], fs[name][:], err_msg=name)
            assert fd[name].dtype == fs[name].dtype, name
        assert fd["hit_pmt"].id.get_offset() is not None


def _datasets(path: Path) -> dict[str, tuple[np.dtype[Any], tuple[int, ...], Any]]:
    """Every dataset's dtype, shape and values (strings as a list, the rest as bytes)."""
    with h5py.File(path, "r") as f:
        out = {}
        for name in dataset_names(f):
            value = f[name][()]
            data = value.tolist() if value.dtype.kind == "O" else value.tobytes()
            out[name] = (f[name].dtype, value.shape, data)
    return out


@pytest.mark.parametrize("layout", ["contiguous", "compressed"])
def test_merge_streams_hits_like_a_single_run(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    # shards' hits are copied a small slice at a time into datasets of the final size
    monkeypatch.setattr(merge, "COPY_BYTES", 4096)
    job = load_job("wcsim_watchmal_digi", overrides=[f"watchmal.layout={layout}"])
    single, split, virtual = tmp_path / "one.h5", tmp_path / "split.h5", tmp_path / "v.h5"
    convert(job, [toy], single, step=50)
    assert convert(job, [toy], split, step=50, task_events=70).tasks == 4  # 70+70+70+30
    convert(job, [toy], virtual, step=50, task_events=70, virtual=True)
    expected = _datasets(single)
    for out in (split, virtual):
        got = _datasets(out)
        assert sorted(got) == sorted(expected)
        for name, (dtype, shape, data) in expected.items():
            assert got[name][:2] == (dtype, shape), f"{out.name}: {name}"
            assert got[name][2] == data, f"{out.name}: {name} differs from a single run"
    if layout == "contiguous":
        for out in (split, virtual):
            with h5py.File(out, "r") as f:
                assert not f["hit_pmt"].is_virtual and f["hit_pmt"].chunks is None
            for name in ["hit_pmt", "hit_time", "hit_charge"]:  # memory-mapped, event by event
                got_hits, want = watchmal_hits(out, name), watchmal_hits(single, name)
                assert all(np.array_equal(g, w) for g, w in zip(got_hits, want, strict=True))


def test_merge_holds_a_slice_of_the_hits_not_all_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy = write_dump(tmp_path / "toy.h5", 1000, seed=23)  # about 4 MB of hits
    job = load_job("wcsim_watchmal_digi")
    shards_of = tmp_path / "v.h5"
    convert(job, [toy], shards_of, task_events=250, virtual=True)  # the shards stay
    shards = sorted(parts_folder(shards_of).glob("task-*.h5"))
    assert len(shards) == 4
    monkeypatch.setattr(merge, "COPY_BYTES", 16384)
    out = tmp_path / "merged.h5"
    tracemalloc.start()
    try:
        with HDF5Sink(out) as sink:
            merger = merge.Merger(sink, len(shards), virtual=False, root=tmp_path)
            for index, shard in enumerate(shards):
                merger.add(index, shard)
            merger.finish()
            sink.commit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with h5py.File(out, "r") as f:
        hit_bytes = sum(f[name].nbytes for name in ["hit_pmt", "hit_time", "hit_charge"])
        merged = f["hit_time"][:]
    parts = []
    for shard in shards:
        with h5py.File(shard, "r") as f:
            parts.append(f["hit_time"][:])
    np.testing.assert_array_equal(merged, np.concatenate(parts))
    assert hit_bytes > 2_000_000
    # in memory, the merge held every hit (and more); streamed, a few slices and chunks
    assert peak < hit_bytes / 4, f"the merge held {peak} bytes for {hit_bytes} bytes of hits"
