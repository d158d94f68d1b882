"""ROOT sink: NanoAOD counters and branches, titles, atomic output, writes in a writer thread."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.errors import ConfigError, OutputExistsError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.sinks import root as root_module
from hitprep.sinks.root import FastZLIB, RootSink, WriteBehind, parse_compression
from hitprep.threads import set_threads


def _batch(counts: list[int], first: int = 0) -> ak.Array:
    n = len(counts)
    total = sum(counts)
    jets = jagged_from_flat(
        {
            "pt": np.linspace(20, 80, total).astype(np.float32),
            "jetId": np.arange(total, dtype=np.int32),
            "isGood": np.arange(total) % 2 == 0,
        },
        offsets_from_counts(counts),
    )
    weights = jagged_from_flat({"value": np.ones(2 * n, np.float32)}, offsets_from_counts([2] * n))
    return make_batch(
        {
            "entry": np.arange(n, dtype=np.int64),
            "run": np.ones(n, np.uint32),
            "event": np.arange(first, first + n, dtype=np.uint64),
        },
        {"Jet": jets, "PSWeight": weights},
        length=n,
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_nanoaod_layout(tmp_path: Path) -> None:
    out = tmp_path / "nano.root"
    titles = {"nJet": "slimmedJets", "Jet_pt": "pt", "run": "run number"}
    with RootSink(out, baskets=2) as w:
        w.extend("Events", _batch([2, 0, 1]), titles=titles)
        w.extend("Events", _batch([0, 3], first=3), titles=titles)
        w.write_text("note", "hello")
        w.commit()
    assert _files(tmp_path) == ["nano.root"]
    with uproot.open(out) as f:
        assert f.classnames() == {"Events;1": "TTree", "note;1": "TObjString"}
        tree = f["Events"]
        kinds = {b.name: b.typename for b in tree.branches}
        assert kinds == {
            "run": "uint32_t",
            "event": "uint64_t",
            "nJet": "uint32_t",
            "Jet_pt": "float[]",
            "Jet_jetId": "int32_t[]",
            "Jet_isGood": "bool[]",
            "nPSWeight": "uint32_t",
            "PSWeight": "float[]",
        }
        assert tree["Jet_pt"].count_branch.name == "nJet"
        assert tree["PSWeight"].count_branch.name == "nPSWeight"
        assert tree["nJet"].title == "slimmedJets"
        assert tree["Jet_pt"].title == "pt"
        arrays = tree.arrays(library="np")
        assert arrays["nJet"].tolist() == [2, 0, 1, 0, 3]
        assert arrays["event"].tolist() == [0, 1, 2, 3, 4]
        assert "entry" not in arrays
        assert str(f["note"]) == "hello"


def test_counter_dtype_follows_the_request(tmp_path: Path) -> None:
    out = tmp_path / "int32.root"
    with RootSink(out) as w:
        w.extend("Events", _batch([1, 2]), counter_dtypes={"Jet": np.int32})
        w.commit()
    with uproot.open(out) as f:
        assert f["Events"]["nJet"].typename == "int32_t"
        assert f["Events"]["nPSWeight"].typename == "uint32_t"


def test_fallback_when_uproot_internals_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another uproot Tree signature: the tree is made as usual, then retyped and relocated."""
    monkeypatch.setattr(root_module, "_TREE_ARGS", ["something", "else"])
    out = tmp_path / "fallback.root"
    with RootSink(out) as w:
        w.extend("Events", _batch([1, 0, 2]), titles={"nJet": "jets"})
        w.extend("Events", _batch([3]))
        w.commit()
    with uproot.open(out) as f:
        tree = f["Events"]
        assert tree["nJet"].typename == "uint32_t"
        assert tree["nJet"].title == "jets"
        assert tree["nJet"].array(library="np").tolist() == [1, 0, 2, 3]


def test_empty_batch_makes_an_empty_tree(tmp_path: Path) -> None:
    out = tmp_path / "empty.root"
    with RootSink(out) as w:
        w.extend("Events", _batch([])[:0])
        w.commit()
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 0
        assert f["Events"]["nJet"].typename == "uint32_t"


def test_error_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "partial.root"
    with pytest.raises(RuntimeError, match="boom"), RootSink(out) as w:
        w.extend("Events", _batch([1, 2]))
        assert any(".partial" in name for name in _files(tmp_path))
        raise RuntimeError("boom")
    assert _files(tmp_path) == []


def test_leaving_without_commit_leaves_no_output(tmp_path: Path) -> None:
    with RootSink(tmp_path / "never.root") as w:
        w.extend("Events", _batch([1]))
    assert _files(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "exists.root"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        RootSink(out)
    assert out.read_bytes() == b"keep me"
    with RootSink(out, overwrite=True) as w:
        w.extend("Events", _batch([1]))
        assert out.read_bytes() == b"keep me"  # replaced only on commit
        w.commit()
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 1


@pytest.mark.parametrize("spec", ["zlib:1", "lzma:2", "none", "ZLIB"])
def test_compression_specs(spec: str) -> None:
    parse_compression(spec)


@pytest.mark.parametrize("spec", ["gzip:1", "zlib:12", "zlib:x"])
def test_bad_compression_specs(spec: str) -> None:
    with pytest.raises(ConfigError, match="expected <algorithm>:<level 0-9>"):
        parse_compression(spec)


def test_compression_like_the_input(tmp_path: Path) -> None:
    source = tmp_path / "lzma.root"
    with uproot.recreate(source, compression=uproot.LZMA(2)) as f:
        f.mktree("Events", {"run": np.uint32}).extend({"run": np.ones(3, np.uint32)})
    assert parse_compression("input", like=source) == uproot.LZMA(2)
    assert parse_compression("input") == uproot.ZLIB(1)
    out = tmp_path / "same.root"
    with RootSink(out, compression="input", like=source) as w:
        w.extend("Events", _batch([1, 2]))
        w.commit()
    with uproot.open(out) as f:
        assert f.file.compression == uproot.LZMA(2)


@pytest.mark.parametrize("level", [1, 5])
def test_zlib_baskets_are_compressed_by_zlib_ng_and_read_by_zlib(
    tmp_path: Path, level: int
) -> None:
    import zlib

    assert isinstance(parse_compression(f"zlib:{level}"), FastZLIB)
    assert parse_compression(f"zlib:{level}") == uproot.ZLIB(level)
    payload = np.tile(np.arange(1000, dtype=">f4"), 20).tobytes()
    assert zlib.decompress(FastZLIB(level).compress(payload)) == payload
    out = tmp_path / "zlib.root"
    counts = [3, 0, 5] * 3000
    with RootSink(out, compression=f"zlib:{level}") as w:
        w.extend("Events", _batch(counts))
        w.commit()
    with uproot.open(out) as f:
        assert f.file.compression == uproot.ZLIB(level)
        jets = f["Events"].arrays(["nJet", "Jet_pt"])
        branch = f["Events"]["Jet_pt"]
        assert branch.compressed_bytes < branch.uncompressed_bytes  # really compressed
    assert jets.nJet.tolist() == counts
    assert np.array_equal(
        ak.to_numpy(ak.flatten(jets.Jet_pt)), np.linspace(20, 80, sum(counts)).astype(np.float32)
    )
    assert uproot.ZLIB.compress is not FastZLIB.compress  # uproot's own class is untouched


def _tree_arrays(path: Path) -> dict[str, list[object]]:
    with uproot.open(path) as f:
        tree = f["Events"]
        return {b.name: [b.typename, tree[b.name].array().tolist()] for b in tree.branches}


def test_a_background_sink_writes_what_a_plain_one_does(tmp_path: Path) -> None:
    chunks = [_batch([2, 0, 1]), _batch([0, 3], first=3), _batch([4], first=5)]
    for name, background in (("plain.root", False), ("behind.root", True)):
        with RootSink(tmp_path / name, background=background, baskets=3) as sink:
            for chunk in chunks:
                sink.extend("Events", chunk, titles={"nJet": "jets"})
            sink.write_text("note", "after the events")
            sink.commit()
    assert _tree_arrays(tmp_path / "behind.root") == _tree_arrays(tmp_path / "plain.root")
    with uproot.open(tmp_path / "behind.root") as f:
        assert f["Events"]["nJet"].array(library="np").tolist() == [2, 0, 1, 0, 3, 4]
        assert str(f["note"]) == "after the events"


def test_a_failed_background_write_is_raised_and_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "failed.root"
    other = make_batch({"lumi": np.ones(2, np.uint32)}, {}, length=2)
    with RootSink(out, background=True) as sink:
        sink.extend("Events", _batch([1, 2]))
        sink.extend("Events", other)  # lacks the tree's branches: fails in the writer thread
        with pytest.raises(ValueError, match="missing"):
            sink.commit()
    assert _files(tmp_path) == []


def test_write_behind_runs_the_writes_in_order_in_its_thread() -> None:
    done: list[tuple[int, str]] = []

    def write(i: int) -> None:
        done.append((i, threading.current_thread().name))

    behind = WriteBehind()
    for i in range(5):
        behind.submit(functools.partial(write, i))
    behind.close()
    assert [i for i, _ in done] == list(range(5))
    assert all(name.startswith("hitprep-write") for _, name in done)


@pytest.mark.parametrize("fail_on", [1, 4])
def test_a_failed_write_is_raised_and_stops_the_writing(fail_on: int) -> None:
    done: list[int] = []

    def write(i: int) -> None:
        if i == fail_on:
            msg = f"cannot write chunk {i}"
            raise OSError(msg)
        done.append(i)

    behind = WriteBehind()
    with pytest.raises(OSError, match=f"cannot write chunk {fail_on}"):
        for i in range(5):
            behind.submit(functools.partial(write, i))
        behind.close()
    behind.close(discard=True)
    assert done == list(range(fail_on))


def test_closing_after_an_error_waits_for_the_running_write() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        done.append(1)

    behind = WriteBehind()
    behind.submit(slow)
    started.wait(5)
    threading.Timer(0.05, release.set).start()
    behind.close(discard=True)  # what a sink does when the caller failed
    assert done == [1]  # closed only after the write had finished


def test_a_one_core_budget_writes_in_the_calling_thread() -> None:
    names: list[str] = []
    set_threads(1)
    try:
        behind = WriteBehind()
        for _ in range(3):
            behind.submit(lambda: names.append(threading.current_thread().name))
        behind.close()
    finally:
        set_threads(None)
    assert names == [threading.current_thread().name] * 3
