"""Judge a trained model on labelled data: ROC, AUC, best threshold, rates, per-mass breakdown.

Writes ``metrics.json`` (keys ``auc``, ``threshold``, ``accuracy``,
``signal_acceptance``, ``background_suppression``, ``purity`` and more, see
:mod:`hitprep.ml.metrics`), ``roc.png``/``.pdf`` and ``scores.png``/``.pdf``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hitprep.atomic import atomic_path
from hitprep.errors import ConfigError, KeyInFileError, OutputExistsError
from hitprep.ml.checkpoint import load_checkpoint
from hitprep.ml.data import open_dataset
from hitprep.ml.device import pick_device
from hitprep.ml.h5io import column_names, open_h5, read_column
from hitprep.ml.inference import run_model
from hitprep.ml.loader import make_loader
from hitprep.ml.metrics import binary_metrics, grouped_metrics, roc_curve
from hitprep.ml.schema import check_compatible
from hitprep.ml.splits import SPLITS, split_rows

__all__ = ["EvaluationReport", "evaluate"]

SPLIT_CHOICES = ("auto", "all", *SPLITS)


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate` measured and wrote."""

    metrics: dict[str, Any]
    metrics_path: Path
    plots: list[Path]
    split: str

    def line(self) -> str:
        m = self.metrics
        auc = "n/a" if m["auc"] is None else f"{m['auc']:.4f}"
        return (
            f"{m['n_events']} events ({self.split} split): AUC {auc}, threshold"
            f" {m['threshold']:.4f}, accuracy {m['accuracy']:.4f} -> {self.metrics_path}"
        )


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def evaluate(
    model: str | Path,
    data: str | Path,
    outdir: str | Path,
    *,
    split: str = "auto",
    threshold: float | None = None,
    batch_size: int = 256,
    device: str = "auto",
    num_workers: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    formats: tuple[str, ...] = ("png", "pdf"),
) -> EvaluationReport:
    """Score ``data`` with the checkpoint ``model`` and write metrics and plots to ``outdir``.

    Args:
        model: checkpoint (``best.pt``) or a training run directory.
        data: HDF5 file with the inputs and the label the model was trained with.
        outdir: output directory.
        split: ``auto`` (the test split when ``data`` is the training file, else all
            events), ``all``, ``train``, ``validation`` or ``test``.
        threshold: working point (default: the one that minimizes misclassified events).
        batch_size, device, num_workers: as in training.
        overwrite: replace an existing ``metrics.json``.
        progress: progress bar on stderr.
        formats: plot file formats.

    Raises:
        KeyInFileError: the data have no label field.
        SchemaMismatchError: the data do not fit the model's inputs.
        OutputExistsError: ``outdir/metrics.json`` exists and ``overwrite`` is False.
    """
    if split not in SPLIT_CHOICES:
        msg = f"--split {split!r}: expected one of {', '.join(SPLIT_CHOICES)}"
        raise ConfigError(msg)
    out = Path(outdir)
    metrics_path = out / "metrics.json"
    if metrics_path.exists() and not overwrite:
        raise OutputExistsError(metrics_path)
    torch_device = pick_device(device)
    ckpt = load_checkpoint(model, device=torch_device)
    schema, config = ckpt.schema, ckpt.config
    data_cfg = dict(config.data, label=schema.label or "")
    probe = open_dataset(data_cfg, path=data, labels=False, in_memory=False)
    check_compatible(schema, probe.schema(), file=str(data))
    n_rows = probe.n_file_rows
    probe.file.close()
    chosen = split
    if split == "auto":
        same = _same_file(data, config.data["path"])
        chosen = "test" if same else "all"
    rows = np.arange(n_rows, dtype=np.int64)
    if chosen != "all":
        rows = split_rows(n_rows, config.split)[chosen]
        if len(rows) == 0 and split == "auto":
            chosen = "validation"
            rows = split_rows(n_rows, config.split)[chosen]
    try:
        ds = open_dataset(data_cfg, path=data, rows=rows, classes=schema.classes)
    except KeyInFileError as err:
        if err.key != schema.label:
            raise
        raise KeyInFileError(
            err.key, file=data, available=err.available, what="evaluate needs labels: label field"
        ) from err
    if len(ds) == 0:
        msg = f"{data}: no events with labels in {list(schema.classes)} in the {chosen} split"
        raise ConfigError(msg)
    loader = make_loader(ds, batch_size=batch_size, num_workers=num_workers)
    outputs = run_model(ckpt.model, loader, torch_device, progress=progress, desc="evaluate")
    labels = outputs.labels if outputs.labels is not None else np.zeros(0, dtype=np.int64)
    signal = schema.signal_index
    truth = labels == signal
    scores = outputs.scores(signal).astype(np.float64)
    result = binary_metrics(truth, scores, threshold=threshold)
    metrics: dict[str, Any] = result.as_dict()
    metrics.update(
        {
            "best_threshold": result.threshold if threshold is None else None,
            "split": chosen,
            "model": str(ckpt.path),
            "data": str(Path(data)),
            "label": schema.label,
            "classes": list(schema.classes),
            "signal": schema.classes[signal],
            "excluded_other_classes": ds.excluded,
            "loss": outputs.loss,
        }
    )
    if schema.n_classes > 2:
        metrics["multiclass_accuracy"] = float(np.mean(outputs.probabilities.argmax(1) == labels))
    with open_h5(data) as f:
        if "mass" in column_names(f):
            mass = read_column(f, "mass", n_rows=n_rows)[outputs.rows]
            groups = grouped_metrics(truth, scores, mass, threshold=result.threshold)
            metrics["per_mass"] = {k: v.as_dict() for k, v in groups.items()}
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(truth, scores, result.threshold, metrics, out, formats)
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    return EvaluationReport(metrics, metrics_path, plots, chosen)


def _plots(
    truth: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    threshold: float,
    metrics: dict[str, Any],
    out: Path,
    formats: tuple[str, ...],
) -> list[Path]:
    from hitprep.plotting.training import plot_roc, plot_scores

    plots: list[Path] = []
    fpr, tpr, auc = roc_curve(truth, scores)
    if auc is not None:
        point = (1.0 - metrics["background_suppression"], metrics["signal_acceptance"])
        plots += plot_roc(fpr, tpr, auc, out / "roc", point=point, formats=formats)
    plots += plot_scores(scores, truth, out / "scores", threshold=threshold, formats=formats)
    return plots
