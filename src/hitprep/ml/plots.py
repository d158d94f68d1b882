"""Evaluation plots beyond the binary ROC: regression residuals and resolution, confusion
matrix, one-vs-rest ROC per class, rejection against efficiency (log axis), ROC per group.

Each function writes one figure in every format asked for and returns the paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.ml.regression import angular_errors, target_blocks
from hitprep.ml.targets import TargetSpec
from hitprep.plotting.training import _pyplot, _save

__all__ = ["plot_confusion", "plot_regression", "plot_rocs"]

_F = npt.NDArray[np.float64]


def _value_figure(
    name: str, pred: _F, true: _F, column: Mapping[str, Any], save_as: Path, formats: Sequence[str]
) -> list[Path]:
    plt = _pyplot()
    fig, (ax_tp, ax_res, ax_bin) = plt.subplots(1, 3, figsize=(13, 3.9))
    lo, hi = np.percentile(np.concatenate([pred, true]), [0.5, 99.5])
    ax_tp.hist2d(true, pred, bins=50, range=[[lo, hi], [lo, hi]], cmap="viridis", cmin=1)
    ax_tp.plot([lo, hi], [lo, hi], color="w", ls="--", lw=1)
    ax_tp.set_xlabel(f"true {name}")
    ax_tp.set_ylabel(f"predicted {name}")
    r = pred - true
    r_lo, r_hi = np.percentile(r, [1, 99])
    ax_res.hist(r, bins=60, range=(r_lo, r_hi), histtype="stepfilled", alpha=0.6)
    ax_res.set_xlabel(f"predicted - true {name}")
    ax_res.set_title(
        f"bias {column['bias']:.3g}, sigma68 {column['sigma68']:.3g}, rms {column['rms']:.3g}",
        fontsize=9,
    )
    bins = column["bins"]
    centers = [b["center"] for b in bins]
    relative = "relative_sigma68" in bins[0]
    key = "relative_sigma68" if relative else "sigma68"
    ax_bin.plot(centers, [b[key] for b in bins], "o-", label="resolution (68%)")
    ax_bin.plot(
        centers, [b["relative_bias" if relative else "bias"] for b in bins], "s--", label="bias"
    )
    ax_bin.axhline(0, color="grey", lw=0.8)
    ax_bin.set_xlabel(f"true {name}")
    ax_bin.set_ylabel("relative to true" if relative else name)
    ax_bin.legend(fontsize=8)
    for ax in (ax_res, ax_bin):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, save_as, formats)


def _direction_figure(name: str, angle: _F, save_as: Path, formats: Sequence[str]) -> list[Path]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(angle, bins=60, range=(0, 180), histtype="stepfilled", alpha=0.6)
    med, q68 = np.percentile(angle, [50, 68]) if len(angle) else (np.nan, np.nan)
    ax.axvline(med, color="C1", ls="--", label=f"median {med:.1f} deg")
    ax.axvline(q68, color="C3", ls=":", label=f"68% {q68:.1f} deg")
    ax.set_xlabel(f"angle between predicted and true {name} (deg)")
    ax.set_ylabel("events")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, save_as, formats)


def plot_regression(
    targets: tuple[TargetSpec, ...],
    pred: _F,
    true: _F,
    metrics: Mapping[str, Any],
    out: Path,
    *,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Per value column: true vs predicted, residuals, resolution and bias vs true
    (``regression_<column>``); per direction: the angular error (``direction_<name>``)."""
    paths: list[Path] = []
    for spec, cols in target_blocks(targets):
        p, t = pred[:, cols].astype(np.float64), true[:, cols].astype(np.float64)
        safe = "".join(c if c.isalnum() else "_" for c in spec.name)
        if spec.is_direction:
            paths += _direction_figure(
                spec.name, angular_errors(p, t), out / f"direction_{safe}", formats
            )
            continue
        if spec.how == "log10":
            p, t = 10.0**p, 10.0**t
        for i, column in enumerate(metrics[spec.name]["columns"]):
            col_safe = "".join(c if c.isalnum() else "_" for c in column["column"])
            paths += _value_figure(
                column["column"], p[:, i], t[:, i], column, out / f"regression_{col_safe}", formats
            )
    return paths


def plot_confusion(
    confusion: Mapping[str, Any],
    names: Sequence[str],
    save_as: Path,
    *,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Row-normalized confusion matrix (true class in rows) with the counts written in."""
    plt = _pyplot()
    norm = np.asarray(confusion["normalized"], dtype=np.float64)
    counts = np.asarray(confusion["counts"])
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.6 * n + 2.5, 1.3 * n + 1.8))
    image = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(n):
        for j in range(n):
            color = "w" if norm[i, j] > 0.5 else "k"
            text = f"{norm[i, j]:.3f}\n({counts[i, j]})"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(n), names, rotation=20, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix (rows sum to 1)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return _save(fig, save_as, formats)


def plot_rocs(
    curves: Mapping[str, tuple[Any, Any, float | None]],
    save_as: Path,
    *,
    title: str,
    log: bool = False,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """ROC curves, one per entry (label -> fpr, tpr, auc): background against signal
    efficiency on linear axes, or (``log``) background rejection 1/efficiency on a log axis
    against signal efficiency."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for label, (fpr, tpr, _) in curves.items():
        fpr, tpr = np.asarray(fpr), np.asarray(tpr)
        if log:
            keep = fpr > 0
            ax.plot(tpr[keep], 1.0 / fpr[keep], lw=1.5, label=label)
        else:
            ax.plot(fpr, tpr, lw=1.5, label=label)
    if log:
        ax.set_yscale("log")
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background rejection (1 / efficiency)")
        ax.set_xlim(0, 1)
    else:
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="random")
        ax.set_xlabel("background efficiency (false-positive rate)")
        ax.set_ylabel("signal efficiency (true-positive rate)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper right" if log else "lower right")
    fig.tight_layout()
    return _save(fig, save_as, formats)
