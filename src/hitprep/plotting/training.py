"""Plots for training and evaluation: loss / accuracy history, ROC curve, score distributions.

Each function writes one figure in every format asked for (PNG and PDF by
default) and returns the paths written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.plotting.save import save_figure

__all__ = ["plot_history", "plot_roc", "plot_scores"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, save_as: str | Path, formats: Sequence[str]) -> list[Path]:
    base = Path(save_as)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for fmt in formats:
            paths.append(save_figure(fig, base.with_suffix(f".{fmt}"), dpi=120, close=False))
    finally:
        _pyplot().close(fig)
    return paths


def plot_history(
    history: Sequence[Mapping[str, Any]],
    save_as: str | Path,
    *,
    best_epoch: int | None = None,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Training and validation loss and accuracy per epoch (and validation AUC when present)."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    for key, style, label in (
        ("train_accuracy", "o-", "train"),
        ("val_accuracy", "s-", "validation"),
    ):
        values = [h.get(key) for h in history]  # None for regression
        if any(v is not None for v in values):
            ax_acc.plot(
                epochs,
                [np.nan if v is None else v for v in values],
                style,
                label=f"{label} accuracy",
            )
    aucs = [h.get("val_auc") for h in history]
    if any(a is not None for a in aucs):
        ax_acc.plot(
            epochs, [np.nan if a is None else a for a in aucs], "^--", label="validation AUC"
        )
    ax_acc.set_xlabel("epoch")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls=":", label=f"best (epoch {best_epoch})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("training history")
    fig.tight_layout()
    return _save(fig, save_as, formats)


def plot_roc(
    fpr: npt.NDArray[np.float64],
    tpr: npt.NDArray[np.float64],
    auc: float | None,
    save_as: str | Path,
    *,
    point: tuple[float, float] | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    title: str | None = None,
) -> list[Path]:
    """ROC curve (signal acceptance against background acceptance) with the working point."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    label = "ROC" if auc is None else f"ROC (AUC = {auc:.4f})"
    ax.plot(fpr, tpr, lw=2, label=label)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="random")
    if point is not None:
        ax.plot(*point, "o", color="C3", label="threshold")
    ax.set_xlabel("background acceptance (false-positive rate)")
    ax.set_ylabel("signal acceptance (true-positive rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, save_as, formats)


def plot_scores(
    scores: npt.NDArray[np.float64],
    labels: npt.NDArray[np.bool_],
    save_as: str | Path,
    *,
    threshold: float | None = None,
    bins: int = 50,
    formats: Sequence[str] = ("png", "pdf"),
    title: str | None = None,
) -> list[Path]:
    """Score histograms of signal and background (normalized), with the threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    edges = np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(np.min(scores, initial=0.0)), float(np.max(scores, initial=1.0))
    if lo < 0.0 or hi > 1.0:
        edges = np.linspace(lo, hi, bins + 1)
    for sel, name, color in ((~labels, "background", "C0"), (labels, "signal", "C1")):
        if sel.any():
            ax.hist(
                scores[sel],
                bins=edges,
                density=True,
                histtype="stepfilled",
                alpha=0.4,
                color=color,
                label=f"{name} ({int(sel.sum())})",
            )
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set_xlabel("signal score")
    ax.set_ylabel("density")
    _log_y(ax)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, save_as, formats)


def _log_y(ax: Any) -> None:
    """A log y axis labelled 0.1, 0.2, 0.5, 1, 2, 5, ... (not "6x10^0" on minor ticks)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
