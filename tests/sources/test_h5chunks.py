"""Parallel chunk inflation returns exactly what h5py returns."""

from __future__ import annotations

from pathlib import Path

import h5py
import km3net_testdata
import numpy as np
import pytest

from hitprep.sources.h5chunks import read_slice

FILTERS = [
    {"compression": "gzip", "shuffle": True, "fletcher32": True},
    {"compression": "gzip", "shuffle": False, "fletcher32": True},
    {"compression": "gzip", "shuffle": True, "fletcher32": False},
    {"compression": "gzip"},
    {"compression": "lzf"},  # not handled here: falls back to h5py
    {},
]


@pytest.mark.parametrize("options", FILTERS)
@pytest.mark.parametrize("dtype", ["<f8", "<i4", "<u2", "u1", ">f4"])
def test_equals_h5py(tmp_path: Path, options: dict[str, object], dtype: str) -> None:
    rng = np.random.default_rng(5)
    data = (rng.normal(size=10_007) * 100).astype(dtype)
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=data, chunks=(512,), **options)  # type: ignore[arg-type]
    with h5py.File(path) as f:
        ds = f["d"]
        for start, stop in [(0, 10_007), (1, 10_006), (511, 513), (512, 4096), (9000, 20_000)]:
            np.testing.assert_array_equal(read_slice(ds, start, stop), ds[start:stop])
            assert read_slice(ds, start, stop).dtype == ds.dtype


def test_real_km3pipe_files() -> None:
    for name in ("hdf5/atmospheric_muons_sample.h5", "hdf5/mupage_ARCA.h5"):
        with h5py.File(km3net_testdata.data_path(name)) as f:
            for column in ("dom_id", "channel_id", "time", "tot", "triggered"):
                ds = f[f"hits/{column}"]
                np.testing.assert_array_equal(read_slice(ds, 3, ds.shape[0] - 5), ds[3:-5])


def test_one_thread_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a budget of one thread the chunks are inflated inline, with the same result."""
    from hitprep import threads

    threads.set_threads(1)
    try:
        with h5py.File(km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5")) as f:
            ds = f["hits/time"]
            np.testing.assert_array_equal(read_slice(ds, 0, 100_000), ds[:100_000])
    finally:
        threads.set_threads(None)
