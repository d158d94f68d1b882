"""NanoAOD TTree writer: counters typed like NanoAOD's, bare branches, titles, atomic output."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.errors import ConfigError, OutputExistsError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.writeback import writer as writer_module
from hitprep.writeback.writer import FastZLIB, NanoAODWriter, parse_compression


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
    with NanoAODWriter(out, baskets=2) as w:
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
    with NanoAODWriter(out) as w:
        w.extend("Events", _batch([1, 2]), counter_dtypes={"Jet": np.int32})
        w.commit()
    with uproot.open(out) as f:
        assert f["Events"]["nJet"].typename == "int32_t"
        assert f["Events"]["nPSWeight"].typename == "uint32_t"


def test_fallback_when_uproot_internals_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another uproot Tree signature: the tree is made as usual, then retyped and relocated."""
    monkeypatch.setattr(writer_module, "_TREE_ARGS", ["something", "else"])
    out = tmp_path / "fallback.root"
    with NanoAODWriter(out) as w:
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
    with NanoAODWriter(out) as w:
        w.extend("Events", _batch([])[:0])
        w.commit()
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 0
        assert f["Events"]["nJet"].typename == "uint32_t"


def test_error_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "partial.root"
    with pytest.raises(RuntimeError, match="boom"), NanoAODWriter(out) as w:
        w.extend("Events", _batch([1, 2]))
        assert any(".partial" in name for name in _files(tmp_path))
        raise RuntimeError("boom")
    assert _files(tmp_path) == []


def test_leaving_without_commit_leaves_no_output(tmp_path: Path) -> None:
    with NanoAODWriter(tmp_path / "never.root") as w:
        w.extend("Events", _batch([1]))
    assert _files(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "exists.root"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        NanoAODWriter(out)
    assert out.read_bytes() == b"keep me"
    with NanoAODWriter(out, overwrite=True) as w:
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
    with NanoAODWriter(out, compression="input", like=source) as w:
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
    with NanoAODWriter(out, compression=f"zlib:{level}") as w:
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
