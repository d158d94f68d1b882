"""Task keys: a changed input or job invalidates its shards, nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner_helpers import EVENTS, N_FILES, assert_same, run_convert

from hitprep.config import Job, load_job
from hitprep.runners.manifest import parts_folder

pytest_plugins = ["runner_fixtures"]  # inputs, job, flaky_job


def test_changed_input_or_job_invalidates_shards(
    job: Job,
    inputs: list[Path],
    km3net_slice: Callable[[Path, int, int], Path],
    km3net_detx: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "v.h5"
    first = run_convert(job, inputs, out, km3net_detx, virtual=True)
    assert first.resumed == 0
    again = run_convert(job, inputs, out, km3net_detx, virtual=True, overwrite=True)
    assert again.resumed == N_FILES  # nothing changed: every shard reused
    km3net_slice(inputs[1], 300, 300 + EVENTS)  # other events in the second input
    changed = run_convert(job, inputs, out, km3net_detx, virtual=True, overwrite=True)
    assert changed.resumed == N_FILES - 1
    fresh = tmp_path / "fresh.h5"
    run_convert(job, inputs, fresh, km3net_detx)
    assert_same(fresh, out)
    other = load_job("km3net_zt", overrides=["images.0.dtype=uint32"])
    assert run_convert(other, inputs, out, km3net_detx, virtual=True, overwrite=True).resumed == 0
    restart = run_convert(
        other, inputs, out, km3net_detx, virtual=True, overwrite=True, resume=False
    )
    assert restart.resumed == 0
    shards = sorted(p.name for p in parts_folder(out).glob("*.h5"))
    assert len(shards) == N_FILES  # the old job's shards are gone
