"""Generator models: load a ``module:function`` or a TorchScript file, apply it in batches.

A generator maps a conditioning table and noise to an output table, one output
row per conditioning row::

    def my_model(conditioning: np.ndarray, noise: np.ndarray) -> np.ndarray:
        # conditioning: (rows, n_inputs) float64, in model space (after preprocessing)
        # noise:        (rows, noise) float64, standard normal, seeded
        # returns:      (rows, n_outputs), in model space (inverse preprocessing follows)

The spec is either ``"package.module:function"``, ``"path/to/file.py:function"``
or the path of a PyTorch model file: TorchScript (``.pt``, ``.pth``, ``.ts``,
``.torchscript``, loaded with ``torch.jit.load``, FlashSim's format) or an
exported program (``.pt2``, ``torch.export.load``), called as
``module(conditioning, noise)`` under ``torch.no_grad()`` (inputs are cast to the
module's parameter dtype, float32 when it has none). PyTorch is imported only
for model files; a clear error says how to install it when it is missing.

Example:
    >>> gen = load_generator("hitprep.writeback.toy_model:identity")
    >>> apply_generator(gen, np.ones((2, 3)), np.zeros((2, 0)), outputs=3, batch_size=10,
    ...                 where="Jet").shape
    (2, 3)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, ModelError

__all__ = ["TORCHSCRIPT_SUFFIXES", "Generator", "apply_generator", "load_generator"]

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".pt2")

Float64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Generator:
    """A loaded model: ``function(conditioning, noise) -> outputs`` and where it came from."""

    name: str
    function: Callable[[Float64, Float64], Any]


def _import_function(spec: str, base: Path | None) -> Callable[[Float64, Float64], Any]:
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        msg = (
            f"model {spec!r}: expected 'module:function', 'file.py:function' or a TorchScript file"
        )
        raise ConfigError(msg)
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_absolute() and base is not None and not path.exists():
                path = base / path
            if not path.exists():
                msg = f"model {spec!r}: file {path} not found"
                raise ConfigError(msg)
            unique = f"hitprep_user_model_{abs(hash(str(path.resolve())))}"
            module_spec = importlib.util.spec_from_file_location(unique, path)
            if module_spec is None or module_spec.loader is None:
                msg = f"model {spec!r}: cannot load {path} as a Python module"
                raise ConfigError(msg)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[unique] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except Exception as err:
        msg = f"model {spec!r}: cannot import {module_name!r}: {type(err).__name__}: {err}"
        raise ConfigError(msg) from err
    function = getattr(module, attr, None)
    if function is None or not callable(function):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        msg = (
            f"model {spec!r}: {module_name!r} has no function {attr!r} (it has: {', '.join(names)})"
        )
        raise ConfigError(msg)
    found: Callable[[Float64, Float64], Any] = function
    return found


def _torch_model(path: Path, device: str) -> Callable[[Float64, Float64], Any]:
    """A TorchScript (``torch.jit``) or exported (``.pt2``, ``torch.export``) model."""
    try:
        import torch
    except ImportError as err:
        msg = (
            f"model {str(path)!r} is a PyTorch model file, which needs PyTorch; install it"
            " (pip install torch) or give a 'module:function' generator"
        )
        raise ConfigError(msg) from err
    exported = path.suffix.lower() == ".pt2"
    try:
        with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; files still load
            warnings.simplefilter("ignore", DeprecationWarning)
            if exported:
                module = torch.export.load(str(path)).module()
            else:
                module = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    except Exception as err:
        kind = "an exported program" if exported else "TorchScript"
        msg = f"model {str(path)!r}: cannot load as {kind}: {type(err).__name__}: {err}"
        raise ConfigError(msg) from err
    if exported:
        module = module.to(device)
    else:
        module.eval()
    params = list(module.parameters())
    dtype = params[0].dtype if params else torch.float32

    def call(conditioning: Float64, noise: Float64) -> Any:
        with torch.no_grad():
            c = torch.from_numpy(np.ascontiguousarray(conditioning)).to(device, dtype)
            z = torch.from_numpy(np.ascontiguousarray(noise)).to(device, dtype)
            out = module(c, z)
        if not isinstance(out, torch.Tensor):
            msg = f"returned {type(out).__name__}, not a tensor"
            raise TypeError(msg)
        return out.detach().to("cpu", torch.float64).numpy()

    return call


def load_generator(spec: str, *, base: str | Path | None = None, device: str = "cpu") -> Generator:
    """Load a generator from ``"module:function"``, ``"file.py:function"`` or a TorchScript file.

    Args:
        spec: what to load.
        base: directory for relative file paths that do not exist as given (the job's folder).
        device: torch device for TorchScript models (``"cpu"``, ``"cuda"``).

    Raises:
        ConfigError: the module, function or file cannot be found or loaded, or
            PyTorch is missing for a TorchScript file.
    """
    root = None if base is None else Path(base)
    if spec.lower().endswith(TORCHSCRIPT_SUFFIXES):
        path = Path(spec)
        if not path.is_absolute() and not path.exists() and root is not None:
            path = root / path
        if not path.exists():
            msg = f"model {spec!r}: PyTorch model file {path} not found"
            raise ConfigError(msg)
        return Generator(spec, _torch_model(path, device))
    return Generator(spec, _import_function(spec, root))


def _check_output(result: Any, *, rows: int, outputs: int, where: str, name: str) -> Float64:
    try:
        array = np.asarray(result)
    except Exception as err:
        msg = f"{where}: model {name!r} returned {type(result).__name__}, not an array ({err})"
        raise ModelError(msg) from err
    if array.dtype.kind not in "biuf":
        msg = (
            f"{where}: model {name!r} returned values of dtype {array.dtype}; it must return "
            "numbers"
        )
        raise ModelError(msg)
    if array.ndim == 1 and outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        msg = (
            f"{where}: model {name!r} returned an array of shape {array.shape}; expected "
            f"({rows}, {outputs}): one row per object, one column per output"
        )
        raise ModelError(msg)
    if array.shape[0] != rows:
        msg = (
            f"{where}: model {name!r} returned {array.shape[0]} rows for {rows} objects; it "
            "must return exactly one row per conditioning row, in order"
        )
        raise ModelError(msg)
    if array.shape[1] != outputs:
        msg = (
            f"{where}: model {name!r} returned {array.shape[1]} columns but the job lists "
            f"{outputs} outputs"
        )
        raise ModelError(msg)
    return np.asarray(array, dtype=np.float64)


def apply_generator(
    generator: Generator,
    conditioning: Float64,
    noise: Float64,
    *,
    outputs: int,
    batch_size: int,
    where: str,
    first_row: int = 0,
) -> Float64:
    """Run ``generator`` on ``conditioning`` and ``noise`` in batches of ``batch_size`` rows.

    Args:
        generator: a loaded model.
        conditioning: ``(rows, inputs)`` float64.
        noise: ``(rows, noise)`` float64.
        outputs: number of output columns the job expects.
        batch_size: rows per model call.
        where: what the rows are (for error messages), e.g. ``"[[model]] Jet"``.
        first_row: index of the first row over the whole output (for error messages).

    Returns:
        ``(rows, outputs)`` float64.

    Raises:
        ModelError: the model raised, or returned the wrong number of rows or
            columns or non-numbers; the message names the model and the rows.
    """
    rows = len(conditioning)
    out = np.empty((rows, outputs), dtype=np.float64, order="F")
    for start in range(0, rows, batch_size):
        stop = min(start + batch_size, rows)
        span = f"{where} rows {first_row + start}:{first_row + stop}"
        try:
            result = generator.function(conditioning[start:stop], noise[start:stop])
        except SystemExit as err:  # sys.exit() in a model ends the model, not the run
            msg = f"{span}: model {generator.name!r} called sys.exit({err.code!r})"
            raise ModelError(msg) from err
        except Exception as err:
            msg = f"{span}: model {generator.name!r} failed: {type(err).__name__}: {err}"
            raise ModelError(msg) from err
        checked = _check_output(
            result, rows=stop - start, outputs=outputs, where=span, name=generator.name
        )
        if stop - start == rows and checked is not conditioning:
            return checked  # one batch: no copy
        out[start:stop] = checked
    return out
