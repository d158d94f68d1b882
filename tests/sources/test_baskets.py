"""Direct basket reading gives exactly what uproot gives, and leaves the rest to uproot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import shared_file

from hitprep.sources.baskets import BasketReader
from hitprep.sources.root_tree import RootTreeSource

DTYPES = ["bool", "int8", "uint16", "int32", "int64", "uint64", "float32", "float64"]

#: these test the fast paths themselves (hitprep.fastpaths)
pytestmark = pytest.mark.usefixtures("fast_paths_on")


def _chunk(rng: np.random.Generator, n: int, first: int) -> dict[str, Any]:
    counts = rng.integers(0, 4, n)
    counts[-3:] = 0  # a basket ending with empty lists
    total = int(counts.sum())
    out: dict[str, Any] = {"nObj": counts.astype(np.int32)}
    for dtype in DTYPES:
        out[f"flat_{dtype}"] = (np.arange(first, first + n) % 7).astype(dtype)
        values = (rng.normal(size=total) * 100).astype(dtype)
        out[f"Obj_{dtype}"] = ak.unflatten(values, counts)
    return out


def _write(path: Path, sizes: list[int], compression: Any = None) -> Path:
    rng = np.random.default_rng(7)
    kwargs = {} if compression is None else {"compression": compression}
    with uproot.recreate(path, **kwargs) as f:
        tree = None
        first = 0
        for n in sizes:
            chunk = _chunk(rng, n, first)
            if tree is None:
                types = {
                    k: (v.dtype if isinstance(v, np.ndarray) else v.type.content)
                    for k, v in chunk.items()
                    if k != "nObj"
                }
                tree = f.mktree("t", types, counter_name=lambda _: "nObj")
            tree.extend({k: v for k, v in chunk.items() if k != "nObj"})
            first += n
    return path


def _same(direct: Any, expected: Any) -> bool:
    return bool(
        direct.type == expected.type
        and ak.all(ak.ravel(direct) == ak.ravel(expected))
        and (direct.ndim == 1 or ak.all(ak.num(direct) == ak.num(expected)))
    )


@pytest.fixture(scope="module")
def baskets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("baskets") / "t.root", [50, 1, 120, 49, 80])


@pytest.mark.parametrize(
    ("start", "stop"),
    [(0, 300), (0, 50), (49, 52), (50, 51), (10, 290), (170, 171), (299, 300), (3, 3)],
)
def test_ranges_equal_uproot(baskets_file: Path, start: int, stop: int) -> None:
    with uproot.open(baskets_file) as f:
        tree = f["t"]
        names = [*(b for b in tree.keys(recursive=False) if b != "nObj"), "nObj"]
        expected = tree.arrays(names, entry_start=start, entry_stop=stop, how=dict)
        reader = BasketReader(baskets_file, tree)
        got = reader.read(names, start, stop)
        reader.close()
    assert set(got) == (set(names) if stop > start else set())
    for name, array in got.items():
        assert _same(array, expected[name]), name


def test_source_reads_the_same_with_and_without_direct_reading(baskets_file: Path) -> None:
    with RootTreeSource(baskets_file) as fast, RootTreeSource(baskets_file) as slow:
        slow._baskets.enabled = False
        for start, stop in [(0, 300), (45, 175), (299, 300)]:
            a, b = fast.read(start, stop), slow.read(start, stop)
            assert a.type == b.type
            assert a.tolist() == b.tolist()


def test_uncompressed_and_multi_block_baskets(tmp_path: Path) -> None:
    plain = _write(tmp_path / "plain.root", [30, 40], compression=uproot.ZLIB(0))
    big = tmp_path / "big.root"  # one 18 MB basket: two ROOT compression blocks
    values = np.random.default_rng(1).normal(size=4_500_000).astype(np.float32)
    with uproot.recreate(big, compression=uproot.ZLIB(1)) as f:
        f.mktree("t", {"x": np.float32}).extend({"x": values})
    for path, name in [(plain, "Obj_float64"), (plain, "flat_int8"), (big, "x")]:
        with uproot.open(path) as f:
            tree = f["t"]
            expected = tree[name].array()
            got = BasketReader(path, tree).read([name], 0, tree.num_entries)
        assert _same(got[name], expected)


def test_other_compressions_are_left_to_uproot(tmp_path: Path) -> None:
    path = _write(tmp_path / "lz4.root", [3000, 4000], compression=uproot.LZ4(1))
    with uproot.open(path) as f:
        reader = BasketReader(path, f["t"])
        assert reader.read(["flat_int32", "Obj_int8"], 0, 7000) == {}
        expected = f["t"]["Obj_int8"].array()
    with RootTreeSource(path) as src:
        assert src.read(0, 7000).Obj.int8.tolist() == expected.tolist()


def test_baskets_inside_the_tbranch_are_left_to_uproot() -> None:
    path = shared_file("nanoaod/nanoAOD_2015_CMS_Open_Data_ttbar.root")
    with uproot.open(path) as f:
        tree = f["Events"]
        assert len(tree["Muon_pt"].embedded_baskets) == 1
        assert BasketReader(path, tree).read(["Muon_pt", "run"], 0, 10) == {}


def test_small_chunks_inflate_each_basket_once(
    baskets_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    original = BasketReader._basket

    def counting(self: BasketReader, plan: Any, i: int) -> Any:
        reads.append(i)
        return original(self, plan, i)

    monkeypatch.setattr(BasketReader, "_basket", counting)
    with uproot.open(baskets_file) as f:
        tree = f["t"]
        expected = tree["Obj_float32"].array()
        reader = BasketReader(baskets_file, tree)
        pieces = [
            reader.read(["Obj_float32"], s, min(s + 7, 300))["Obj_float32"]
            for s in range(0, 300, 7)
        ]
    assert ak.concatenate(pieces).tolist() == expected.tolist()
    assert reads == list(range(5))  # five baskets, each read once


def test_a_damaged_payload_is_reported_by_uproot(tmp_path: Path) -> None:
    from hitprep.errors import FileFormatError

    path = _write(tmp_path / "ok.root", [3000, 4000])
    with uproot.open(path) as f:
        branch = f["t"]["flat_int32"]
        seek = int(branch.member("fBasketSeek")[1])
        size = int(branch.member("fBasketBytes")[1])
    data = bytearray(path.read_bytes())
    middle = seek + size // 2
    data[middle : middle + 16] = b"\xa5" * 16  # key intact, deflate stream broken
    bad = tmp_path / "bad.root"
    bad.write_bytes(bytes(data))
    with RootTreeSource(bad) as src:
        assert src.read(0, 3000).flat_int32.tolist() == (np.arange(3000) % 7).tolist()
        with pytest.raises(FileFormatError, match="2990:3010"):
            src.read(2990, 3010)


def test_chunks_ending_with_their_baskets_keep_nothing(baskets_file: Path) -> None:
    with uproot.open(baskets_file) as f:
        reader = BasketReader(baskets_file, f["t"])
        reader.read(["Obj_int32", "flat_int32"], 0, 51)  # baskets [0, 50) and [50, 51)
        assert reader._last == {}
        reader.read(["Obj_int32"], 51, 60)  # in basket [51, 171)
        assert list(reader._last) == ["Obj_int32"]
        reader.close()
