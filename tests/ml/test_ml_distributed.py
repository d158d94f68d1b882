"""Two training processes (DistributedDataParallel, gloo on CPU) against one: the same
global batches give the same losses, only process 0 writes, the records say 2 processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.ml.distributed import Processes, ShardSampler  # noqa: E402
from hitprep.ml.loader import EventShuffleSampler  # noqa: E402

pytest_plugins = ["ml_fixtures"]


def test_shards_make_up_the_one_process_batches() -> None:
    base = EventShuffleSampler(100, seed=3)
    base.set_epoch(2)
    order = list(base)
    shards = [list(ShardSampler(base, Processes(r, 2), 100)) for r in (0, 1)]
    batch = 10  # global batch 10 = 5 events from each process
    for i in range(10):
        joined = sorted(shards[0][5 * i : 5 * i + 5] + shards[1][5 * i : 5 * i + 5])
        assert joined == sorted(order[10 * i : 10 * i + batch])


def _train(data: Path, out: Path, nproc: int) -> list[dict[str, float]]:
    command = [
        sys.executable, "-m", "hitprep", "train", "--data", str(data), "--epochs", "2",
        "--batch-size", "32", "--lr", "0.003", "--device", "cpu", "--no-progress",
        "-o", str(out), "--nproc", str(nproc),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    history: list[dict[str, float]] = json.loads((out / "history.json").read_text())
    return history


def test_two_processes_train_as_one(toy_images: Path, tmp_path: Path) -> None:
    one = _train(toy_images, tmp_path / "one", 1)
    two = _train(toy_images, tmp_path / "two", 2)
    for key in ("train_loss", "val_loss", "val_auc"):
        assert np.allclose([h[key] for h in two], [h[key] for h in one], rtol=1e-4), key
    assert [h["processes"] for h in two] == [2, 2]
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2
    assert sorted(p.name for p in (tmp_path / "two").glob("*.pt")) == ["best.pt", "last.pt"]
