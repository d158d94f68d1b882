"""Family 2: SIGTERM, SIGINT and SIGKILL sent to a running ``hitprep convert --workers 2``.

SIGTERM and SIGINT: one line, exit 143 / 130, no process and no temporary left.
SIGKILL: the workers die with their parent; the next run removes the temporaries the
killed one left, resumes exactly the shards its manifest records, and writes the output
an uninterrupted run writes. Inputs: three copies of the km3net-testdata sample (500
events each), the ``km3net_zt`` preset in chunks of 20 events.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from fault_helpers import (
    children,
    run_cli,
    same_datasets,
    start_cli,
    temporaries,
    wait_for,
    wait_gone,
)

from hitprep.runners.manifest import MANIFEST, parts_folder


def _copies(source: Path, folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    paths = [folder / f"part{i}.h5" for i in range(n)]
    for path in paths:
        shutil.copyfile(source, path)
    return paths


@pytest.fixture
def inputs(km3net_h5: Path, tmp_path: Path) -> list[Path]:
    return _copies(km3net_h5, tmp_path / "in", 3)


@pytest.fixture
def many_inputs(km3net_h5: Path, tmp_path: Path) -> list[Path]:
    """Eight tasks for two workers: after the first shard, six are still to run."""
    return _copies(km3net_h5, tmp_path / "in", 8)


def _args(inputs: list[Path], detx: Path, out: Path) -> list[str | Path]:
    return ["convert", "km3net_zt", *inputs, "--detx", detx, "-o", out, "--workers", "2"]


def _args_step(inputs: list[Path], detx: Path, out: Path) -> list[str | Path]:
    return [*_args(inputs, detx, out), "--step", "20", "--no-progress"]


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_signal_cleans_up(
    sig: signal.Signals,
    code: int,
    word: str,
    many_inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out" / "a.h5"
    proc = start_cli(_args_step(many_inputs, km3net_detx, out))
    # the first shard is finished (it stays until the merge): the workers are on the next
    # tasks. A shard's temporary can be seen only for the moment it is written, so waiting for
    # one could catch the last and signal a run that has just ended.
    wait_for(parts_folder(out), "task-*.h5", proc=proc)
    family = children(proc.pid)
    assert family, "the run started no worker process"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"hitprep convert: {word}; unfinished outputs removed"]
    assert wait_gone(family) == set()
    assert temporaries(tmp_path) == []
    assert not out.exists()


def test_sigkill_then_rerun_equals_an_uninterrupted_run(
    inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "a.h5"
    proc = start_cli(_args_step(inputs, km3net_detx, out))
    wait_for(parts_folder(out), "task-*.h5", proc=proc)  # the first shard is finished
    wait_for(tmp_path / "out", ".task-*.partial*", proc=proc)
    family = children(proc.pid)
    proc.kill()
    proc.communicate(timeout=60)
    assert wait_gone(family) == set(), "worker processes outlived their killed parent"
    assert temporaries(tmp_path / "out") != []  # what a kill -9 leaves ...
    lines = (parts_folder(out) / MANIFEST).read_text().splitlines()
    recorded = len([json.loads(line) for line in lines[1:]])

    again = run_cli(_args_step(inputs, km3net_detx, out))
    assert again.returncode == 0, again.stderr
    assert f"{recorded} resumed" in again.stdout  # exactly the shards the manifest records
    assert temporaries(tmp_path / "out") == []  # ... the next run removes
    reference = tmp_path / "reference.h5"
    done = run_cli([*_args_step(inputs, km3net_detx, reference)])
    assert done.returncode == 0, done.stderr
    same_datasets(reference, out)


def test_dask_local_cluster_dies_with_its_parent(
    inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "out" / "a.h5"
    args = [*_args_step(inputs, km3net_detx, out), "--dask"]
    proc = start_cli(args)
    wait_for(tmp_path / "out", ".task-*.partial*", proc=proc)  # Dask workers write shards
    family = children(proc.pid)
    assert len(family) >= 2, "no Dask worker processes found"
    proc.kill()
    proc.communicate(timeout=60)
    assert wait_gone(family, timeout=30) == set(), "Dask workers outlived their killed parent"
