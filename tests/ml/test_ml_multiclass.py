"""Three-class WatChMaL identification (gamma, e, mu) on a real ``hitprep convert wcsim_grid``
output: confusion matrix, one-vs-rest ROC, the signal class named everywhere, working points;
and ``predict --extra`` hypotheses for the mass-parametrized model."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.cli import main  # noqa: E402
from hitprep.errors import ConfigError, KeyInFileError  # noqa: E402
from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.config import load_train_config  # noqa: E402
from hitprep.ml.evaluate import evaluate  # noqa: E402
from hitprep.ml.metrics import roc_curve  # noqa: E402
from hitprep.ml.predict import predict  # noqa: E402
from hitprep.ml.train import TrainResult, train  # noqa: E402

pytest_plugins = ["ml_fixtures"]


@pytest.fixture(scope="module")
def pid_run(wcsim_grid: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    cfg = load_train_config(
        overrides=[
            f"data.path='{wcsim_grid}'",
            "data.class_names=['gamma', 'e', 'mu']",
            "model.conv_channels=[8, 16]",
            "model.hidden=32",
            "train.epochs=2",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
        ]
    )
    return train(cfg, tmp_path_factory.mktemp("pid") / "run", log=lambda line: None)


def test_confusion_matrix_and_per_class_roc(
    pid_run: TrainResult, wcsim_grid: Path, tmp_path: Path
) -> None:
    report = evaluate(pid_run.run_dir, wcsim_grid, tmp_path, split="all", signal="e")
    m = report.metrics
    assert m["classes"] == [0, 1, 2] and m["signal"] == 1 and m["view"] == "class 1 (e) vs rest"
    counts = np.array(m["confusion"]["counts"])
    with h5py.File(wcsim_grid) as f:
        labels = f["labels"][:]
    assert counts.sum(axis=1).tolist() == np.bincount(labels, minlength=3).tolist()
    assert np.allclose(np.array(m["confusion"]["normalized"]).sum(axis=1), 1.0)
    assert np.trace(counts) / counts.sum() == pytest.approx(m["multiclass_accuracy"])
    predict(pid_run.run_dir, wcsim_grid, tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f:
        probs = f["probabilities"][:]
    for i, c in enumerate(("0", "1", "2")):
        assert m["per_class"][c]["auc"] == pytest.approx(roc_curve(labels == i, probs[:, i])[2])
    assert m["auc"] == m["per_class"]["1"]["auc"]
    names = {p.name for p in report.plots}
    assert {"confusion.png", "roc_per_class.png", "roc_log.png"} <= names


def test_working_points_hold_their_efficiencies(
    pid_run: TrainResult, wcsim_grid: Path, tmp_path: Path
) -> None:
    m = evaluate(
        pid_run.run_dir, wcsim_grid, tmp_path, split="all", signal=2, efficiencies=(0.5, 0.9)
    ).metrics
    predict(pid_run.run_dir, wcsim_grid, tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f, h5py.File(wcsim_grid) as d:
        mu = f["probabilities"][:, 2].astype(np.float64)
        truth = d["labels"][:] == 2
    for point in m["working_points"]["at_signal"]:
        kept = mu >= point["threshold"]
        assert kept[truth].mean() == point["signal_efficiency"] >= point["target"]
        assert kept[~truth].mean() == pytest.approx(point["background_efficiency"])
        assert point["background_rejection"] == pytest.approx(1 / kept[~truth].mean())
    for point in m["working_points"]["at_background"]:
        assert (mu[~truth] >= point["threshold"]).mean() <= point["target"]


def test_unknown_signal_class_is_refused(
    pid_run: TrainResult, wcsim_grid: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"--signal 'tau'.*class 2 \(mu\)"):
        evaluate(pid_run.run_dir, wcsim_grid, tmp_path, signal="tau")
    assert not (tmp_path / "metrics.json").exists()


def test_cli_names_the_signal_class(
    pid_run: TrainResult, wcsim_grid: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "evaluate",
            str(pid_run.run_dir),
            str(wcsim_grid),
            "-o",
            str(tmp_path),
            "--signal",
            "mu",
            "--no-progress",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    summary = [line for line in lines if not line.startswith(("plot:", "multi-class"))]
    assert summary and all(line.startswith("class 2 (mu) vs rest") for line in summary)


def test_predict_mass_hypotheses_without_a_mass_field(
    trained_run: Path, toy_images: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "no_mass.h5"  # the same images, without the y table (no mass field)
    with h5py.File(toy_images) as d, h5py.File(plain, "w") as f:
        f.create_dataset("x", data=d["x"][:50])
        f.create_dataset("event_info", data=d["event_info"][:50])
        x = torch.from_numpy(d["x"][:50].astype(np.float32))[:, None]
    with pytest.raises(KeyInFileError, match="mass"):
        predict(trained_run, plain, tmp_path / "fail.h5")
    assert (
        main(
            [
                "predict",
                str(trained_run),
                str(plain),
                "-o",
                str(tmp_path / "one.h5"),
                "--extra",
                "mass=50",
                "--no-progress",
            ]
        )
        == 0
    )
    predict(trained_run, plain, tmp_path / "scan.h5", extras={"mass": [10, 50, 100]})
    model = load_checkpoint(trained_run).model
    with h5py.File(tmp_path / "one.h5") as one, h5py.File(tmp_path / "scan.h5") as scan:
        assert scan["scores"].shape == (50, 3) and scan["probabilities"].shape == (50, 3, 2)
        assert scan.attrs["scan"] == '{"mass": [10.0, 50.0, 100.0]}'
        assert np.array_equal(scan["scores"][:, 1], one["scores"][:])
        for i, mass in enumerate((10.0, 50.0, 100.0)):
            with torch.no_grad():
                direct = model({"x": x, "extras": torch.full((50, 1), mass)})
            assert np.allclose(
                torch.softmax(direct, 1)[:, 1].numpy(), scan["scores"][:, i], atol=1e-6
            )
    bad = ["predict", str(trained_run), str(plain), "-o", str(tmp_path / "x.h5"), "--extra", "mass"]
    assert main(bad) != 0 and not (tmp_path / "x.h5").exists()
