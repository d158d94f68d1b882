"""``hitprep export``: the flat (n_hits, 6) table of LDMX hits, per format, against uproot."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from hitprep.cli import main
from hitprep.errors import ConfigError, KeyInFileError, OutputExistsError
from hitprep.tools.export import COLUMNS, export_hits
from hitprep.toys.ldmx import write_root


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    return write_root(folder / "sig.root", n_events=23, mass=20.0, seed=4, first_event=40000)


def expected_table(path: Path) -> np.ndarray:
    """Event by event from uproot's per-event numpy arrays (independent of hitprep's reader)."""
    with uproot.open(path) as f:
        arrays = f["ecalHits"].arrays(["eventNumber", "x", "y", "z", "E"], library="np")
    rows = []
    for i, number in enumerate(arrays["eventNumber"]):
        n = len(arrays["x"][i])
        cols = [np.full(n, number), np.arange(n), *(arrays[k][i] for k in "xyzE")]
        rows.append(np.column_stack(cols).astype(np.float64))
    return np.concatenate(rows)


def test_npy_equals_per_hit_reference(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "hits.npy"
    summary = export_hits(toy, out, step=5)
    table = np.load(out)
    assert table.shape == (summary.hits, 6) and table.dtype == np.float64
    np.testing.assert_array_equal(table, expected_table(toy))
    assert table[0, 0] == 40000 and table[0, 1] == 0
    assert summary.events == 23
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_h5_equals_npy_and_has_provenance(toy: Path, tmp_path: Path) -> None:
    export_hits(toy, tmp_path / "hits.npy")
    export_hits(toy, tmp_path / "hits.h5", step=4)
    with h5py.File(tmp_path / "hits.h5") as f:
        np.testing.assert_array_equal(f["hits"][:], np.load(tmp_path / "hits.npy"))
        assert json.loads(f.attrs["columns"]) == list(COLUMNS)
        assert json.loads(f.attrs["accounting"])["events_read"] == 23
        assert "hitprep_version" in f.attrs


def test_parquet(toy: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    export_hits(toy, tmp_path / "hits.parquet")
    table = pq.read_table(tmp_path / "hits.parquet")
    assert table.column_names == list(COLUMNS)
    np.testing.assert_array_equal(table.column("E").to_numpy(), expected_table(toy)[:, 5])


def test_parquet_without_pyarrow_is_a_clear_error(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    monkeypatch.setattr("importlib.import_module", lambda name: no_pyarrow(name))
    with pytest.raises(ConfigError, match=r"needs pyarrow \(pip install pyarrow\)"):
        export_hits(toy, tmp_path / "hits.parquet")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown suffix '\.csv'"):
        export_hits(toy, tmp_path / "hits.csv")
    with pytest.raises(KeyInFileError, match="did you mean: 'E'"):
        export_hits(toy, tmp_path / "hits.npy", branches=["x", "y", "z", "e"])
    with pytest.raises(KeyInFileError, match="'ecalHits'"):
        export_hits(toy, tmp_path / "hits.npy", tree="ecalhits")
    (tmp_path / "there.npy").write_bytes(b"")
    with pytest.raises(OutputExistsError):
        export_hits(toy, tmp_path / "there.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there.npy"]


def test_cli(toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hits.npy"
    assert main(["export", str(toy), "-o", str(out), "--step", "7"]) == 0
    assert "23 events" in capsys.readouterr().out
    assert main(["export", str(toy), "-o", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["export", str(toy), "-o", str(tmp_path / "b.npy"), "--branches", "x,y"]) == 1
    assert "four branches" in capsys.readouterr().err


def test_hit_numbers_restart_in_each_event(toy: Path, tmp_path: Path) -> None:
    export_hits(toy, tmp_path / "hits.npy", step=3)
    table = np.load(tmp_path / "hits.npy")
    with uproot.open(toy) as f:
        n = ak.num(f["ecalHits"]["x"].array(), axis=1).to_numpy()
    starts = np.flatnonzero(table[:, 1] == 0)
    assert len(starts) == np.count_nonzero(n)
    np.testing.assert_array_equal(np.diff(np.append(starts, len(table))), n[n > 0])
