"""Runner fixtures: four 30-event slices of the real km3net-testdata file, the ``km3net_zt``
job, and that job with labels that fail once (for resume and --keep-going).

Loaded by the runner tests with ``pytest_plugins = ["runner_fixtures"]`` rather than from a
``conftest.py``: a second ``conftest`` module would hide ``tests/conftest.py`` from the tests
that import ``shared_file`` from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import pytest
from runner_helpers import EVENTS, N_FILES

from hitprep.config import Job, load_job

_FLAKY = """
import os
from pathlib import Path

from hitprep.labels import km3net_mc


def labels(batch):
    marker = Path(os.environ["HITPREP_TEST_FAIL_ONCE"])
    if marker.exists() and int(os.environ["HITPREP_TEST_FAIL_EVENT"]) in batch["event_id"]:
        marker.unlink()
        raise RuntimeError("injected failure")
    return km3net_mc(batch)
"""


@pytest.fixture
def flaky_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[Path]) -> Job:
    """``km3net_zt`` whose labels fail on their first try in the third input."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "flaky_labels.py").write_text(_FLAKY)
    monkeypatch.syspath_prepend(str(hooks))
    marker = tmp_path / "fail-once"
    marker.touch()
    with h5py.File(inputs[2]) as f:
        event = int(f["event_info"]["event_id"][3])
    monkeypatch.setenv("HITPREP_TEST_FAIL_ONCE", str(marker))
    monkeypatch.setenv("HITPREP_TEST_FAIL_EVENT", str(event))
    return load_job("km3net_zt", overrides=["labels.extractor=flaky_labels:labels"])


@pytest.fixture
def inputs(km3net_slice: Callable[[Path, int, int], Path], tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [folder / f"part{i}.h5" for i in range(N_FILES)]
    return [km3net_slice(path, EVENTS * i, EVENTS * (i + 1)) for i, path in enumerate(paths)]


@pytest.fixture
def job() -> Job:
    return load_job("km3net_zt")
