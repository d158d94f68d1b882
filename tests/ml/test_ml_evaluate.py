"""evaluate and predict: metrics files, per-mass breakdown, alignment, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.errors import FileFormatError, KeyInFileError, OutputExistsError  # noqa: E402
from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.errors import SchemaMismatchError  # noqa: E402
from hitprep.ml.evaluate import evaluate  # noqa: E402
from hitprep.ml.metrics import binary_metrics  # noqa: E402
from hitprep.ml.predict import predict  # noqa: E402
from hitprep.ml.splits import split_rows  # noqa: E402

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)

REQUIRED = {"auc", "threshold", "accuracy", "signal_acceptance", "background_suppression", "purity"}


def test_metrics_of_the_test_split(trained_run: Path, toy_images: Path, tmp_path: Path) -> None:
    report = evaluate(trained_run, toy_images, tmp_path / "ev", device="cpu")
    assert report.split == "test"  # the training file: only its test split
    stored = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(stored) >= REQUIRED
    assert stored == report.metrics
    assert stored["n_events"] == 60 and stored["signal"] == 1
    assert stored["auc"] > 0.8
    names = {"roc", "roc_log", "scores", "confusion", "roc_per_mass", "roc_log_per_mass"}
    assert {p.name for p in report.plots} == {f"{n}.{e}" for n in names for e in ("png", "pdf")}
    assert stored["view"] == "class 1 vs class 0" and stored["group_field"] == "mass"
    # per mass: the three toy masses, every test event in one of them
    per_mass = stored["per_mass"]
    assert sorted(per_mass, key=float) == ["10", "50", "100"]
    assert sum(m["n_events"] for m in per_mass.values()) == 60
    assert all(m["threshold"] == stored["threshold"] for m in per_mass.values())


def test_metrics_agree_with_predicted_scores(
    trained_run: Path, toy_images: Path, tmp_path: Path
) -> None:
    report = evaluate(trained_run, toy_images, tmp_path / "ev", split="all", threshold=0.5)
    predict(trained_run, toy_images, tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f, h5py.File(toy_images) as d:
        scores, label = f["scores"][:], d["y"]["label"][:]
    expect = binary_metrics(label, scores, threshold=0.5)
    assert report.metrics["n_events"] == 600
    assert report.metrics["accuracy"] == pytest.approx(expect.accuracy)
    assert report.metrics["purity"] == pytest.approx(expect.purity)
    assert report.metrics["auc"] == pytest.approx(expect.auc, abs=1e-6)


def test_predict_aligns_scores_with_event_info(
    trained_run: Path, toy_images: Path, tmp_path: Path
) -> None:
    summary = predict(trained_run, toy_images, tmp_path / "s.h5", batch_size=70)
    assert summary.n_events == 600 and summary.copied == ("event_info",)
    ckpt = load_checkpoint(trained_run / "best.pt")
    with h5py.File(tmp_path / "s.h5") as f, h5py.File(toy_images) as d:
        assert np.array_equal(f["event_info"][:], d["event_info"][:])
        assert f["row"][:].tolist() == list(range(600))
        scores, probs = f["scores"][:], f["probabilities"][:]
        assert json.loads(f.attrs["classes"]) == [0, 1]
        assert f.attrs["signal"] == 1
        x = torch.from_numpy(d["x"][[17, 400]].astype(np.float32))[:, None]
        mass = torch.from_numpy(d["y"]["mass"][[17, 400]].astype(np.float32))[:, None]
    assert scores.dtype == np.float32
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.array_equal(scores, probs[:, 1])
    with torch.no_grad():
        direct = torch.softmax(ckpt.model({"x": x, "extras": mass}), 1)[:, 1].numpy()
    assert np.allclose(direct, scores[[17, 400]])


def test_predict_needs_no_labels(trained_run: Path, toy_images: Path, tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.h5"
    with h5py.File(toy_images) as src, h5py.File(path, "w") as f:
        f["x"] = src["x"][:20]
        f["mass"] = src["y"]["mass"][:20]  # the extra input as a top-level dataset
    summary = predict(trained_run, path, tmp_path / "s.h5")
    assert summary.n_events == 20 and summary.copied == ()
    with pytest.raises(
        KeyInFileError, match="evaluate needs labels: label field 'label' not found"
    ):
        evaluate(trained_run, path, tmp_path / "ev")


def test_schema_mismatch_is_a_clear_error(
    trained_run: Path, toy_images_other_shape: Path, tmp_path: Path
) -> None:
    msg = r"do not match the model's input schema: input 'x' has shape \(1, 10, 10\), the model"
    with pytest.raises(SchemaMismatchError, match=msg):
        evaluate(trained_run, toy_images_other_shape, tmp_path / "ev")
    with pytest.raises(SchemaMismatchError, match=msg):
        predict(trained_run, toy_images_other_shape, tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "ev").exists()


def test_missing_extra_input_is_named(trained_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "nomass.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((5, 12, 12), np.uint16)
        f["label"] = np.array([0, 1, 0, 1, 0])
    with pytest.raises(KeyInFileError, match="extra input 'mass' not found"):
        predict(trained_run, path, tmp_path / "s.h5")


def test_outputs_are_not_replaced_silently(
    trained_run: Path, toy_images: Path, tmp_path: Path
) -> None:
    evaluate(trained_run, toy_images, tmp_path / "ev")
    with pytest.raises(OutputExistsError):
        evaluate(trained_run, toy_images, tmp_path / "ev")
    predict(trained_run, toy_images, tmp_path / "s.h5")
    with pytest.raises(OutputExistsError):
        predict(trained_run, toy_images, tmp_path / "s.h5")
    evaluate(trained_run, toy_images, tmp_path / "ev", overwrite=True)


def test_split_choice(trained_run: Path, toy_images: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(trained_run)
    val = split_rows(600, ckpt.config.split)["validation"]
    report = evaluate(trained_run, toy_images, tmp_path / "ev", split="validation")
    assert report.metrics["n_events"] == len(val)


def test_bad_checkpoints(tmp_path: Path, toy_images: Path) -> None:
    with pytest.raises(FileFormatError, match="no such checkpoint"):
        evaluate(tmp_path / "none.pt", toy_images, tmp_path / "ev")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="not a readable PyTorch checkpoint"):
        predict(tmp_path / "junk.pt", toy_images, tmp_path / "s.h5")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="not a hitprep checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match=r"run directory without best.pt"):
        load_checkpoint(tmp_path)


class Payload:
    """An arbitrary object: a checkpoint holding one must not be unpickled."""


def test_checkpoints_with_arbitrary_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"format": "hitprep-checkpoint-1", "config": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(FileFormatError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_another_file_is_judged_whole(trained_run: Path, toy_images: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy.h5"
    other.write_bytes(toy_images.read_bytes())
    report = evaluate(trained_run, other, tmp_path / "ev")
    assert report.split == "all" and report.metrics["n_events"] == 600


def test_three_classes_one_signal(tmp_path: Path) -> None:
    from hitprep.ml.config import load_train_config
    from hitprep.ml.train import train

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 300)
    x = rng.poisson(1 + 3 * labels[:, None, None], size=(300, 6, 6)).astype(np.uint16)
    path = tmp_path / "three.h5"
    with h5py.File(path, "w") as f:
        f["x"], f["labels"] = x, labels.astype(np.int32)
    cfg = load_train_config(
        overrides=[f"data.path='{path}'", "data.signal=1", "train.epochs=2", "train.device='cpu'"]
    )
    train(cfg, tmp_path / "r", log=lambda s: None)
    report = evaluate(tmp_path / "r", path, tmp_path / "ev", split="all")
    m = report.metrics
    assert m["classes"] == [0, 1, 2] and m["signal"] == 1
    assert m["n_signal"] == int((labels == 1).sum())
    assert 0 <= m["multiclass_accuracy"] <= 1
    with h5py.File(predict(tmp_path / "r", path, tmp_path / "s.h5").output) as f:
        assert f["probabilities"].shape == (300, 3)
        assert np.array_equal(f["scores"][:], f["probabilities"][:, 1])
