"""The shards of an output and their manifest: a resumed run equals an uninterrupted one, one
run at a time per output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_helpers import assert_same, no_partials, run_convert

from hitprep.config import Job
from hitprep.errors import TaskError
from hitprep.runners.manifest import MANIFEST, parts_folder

pytest_plugins = ["runner_fixtures"]  # inputs, job, flaky_job


def test_resume_after_a_failed_task_equals_an_uninterrupted_run(
    flaky_job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "x.h5"
    with pytest.raises(TaskError, match=r"part2\.h5.*injected failure") as info:
        run_convert(flaky_job, inputs, out, km3net_detx, workers=2)
    assert [f.task.path for f in info.value.failures] == [inputs[2]]
    assert "--keep-going" in str(info.value) and "for a rerun" in str(info.value)
    assert not out.exists()
    no_partials(tmp_path)
    manifest = parts_folder(out) / MANIFEST
    finished = [json.loads(line) for line in manifest.read_text().splitlines()[1:]]
    assert finished, "tasks that finished before the failure keep their shards"
    assert inputs[2] not in [Path(e["input"]) for e in finished]

    resumed = run_convert(flaky_job, inputs, out, km3net_detx, workers=2)
    assert resumed.resumed == len(finished)
    assert not parts_folder(out).exists()
    reference = tmp_path / "reference.h5"
    run_convert(flaky_job, inputs, reference, km3net_detx)  # marker gone: nothing fails
    assert_same(reference, out)


def test_one_run_at_a_time_per_output(tmp_path: Path) -> None:
    from hitprep.errors import RunnerError
    from hitprep.runners.manifest import PartsFolder

    folder = tmp_path / "x.h5.parts"
    with (
        PartsFolder(folder, "job", resume=True),
        pytest.raises(RunnerError, match="another hitprep run is writing"),
    ):
        PartsFolder(folder, "job", resume=True)
    with PartsFolder(folder, "job", resume=True):  # released
        pass
