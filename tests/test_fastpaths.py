"""The fast paths off (``HITPREP_FAST_PATHS=0``) give the same outputs: plain h5py / uproot
is the reference every fast path must equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hitprep import fastpaths
from hitprep.config import load_job
from hitprep.runners import convert
from hitprep.sinks.hdf5 import dataset_names
from hitprep.sources.baskets import BasketReader
from hitprep.toys.ldmx import write_root
from hitprep.toys.wcsim import write_dump


def _datasets(path: Path) -> dict[str, Any]:
    with h5py.File(path, "r") as f:
        return {n: (f[n][()], f[n].dtype, f[n].chunks, f[n].compression) for n in dataset_names(f)}


def _same(a: Path, b: Path) -> None:
    da, db = _datasets(a), _datasets(b)
    assert da.keys() == db.keys()
    for name, (value, dtype, chunks, compression) in da.items():
        other = db[name]
        assert (dtype, chunks, compression) == other[1:], name
        a, b = np.asarray(value), np.asarray(other[0])
        if a.dtype.kind == "O":  # variable-length strings: compare the strings
            assert a.tolist() == b.tolist(), name
        else:
            assert a.tobytes() == b.tobytes(), name


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run: Any, **options: Any
) -> tuple[Path, Path]:
    on, off = tmp_path / "on.h5", tmp_path / "off.h5"
    monkeypatch.delenv(fastpaths.ENV, raising=False)
    run(on, **options)
    monkeypatch.setenv(fastpaths.ENV, "0")
    run(off, **options)
    return on, off


@pytest.mark.parametrize("resume", [None, True])  # direct, and shards merged
def test_wcsim_watchmal_same_without_fast_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, resume: bool | None
) -> None:
    dump = write_dump(tmp_path / "dump.h5", 120, seed=5, compression=None)  # raw preadv reads
    job = load_job("wcsim_watchmal_digi")

    def run(out: Path, **kw: Any) -> None:
        convert(job, [dump], out, step=50, task_events=50, **kw)

    on, off = _both_ways(monkeypatch, tmp_path, run, resume=resume)
    _same(on, off)


def test_km3net_graph_same_without_fast_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, km3net_h5: Path, km3net_detx: Path
) -> None:
    job = load_job("km3net_graph")

    def run(out: Path) -> None:  # threaded inflate of the input, threaded deflate of the output
        convert(job, [km3net_h5], out, detx=km3net_detx)

    on, off = _both_ways(monkeypatch, tmp_path, run)
    _same(on, off)


def test_ldmx_root_same_without_fast_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = [write_root(tmp_path / "s.root", n_events=40, mass=10.0, seed=1)]
    job = load_job("ldmx_xyz", overrides=["ldmx_images.0.dim=8"])

    def run(out: Path) -> None:  # the TTree basket reader, or uproot
        convert(job, files, out)

    on, off = _both_ways(monkeypatch, tmp_path, run)
    _same(on, off)


def test_the_switch_reaches_every_fast_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hitprep.allocator import keep_freed_memory
    from hitprep.sinks.raw import RawWriter, create_allocated
    from hitprep.sources.h5raw import unfiltered_reader

    monkeypatch.setenv(fastpaths.ENV, "off")
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        ds = create_allocated(f, "x", length=10, dtype=np.float32)
        assert RawWriter.open({"x": ds}) is None
    with h5py.File(path, "r") as f:
        assert unfiltered_reader(f["x"]) is None
    assert keep_freed_memory() is False
    root = write_root(tmp_path / "b.root", n_events=5, seed=1)
    import uproot

    with uproot.open(root) as f:
        assert BasketReader(root, f["ecalHits"]).enabled is False
