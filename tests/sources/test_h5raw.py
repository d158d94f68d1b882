from __future__ import annotations

import itertools
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.sources.h5raw import unfiltered_reader


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


def test_raw_writer_fills_allocated_datasets(tmp_path: Path) -> None:
    from hitprep.sources.h5raw import RawWriter, create_allocated

    rng = np.random.default_rng(5)
    times = rng.normal(size=1001).astype(np.float32)
    pmts = rng.integers(0, 100, size=1001).astype(np.int32)
    path = tmp_path / "out.h5"
    with h5py.File(path, "w") as f:
        datasets = {
            "time": create_allocated(f, "time", length=len(times), dtype=np.float32),
            "pmt": create_allocated(f, "pmt", length=len(pmts), dtype=np.int32),
        }
        f["other"] = np.arange(3)  # HDF5 keeps writing its own objects meanwhile
        writer = RawWriter.open(datasets, max_pending=2)
        assert writer is not None
        writer.write("time", 0, times[:0])  # a chunk without hits
        for start in range(0, len(times), 100):
            writer.write("time", start, times[start : start + 100])
            writer.write("pmt", start, pmts[start : start + 100])
        with pytest.raises(ValueError, match="float64"):
            writer.write("time", 0, np.zeros(2))
        writer.close()
        f["after"] = np.arange(4)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["time"][:], times)
        np.testing.assert_array_equal(f["pmt"][:], pmts)
        np.testing.assert_array_equal(f["after"][:], np.arange(4))
        assert f["time"].chunks is None  # contiguous: memory-mappable at its offset
        mapped = np.memmap(path, dtype=np.float32, mode="r", offset=f["time"].id.get_offset())
        np.testing.assert_array_equal(mapped[: len(times)], times)


def test_raw_writer_declines(tmp_path: Path) -> None:
    from hitprep.sources.h5raw import RawWriter, create_allocated

    with h5py.File(tmp_path / "a.h5", "w") as f, h5py.File(tmp_path / "b.h5", "w") as g:
        chunked = f.create_dataset("chunked", shape=(10,), dtype=np.int32, chunks=(5,))
        late = f.create_dataset("late", shape=(10,), dtype=np.int32)  # no storage yet
        empty = create_allocated(f, "empty", length=0, dtype=np.int32)
        here = create_allocated(f, "here", length=10, dtype=np.int32)
        there = create_allocated(g, "there", length=10, dtype=np.int32)
        assert RawWriter.open({}) is None
        assert RawWriter.open({"chunked": chunked}) is None
        assert RawWriter.open({"late": late}) is None
        assert RawWriter.open({"empty": empty}) is None
        assert RawWriter.open({"here": here, "there": there}) is None  # two files
        writer = RawWriter.open({"here": here})
        assert writer is not None
        writer.close()


@pytest.mark.parametrize("direct", [True, False])
def test_raw_writer_large_writes(tmp_path: Path, direct: bool) -> None:
    """Writes of several MiB at unaligned offsets: whole blocks direct (where the file system
    allows it), the bytes around them buffered; the file reads back exactly."""
    from hitprep.sources.h5raw import RawWriter, create_allocated

    rng = np.random.default_rng(9)
    values = {
        "a": rng.normal(size=3_000_001).astype(np.float32),
        "b": rng.integers(0, 1 << 30, size=2_500_003).astype(np.int64),
    }
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f["before"] = np.arange(7)
        datasets = {
            k: create_allocated(f, k, length=len(v), dtype=v.dtype) for k, v in values.items()
        }
        writer = RawWriter.open(datasets, max_pending=3, direct=direct)
        assert writer is not None
        if not direct:
            assert not writer.direct
        for name, v in values.items():
            bounds = [0, 17, 400_001, 1_900_000, 1_900_001, len(v)]
            for start, stop in itertools.pairwise(bounds):
                writer.write(name, start, v[start:stop])
        writer.close()
        f["after"] = np.arange(5)
    with h5py.File(path, "r") as f:
        for name, v in values.items():
            np.testing.assert_array_equal(f[name][:], v)
        np.testing.assert_array_equal(f["before"][:], np.arange(7))
        np.testing.assert_array_equal(f["after"][:], np.arange(5))


def test_raw_writer_falls_back_when_direct_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from hitprep.sources import h5raw

    def refuse(self: object, view: memoryview, offset: int) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(h5raw._Direct, "write", refuse)
    values = np.arange(1_000_000, dtype=np.float64)
    path = tmp_path / "fallback.h5"
    with h5py.File(path, "w") as f:
        ds = h5raw.create_allocated(f, "x", length=len(values), dtype=np.float64)
        writer = h5raw.RawWriter.open({"x": ds})
        assert writer is not None
        writer.write("x", 0, values[:600_000])
        writer.write("x", 600_000, values[600_000:])
        writer.close()
        assert not writer.direct
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["x"][:], values)
