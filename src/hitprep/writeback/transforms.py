"""Preprocessing transforms of model variables, each with its exact inverse.

A variable (``GenJet.pt``, ``Jet.pt``) has a chain of transforms that maps its
physical value to the value a model sees. Conditioning variables go forward
through their chain before the model; the model's outputs come back through the
inverse chain (last transform first). Arithmetic is float64, so a float32 value
that goes forward and back is recovered bit for bit wherever the transform is
defined (``log`` of a positive number, ``tan`` within (-pi/2, pi/2), ...); the
one limit is an affine shift, which absorbs values more than 2**28 times
smaller than itself (``1e-12 + 1 - 1`` is not ``1e-12`` in float64).

Spec items, as written in a job's ``[preprocess.<collection>]`` table:

=====================  ==========================  ==========================
item                   forward                     inverse
=====================  ==========================  ==========================
``"log"``              ``log(x)``                  ``exp(y)``
``"log1p"``            ``log1p(x)``                ``expm1(y)``
``"tan"``              ``tan(x)``                  ``arctan(y)``
``"atan"``             ``arctan(x)``               ``tan(y)``
``{scale, shift}``     ``x * scale + shift``       ``(y - shift) / scale``
``{clip = [lo, hi]}``  ``clip(x, lo, hi)``         ``clip(y, lo, hi)``
=====================  ==========================  ==========================

``clip`` is the identity on its range, so clipping again is its exact inverse
there; on model outputs it keeps physical values inside ``[lo, hi]``. Values a
transform cannot map (``log`` of 0 or less) become non-finite and are reported
and handled as the job's ``writeback.nonfinite`` says.

Example:
    >>> chain = parse_chain("pt", ["log", {"scale": 2.0, "shift": -1.0}])
    >>> y = forward(chain, np.array([1.0, np.e]))
    >>> y.tolist()
    [-1.0, 1.0]
    >>> inverse(chain, y).tolist() == [1.0, np.e]
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError

__all__ = ["FUNCTIONS", "Transform", "describe", "forward", "inverse", "parse_chain"]

Float64 = npt.NDArray[np.float64]

#: named transforms: name -> (forward, inverse)
FUNCTIONS: dict[str, tuple[Any, Any]] = {
    "log": (np.log, np.exp),
    "log1p": (np.log1p, np.expm1),
    "tan": (np.tan, np.arctan),
    "atan": (np.arctan, np.tan),
}


@dataclass(frozen=True)
class Transform:
    """One step of a chain: ``op`` is a name in :data:`FUNCTIONS`, ``"affine"`` or ``"clip"``."""

    op: str
    scale: float = 1.0
    shift: float = 0.0
    low: float = -math.inf
    high: float = math.inf

    def forward(self, x: Float64) -> Float64:
        if self.op == "affine":
            return x * self.scale + self.shift
        if self.op == "clip":
            return np.clip(x, self.low, self.high)
        fn = FUNCTIONS[self.op][0]
        out: Float64 = fn(x)
        return out

    def inverse(self, y: Float64) -> Float64:
        if self.op == "affine":
            return (y - self.shift) / self.scale
        if self.op == "clip":
            return np.clip(y, self.low, self.high)
        fn = FUNCTIONS[self.op][1]
        out: Float64 = fn(y)
        return out

    def as_spec(self) -> str | dict[str, Any]:
        """The job-file form of this step (what :func:`parse_chain` reads)."""
        if self.op == "affine":
            return {"scale": self.scale, "shift": self.shift}
        if self.op == "clip":
            return {"clip": [self.low, self.high]}
        return self.op


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{where}: expected a number, got {value!r}"
        raise ConfigError(msg)
    return float(value)


def _parse_item(where: str, item: Any) -> Transform:
    if isinstance(item, str):
        if item not in FUNCTIONS:
            allowed = ", ".join([*FUNCTIONS, "{scale, shift}", "{clip = [lo, hi]}"])
            msg = f"{where}: unknown transform {item!r} (allowed: {allowed})"
            raise ConfigError(msg)
        return Transform(item)
    if isinstance(item, dict) and item and set(item) <= {"scale", "shift"}:
        scale = _number(f"{where}.scale", item.get("scale", 1.0))
        shift = _number(f"{where}.shift", item.get("shift", 0.0))
        if scale == 0.0 or not math.isfinite(scale) or not math.isfinite(shift):
            msg = f"{where}: scale must be finite and non-zero, shift finite; got {item!r}"
            raise ConfigError(msg)
        return Transform("affine", scale=scale, shift=shift)
    if isinstance(item, dict) and set(item) == {"clip"}:
        bounds = item["clip"]
        if not (isinstance(bounds, list) and len(bounds) == 2):
            msg = f"{where}.clip: expected [low, high], got {bounds!r}"
            raise ConfigError(msg)
        low, high = (_number(f"{where}.clip", b) for b in bounds)
        if not low < high:
            msg = f"{where}.clip: need low < high, got {bounds!r}"
            raise ConfigError(msg)
        return Transform("clip", low=low, high=high)
    msg = (
        f"{where}: a transform is one of {', '.join(FUNCTIONS)}, a table {{scale, shift}}"
        f" or {{clip = [lo, hi]}}; got {item!r}"
    )
    raise ConfigError(msg)


def parse_chain(where: str, spec: Any) -> tuple[Transform, ...]:
    """Parse a job's list of transform items (a single item may stand alone).

    Raises:
        ConfigError: unknown transform, bad parameters; the message names ``where``.
    """
    items = spec if isinstance(spec, list) else [spec]
    return tuple(_parse_item(f"{where}[{i}]", item) for i, item in enumerate(items))


def forward(chain: Sequence[Transform], values: npt.ArrayLike) -> Float64:
    """Physical values -> model space (float64), first transform first."""
    out = np.asarray(values, dtype=np.float64)
    for step in chain:
        out = step.forward(out)
    return out


def inverse(chain: Sequence[Transform], values: npt.ArrayLike) -> Float64:
    """Model space -> physical values (float64), last transform first."""
    out = np.asarray(values, dtype=np.float64)
    for step in reversed(chain):
        out = step.inverse(out)
    return out


def describe(chain: Sequence[Transform]) -> str:
    """Short text of a chain, e.g. ``log -> affine(2, -1)``."""
    parts = []
    for step in chain:
        if step.op == "affine":
            parts.append(f"affine({step.scale:g}, {step.shift:g})")
        elif step.op == "clip":
            parts.append(f"clip({step.low:g}, {step.high:g})")
        else:
            parts.append(step.op)
    return " -> ".join(parts) or "identity"
