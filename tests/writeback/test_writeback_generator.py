"""Generators: loading (module:function, file, TorchScript), batching, shape checks; noise."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.errors import ConfigError, ModelError
from hitprep.writeback import toy_model
from hitprep.writeback.generator import apply_generator, load_generator
from hitprep.writeback.noise import normal_noise

MODELS = """
import numpy as np

calls = []

def record(conditioning, noise):
    calls.append(len(conditioning))
    return conditioning * 2.0

def wrong_rows(conditioning, noise):
    return conditioning[:-1]

def wrong_columns(conditioning, noise):
    return conditioning[:, :1]

def strings(conditioning, noise):
    return np.array([["a"] * conditioning.shape[1]] * len(conditioning))

def fails(conditioning, noise):
    raise RuntimeError("weights not found")

def flat(conditioning, noise):
    return conditioning[:, 0]
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "my_models.py"
    path.write_text(MODELS)
    return path


def test_module_function_and_batches(models: Path) -> None:
    gen = load_generator(f"{models}:record")
    cond = np.arange(21, dtype=np.float64).reshape(7, 3)
    out = apply_generator(gen, cond, np.zeros((7, 0)), outputs=3, batch_size=3, where="Jet")
    np.testing.assert_array_equal(out, cond * 2.0)
    module = sys.modules[gen.function.__module__]
    assert module.calls == [3, 3, 1]


def test_relative_file_resolved_against_job_folder(models: Path) -> None:
    gen = load_generator("my_models.py:record", base=models.parent)
    assert gen.name == "my_models.py:record"


def test_single_output_column_may_be_1d(models: Path) -> None:
    gen = load_generator(f"{models}:flat")
    out = apply_generator(
        gen, np.ones((4, 2)), np.zeros((4, 0)), outputs=1, batch_size=8, where="x"
    )
    assert out.shape == (4, 1)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("wrong_rows", r"Jet rows 0:5: model '.*:wrong_rows' returned 4 rows for 5 objects"),
        ("wrong_columns", r"returned 1 columns but the job lists 3 outputs"),
        ("strings", r"returned values of dtype <U1; it must return numbers"),
        ("fails", r"Jet rows 0:5: model '.*:fails' failed: RuntimeError: weights not found"),
    ],
)
def test_bad_model_output_is_a_clear_error(models: Path, function: str, message: str) -> None:
    gen = load_generator(f"{models}:{function}")
    with pytest.raises(ModelError, match=message):
        apply_generator(
            gen, np.ones((5, 3)), np.zeros((5, 0)), outputs=3, batch_size=10, where="Jet"
        )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:f", r"cannot import 'no_such_module_xyz': ModuleNotFoundError"),
        ("hitprep.writeback.toy_model:jetz", r"has no function 'jetz' \(it has: .*jets"),
        ("justaname", "expected 'module:function'"),
        ("missing_file.py:f", "file missing_file.py not found"),
        ("missing_model.pt", "PyTorch model file missing_model.pt not found"),
    ],
)
def test_bad_generator_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_generator(spec)


def test_torchscript_missing_torch_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(ConfigError, match=r"needs PyTorch; install it \(pip install torch\)"):
        load_generator(str(model))


def test_torchscript_model(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Shift(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor([2.0, 3.0]))

        def forward(self, conditioning: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
            return conditioning * self.scale + noise[:, :2]

    path = tmp_path / "shift.pt"
    with warnings.catch_warnings():  # torch >= 2.10 deprecates scripting, not loading
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(Shift()).save(str(path))
    gen = load_generator("shift.pt", base=tmp_path)
    cond = np.array([[1.0, 1.0], [2.0, 0.5], [0.25, 4.0]])
    noise = np.full((3, 2), 0.5)
    out = apply_generator(gen, cond, noise, outputs=2, batch_size=2, where="Jet")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, cond * [2.0, 3.0] + 0.5)
    with pytest.raises(ModelError, match="returned 2 columns but the job lists 3"):
        apply_generator(gen, cond, noise, outputs=3, batch_size=2, where="Jet")


def test_toy_models_shapes_and_physics() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    pt = np.full(n, 100.0)
    cond = np.column_stack([np.log(pt), np.zeros(n), np.full(n, 3.1), np.log1p(np.full(n, 10.0)),
                            np.where(np.arange(n) % 2 == 0, 5, 0)])  # fmt: skip
    out = toy_model.jets(cond, rng.standard_normal((n, 5)))
    ratio = np.exp(out[:, 0]) / pt
    assert 0.97 < np.median(ratio) < 0.99  # 2 % low response
    assert 0.1 < np.std(ratio) < 0.16  # ~ sqrt(0.03^2 + 0.1^2 + 0.05^2)
    assert np.all(np.abs(out[:, 2]) <= np.pi)
    assert np.all(out[:, 3] >= 0.0)
    assert np.mean(out[::2, 4]) > 0.7 > 0.1 > np.mean(out[1::2, 4])
    mu = toy_model.muons(np.column_stack([np.log(pt), np.zeros(n), np.zeros(n), np.full(n, 13)]),
                         rng.standard_normal((n, 3)))  # fmt: skip
    assert set(np.unique(mu[:, 3])) <= {-1.0, 1.0}
    assert 0.995 < np.mean(mu[:, 3] == -1.0) < 1.0  # rare charge flips
    np.testing.assert_array_equal(toy_model.identity(cond, np.zeros((n, 0))), cond)
    with pytest.raises(ValueError, match="expects 5 conditioning columns"):
        toy_model.jets(cond[:, :4], rng.standard_normal((n, 5)))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 500), st.integers(0, 100), st.integers(0, 5), st.integers(0, 2**40))
def test_noise_is_addressed_by_row(start: int, rows: int, dim: int, seed: int) -> None:
    whole = normal_noise(seed=seed, stream=1, start=0, rows=start + rows, dim=dim)
    part = normal_noise(seed=seed, stream=1, start=start, rows=rows, dim=dim)
    assert part.shape == (rows, dim)
    np.testing.assert_array_equal(whole[start:], part)


def test_noise_statistics_and_streams() -> None:
    a = normal_noise(seed=7, stream=0, start=0, rows=100_000, dim=3)
    assert abs(a.mean()) < 0.01
    assert abs(a.std() - 1.0) < 0.01
    assert abs(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) < 0.01
    b = normal_noise(seed=7, stream=1, start=0, rows=100_000, dim=3)
    c = normal_noise(seed=8, stream=0, start=0, rows=100_000, dim=3)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01
    with pytest.raises(ValueError, match=">= 0"):
        normal_noise(seed=-1, stream=0, start=0, rows=1, dim=1)


def test_exported_program_model(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Affine(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, conditioning: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
            return self.linear(conditioning) + noise

    model = Affine()
    example = (torch.zeros(4, 3), torch.zeros(4, 2))
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, example, dynamic_shapes=({0: batch}, {0: batch}))
    path = tmp_path / "affine.pt2"
    torch.export.save(program, str(path))
    gen = load_generator(str(path))
    cond = np.random.default_rng(0).standard_normal((5, 3))
    out = apply_generator(gen, cond, np.zeros((5, 2)), outputs=2, batch_size=5, where="Jet")
    with torch.no_grad():
        expected = model(torch.from_numpy(cond).float(), torch.zeros(5, 2)).double().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
