"""The classifier's report: the binary view of one signal class, the confusion matrix,
one-vs-rest ROC per class, working points, and all of it per group (e.g. A' mass).

Every plot title and the summary name the signal class (``class 2 (mu) vs rest``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError
from hitprep.ml.metrics import (
    BinaryMetrics,
    binary_metrics,
    confusion_matrix,
    group_key,
    roc_curve,
    working_points,
)
from hitprep.ml.schema import Schema

__all__ = ["classification_report", "resolve_signal", "signal_title"]

Curves = dict[str, tuple[Any, Any, float | None]]


def resolve_signal(schema: Schema, signal: int | str | None) -> int:
    """Index among the classes of ``signal``: a class value, a class name, or None (the
    model's signal class).

    Raises:
        ConfigError: not one of the classes (they are listed with their names).
    """
    if signal is None or signal == "":
        return schema.signal_index
    text = str(signal).strip()
    if text.lstrip("-").isdigit() and int(text) in schema.classes:
        return schema.classes.index(int(text))
    if text in schema.class_names:
        return schema.class_names.index(text)
    known = ", ".join(schema.class_name(i) for i in range(schema.n_classes))
    msg = f"--signal {signal!r}: not a class of the model (classes: {known})"
    raise ConfigError(msg)


def signal_title(schema: Schema, index: int) -> str:
    """``class 2 (mu) vs rest`` (``vs class 0`` with two classes)."""
    if schema.n_classes == 2:
        return f"{schema.class_name(index)} vs {schema.class_name(1 - index)}"
    return f"{schema.class_name(index)} vs rest"


def _per_class(schema: Schema, labels: Any, probs: Any) -> tuple[dict[str, Any], Curves]:
    out: dict[str, Any] = {}
    curves: Curves = {}
    for i in range(schema.n_classes):
        truth = labels == i
        fpr, tpr, auc = roc_curve(truth, probs[:, i])
        name = schema.class_name(i)
        out[str(schema.classes[i])] = {"name": name, "auc": auc, "n_events": int(truth.sum())}
        curves[f"{name} (AUC {auc:.3f})" if auc is not None else name] = (fpr, tpr, auc)
    return out, curves


def _per_group(
    truth: Any,
    scores: Any,
    groups: npt.NDArray[Any],
    *,
    threshold: float,
    efficiencies: tuple[float, ...],
    backgrounds: tuple[float, ...],
) -> tuple[dict[str, Any], Curves]:
    out: dict[str, Any] = {}
    curves: Curves = {}
    for value in np.unique(groups):
        sel = groups == value
        key = group_key(value)
        result = binary_metrics(truth[sel], scores[sel], threshold=threshold)
        entry = result.as_dict()
        if result.n_signal and result.n_background:
            entry["working_points"] = working_points(
                truth[sel], scores[sel], efficiencies=efficiencies, backgrounds=backgrounds
            )
            fpr, tpr, auc = roc_curve(truth[sel], scores[sel])
            curves[f"{key} (AUC {auc:.3f})"] = (fpr, tpr, auc)
        out[key] = entry
    return out, curves


def classification_report(
    schema: Schema,
    labels: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float32],
    out: Path,
    *,
    signal: int | str | None = None,
    threshold: float | None = None,
    groups: tuple[str, npt.NDArray[Any]] | None = None,
    efficiencies: tuple[float, ...] = (0.5, 0.9),
    backgrounds: tuple[float, ...] = (0.01, 0.001),
    formats: tuple[str, ...] = ("png", "pdf"),
) -> tuple[dict[str, Any], list[Path]]:
    """Metrics (``metrics.json``'s classification keys) and the plots written to ``out``.

    Args:
        schema: the model's schema (classes, names, signal class).
        labels: class index of each event; probs: (events, classes) probabilities.
        out: plot directory.
        signal: class judged as signal in the binary view (value or name).
        threshold: working point of the binary view (default: fewest errors).
        groups: a field's name and its value per event (per-group ROC and working points).
        efficiencies, backgrounds: working points (signal and background efficiencies).
    """
    index = resolve_signal(schema, signal)
    title = signal_title(schema, index)
    truth = labels == index
    scores = probs[:, index].astype(np.float64)
    result = binary_metrics(truth, scores, threshold=threshold)
    metrics: dict[str, Any] = result.as_dict()
    metrics.update(
        {
            "best_threshold": result.threshold if threshold is None else None,
            "classes": list(schema.classes),
            "class_names": list(schema.class_names),
            "signal": schema.classes[index],
            "signal_name": schema.class_name(index),
            "view": title,
            "working_points": working_points(
                truth, scores, efficiencies=efficiencies, backgrounds=backgrounds
            ),
            "confusion": confusion_matrix(labels, probs.argmax(1), schema.n_classes),
            "multiclass_accuracy": float(np.mean(probs.argmax(1) == labels)),
        }
    )
    per_class, class_curves = _per_class(schema, labels, probs)
    metrics["per_class"] = per_class
    plots = _view_plots(schema, metrics, result, truth, scores, title, out, formats)
    if schema.n_classes > 2:
        from hitprep.ml.plots import plot_rocs

        plots += plot_rocs(
            class_curves, out / "roc_per_class", title="one vs rest", formats=formats
        )
    if groups is not None:
        field, values = groups
        per_group, curves = _per_group(
            truth,
            scores,
            values,
            threshold=result.threshold,
            efficiencies=efficiencies,
            backgrounds=backgrounds,
        )
        metrics["group_field"] = field
        metrics[f"per_{field}"] = per_group
        plots += _group_plots(curves, f"{title}, per {field}", out, field, formats)
    return metrics, plots


def _view_plots(
    schema: Schema,
    metrics: dict[str, Any],
    result: BinaryMetrics,
    truth: Any,
    scores: Any,
    title: str,
    out: Path,
    formats: tuple[str, ...],
) -> list[Path]:
    """The confusion matrix and the binary view's ROC (linear and log) and scores."""
    from hitprep.ml.plots import plot_confusion, plot_rocs
    from hitprep.plotting.training import plot_roc, plot_scores

    names = [schema.class_name(i) for i in range(schema.n_classes)]
    plots = plot_confusion(metrics["confusion"], names, out / "confusion", formats=formats)
    fpr, tpr, auc = roc_curve(truth, scores)
    if auc is not None:
        point = (1.0 - (result.background_suppression or 0.0), result.signal_acceptance or 0.0)
        plots += plot_roc(fpr, tpr, auc, out / "roc", point=point, formats=formats, title=title)
        plots += plot_rocs(
            {f"{title} (AUC {auc:.3f})": (fpr, tpr, auc)},
            out / "roc_log",
            title=f"{title}: background rejection",
            log=True,
            formats=formats,
        )
    plots += plot_scores(
        scores, truth, out / "scores", threshold=result.threshold, formats=formats, title=title
    )
    return plots


def _group_plots(
    curves: Curves, title: str, out: Path, field: str, formats: tuple[str, ...]
) -> list[Path]:
    """ROC per group value, linear and log (none when no group has both classes)."""
    from hitprep.ml.plots import plot_rocs

    plots: list[Path] = []
    if curves:
        for log, name in ((False, "roc"), (True, "roc_log")):
            plots += plot_rocs(
                curves, out / f"{name}_per_{field}", title=title, log=log, formats=formats
            )
    return plots
