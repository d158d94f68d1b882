"""Family 2: ``writeback --workers 2`` killed (SIGKILL) resumes, without --overwrite.

Before, a rerun stopped at ``OUTPUT/n2.root exists; pass --overwrite``: outputs that the
workers finished after (or just before) their parent died were in no manifest. Each task
now records its output in the manifest itself, and workers die with their parent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fault_helpers import children, run_cli, start_cli, temporaries, wait_for, wait_gone

from hitprep.config import load_job
from hitprep.runners.writeback import MANIFEST, writeback_files

EVENTS = 500


@pytest.fixture
def toys(tmp_path: Path) -> list[Path]:
    from hitprep.toys.nanoaod import write_toy_nanoaod

    return [write_toy_nanoaod(tmp_path / "in" / f"n{i}.root", EVENTS, seed=i) for i in range(3)]


def _events(path: Path) -> dict[str, Any]:
    import uproot

    with uproot.open(path) as f:
        return dict(f["Events"].arrays(library="np"))


def test_killed_writeback_resumes_what_its_manifest_records(
    toys: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "wb"
    args = ["writeback", "nanoaod_flashsim", *toys, "-o", out, "--workers", "2", "--upsample", "2"]
    proc = start_cli(args)
    wait_for(out, "n*.root", proc=proc)  # a first output is finished
    family = children(proc.pid)
    proc.kill()
    proc.communicate(timeout=60)
    assert wait_gone(family) == set(), "worker processes outlived their killed parent"
    finished = sorted(p.name for p in out.glob("n*.root"))
    lines = (out / MANIFEST).read_text().splitlines()[1:]
    recorded = sorted({json.loads(line)["shard"] for line in lines})
    assert recorded == finished  # every finished output is in the manifest

    again = run_cli(args)
    assert again.returncode == 0, again.stderr
    assert f"{len(recorded)} resumed" in again.stdout
    assert temporaries(out) == []
    reference = tmp_path / "ref"
    writeback_files(load_job("nanoaod_flashsim"), toys, reference, upsample=2)  # uninterrupted
    for toy in toys:
        expected, got = _events(reference / f"{toy.stem}.root"), _events(out / f"{toy.stem}.root")
        assert sorted(got) == sorted(expected)
        for name, values in expected.items():
            if values.dtype == object:
                assert all(np.array_equal(a, b) for a, b in zip(got[name], values, strict=True))
            else:
                np.testing.assert_array_equal(got[name], values)
