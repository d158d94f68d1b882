"""Training: the loss falls, checkpoints reload and resume exactly, early stopping, each kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.demos.ml import write_toy_images  # noqa: E402
from hitprep.errors import ConfigError  # noqa: E402
from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.config import TrainConfig, load_train_config  # noqa: E402
from hitprep.ml.data import open_dataset  # noqa: E402
from hitprep.ml.inference import run_model  # noqa: E402
from hitprep.ml.loader import make_loader  # noqa: E402
from hitprep.ml.predict import predict  # noqa: E402
from hitprep.ml.splits import split_rows  # noqa: E402
from hitprep.ml.train import resume_config, train  # noqa: E402

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


def _config(data: Path, *extra: str) -> TrainConfig:
    return load_train_config(
        overrides=[
            f"data.path='{data}'",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
            *extra,
        ]
    )


def _quiet(line: str) -> None:
    pass


def test_loss_falls_and_checkpoint_reloads_to_the_same_predictions(
    toy_images: Path, tmp_path: Path
) -> None:
    cfg = _config(toy_images, "train.epochs=2", "data.extras=['mass']")
    result = train(cfg, tmp_path / "run", log=_quiet)
    h = result.history
    assert [r["epoch"] for r in h] == [1, 2]
    assert h[1]["train_loss"] < h[0]["train_loss"]
    assert h[1]["val_loss"] < np.log(2)  # better than guessing
    assert result.model.name == "convnet_extra"
    assert {p.name for p in result.plots} == {"history.png", "history.pdf"}
    assert (tmp_path / "run" / "history.json").is_file()

    ckpt = load_checkpoint(result.last)
    assert ckpt.epoch == 2 and ckpt.schema == result.schema
    assert ckpt.schema.stats["x"]["mean"][0] > 0  # from the training split
    rows = split_rows(600, cfg.split)["validation"]
    ds = open_dataset(cfg.data, rows=rows)
    loader = make_loader(ds, batch_size=50)
    before = run_model(result.model, loader, torch.device("cpu"))
    after = run_model(ckpt.model, loader, torch.device("cpu"))
    assert np.array_equal(before.probabilities, after.probabilities)
    assert before.loss == pytest.approx(h[-1]["val_loss"])


def test_statistics_come_from_the_training_split_only(toy_images: Path, tmp_path: Path) -> None:
    cfg = _config(toy_images, "train.epochs=1")
    result = train(cfg, tmp_path / "run", log=_quiet)
    rows = split_rows(600, cfg.split)
    train_ds = open_dataset(cfg.data, rows=rows["train"])
    everything = open_dataset(cfg.data)
    assert result.schema.stats == train_ds.statistics(seed=cfg.split["seed"])
    assert result.schema.stats != everything.statistics()


def test_resumed_run_equals_an_uninterrupted_one(toy_images: Path, tmp_path: Path) -> None:
    base = ("model.dropout=0.3", "train.seed=5")
    whole = train(_config(toy_images, "train.epochs=2", *base), tmp_path / "a", log=_quiet)
    train(_config(toy_images, "train.epochs=1", *base), tmp_path / "b", log=_quiet)
    lines: list[str] = []
    cfg = resume_config(tmp_path / "b", ["train.epochs=2"])
    resumed = train(cfg, tmp_path / "b", resume=True, log=lines.append)
    assert lines[0].startswith("resuming")
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[1]["val_loss"] == whole.history[1]["val_loss"]


def test_resume_refuses_changes_that_would_mix_runs(toy_images: Path, tmp_path: Path) -> None:
    train(_config(toy_images, "train.epochs=1"), tmp_path / "r", log=_quiet)
    with pytest.raises(ConfigError, match=r"train.learning_rate cannot change"):
        resume_config(tmp_path / "r", ["train.learning_rate=0.1"])
    changed = _config(toy_images, "train.epochs=2", "split.seed=9")
    with pytest.raises(ConfigError, match=r"split.seed differ"):
        train(changed, tmp_path / "r", resume=True, log=_quiet)
    with pytest.raises(ConfigError, match=r"no last.pt to resume"):
        train(changed, tmp_path / "new", resume=True, log=_quiet)


def test_existing_run_needs_overwrite(toy_images: Path, tmp_path: Path) -> None:
    cfg = _config(toy_images, "train.epochs=1")
    train(cfg, tmp_path / "r", log=_quiet)
    with pytest.raises(ConfigError, match="pass --resume to continue it or --overwrite"):
        train(cfg, tmp_path / "r", log=_quiet)
    assert len(train(cfg, tmp_path / "r", overwrite=True, log=_quiet).history) == 1


def test_early_stopping(toy_images: Path, tmp_path: Path) -> None:
    # an improvement must beat min_delta: after the first epoch none does
    cfg = _config(toy_images, "train.epochs=6", "train.patience=2", "train.min_delta=100.0")
    lines: list[str] = []
    result = train(cfg, tmp_path / "r", log=lines.append)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1
    assert any(line.startswith("early stopping") for line in lines)
    assert load_checkpoint(result.best).epoch == 1


def test_empty_validation_split_is_an_error(toy_images: Path, tmp_path: Path) -> None:
    cfg = _config(toy_images, "data.classes=[5, 7]")  # no event has either label
    with pytest.raises(ConfigError, match="the training split is empty"):
        train(cfg, tmp_path / "r", log=_quiet)


def test_demo_budget_reaches_auc_above_0_9(tmp_path: Path) -> None:
    data = write_toy_images(tmp_path / "toy.h5", 1500, seed=11)
    cfg = _config(data, "train.epochs=4", "train.learning_rate=0.002", "train.batch_size=64")
    result = train(cfg, tmp_path / "r", log=_quiet)
    assert max(r["val_auc"] for r in result.history) >= 0.9


@pytest.mark.parametrize("kind", ["graph", "multivolume", "watchmal"])
def test_each_kind_trains_and_predicts(
    kind: str, graphs: Any, multivolume: Path, watchmal: Any, tmp_path: Path
) -> None:
    if kind == "graph":
        data, extra, model = graphs.jagged, (), "pointnet"
    elif kind == "multivolume":
        data, extra, model = multivolume, ("data.inputs=['v0', 'v1']",), "multivolume"
    else:
        data, extra, model = watchmal.chunked, (f"data.pmt_map='{watchmal.pmt_map}'",), "convnet"
    cfg = _config(data, "train.epochs=1", "split.fractions=[0.6, 0.4, 0.0]", *extra)
    result = train(cfg, tmp_path / "r", log=_quiet)
    assert result.model.name == model
    assert np.isfinite(result.history[0]["val_loss"])
    summary = predict(result.best, data, tmp_path / "scores.h5", device="cpu")
    assert summary.n_events == open_dataset(cfg.data, labels=False).n_file_rows
