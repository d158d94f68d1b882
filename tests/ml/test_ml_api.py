"""The documented Python API: ``from hitprep.ml import train, evaluate, predict``."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

pytest.importorskip("torch")


def test_verbs_are_functions_and_modules_stay_importable() -> None:
    from hitprep.ml import evaluate, predict, train
    from hitprep.ml.train import TrainResult

    assert [f.__name__ for f in (train, evaluate, predict)] == ["train", "evaluate", "predict"]
    assert all(isinstance(f, types.FunctionType) for f in (train, evaluate, predict))
    assert isinstance(sys.modules["hitprep.ml.train"], types.ModuleType)
    assert TrainResult.__module__ == "hitprep.ml.train"


def test_verbs_are_functions_when_the_submodules_load_first() -> None:
    code = (
        "import hitprep.ml.evaluate, hitprep.ml.predict, hitprep.ml.train\n"
        "import hitprep.ml as ml\n"
        "from hitprep.ml import train\n"
        "print(callable(train), callable(ml.evaluate), type(ml.predict).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True", "function"]
