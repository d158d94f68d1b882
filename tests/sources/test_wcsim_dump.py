"""WCSim event dumps: DataTools .npz (pickle refused unless trusted) and the HDF5 twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from hitprep.errors import FileFormatError
from hitprep.sources import detect_format, open_source
from hitprep.sources.wcsim_dump import WCSimNpzSource, field_name, pickled_arrays

COUNTS = [3, 0, 5, 2]


def _objects(parts: list[Any]) -> np.ndarray[Any, Any]:
    out = np.empty(len(parts), dtype=object)
    out[:] = parts
    return out


def datatools_arrays(counts: list[int] = COUNTS, seed: int = 1) -> dict[str, Any]:
    """Arrays shaped like DataTools' event_dump.py output."""
    rng = np.random.default_rng(seed)
    n = len(counts)
    tracks = [1, 2, 1, 3][:n]
    return {
        "event_id": np.arange(n, dtype=np.int32),
        "root_file": np.array([f"wcsim_{i // 2}.root" for i in range(n)]),
        "pid": np.array([11, 13, 22, 11][:n]),
        "position": rng.normal(size=(n, 3)).astype(np.float32),
        "direction": rng.normal(size=(n, 3)).astype(np.float32),
        "energy": rng.uniform(100, 500, n).astype(np.float32),
        "digi_hit_pmt": _objects([rng.integers(0, 100, c).astype(np.int32) for c in counts]),
        "digi_hit_charge": _objects([rng.uniform(0, 5, c).astype(np.float32) for c in counts]),
        "digi_hit_time": _objects([rng.uniform(900, 1100, c).astype(np.float32) for c in counts]),
        "digi_hit_trigger": _objects([np.zeros(c, np.int32) for c in counts]),
        "true_hit_pmt": _objects([rng.integers(0, 100, 2 * c).astype(np.int32) for c in counts]),
        "true_hit_time": _objects([rng.uniform(0, 50, 2 * c).astype(np.float32) for c in counts]),
        "true_hit_parent": _objects([np.full(2 * c, 1, np.int32) for c in counts]),
        "track_pid": _objects([rng.choice([11, 13, 22], t) for t in tracks]),
        "track_energy": _objects([rng.uniform(1, 500, t).astype(np.float32) for t in tracks]),
        "track_start_position": _objects([rng.normal(size=(t, 3)) for t in tracks]),
        "track_stop_position": _objects([rng.normal(size=(t, 3)) for t in tracks]),
        "track_parent": _objects([np.zeros(t, np.int32) for t in tracks]),
        "track_flag": _objects([np.zeros(t, np.int32) for t in tracks]),
        "trigger_time": _objects([np.array([0.0], np.float32)] * n),
        "trigger_type": _objects([np.array([0], np.int32)] * n),
    }


@pytest.fixture
def npz(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    arrays = datatools_arrays()
    path = tmp_path / "dump.npz"
    np.savez(path, **arrays)
    return path, arrays


def test_field_names() -> None:
    assert field_name("track_pid") == ("tracks", "pdg")
    assert field_name("track_stop_position") == ("tracks", "stop")
    assert field_name("true_hit_parent") == ("true_hits", "parent")
    assert field_name("trigger_type") == ("triggers", "type")
    assert field_name("position") == ("", "position")


def test_pickle_refused_by_default(npz: tuple[Path, dict[str, Any]]) -> None:
    path, _ = npz
    pickled = pickled_arrays(path)
    assert "digi_hit_pmt" in pickled
    assert "event_id" not in pickled
    with pytest.raises(FileFormatError, match=r"dump\.npz: arrays digi_hit_pmt.*--trust-pickle"):
        WCSimNpzSource(path)
    with pytest.raises(FileFormatError, match="--trust-pickle"):
        open_source(path)


def test_trusted_npz_reads_like_wcsim(npz: tuple[Path, dict[str, Any]]) -> None:
    path, arrays = npz
    assert detect_format(path) == "wcsim_npz"
    with open_source(path, trust_pickle=True) as src:
        assert isinstance(src, WCSimNpzSource)
        assert src.num_events == 4
        fields = src.fields()
        for name in ["digi_hits.pmt", "tracks.pdg", "tracks.stop_z", "position_y", "root_file"]:
            assert name in fields
        batch = src.read(0, 4)
        parts = list(src.iterate(step=3))
    assert ak.num(batch["digi_hits"]).tolist() == COUNTS
    assert ak.num(batch["true_hits"]).tolist() == [2 * c for c in COUNTS]
    for e in range(4):
        np.testing.assert_array_equal(batch["digi_hits"]["pmt"][e], arrays["digi_hit_pmt"][e])
        np.testing.assert_array_equal(batch["digi_hits"]["time"][e], arrays["digi_hit_time"][e])
        np.testing.assert_array_equal(batch["tracks"]["pdg"][e], arrays["track_pid"][e])
        np.testing.assert_array_equal(
            batch["tracks"]["stop_z"][e], arrays["track_stop_position"][e][:, 2]
        )
    np.testing.assert_array_equal(batch["position_y"], arrays["position"][:, 1])
    assert batch["root_file"].tolist() == arrays["root_file"].tolist()
    assert ak.flatten(batch["digi_hits"]["pmt"]).to_numpy().dtype == np.int32
    joined = ak.concatenate(parts)
    assert joined["digi_hits"]["charge"].tolist() == batch["digi_hits"]["charge"].tolist()
    assert joined["entry"].tolist() == [0, 1, 2, 3]


def test_inconsistent_lengths(tmp_path: Path) -> None:
    arrays = datatools_arrays()
    arrays["digi_hit_time"] = _objects([np.zeros(c + (e == 2)) for e, c in enumerate(COUNTS)])
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with (
        WCSimNpzSource(path, trust_pickle=True) as src,
        pytest.raises(FileFormatError, match="different lengths in event 2"),
    ):
        src.read(0, 4, fields=["digi_hits.pmt", "digi_hits.time"])


def test_not_an_event_dump(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.arange(3))
    with pytest.raises(FileFormatError, match="no 'event_id'"):
        WCSimNpzSource(path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileFormatError, match=r"broken\.npz"):
        detect_format(broken)
