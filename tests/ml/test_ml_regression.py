"""Regression on a real ``hitprep convert wcsim_grid`` output: targets from WatChMaL's
per-event datasets, standardization from the training split, the model beats the
training-mean baseline, direction errors, evaluate and predict agree, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError  # noqa: E402
from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.config import load_train_config  # noqa: E402
from hitprep.ml.datasets import select_classes  # noqa: E402
from hitprep.ml.evaluate import evaluate  # noqa: E402
from hitprep.ml.predict import predict  # noqa: E402
from hitprep.ml.regression import angular_errors  # noqa: E402
from hitprep.ml.splits import split_rows  # noqa: E402
from hitprep.ml.targets import angles_to_vectors, parse_target, read_targets  # noqa: E402
from hitprep.ml.train import TrainResult, train  # noqa: E402
from hitprep.stages.wcsim_truth import angles  # noqa: E402

pytest_plugins = ["ml_fixtures"]

TARGETS = ["log10:energies", "direction:angles"]


@pytest.fixture(scope="module")
def regression_run(wcsim_grid: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    cfg = load_train_config(
        overrides=[
            f"data.path='{wcsim_grid}'",
            f"data.targets={json.dumps(TARGETS)}",
            "model.conv_channels=[8, 16]",
            "model.hidden=32",
            "train.epochs=4",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
        ]
    )
    return train(cfg, tmp_path_factory.mktemp("reg") / "run", log=lambda line: None)


def test_targets_from_watchmal_datasets(wcsim_grid: Path) -> None:
    specs = [parse_target(t) for t in ("log10:energies", "positions", "direction:angles")]
    with h5py.File(wcsim_grid) as f:
        n = len(f["labels"])
        done, values = read_targets(f, specs, n_rows=n)
        energies, positions, pairs = f["energies"][:, 0], f["positions"][:, 0], f["angles"][:]
    assert [s.columns for s in done[:2]] == [
        ("energies",),
        ("positions[0]", "positions[1]", "positions[2]"),
    ]
    assert values.shape == (n, 7) and done[2].angles
    assert np.allclose(values[:, 0], np.log10(energies), rtol=1e-6)
    assert np.allclose(values[:, 1:4], positions)
    # the unit vectors give back WatChMaL's (polar, azimuth) as the converter computed them
    polar, azimuth = angles(values[:, 4:].astype(np.float64))
    assert np.allclose(polar, pairs[:, 0], atol=1e-5)
    assert np.allclose(np.cos(azimuth - pairs[:, 1]), 1.0, atol=1e-5)


def test_bad_targets_name_the_field_and_event(wcsim_grid: Path) -> None:
    with h5py.File(wcsim_grid) as f, pytest.raises(KeyInFileError, match="energies"):
        read_targets(f, [parse_target("energy")], n_rows=len(f["labels"]))
    with h5py.File(wcsim_grid) as f, pytest.raises(FileFormatError, match=r"event \d+"):
        read_targets(f, [parse_target("log10:positions")], n_rows=len(f["labels"]))
    with pytest.raises(ConfigError, match="how one of"):
        parse_target("sqrt:energies")
    with pytest.raises(ConfigError, match="--target energies"):
        select_classes(np.array([0.5, 1.5]), None, file="f.h5", label="energies")


def test_standardized_with_the_training_split(
    regression_run: TrainResult, wcsim_grid: Path
) -> None:
    ckpt = load_checkpoint(regression_run.best)
    energy = ckpt.schema.targets[0]
    rows = split_rows(1000, ckpt.config.split)["train"]
    with h5py.File(wcsim_grid) as f:
        log_e = np.log10(f["energies"][:, 0].astype(np.float64))[rows]
    assert energy.mean == pytest.approx((log_e.mean(),), rel=1e-5)
    assert energy.std == pytest.approx((log_e.std(),), rel=1e-4)
    assert ckpt.schema.targets[1].columns == tuple(f"direction:angles.{a}" for a in "xyz")
    losses = [h["train_loss"] for h in regression_run.history]
    assert losses[-1] < losses[0]


def _metrics(regression_run: TrainResult, data: Path, out: Path) -> dict[str, Any]:
    report = evaluate(regression_run.run_dir, data, out, device="cpu", split="all")
    names = {p.name for p in report.plots}
    assert {"regression_energies.png", "direction_direction_angles.png"} <= names
    return report.metrics


def test_evaluate_beats_the_mean_and_agrees_with_predict(
    regression_run: TrainResult, wcsim_grid: Path, tmp_path: Path
) -> None:
    m = _metrics(regression_run, wcsim_grid, tmp_path / "ev")
    energy = m["targets"]["log10:energies"]["columns"][0]
    direction = m["targets"]["direction:angles"]
    assert energy["improvement"] > 1.5  # resolution vs predicting the training mean
    assert energy["relative_sigma68"] < energy["baseline_relative_sigma68"]
    assert sum(b["n"] for b in energy["bins"]) == 1000
    assert direction["angle_median"] < 60  # a random guess has 90
    predict(regression_run.run_dir, wcsim_grid, tmp_path / "p.h5", device="cpu")
    with h5py.File(tmp_path / "p.h5") as f, h5py.File(wcsim_grid) as d:
        pred, columns = f["predictions"][:], json.loads(f.attrs["columns"])
        true_e = d["energies"][:, 0].astype(np.float64)
        true_dir = angles_to_vectors(d["angles"][:].astype(np.float64))
    assert columns[0] == "energies" and pred.shape == (1000, 4)
    residual = pred[:, 0] - true_e
    q16, q84 = np.percentile(residual, [16, 84])
    assert (q84 - q16) / 2 == pytest.approx(energy["sigma68"], rel=1e-3)
    angle = angular_errors(pred[:, 1:].astype(np.float64), true_dir)
    assert np.median(angle) == pytest.approx(direction["angle_median"], rel=1e-3)
    # a reloaded checkpoint predicts the same
    predict(regression_run.best, wcsim_grid, tmp_path / "again.h5", device="cpu")
    with h5py.File(tmp_path / "again.h5") as f:
        assert np.array_equal(f["predictions"][:], pred)


def test_evaluate_needs_the_targets(
    regression_run: TrainResult, wcsim_grid: Path, tmp_path: Path
) -> None:
    images = tmp_path / "images_only.h5"  # the converted images without the truth datasets
    with h5py.File(images, "w") as f, h5py.File(wcsim_grid) as src:
        f.create_dataset("barrel", data=src["barrel"][:20])
    with pytest.raises(KeyInFileError, match=r"evaluate needs targets.*energies"):
        evaluate(regression_run.run_dir, images, tmp_path / "ev")
    assert not (tmp_path / "ev" / "metrics.json").exists()
