"""Training configuration: defaults, overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.errors import ConfigError
from hitprep.ml.config import TrainConfig, load_train_config


def test_defaults_need_no_file() -> None:
    cfg = load_train_config()
    assert cfg.train["epochs"] == 10
    assert cfg.split["fractions"] == [0.8, 0.1, 0.1]
    assert cfg.model["name"] == "auto"


def test_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text('[data]\npath = "data.h5"\nextras = ["mass"]\n[train]\nepochs = 3\n')
    cfg = load_train_config(path, overrides=["train.epochs=7", "model.name='convnet_extra'"])
    assert cfg.train["epochs"] == 7
    assert cfg.model["name"] == "convnet_extra"
    assert cfg.data["extras"] == ["mass"]
    assert cfg.data["path"] == str(tmp_path / "data.h5")  # relative to the config file


def test_json_round_trip() -> None:
    cfg = load_train_config(overrides=["data.classes=[1, 2]", "train.seed=4"])
    assert TrainConfig.from_json(cfg.to_json()) == TrainConfig.from_json(cfg.to_json())
    assert TrainConfig.from_json(cfg.to_json()).as_dict() == cfg.as_dict()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "unknown key 'epoch'; did you mean 'epochs'"),
        ("trian.epochs=3", "unknown section 'trian'; did you mean 'train'"),
        ("train.epochs=0", r"\[train\].epochs: must be positive"),
        ("train.optimizer='adma'", "'adma' is not one of adam, adamw, sgd; did you mean 'adam'"),
        ("model.name='convent'", "did you mean 'convnet'"),
        ("split.fractions=[0.5, 0.6, 0.1]", "sum to 1"),
        ("split.fractions=[0.9, 0.0, 0.1]", "positive train and validation"),
        ("data.classes=[1]", "at least two different values"),
        ("train.learning_rate=0", "learning_rate: must be positive"),
        ("model.dropout=1.5", r"dropout: must be in \[0, 1\)"),
        ("data.grid_channels=['charge', 'tot']", "subset of 'charge', 'time'"),
        ("train.epochs='many'", "expected int"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_train_config(overrides=[override])


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 3")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_train_config(bad)


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = load_train_config(
        overrides=[
            f"data.path='{tmp_path / 'd.h5'}'",
            "data.extras=['mass']",
            "data.signal=2",
            "train.learning_rate=0.0005",
            "data.in_memory=false",
        ]
    )
    path = tmp_path / "again.toml"
    path.write_text(cfg.to_toml())
    assert load_train_config(path).as_dict() == cfg.as_dict()
