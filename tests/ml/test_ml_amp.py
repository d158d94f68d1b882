"""Mixed precision (``train.amp``): bf16 autocast trains on the CPU, the run's records say so,
the checkpoint reloads; fp16 on the CPU is refused before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.errors import ConfigError  # noqa: E402
from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.config import TrainConfig, load_train_config  # noqa: E402
from hitprep.ml.data import open_dataset  # noqa: E402
from hitprep.ml.inference import run_model  # noqa: E402
from hitprep.ml.loader import make_loader  # noqa: E402
from hitprep.ml.splits import split_rows  # noqa: E402
from hitprep.ml.train import train  # noqa: E402

pytest_plugins = ["ml_fixtures"]


def _config(data: Path, amp: str) -> TrainConfig:
    return load_train_config(
        overrides=[
            f"data.path='{data}'",
            "train.epochs=1",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
            f"train.amp='{amp}'",
        ]
    )


def _quiet(line: str) -> None:
    pass


def test_bf16_trains_on_the_cpu_and_reloads(toy_images: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = _config(toy_images, "bf16")
    result = train(cfg, tmp_path / "bf16", log=lines.append)
    plain = train(_config(toy_images, "off"), tmp_path / "off", log=_quiet)
    (record,) = result.history
    assert np.isfinite(record["train_loss"]) and np.isfinite(record["val_loss"])
    # autocast really ran: bf16 rounding moves the loss a little from the float32 run's
    assert record["train_loss"] != plain.history[0]["train_loss"]
    assert record["train_loss"] == pytest.approx(plain.history[0]["train_loss"], rel=0.1)
    assert record["amp"] == "bf16" and plain.history[0]["amp"] == "off"
    assert any("(bf16 autocast)" in line for line in lines)
    saved = json.loads((tmp_path / "bf16" / "config.json").read_text())
    assert saved["train"]["amp"] == "bf16"
    assert json.loads((tmp_path / "bf16" / "history.json").read_text())[0]["amp"] == "bf16"

    ckpt = load_checkpoint(result.last)
    assert ckpt.config.train["amp"] == "bf16"
    rows = split_rows(600, cfg.split)["validation"]
    loader = make_loader(open_dataset(cfg.data, rows=rows), batch_size=50)
    before = run_model(result.model, loader, torch.device("cpu"))
    after = run_model(ckpt.model, loader, torch.device("cpu"))
    assert np.array_equal(before.probabilities, after.probabilities)
    assert before.loss == pytest.approx(record["val_loss"])


def test_fp16_on_the_cpu_is_refused_before_any_output(toy_images: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train.amp: 'fp16' needs a CUDA GPU.*'bf16'"):
        train(_config(toy_images, "fp16"), tmp_path / "run", log=_quiet)
    assert not (tmp_path / "run").exists()


def test_unknown_amp_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"\[train\].amp: 'fp8' is not one of off, bf16, fp16"):
        load_train_config(overrides=["train.amp='fp8'"])


def test_amp_flag_sets_the_key(toy_images: Path) -> None:
    command = [sys.executable, "-m", "hitprep", "train", "--data", str(toy_images)]
    done = subprocess.run(
        [*command, "--amp", "bf16", "--show-config"], capture_output=True, text=True, check=True
    )
    assert 'amp = "bf16"' in done.stdout.splitlines()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast needs a CUDA GPU")
def test_fp16_on_a_gpu_resumes_with_its_loss_scale(toy_images: Path, tmp_path: Path) -> None:
    two = ["train.epochs=2", "train.device='cuda'"]
    cfg = _config(toy_images, "fp16").replace(two)
    whole = train(cfg, tmp_path / "whole", log=_quiet)
    train(cfg.replace(["train.epochs=1"]), tmp_path / "part", log=_quiet)
    resumed = train(cfg, tmp_path / "part", resume=True, log=_quiet)
    assert [h["amp"] for h in whole.history] == ["fp16", "fp16"]
    assert "scale" in load_checkpoint(whole.last).state["grad_scaler"]
    for key in ("train_loss", "val_loss"):
        got = [h[key] for h in resumed.history]
        assert got == pytest.approx([h[key] for h in whole.history], rel=1e-3), key
