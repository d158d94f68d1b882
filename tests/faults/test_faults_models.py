"""Family 4: a generator model that ends the process, or values the output dtype turns into inf.

Before, ``sys.exit(0)`` in a model ended ``hitprep writeback`` as a success with no output,
and 1e300 written to a float32 branch became inf although ``nonfinite = "error"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hitprep.config import Job
from hitprep.errors import CountOverflowError, ModelError
from hitprep.toys.nanoaod import write_toy_nanoaod
from hitprep.writeback import writeback

MODELS = """
import sys
import numpy as np

def leaves(conditioning, noise):
    sys.exit(0)

def beyond_float32(conditioning, noise):
    return np.full_like(conditioning, 1e300)
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    (folder / "models.py").write_text(MODELS)
    return write_toy_nanoaod(folder / "toy.root", 30, seed=3)


def _job(toy: Path, function: str) -> Job:
    spec: dict[str, Any] = {
        "collection": "Jet",
        "conditioning": "GenJet",
        "inputs": ["pt", "eta"],
        "generator": f"{toy.parent / 'models.py'}:{function}",
    }
    return Job.from_dict({"writeback": {"nonfinite": "error"}, "model": [spec]})


def test_model_calling_sys_exit_is_an_error(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"Jet rows 0:\d+: model '.*:leaves' called sys.exit\(0\)"):
        writeback(_job(toy, "leaves"), toy, tmp_path / "out.root")
    assert list(tmp_path.iterdir()) == []


def test_value_that_a_float32_branch_turns_into_inf(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(
        CountOverflowError,
        match=r"Jet.pt is 1e\+300 for an object of input entry 0, beyond what a float32 branch",
    ):
        writeback(_job(toy, "beyond_float32"), toy, tmp_path / "out.root")
    assert list(tmp_path.iterdir()) == []
