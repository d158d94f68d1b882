"""Backends: this process, local worker processes and Dask clusters give the same output; an
unreachable scheduler is one clear error."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import h5py
import numpy as np
import pytest
from runner_helpers import EVENTS, N_FILES, assert_same, run_convert

from hitprep.cli import main
from hitprep.config import Job
from hitprep.errors import SchedulerError
from hitprep.runners.manifest import parts_folder

pytest_plugins = ["runner_fixtures"]  # inputs, job, flaky_job


def test_serial_and_processes_give_the_same_output(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    serial = run_convert(job, inputs, tmp_path / "serial.h5", km3net_detx)
    assert serial.runner == "direct" and serial.tasks == N_FILES  # no shards, no merge
    sharded = run_convert(job, inputs, tmp_path / "sharded.h5", km3net_detx, resume=True)
    assert sharded.runner == "serial" and sharded.tasks == N_FILES
    two = run_convert(job, inputs, tmp_path / "two.h5", km3net_detx, workers=2)
    assert two.runner == "processes x2" and two.processes == 2  # this one and a started one
    split = run_convert(job, inputs, tmp_path / "split.h5", km3net_detx, workers=2, task_events=13)
    assert split.tasks == N_FILES * 3  # 13 + 13 + 4 entries per file
    for other in ("sharded.h5", "two.h5", "split.h5"):
        assert_same(tmp_path / "serial.h5", tmp_path / other)
    assert not parts_folder(tmp_path / "two.h5").exists()  # merged, then removed

    with h5py.File(tmp_path / "serial.h5") as f:
        info = f["event_info"][:]
        assert info["file_index"].tolist() == np.repeat(np.arange(N_FILES), EVENTS).tolist()
        assert info["entry"].tolist() == list(range(EVENTS)) * N_FILES
        assert f["x"].shape == (N_FILES * EVENTS, 18, 100)
        assert f["x"].compression == "gzip"
        acc = json.loads(f.attrs["accounting"])
        assert acc["events_read"] == acc["events_written"] == N_FILES * EVENTS
        recorded = json.loads(f.attrs["inputs"])
        assert [r["path"] for r in recorded] == [str(p.resolve()) for p in inputs]
        assert [r["events"] for r in recorded] == [EVENTS] * N_FILES
        merged_hist = f["bin_stats/x/time/hist"][:]
        merged_cut = f["bin_stats/x/pos_z/cut_off"][:]
        edges = f["bin_stats/x/time/bin_edges"][:]
    # bin statistics of the merge are the sums of each input's own
    hists, cuts = [], []
    for i, path in enumerate(inputs):
        one = tmp_path / f"one{i}.h5"
        run_convert(job, [path], one, km3net_detx)
        with h5py.File(one) as f:
            hists.append(f["bin_stats/x/time/hist"][:])
            cuts.append(f["bin_stats/x/pos_z/cut_off"][:])
            np.testing.assert_array_equal(f["bin_stats/x/time/bin_edges"][:], edges)
    np.testing.assert_array_equal(merged_hist, np.sum(hists, axis=0))
    np.testing.assert_array_equal(merged_cut, np.sum(cuts, axis=0))
    assert merged_hist.dtype == np.int64


def test_dask_local_and_external_cluster(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    reference = tmp_path / "serial.h5"
    run_convert(job, inputs, reference, km3net_detx)
    local = run_convert(job, inputs, tmp_path / "local.h5", km3net_detx, dask=True, workers=2)
    assert local.runner == "dask LocalCluster x2" and local.processes >= 1
    assert_same(reference, tmp_path / "local.h5")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = run_convert(job, inputs, tmp_path / "remote.h5", km3net_detx, scheduler=address)
    assert remote.runner.startswith(f"dask {address}")
    assert_same(reference, tmp_path / "remote.h5")


def test_progress_bar_counts_events_of_all_workers(
    job: Job,
    inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_convert(job, inputs, tmp_path / "out.h5", km3net_detx, workers=2, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{N_FILES * EVENTS}/{N_FILES * EVENTS}" in bar


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_scheduler_is_one_clear_error(
    job: Job,
    inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "out" / "x.h5"
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        run_convert(job, inputs, out, km3net_detx, scheduler=address, scheduler_timeout=1)
    args = ["convert", "km3net_zt", *map(str, inputs), "-o", str(out), "--detx", str(km3net_detx)]
    assert main([*args, "--scheduler", address, "--scheduler-timeout", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and address in err
    assert not out.parent.exists()
