"""Shared fixtures: real data files, skipped with a reason where an optional input is absent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real WCSim, NanoAOD, Geant4 files)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"optional real-data folder {SHARED_DATA} is absent")
    return SHARED_DATA


def shared_file(relative: str) -> Path:
    """A file under ``../shared/data``; skips the test when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"optional real-data file {path} is absent")
    return path


@pytest.fixture(scope="session")
def km3net_h5() -> Path:
    """km3net-testdata's atmospheric muon sample (500 events, 2.2M hits)."""
    km3net_testdata = pytest.importorskip("km3net_testdata")
    return Path(km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5"))


@pytest.fixture(scope="session")
def km3net_detx() -> Path:
    """The detector file matching ``km3net_h5`` (det 20, 2070 DOMs, 64,170 PMTs)."""
    km3net_testdata = pytest.importorskip("km3net_testdata")
    return Path(km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx"))


@pytest.fixture(scope="session")
def km3net_slice(km3net_h5: Path) -> Callable[[Path, int, int], Path]:
    """Writes events ``first`` to ``stop`` of ``km3net_h5`` as a km3pipe HDF5 file of their own."""

    def write(path: Path, first: int, stop: int) -> Path:
        with h5py.File(km3net_h5) as src:
            idx = src["hits/_indices"][first:stop].copy()
            lo, hi = int(idx["index"][0]), int(idx["index"][-1] + idx["n_items"][-1])
            idx["index"] -= lo
            with h5py.File(path, "w") as dst:
                dst["hits/_indices"] = idx
                for col in ("channel_id", "dom_id", "time", "tot", "triggered"):
                    dst[f"hits/{col}"] = src[f"hits/{col}"][lo:hi]
                info = src["event_info"][first:stop]
                dst["event_info"] = info
                tracks = src["mc_tracks"][:]
                dst["mc_tracks"] = tracks[np.isin(tracks["group_id"], info["group_id"])]
        return path

    return write


@pytest.fixture
def small_h5(km3net_slice: Callable[[Path, int, int], Path], tmp_path: Path) -> Path:
    """The first 40 events of the real file, written as km3pipe HDF5 (fast CLI tests)."""
    path = tmp_path / "in" / "small.h5"
    path.parent.mkdir()
    return km3net_slice(path, 0, 40)


@pytest.fixture
def fast_paths_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of a fast path itself: on even when the run turns them off (make test-plain)."""
    from hitprep import fastpaths

    monkeypatch.delenv(fastpaths.ENV, raising=False)
