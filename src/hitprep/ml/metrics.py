"""Binary classification metrics: ROC, AUC, best threshold, and rates at a threshold.

An event is selected (called signal) when its score is at least the threshold.
At a threshold:

- ``accuracy``: fraction of events classified correctly;
- ``signal_acceptance``: fraction of signal events selected (efficiency, TPR);
- ``background_suppression``: fraction of background events rejected (1 - FPR);
- ``background_rejection``: 1 / FPR, the HEP "rejection factor" (None when no background
  is selected);
- ``purity``: fraction of selected events that are signal (precision).

The best threshold minimizes the number of misclassified events; among equal
counts the highest threshold wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BinaryMetrics",
    "best_threshold",
    "binary_metrics",
    "confusion_matrix",
    "group_key",
    "grouped_metrics",
    "roc_curve",
    "working_points",
]


@dataclass(frozen=True)
class BinaryMetrics:
    """Metrics of scores against binary labels at one threshold (None where undefined)."""

    auc: float | None
    threshold: float
    accuracy: float
    signal_acceptance: float | None
    background_suppression: float | None
    background_rejection: float | None
    purity: float | None
    n_events: int
    n_signal: int
    n_background: int
    n_selected: int
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[Any, Any]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        msg = f"labels {y.shape} and scores {s.shape} must be 1-D of equal length"
        raise ValueError(msg)
    if not np.all(np.isin(y, (0, 1))):
        msg = "labels must be 0 (background) or 1 (signal)"
        raise ValueError(msg)
    if not np.all(np.isfinite(s)):
        msg = "scores must be finite"
        raise ValueError(msg)
    return y.astype(bool), s


def roc_curve(
    labels: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float | None]:
    """False- and true-positive rates (scikit-learn) and the AUC; None when one class is absent."""
    from sklearn.metrics import (  # type: ignore[import-untyped, unused-ignore]
        roc_auc_score,
    )
    from sklearn.metrics import roc_curve as sk_roc_curve

    y, s = _check(labels, scores)
    if y.all() or not y.any():
        return np.zeros(0), np.zeros(0), None
    fpr, tpr, _ = sk_roc_curve(y, s)
    return fpr.astype(np.float64), tpr.astype(np.float64), float(roc_auc_score(y, s))


def best_threshold(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The threshold that minimizes misclassified events (ties: the highest threshold).

    Candidates are the distinct scores, plus one above the highest (select nothing).

    Example:
        >>> best_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.8
    """
    y, s = _check(labels, scores)
    if len(s) == 0:
        return 0.5
    order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    last = np.flatnonzero(np.append(ss[1:] != ss[:-1], True))  # last index of each score
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(~ys)[last]
    n_signal = int(y.sum())
    errors = np.concatenate([[n_signal], fp + (n_signal - tp)])
    k = int(np.argmin(errors))
    if k == 0:
        return float(np.nextafter(ss[0], np.inf))
    return float(ss[last[k - 1]])


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def binary_metrics(
    labels: npt.ArrayLike, scores: npt.ArrayLike, *, threshold: float | None = None
) -> BinaryMetrics:
    """All metrics at ``threshold`` (default: :func:`best_threshold`).

    Args:
        labels: 1 for signal, 0 for background.
        scores: signal scores; higher means more signal-like.
        threshold: select events with ``score >= threshold``.
    """
    y, s = _check(labels, scores)
    t = best_threshold(y, s) if threshold is None else float(threshold)
    _, _, auc = roc_curve(y, s)
    selected = s >= t
    tp = int(np.sum(selected & y))
    fp = int(np.sum(selected & ~y))
    tn = int(np.sum(~selected & ~y))
    fn = int(np.sum(~selected & y))
    n_sig, n_bkg = tp + fn, fp + tn
    return BinaryMetrics(
        auc=auc,
        threshold=t,
        accuracy=(tp + tn) / len(y) if len(y) else 0.0,
        signal_acceptance=_ratio(tp, n_sig),
        background_suppression=_ratio(tn, n_bkg),
        background_rejection=_ratio(n_bkg, fp),
        purity=_ratio(tp, tp + fp),
        n_events=len(y),
        n_signal=n_sig,
        n_background=n_bkg,
        n_selected=tp + fp,
        true_positives=tp,
        false_positives=fp,
        true_negatives=tn,
        false_negatives=fn,
    )


def group_key(value: Any) -> str:
    """The key of a group value in ``metrics.json``: ``10`` for 10.0, ``0.5``, ``abc``."""
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def grouped_metrics(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    threshold: float,
) -> dict[str, BinaryMetrics]:
    """:func:`binary_metrics` at a fixed threshold for each distinct value of ``groups``
    (e.g. the A' mass: signal of that mass against background evaluated at that mass)."""
    y, s = _check(labels, scores)
    g = np.asarray(groups)
    out: dict[str, BinaryMetrics] = {}
    for value in np.unique(g):
        sel = g == value
        out[group_key(value)] = binary_metrics(y[sel], s[sel], threshold=threshold)
    return out


def _split_scores(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[Any, Any]:
    y, s = _check(labels, scores)
    return -np.sort(-s[y]), -np.sort(-s[~y])  # signal, background: highest first


def _rates(sig: Any, bkg: Any, t: float) -> dict[str, float | None]:
    eff_b = float(np.mean(bkg >= t)) if len(bkg) else None
    return {
        "threshold": float(t),
        "signal_efficiency": float(np.mean(sig >= t)) if len(sig) else None,
        "background_efficiency": eff_b,
        "background_rejection": 1.0 / eff_b if eff_b else None,
        "background_suppression": None if eff_b is None else 1.0 - eff_b,
    }


def working_points(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    efficiencies: Sequence[float] = (0.5, 0.9),
    backgrounds: Sequence[float] = (0.01, 0.001),
) -> dict[str, list[dict[str, float | None]]]:
    """Rates at chosen signal efficiencies and at chosen background efficiencies.

    ``at_signal``: for each signal efficiency ``e``, the highest threshold that keeps at
    least ``e`` of the signal, with the background efficiency there, its rejection (1/eff)
    and suppression (1 - eff). ``at_background``: for each background efficiency ``b``, the
    lowest threshold that keeps at most ``b`` of the background and the signal kept there.

    Example:
        >>> wp = working_points([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.5, 0.9],
        ...                     efficiencies=[0.5, 1.0], backgrounds=[0.25])
        >>> [(p["threshold"], p["background_rejection"]) for p in wp["at_signal"]]
        [(0.9, None), (0.5, 4.0)]
        >>> point = wp["at_background"][0]
        >>> point["signal_efficiency"], point["background_efficiency"]
        (1.0, 0.25)
    """
    sig, bkg = _split_scores(labels, scores)
    at_signal = []
    for e in efficiencies:
        if not len(sig):
            at_signal.append({"target": float(e), **_rates(sig, bkg, np.inf)})
            continue
        k = min(len(sig), max(1, int(np.ceil(e * len(sig) - 1e-9))))
        at_signal.append({"target": float(e), **_rates(sig, bkg, float(sig[k - 1]))})
    at_background = []
    for b in backgrounds:
        m = int(np.floor(b * len(bkg) + 1e-9))
        t = float(np.nextafter(bkg[m], np.inf)) if m < len(bkg) else -np.inf
        at_background.append({"target": float(b), **_rates(sig, bkg, t)})
    return {"at_signal": at_signal, "at_background": at_background}


def confusion_matrix(
    labels: npt.ArrayLike, predicted: npt.ArrayLike, n_classes: int
) -> dict[str, list[list[float]]]:
    """Counts (rows: true class, columns: predicted) and rows normalized to 1.

    Example:
        >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 3)["counts"]
        [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    counts = np.bincount(y * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    rows = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    return {"counts": counts.tolist(), "normalized": normalized.round(6).tolist()}
