"""Training configuration: a TOML file (all keys optional), command-line flags on top.

With no file at all, defaults are derived from the data: any hitprep file with
images in ``x`` and a label field in ``y`` trains as it is. A full file::

    [data]
    path = "images.h5"
    kind = "auto"            # images | graph | watchmal (auto: from the datasets present)
    inputs = ["x"]           # image datasets (several: one conv tower each), or the node dataset
    label = "label"          # field of `y` or a top-level dataset (auto: label, labels, ...)
    targets = []             # regression instead: ["log10:energies", "direction:angles"]
    class_names = []         # names of the classes, in class order (plots, summaries)
    classes = [0, 1]         # label values to train on, in class order (default: all present)
    signal = 1               # the class judged as signal by `evaluate` (default: the last)
    extras = ["mass"]        # scalar inputs joined before the dense layers
    channels = "auto"        # none | first | last: which image axis holds channels
    transform = "none"       # none | log1p, before normalization
    normalize = true         # mean / std from the training split only
    in_memory = "auto"       # true | false | auto (load when the training data fit in 1 GiB)
    features = []            # graphs: node features (default: all)
    max_nodes = 0            # jagged graphs: keep at most this many nodes (0: no limit)
    pmt_map = ""             # WatChMaL hits: .npz (pmt_image_positions), .npy, FILE.h5:DATASET
    [split]
    fractions = [0.8, 0.1, 0.1]  # train, validation, test
    seed = 42
    index = ""               # `hitprep split` index file(s) instead of fractions
    [model]
    name = "auto"            # convnet | convnet_extra | multivolume | pointnet | edgeconv
    k = 8                    # edgeconv: neighbours per node when the file stores no edges
    conv_channels = [16, 32]
    hidden = 64
    dropout = 0.0
    [train]
    epochs = 10
    batch_size = 64
    learning_rate = 1e-3
    optimizer = "adam"       # adam | adamw | sgd
    seed = 0
    patience = 5             # early stopping on validation loss (0: off)
    loss = "auto"            # auto (cross-entropy; MSE for targets) | mse | huber
    amp = "off"              # mixed precision: off | bf16 | fp16 (fp16: CUDA only, grad scaling)
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitprep.config import Schema, apply_overrides, check_keys
from hitprep.errors import ConfigError, nearest

__all__ = ["SECTIONS", "TrainConfig", "load_train_config", "load_train_config_text"]

_DATA: Schema = {
    "path": (str, ""),
    "kind": (str, "auto"),
    "inputs": (list, []),
    "label": (str, ""),
    "targets": (list, []),
    "class_names": (list, []),
    "classes": (list, []),
    "signal": ((int, str), ""),
    "extras": (list, []),
    "channels": (str, "auto"),
    "transform": (str, "none"),
    "normalize": (bool, True),
    "in_memory": ((bool, str), "auto"),
    "features": (list, []),
    "mask": (str, "auto"),
    "offsets": (str, "auto"),
    "max_nodes": (int, 0),
    "pmt_map": (str, ""),
    "grid_channels": (list, ["charge", "time"]),
    "pmts_per_pixel": (int, 1),
}
_SPLIT: Schema = {
    "fractions": (list, [0.8, 0.1, 0.1]),
    "seed": (int, 42),
    "index": (str, ""),
    "train": (str, ""),
    "validation": (str, ""),
    "test": (str, ""),
}
_MODEL: Schema = {
    "name": (str, "auto"),
    "conv_channels": (list, [16, 32]),
    "kernel_size": (int, 3),
    "hidden": (int, 64),
    "dropout": (float, 0.0),
    "node_channels": (list, [64, 128]),
    "k": (int, 8),
}
_TRAIN: Schema = {
    "epochs": (int, 10),
    "batch_size": (int, 64),
    "learning_rate": (float, 1e-3),
    "optimizer": (str, "adam"),
    "weight_decay": (float, 0.0),
    "momentum": (float, 0.9),
    "seed": (int, 0),
    "patience": (int, 5),
    "min_delta": (float, 0.0),
    "device": (str, "auto"),
    "num_workers": (int, 0),
    "shuffle": (str, "auto"),
    "norm_events": (int, 10000),
    "loss": (str, "auto"),
    "amp": (str, "off"),
}

#: section -> {key: (type, default)}
SECTIONS: dict[str, Schema] = {"data": _DATA, "split": _SPLIT, "model": _MODEL, "train": _TRAIN}

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("data", "kind"): ("auto", "images", "graph", "watchmal"),
    ("data", "channels"): ("auto", "none", "first", "last"),
    ("data", "transform"): ("none", "log1p"),
    ("model", "name"): (
        "auto",
        "convnet",
        "convnet_extra",
        "multivolume",
        "pointnet",
        "edgeconv",
    ),
    ("train", "optimizer"): ("adam", "adamw", "sgd"),
    ("train", "shuffle"): ("auto", "events", "chunks"),
    ("train", "loss"): ("auto", "mse", "huber"),
    ("train", "amp"): ("off", "bf16", "fp16"),
}

_POSITIVE = {
    ("train", "epochs"),
    ("train", "batch_size"),
    ("model", "hidden"),
    ("model", "kernel_size"),
    ("model", "k"),
    ("data", "pmts_per_pixel"),
    ("train", "norm_events"),
}
_NON_NEGATIVE = {
    ("train", "patience"),
    ("train", "num_workers"),
    ("data", "max_nodes"),
    ("train", "weight_decay"),
    ("train", "min_delta"),
}


@dataclass(frozen=True)
class TrainConfig:
    """A validated training configuration: ``data``, ``split``, ``model``, ``train`` tables."""

    data: dict[str, Any]
    split: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    origin: str = "defaults"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, origin: str = "defaults") -> TrainConfig:
        """Validate a parsed table (unknown keys and bad values raise :class:`ConfigError`)."""
        for key in raw:
            if key not in SECTIONS:
                close = nearest(key, SECTIONS)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                msg = f"{origin}: unknown section {key!r}{hint} (allowed: {', '.join(SECTIONS)})"
                raise ConfigError(msg)
        tables = {
            name: check_keys(f"{origin} [{name}]", raw.get(name, {}), schema)
            for name, schema in SECTIONS.items()
        }
        _check_values(origin, tables)
        return cls(tables["data"], tables["split"], tables["model"], tables["train"], origin)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Plain tables (a deep copy), e.g. to store in a checkpoint."""
        return copy.deepcopy(
            {"data": self.data, "split": self.split, "model": self.model, "train": self.train}
        )

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def to_toml(self) -> str:
        """The configuration as a TOML file that :func:`load_train_config` reads back.

        Example:
            >>> text = load_train_config(overrides=["train.epochs=3"]).to_toml()
            >>> "epochs = 3" in text and load_train_config_text(text).train["epochs"] == 3
            True
        """
        lines: list[str] = []
        for section, table in self.as_dict().items():
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
            lines.append("")
        return "\n".join(lines)

    @classmethod
    def from_json(cls, text: str, *, origin: str = "checkpoint") -> TrainConfig:
        return cls.from_dict(json.loads(text), origin=origin)

    def replace(self, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
        """A copy with ``section.key=value`` overrides applied and validated again."""
        return TrainConfig.from_dict(apply_overrides(self.as_dict(), overrides), origin=self.origin)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def load_train_config_text(text: str, *, origin: str = "text") -> TrainConfig:
    """A configuration from TOML text (see :func:`load_train_config`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{origin}: invalid TOML: {err}"
        raise ConfigError(msg) from err
    return TrainConfig.from_dict(raw, origin=origin)


def _check_values(where: str, tables: dict[str, dict[str, Any]]) -> None:
    for (section, key), allowed in _CHOICES.items():
        value = tables[section][key]
        if value not in allowed:
            close = nearest(str(value), allowed)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"{where} [{section}].{key}: {value!r} is not one of {', '.join(allowed)}{hint}"
            raise ConfigError(msg)
    for section, key in _POSITIVE | _NON_NEGATIVE:
        value = tables[section][key]
        bad = value <= 0 if (section, key) in _POSITIVE else value < 0
        if bad:
            kind = "positive" if (section, key) in _POSITIVE else "non-negative"
            msg = f"{where} [{section}].{key}: must be {kind}, got {value!r}"
            raise ConfigError(msg)
    train = tables["train"]
    if train["learning_rate"] <= 0:
        msg = f"{where} [train].learning_rate: must be positive, got {train['learning_rate']!r}"
        raise ConfigError(msg)
    if not 0.0 <= tables["model"]["dropout"] < 1.0:
        msg = f"{where} [model].dropout: must be in [0, 1), got {tables['model']['dropout']!r}"
        raise ConfigError(msg)
    data = tables["data"]
    if data["in_memory"] not in (True, False, "auto"):
        msg = f"{where} [data].in_memory: expected true, false or 'auto', got {data['in_memory']!r}"
        raise ConfigError(msg)
    _check_list(where, "data", "inputs", data["inputs"], str)
    _check_list(where, "data", "extras", data["extras"], str)
    _check_list(where, "data", "targets", data["targets"], str)
    _check_list(where, "data", "class_names", data["class_names"], str)
    if data["targets"]:
        from hitprep.ml.targets import parse_target

        for text in data["targets"]:
            parse_target(text)
    _check_list(where, "data", "features", data["features"], str)
    _check_list(where, "data", "grid_channels", data["grid_channels"], str)
    _check_list(where, "data", "classes", data["classes"], int)
    _check_list(where, "model", "conv_channels", tables["model"]["conv_channels"], int)
    _check_list(where, "model", "node_channels", tables["model"]["node_channels"], int)
    for key in ("conv_channels", "node_channels"):
        if not tables["model"][key] or min(tables["model"][key]) <= 0:
            msg = f"{where} [model].{key}: expected a non-empty list of positive integers"
            raise ConfigError(msg)
    if len(set(data["classes"])) != len(data["classes"]) or len(data["classes"]) == 1:
        msg = (
            f"{where} [data].classes: expected at least two different values, got {data['classes']}"
        )
        raise ConfigError(msg)
    bad_channels = set(data["grid_channels"]) - {"charge", "time"}
    if bad_channels or not data["grid_channels"]:
        msg = (
            f"{where} [data].grid_channels: expected a non-empty subset of 'charge', 'time',"
            f" got {data['grid_channels']}"
        )
        raise ConfigError(msg)
    _check_fractions(where, tables["split"]["fractions"])


def _check_list(where: str, section: str, key: str, values: list[Any], kind: type) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kind):
            msg = f"{where} [{section}].{key}: expected a list of {kind.__name__}, got {values!r}"
            raise ConfigError(msg)


def _check_fractions(where: str, fractions: list[Any]) -> None:
    ok = len(fractions) == 3 and all(
        isinstance(f, int | float) and not isinstance(f, bool) and f >= 0 for f in fractions
    )
    if not ok or abs(sum(fractions) - 1.0) > 1e-6 or fractions[0] <= 0 or fractions[1] <= 0:
        msg = (
            f"{where} [split].fractions: expected three non-negative numbers (train, validation,"
            f" test) with positive train and validation that sum to 1, got {fractions!r}"
        )
        raise ConfigError(msg)


def load_train_config(
    path: str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
) -> TrainConfig:
    """Load a training TOML (or defaults when ``path`` is None) and apply ``key=value`` overrides.

    Args:
        path: TOML file; every key is optional.
        overrides: ``section.key=value`` items (TOML values), applied after the file.

    Returns:
        The validated :class:`TrainConfig`.

    Raises:
        ConfigError: missing file, TOML syntax error, unknown key (with the nearest allowed
            one), wrong type or value.

    Example:
        >>> cfg = load_train_config(overrides=["data.path='a.h5'", "train.epochs=3"])
        >>> cfg.train["epochs"], cfg.data["path"]
        (3, 'a.h5')
    """
    raw: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            msg = f"training config {p} not found"
            raise ConfigError(msg)
        origin = str(p)
        try:
            raw = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as err:
            msg = f"{origin}: invalid TOML: {err}"
            raise ConfigError(msg) from err
        if "data" in raw and isinstance(raw["data"], dict) and raw["data"].get("path"):
            data_path = Path(raw["data"]["path"])
            if not data_path.is_absolute():  # relative to the config file
                raw["data"]["path"] = str(p.parent / data_path)
    return TrainConfig.from_dict(apply_overrides(raw, list(overrides)), origin=origin)
