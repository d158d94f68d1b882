from __future__ import annotations

from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.sources.h5raw import unfiltered_reader

#: these test the fast paths themselves (hitprep.fastpaths)
pytestmark = pytest.mark.usefixtures("fast_paths_on")


def _write(path: Path, **datasets: dict[str, object]) -> None:
    with h5py.File(path, "w") as f:
        for name, options in datasets.items():
            f.create_dataset(name, **options)


def test_slices_equal_h5py(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "plain.h5"
    values = {
        "contiguous": rng.normal(size=10_001).astype(np.float32),
        "chunked": rng.integers(-5, 5, size=10_001).astype(np.int32),
        "partial": np.arange(1000, dtype=np.int64),  # last chunk partly filled
        "flags": rng.random(777) > 0.5,
        "rows": rng.normal(size=(1001, 3)),
        "rows_contiguous": rng.normal(size=(501, 3)).astype(np.float32),
    }
    _write(
        path,
        contiguous={"data": values["contiguous"]},
        chunked={"data": values["chunked"], "chunks": (64,)},
        partial={"data": values["partial"], "chunks": (300,), "maxshape": (None,)},
        flags={"data": values["flags"], "chunks": (100,)},
        rows={"data": values["rows"], "chunks": (64, 3)},
        rows_contiguous={"data": values["rows_contiguous"]},
    )
    with h5py.File(path, "r") as f:
        for name, expected in values.items():
            read = unfiltered_reader(f[name])
            assert read is not None, name
            n = len(expected)
            for start, stop in [(0, n), (0, 0), (n, n), (5, 6), (63, 129), (n - 3, n + 10)]:
                np.testing.assert_array_equal(read(start, stop), f[name][start:stop])
            for _ in range(20):
                start = int(rng.integers(0, n))
                stop = int(rng.integers(start, n + 1))
                got = read(start, stop)
                assert got.dtype == expected.dtype
                np.testing.assert_array_equal(got, expected[start:stop])


def test_declines_what_it_cannot_read_raw(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    data = np.arange(500, dtype=np.float64)
    _write(
        path,
        gzip={"data": data, "chunks": (100,), "compression": "gzip"},
        shuffled={"data": data, "chunks": (100,), "shuffle": True},
        big_endian={"data": data.astype(">f8")},
        columns={"data": data.reshape(100, 5), "chunks": (100, 1)},
        unwritten={"shape": (500,), "dtype": np.float64},
        sparse={"shape": (500,), "dtype": np.float64, "chunks": (100,)},
    )
    with h5py.File(path, "a") as f:
        f["sparse"][:100] = 1.0  # only the first chunk is allocated
    with h5py.File(path, "r") as f:
        for name in ["gzip", "shuffled", "big_endian", "columns", "unwritten", "sparse"]:
            assert unfiltered_reader(f[name]) is None, name
    with h5py.File(path, "r+") as f:  # a writable file may hold unflushed chunks
        f.create_dataset("plain", data=data)
        assert unfiltered_reader(f["plain"]) is None


def test_user_block_declined(tmp_path: Path) -> None:
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("x", data=np.arange(10))
    with h5py.File(path, "r") as f:
        assert unfiltered_reader(f["x"]) is None


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_wcsim_dump_reads_equal(tmp_path: Path, step: int) -> None:
    from hitprep.sources.wcsim_dump import WCSimH5Source
    from hitprep.toys.wcsim import write_dump

    path = tmp_path / "toy.h5"
    write_dump(path, 12, true_hits=False, seed=2, compression=None)
    with WCSimH5Source(path) as source, h5py.File(path, "r") as f:
        off = f["digi_hit_offsets"][:]
        for batch in source.iterate(step=step):
            first, last = int(batch["entry"][0]), int(batch["entry"][-1]) + 1
            expected = f["digi_hit_time"][off[first] : off[last]]
            got = ak.to_numpy(ak.flatten(batch["digi_hits", "time"]))
            np.testing.assert_array_equal(got, expected)
