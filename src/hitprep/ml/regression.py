"""Regression metrics: bias and resolution per target, overall and in bins of the true value.

For each value column (in the file's units: ``log10:`` targets are compared after
``10**``), with residual ``r = predicted - true``:

- ``bias``: mean of ``r``; ``median``: its median;
- ``sigma68``: half the width of the central 68 % interval of ``r`` (``(q84 - q16) / 2``);
- ``rms``: root mean square of ``r``;
- ``relative_*``: the same of ``r / |true|`` (one-number targets only);
- ``baseline_*``: the same for predicting the training split's mean, and
  ``improvement`` = ``baseline_sigma68 / sigma68``.

For directions: the angle between predicted and true unit vectors in degrees
(``angle_median``, ``angle_68``, ``angle_mean``; a random guess has a median of 90).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.ml.targets import TargetSpec

__all__ = ["angular_errors", "regression_metrics", "spread", "target_blocks"]

_F = npt.NDArray[np.float64]


def spread(r: _F) -> dict[str, float]:
    """``bias``, ``median``, ``sigma68`` and ``rms`` of residuals ``r`` (NaN when empty).

    Example:
        >>> {k: round(v, 3) for k, v in spread(np.array([-1.0, 0.0, 1.0, 2.0])).items()}
        {'bias': 0.5, 'median': 0.5, 'sigma68': 1.02, 'rms': 1.225}
    """
    if len(r) == 0:
        return dict.fromkeys(("bias", "median", "sigma68", "rms"), float("nan"))
    q16, q50, q84 = np.percentile(r, [16, 50, 84])
    return {
        "bias": float(np.mean(r)),
        "median": float(q50),
        "sigma68": float((q84 - q16) / 2),
        "rms": float(np.sqrt(np.mean(r**2))),
    }


def angular_errors(pred: _F, true: _F) -> _F:
    """Angle in degrees between rows of ``pred`` and ``true`` (normalized first)."""
    p = pred / np.maximum(np.linalg.norm(pred, axis=1, keepdims=True), 1e-12)
    t = true / np.maximum(np.linalg.norm(true, axis=1, keepdims=True), 1e-12)
    cos = np.clip(np.sum(p * t, axis=1), -1.0, 1.0)
    angle: _F = np.degrees(np.arccos(cos))
    return angle


def target_blocks(targets: tuple[TargetSpec, ...]) -> list[tuple[TargetSpec, slice]]:
    """Each target with the columns it takes in the model's outputs."""
    out, start = [], 0
    for t in targets:
        out.append((t, slice(start, start + t.size)))
        start += t.size
    return out


def _binned(true: _F, r: _F, rel: _F | None, n_bins: int) -> list[dict[str, Any]]:
    edges = np.unique(np.quantile(true, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, true, side="right") - 1, 0, len(edges) - 2)
    bins = []
    for b in range(len(edges) - 1):
        sel = which == b
        row: dict[str, Any] = {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "center": float(np.median(true[sel])) if sel.any() else float("nan"),
            "n": int(sel.sum()),
            **spread(r[sel]),
        }
        if rel is not None:
            row.update({f"relative_{k}": v for k, v in spread(rel[sel]).items()})
        bins.append(row)
    return bins


def _value_column(
    name: str, pred: _F, true: _F, mean: float, *, log10: bool, scalar: bool, n_bins: int
) -> dict[str, Any]:
    if log10:
        pred, true, mean = 10.0**pred, 10.0**true, float(10.0**mean)
    r, base = pred - true, mean - true
    out: dict[str, Any] = {"column": name, "n_events": len(r), **spread(r)}
    out.update({f"baseline_{k}": v for k, v in spread(base).items()})
    out["improvement"] = out["baseline_sigma68"] / out["sigma68"] if out["sigma68"] else None
    rel = None
    if scalar and np.all(true != 0):
        rel = r / np.abs(true)
        out.update({f"relative_{k}": v for k, v in spread(rel).items()})
        out.update({f"baseline_relative_{k}": v for k, v in spread(base / np.abs(true)).items()})
    out["bins"] = _binned(true, r, rel, n_bins)
    return out


def regression_metrics(
    targets: tuple[TargetSpec, ...], pred: _F, true: _F, *, n_bins: int = 8
) -> dict[str, Any]:
    """Per target: a dict per value column (see the module docstring) or, for a direction,
    the angular errors overall and in bins of each true component."""
    out: dict[str, Any] = {}
    for spec, cols in target_blocks(targets):
        p, t = pred[:, cols].astype(np.float64), true[:, cols].astype(np.float64)
        if spec.is_direction:
            angle = angular_errors(p, t)
            q50, q68 = np.percentile(angle, [50, 68]) if len(angle) else (np.nan, np.nan)
            out[spec.name] = {
                "kind": "direction",
                "n_events": len(angle),
                "angle_median": float(q50),
                "angle_68": float(q68),
                "angle_mean": float(np.mean(angle)) if len(angle) else float("nan"),
                "random_median": 90.0,
            }
            continue
        columns = [
            _value_column(
                name,
                p[:, i],
                t[:, i],
                spec.mean[i] if spec.mean else 0.0,
                log10=spec.how == "log10",
                scalar=spec.size == 1,
                n_bins=n_bins,
            )
            for i, name in enumerate(spec.columns)
        ]
        out[spec.name] = {"kind": spec.how, "columns": columns}
    return out
