"""convert(): options checked before anything is written, failed tasks named, --keep-going
counts what a failure lost."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from runner_helpers import EVENTS, N_FILES, assert_same, no_partials, run_convert

from hitprep.cli import main
from hitprep.config import Job
from hitprep.errors import TaskError
from hitprep.runners import FAILED_REASON, convert
from hitprep.runners.manifest import parts_folder

pytest_plugins = ["runner_fixtures"]  # inputs, job, flaky_job


def test_keep_going_counts_the_events_of_a_failed_range_then_resume_fills_it(
    flaky_job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.h5"
    first = run_convert(flaky_job, inputs, out, km3net_detx, keep_going=True, task_events=10)
    assert first.tasks == N_FILES * 3
    assert [(f.task.path, f.task.start, f.task.stop) for f in first.failed] == [(inputs[2], 0, 10)]
    assert "injected failure" in first.failure_lines()[0]
    acc = first.accounting
    assert acc.events_read == N_FILES * EVENTS and acc.events_written == N_FILES * EVENTS - 10
    assert dict(acc.skipped) == {FAILED_REASON: 10}
    with h5py.File(out) as f:
        assert f["x"].shape[0] == N_FILES * EVENTS - 10
        failed = json.loads(f.attrs["failed"])
        assert [(e["file_index"], e["start"], e["stop"]) for e in failed] == [(2, 0, 10)]
        assert [r["events"] for r in json.loads(f.attrs["inputs"])] == [EVENTS] * N_FILES

    again = run_convert(flaky_job, inputs, out, km3net_detx, task_events=10, overwrite=True)
    assert again.resumed == N_FILES * 3 - 1 and not again.failed
    reference = tmp_path / "reference.h5"
    run_convert(flaky_job, inputs, reference, km3net_detx)
    assert_same(reference, out)


def _corrupt(inputs: list[Path]) -> Path:
    bad = inputs[1]
    data = bad.read_bytes()
    bad.write_bytes(data[:512] + b"\0" * (len(data) - 512))  # superblock kept, the rest zeroed
    return bad


def test_corrupt_input_fails_the_job_and_names_it(
    inputs: list[Path], km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _corrupt(inputs)
    out = tmp_path / "out" / "x.h5"
    args = ["convert", "km3net_zt", *map(str, inputs), "-o", str(out), "--detx", str(km3net_detx)]
    assert main([*args, "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(bad) in err and "failed" in err
    assert not out.exists()
    no_partials(tmp_path)

    assert main([*args, "--keep-going"]) == 3
    captured = capsys.readouterr()
    assert f"{(N_FILES - 1) * EVENTS} written" in captured.out and "1 failed" in captured.out
    failed_lines = [line for line in captured.err.splitlines() if "failed:" in line]
    assert len(failed_lines) == 1 and str(bad) in failed_lines[0]
    with h5py.File(out) as f:
        assert f["x"].shape[0] == (N_FILES - 1) * EVENTS
        assert sorted(set(f["event_info"]["file_index"])) == [0, 2, 3]
        failed = json.loads(f.attrs["failed"])
        assert [(e["file_index"], e["path"]) for e in failed] == [(1, str(bad))]
        recorded = json.loads(f.attrs["inputs"])
        assert [r["events"] for r in recorded] == [EVENTS, None, EVENTS, EVENTS]
    assert parts_folder(out).is_dir()  # kept: a rerun after fixing the input redoes only it


def test_all_tasks_failing_with_keep_going_writes_nothing(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    for path in inputs[:2]:
        path.write_bytes(b"not a file of any format")
    out = tmp_path / "x.h5"
    with pytest.raises(TaskError, match="all 2 tasks failed"):
        run_convert(job, inputs[:2], out, km3net_detx, keep_going=True)
    assert not out.exists() and not parts_folder(out).exists()


def test_runner_options_are_checked(
    job: Job, inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from hitprep.errors import ConfigError

    out = tmp_path / "x.h5"
    with pytest.raises(ConfigError, match="workers must be a positive"):
        convert(job, inputs, out, workers=0)
    with pytest.raises(ConfigError, match="not both"):
        convert(job, inputs, out, dask=True, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="task_events"):
        convert(job, inputs, out, task_events=0)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(ConfigError, match=r"need Dask: pip install 'hitprep\[dask\]'"):
        convert(job, inputs, out, dask=True)
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # nothing written
