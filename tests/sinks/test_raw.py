"""The raw writer behind HDF5Sink.allocate / HDF5Sink.writer (contiguous datasets at offsets)."""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import numpy as np
import pytest

from hitprep.sinks.hdf5 import HDF5Sink

#: these test the fast paths themselves (hitprep.fastpaths)
pytestmark = pytest.mark.usefixtures("fast_paths_on")


def test_sink_writer_fills_allocated_datasets_at_offsets(tmp_path: Path) -> None:
    out = tmp_path / "o.h5"
    values = np.arange(300_000, dtype=np.float32)
    rows = np.arange(40, dtype=np.int64).reshape(20, 2)
    with HDF5Sink(out) as sink:
        sink.allocate("v", length=len(values), dtype=values.dtype, attrs={"unit": "ns"})
        sink.allocate("r", length=len(rows), dtype=rows.dtype, row=(2,))
        writer = sink.writer(["v", "r"])
        assert writer.raw is False  # 2-d rows: written by h5py
        one = sink.writer(["v"])
        assert one.raw
        for start in range(0, len(values), 70_000)[::-1]:  # any order
            one.write("v", start, values[start : start + 70_000])
        writer.write("r", 0, rows[:5])
        writer.write("r", 5, rows[5:])
        sink.commit()  # the sink waits for every write
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["v"][:], values)
        np.testing.assert_array_equal(f["r"][:], rows)
        assert f["v"].chunks is None and f["v"].compression is None
        assert f["v"].attrs["unit"] == "ns"
        mapped = np.memmap(out, mode="r", dtype=np.float32, offset=f["v"].id.get_offset())
        np.testing.assert_array_equal(mapped[: len(values)], values)


def test_raw_writer_fills_allocated_datasets(tmp_path: Path) -> None:
    from hitprep.sinks.raw import RawWriter, create_allocated

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
    from hitprep.sinks.raw import RawWriter, create_allocated

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
    from hitprep.sinks.raw import RawWriter, create_allocated

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

    from hitprep.sinks import raw as h5raw

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
