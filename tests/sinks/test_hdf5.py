"""HDF5Sink: parallel chunk compression writes files h5py reads back identically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import pytest

from hitprep.sinks.hdf5 import HDF5Sink

SIZES = [3, 1000, 7, 0, 5001, 1, 2999, 64]
INDEX = np.dtype([("index", "<i8"), ("n_items", "<i8")])


def _arrays(rng: np.random.Generator, n: int) -> dict[str, npt.NDArray[Any]]:
    index = np.zeros(n, dtype=INDEX)
    index["index"] = rng.integers(0, 1 << 40, n)
    index["n_items"] = rng.integers(0, 100, n)
    return {
        "f4_2d": rng.normal(size=(n, 9)).astype(np.float32),
        "i8_1d": rng.integers(-(1 << 40), 1 << 40, n),
        "f8_3d": rng.normal(size=(n, 4, 3)),
        "u2_1d": rng.integers(0, 60000, n).astype(np.uint16),
        "bool_2d": rng.random((n, 5)) > 0.5,
        "i1_1d": rng.integers(-100, 100, n).astype(np.int8),
        "group/f2_1d": rng.normal(size=n).astype(np.float16),
        "struct": index,  # not handled directly: h5py writes it
    }


@pytest.mark.usefixtures("fast_paths_on")  # the sink's direct chunk writes
@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
@pytest.mark.parametrize(("level", "shuffle"), [(1, True), (6, True), (1, False)])
def test_appends_read_back_identically(
    tmp_path: Path, compression: str | None, level: int, shuffle: bool
) -> None:
    rng = np.random.default_rng(level)
    path = tmp_path / "out.h5"
    written: dict[str, list[npt.NDArray[Any]]] = {}
    with HDF5Sink(path, compression=compression, compression_level=level, shuffle=shuffle) as sink:
        for i, n in enumerate(SIZES):
            arrays = _arrays(rng, n)
            sink.append(arrays)
            for name, array in arrays.items():
                written.setdefault(name, []).append(array.copy())
                array[...] = 0  # the sink must not keep the caller's buffers
            if i == 0 and compression == "gzip":  # compressed in threads, not by h5py
                assert sink._plans["f4_2d"] is not None
                assert sink._plans["struct"] is None
            if i == 4:  # reading through sink.file mid-way sees every row so far
                f = sink.file
                assert f is not None
                for name, parts in written.items():
                    assert np.array_equal(f[name][:], np.concatenate(parts))
        sink.commit()
    with h5py.File(path) as f:
        for name, parts in written.items():
            ds = f[name]
            expected = np.concatenate(parts)
            assert ds.shape == expected.shape
            assert ds.dtype == expected.dtype
            assert ds.compression == compression
            assert ds.shuffle == (shuffle and compression is not None)
            if compression == "gzip":
                assert ds.compression_opts == level
            assert np.array_equal(ds[:], expected), name


def test_chunks_and_filters_of_other_datasets(tmp_path: Path) -> None:
    """Datasets made elsewhere (fletcher32, chunks splitting rows, create()) still append."""
    rng = np.random.default_rng(3)
    path = tmp_path / "out.h5"
    a, b, c = rng.normal(size=(5000, 6)), rng.normal(size=(5000, 6)), rng.normal(size=(777, 2, 2))
    with HDF5Sink(path) as sink:
        f = sink.file
        assert f is not None
        f.create_dataset(
            "checksum", shape=(0,), maxshape=(None,), dtype="f8", chunks=(100,),
            compression="gzip", fletcher32=True,
        )  # fmt: skip
        f.create_dataset(
            "split", shape=(0, 6), maxshape=(None, 6), dtype="f8", chunks=(50, 3),
            compression="gzip", shuffle=True,
        )  # fmt: skip
        sink.create("made", dtype=np.float64, shape=(2, 2), chunks=(10, 2, 2))
        for part in (slice(0, 1234), slice(1234, 5000)):
            sink.append({"checksum": a[part, 0], "split": b[part]})
        sink.append({"made": c[:5]})
        sink.append({"made": c[5:]})
        sink.commit()
    with h5py.File(path) as f:
        assert np.array_equal(f["checksum"][:], a[:, 0])
        assert np.array_equal(f["split"][:], b)
        assert np.array_equal(f["made"][:], c)
        assert f["made"].chunks == (10, 2, 2)


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    with pytest.raises(RuntimeError, match="boom"), HDF5Sink(path) as sink:
        sink.append({"x": np.arange(100_000, dtype=np.float64)})
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
