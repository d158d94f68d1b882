"""Family 1: a disk that fills up (or is full already) gives one line, exit 1, no temporaries.

A small tmpfs is mounted for the output (root only: skipped otherwise). Before the fix,
a full disk during ``convert`` printed the ENOSPC traceback, then h5py's clean-up errors,
then crashed (exit 139) and left ``.a.h5.*.partial.h5`` behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import run_cli, small_tmpfs, temporaries


@pytest.fixture
def full(tmp_path: Path) -> Path:
    with small_tmpfs(tmp_path / "full", "3m") as folder:
        yield folder


def _assert_one_clean_line(result: object, out: Path) -> None:
    rc, err = result.returncode, result.stderr  # type: ignore[attr-defined]
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert lines == [
        f"hitprep convert: error: no space left on device writing {out}; nothing written"
    ]


def test_disk_filling_up_while_converting(full: Path, km3net_h5: Path, km3net_detx: Path) -> None:
    out = full / "a.h5"
    result = run_cli(["convert", "km3net_graph", km3net_h5, "--detx", km3net_detx, "-o", out])
    _assert_one_clean_line(result, out)
    assert list(full.iterdir()) == []


def test_disk_already_full(full: Path, km3net_h5: Path, km3net_detx: Path) -> None:
    filler = full / "filler"
    with filler.open("wb") as fh, pytest.raises(OSError, match="No space left"):
        while True:
            fh.write(b"\0" * (1 << 16))
            fh.flush()
    out = full / "a.h5"
    result = run_cli(["convert", "km3net_zt", km3net_h5, "--detx", km3net_detx, "-o", out])
    assert result.returncode == 1, result.stderr
    assert "no space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert [p.name for p in full.iterdir()] == ["filler"]


def test_plot_to_a_full_disk(
    full: Path, km3net_h5: Path, km3net_detx: Path, tmp_path: Path
) -> None:
    images = tmp_path / "zt.h5"
    made = run_cli(["convert", "km3net_zt", km3net_h5, "--detx", km3net_detx, "-o", images])
    assert made.returncode == 0, made.stderr
    filler = full / "filler"
    with filler.open("wb") as fh, pytest.raises(OSError, match="No space left"):
        while True:
            fh.write(b"\0" * (1 << 16))
            fh.flush()
    result = run_cli(["binstats", images, "--save-as", full / "stats.png"])
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert temporaries(full) == [] and [p.name for p in full.iterdir()] == ["filler"]
