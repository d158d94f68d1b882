"""``hitprep convert`` with the WCSim presets: DataTools .npz as the HDF5 dump, and bad input."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import uproot

from hitprep.cli import main
from hitprep.sources.wcsim_dump import FAMILIES, WCSimH5Source
from hitprep.toys.wcsim import write_dump


def _as_datatools_npz(dump: Path, out: Path) -> Path:
    """Rewrite a dump the way DataTools' event_dump.py stores it: one object array per field."""
    with h5py.File(dump, "r") as f:
        arrays: dict[str, Any] = {}
        for key, ds in f.items():
            if not isinstance(ds, h5py.Dataset) or key.endswith("_offsets"):
                continue
            family = next((p for p in FAMILIES if key.startswith(p + "_")), None)
            if family is None:
                arrays[key] = ds.asstr()[:] if key == "root_file" else ds[:]
                continue
            off = f[f"{family}_offsets"][:]
            flat = ds[:]
            per_event = np.empty(len(off) - 1, dtype=object)
            per_event[:] = [flat[a:b] for a, b in itertools.pairwise(off)]
            arrays[key] = per_event
    np.savez(out, **arrays)
    return out


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dump(tmp_path_factory.mktemp("cli") / "toy.h5", 80, seed=41)


def test_npz_needs_trust_and_then_matches_the_dump(
    dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    npz = _as_datatools_npz(dump, tmp_path / "dump.npz")
    out = tmp_path / "from_npz.h5"
    assert main(["convert", "wcsim_watchmal_digi", str(npz), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--trust-pickle" in err
    assert "dump.npz" in err
    assert err.count("\n") == 1  # one line
    assert not out.exists()
    args = ["convert", "wcsim_watchmal_digi", str(npz), "-o", str(out), "--trust-pickle"]
    assert main(args) == 1  # the .npz has no tank for the veto
    assert "needs the tank" in capsys.readouterr().err
    assert main([*args, "--set", f'wcsim_truth.geometry="{dump}"']) == 0
    reference = tmp_path / "from_h5.h5"
    assert main(["convert", "wcsim_watchmal_digi", str(dump), "-o", str(reference)]) == 0
    with h5py.File(out, "r") as a, h5py.File(reference, "r") as b:
        names = ["hit_pmt", "hit_time", "hit_charge", "event_hits_index", "labels", "energies"]
        names += ["positions", "angles", "veto", "veto2", "fully_contained", "event_ids"]
        for name in names:
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)


def test_not_wcsim_root_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f["Events"] = {"x": np.arange(3, dtype=np.float32)}
    out = tmp_path / "out.h5"
    assert main(["convert", "wcsim_watchmal_digi", str(other), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "needs WCSim output" in err
    assert "other.root" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.root"]


def test_truncated_wcsim_file(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = shared_data / "wcsim" / "wcsim_10events_2015.root"
    if not real.exists():
        pytest.skip(f"{real} is absent")
    data = real.read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "out.h5"
    assert main(["convert", "wcsim_watchmal_digi", str(truncated), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "truncated.root" in err
    assert "truncated or corrupt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.root"]


def test_geometry_needed_for_npz_grids(
    dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    npz = _as_datatools_npz(dump, tmp_path / "dump.npz")
    out = tmp_path / "grid.h5"
    args = ["convert", "wcsim_grid", str(npz), "-o", str(out), "--trust-pickle"]
    assert main(args) == 1
    assert "needs the tank" in capsys.readouterr().err
    assert not out.exists()
    with_geometry = [*args, "--set", f'pmt_grid.geometry="{dump}"',
                     "--set", f'wcsim_truth.geometry="{dump}"']  # fmt: skip
    assert main(with_geometry) == 0
    with h5py.File(out, "r") as f, WCSimH5Source(dump) as src:
        assert f["barrel"].shape[0] == src.num_events
