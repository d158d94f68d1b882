"""The train / evaluate / predict commands: three commands from a file to a judged model."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from hitprep.cli import main
from hitprep.ml.errors import MissingDependencyError, require_torch

pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


def test_three_commands(
    toy_images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            str(toy_images),
            "--label",
            "label",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--device",
            "cpu",
            "--set",
            "data.extras=['mass']",
            "-o",
            str(run),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "epoch 1/1: train loss" in out and "model convnet_extra" in out
    assert (run / "best.pt").is_file() and (run / "history.png").is_file()

    assert main(["evaluate", str(run), str(toy_images), "-o", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "(test split): AUC" in out and "mass 50:" in out
    assert "auc" in json.loads((tmp_path / "ev" / "metrics.json").read_text())

    scores = tmp_path / "scores.h5"
    assert main(["predict", str(run / "best.pt"), str(toy_images), "-o", str(scores)]) == 0
    assert "600 events scored" in capsys.readouterr().out
    with h5py.File(scores) as f:
        assert f["scores"].shape == (600,)
        assert f.attrs["command"].startswith("hitprep predict")


def test_config_file_and_flags(toy_images: Path, tmp_path: Path) -> None:
    config = tmp_path / "train.toml"
    config.write_text(
        f'[data]\npath = "{toy_images}"\n[train]\nepochs = 3\nbatch_size = 50\ndevice = "cpu"\n'
    )
    assert main(["train", str(config), "--epochs", "1", "-o", str(tmp_path / "r")]) == 0
    stored = json.loads((tmp_path / "r" / "config.json").read_text())
    assert stored["train"]["epochs"] == 1 and stored["train"]["batch_size"] == 50
    assert main(["train", "-o", str(tmp_path / "r"), "--resume", "--epochs", "2"]) == 0
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]


def test_errors_print_one_line(
    trained_run: Path,
    toy_images_other_shape: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["predict", str(trained_run), str(toy_images_other_shape), "-o", str(tmp_path / "s.h5")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("hitprep predict: error:") and "has shape (1, 10, 10)" in err
    code = main(["train", "--data", str(tmp_path / "absent.h5"), "-o", str(tmp_path / "r")])
    assert code == 1 and "absent.h5: no such file" in capsys.readouterr().err
    code = main(
        [
            "train",
            "--data",
            str(toy_images_other_shape),
            "--model",
            "pointnet",
            "--device",
            "cpu",
            "-o",
            str(tmp_path / "r"),
        ]
    )
    assert code == 1 and "takes nodes inputs" in capsys.readouterr().err


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    with pytest.raises(MissingDependencyError, match=r"needs PyTorch: pip install 'hitprep\[ml\]'"):
        require_torch("train")


def test_show_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--show-config", "--epochs", "4", "--label", "trigger"]) == 0
    out = capsys.readouterr().out
    assert "[train]\nepochs = 4\n" in out and 'label = "trigger"' in out
    assert main(["train", "--data", "x.h5"]) == 1
    assert "give the run directory with -o RUN_DIR" in capsys.readouterr().err
