"""hitprep.ml: torch datasets over hitprep outputs, baseline models, train / evaluate / predict.

Needs the ``ml`` extra (PyTorch, scikit-learn). Three calls take a file to a
trained, judged model::

    from hitprep.ml import evaluate, load_train_config, predict, train
    cfg = load_train_config(overrides=["data.path='images.h5'", "data.label='label'"])
    result = train(cfg, "run")                       # run/best.pt, run/history.png
    report = evaluate(result.best, "images.h5", "eval")  # eval/metrics.json, roc.png
    predict(result.best, "images.h5", "scores.h5")       # scores aligned with event_info

Names are imported on first use, so ``import hitprep.ml`` works without PyTorch
(:mod:`hitprep.ml.errors` says what is missing). ``hitprep.ml.train``, ``.evaluate`` and
``.predict`` are the functions even after their modules are imported (``from
hitprep.ml.train import TrainResult`` still reads the module).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitprep.ml.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from hitprep.ml.config import TrainConfig, load_train_config
    from hitprep.ml.data import open_dataset
    from hitprep.ml.datasets import EventDataset
    from hitprep.ml.evaluate import EvaluationReport, evaluate
    from hitprep.ml.graphs import GraphDataset
    from hitprep.ml.images import ImageDataset
    from hitprep.ml.loader import collate, make_loader
    from hitprep.ml.metrics import BinaryMetrics, best_threshold, binary_metrics
    from hitprep.ml.models import (
        ConvNet,
        ConvNetExtraInput,
        MultiVolumeCNN,
        PointNet,
        build_model,
    )
    from hitprep.ml.predict import PredictionSummary, predict
    from hitprep.ml.schema import Schema
    from hitprep.ml.train import TrainResult, train
    from hitprep.ml.watchmal import WatchmalDataset

_EXPORTS = {
    "BinaryMetrics": "metrics",
    "Checkpoint": "checkpoint",
    "ConvNet": "models",
    "ConvNetExtraInput": "models",
    "EvaluationReport": "evaluate",
    "EventDataset": "datasets",
    "GraphDataset": "graphs",
    "ImageDataset": "images",
    "MultiVolumeCNN": "models",
    "PointNet": "models",
    "PredictionSummary": "predict",
    "Schema": "schema",
    "TrainConfig": "config",
    "TrainResult": "train",
    "WatchmalDataset": "watchmal",
    "best_threshold": "metrics",
    "binary_metrics": "metrics",
    "build_model": "models",
    "collate": "loader",
    "evaluate": "evaluate",
    "load_checkpoint": "checkpoint",
    "load_train_config": "config",
    "make_loader": "loader",
    "open_dataset": "data",
    "predict": "predict",
    "save_checkpoint": "checkpoint",
    "train": "train",
}

__all__ = [
    "BinaryMetrics",
    "Checkpoint",
    "ConvNet",
    "ConvNetExtraInput",
    "EvaluationReport",
    "EventDataset",
    "GraphDataset",
    "ImageDataset",
    "MultiVolumeCNN",
    "PointNet",
    "PredictionSummary",
    "Schema",
    "TrainConfig",
    "TrainResult",
    "WatchmalDataset",
    "best_threshold",
    "binary_metrics",
    "build_model",
    "collate",
    "evaluate",
    "load_checkpoint",
    "load_train_config",
    "make_loader",
    "open_dataset",
    "predict",
    "save_checkpoint",
    "train",
]


#: submodules whose name is also the name of the function they define
_VERBS = frozenset({"train", "evaluate", "predict"})


class _Package(types.ModuleType):
    """``hitprep.ml``: when the import system binds a verb's submodule as an attribute (after
    loading ``hitprep.ml.train``), bind the function of that name instead."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _VERBS and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"hitprep.ml.{_EXPORTS[name]}"), name)
    msg = f"module 'hitprep.ml' has no attribute {name!r}"
    raise AttributeError(msg)
