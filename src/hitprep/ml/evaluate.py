"""Judge a trained model on labelled data: classifiers and regressions.

Classifiers (:mod:`hitprep.ml.classification`): ``metrics.json`` holds the binary view
of one signal class (``auc``, ``threshold``, ``accuracy``, ``signal_acceptance``,
``background_suppression``, ``purity``, ...), ``working_points`` (background rejection at
chosen signal efficiencies, signal efficiency at chosen background levels), the
``confusion`` matrix, ``per_class`` one-vs-rest AUCs and, with a group field such as the
A' ``mass``, all of it per group; plots ``roc``, ``roc_log``, ``scores``, ``confusion``,
``roc_per_class``, ``roc_per_<field>``.

Regressions (:mod:`hitprep.ml.regression`): ``metrics.json`` holds ``targets``: per
target bias and resolution (68 % and RMS, absolute and relative) overall and in bins of
the true value, the training-mean baseline, and angular errors for directions; plots
``regression_<column>`` and ``direction_<target>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hitprep.atomic import atomic_path
from hitprep.errors import ConfigError, KeyInFileError, OutputExistsError
from hitprep.ml.checkpoint import Checkpoint, load_checkpoint
from hitprep.ml.data import open_dataset
from hitprep.ml.datasets import EventDataset
from hitprep.ml.device import pick_device
from hitprep.ml.h5io import column_names, open_h5, read_column
from hitprep.ml.inference import Outputs, run_model
from hitprep.ml.loader import make_loader
from hitprep.ml.schema import Schema, check_compatible
from hitprep.ml.splits import SPLITS, split_rows
from hitprep.ml.tasks import Task

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
        if "targets" in m:
            return f"{m['n_events']} events ({self.split} split) -> {self.metrics_path}"
        auc = "n/a" if m["auc"] is None else f"{m['auc']:.4f}"
        return (
            f"{m['view']}: {m['n_events']} events ({self.split} split): AUC {auc}, threshold"
            f" {m['threshold']:.4f}, accuracy {m['accuracy']:.4f} -> {self.metrics_path}"
        )


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _rows(
    data: str | Path, split: str, n_rows: int, config_path: str, split_cfg: Any
) -> tuple[str, Any]:
    chosen = split
    if split == "auto":
        chosen = "test" if _same_file(data, config_path) else "all"
    rows = np.arange(n_rows, dtype=np.int64)
    if chosen != "all":
        rows = split_rows(n_rows, split_cfg)[chosen]
        if len(rows) == 0 and split == "auto":
            chosen = "validation"
            rows = split_rows(n_rows, split_cfg)[chosen]
    return chosen, rows


def _group_values(data: str | Path, group: str, n_rows: int, outputs: Outputs) -> Any:
    """``(field, values per scored event)``, or None (``auto``: ``mass`` when present)."""
    if group == "none":
        return None
    with open_h5(data) as f:
        names = column_names(f)
        field = "mass" if group == "auto" else group
        if group == "auto" and field not in names:
            return None
        values = read_column(f, field, n_rows=n_rows, what="group field")
    return field, values[outputs.rows]


def _scored_events(ckpt: Checkpoint, data: str | Path, split: str) -> tuple[EventDataset, str, int]:
    """The dataset of the events to score (``split`` of ``data``), the split's name and the
    file's event count.

    Raises:
        KeyInFileError: no label field (or target) in ``data``.
        SchemaMismatchError: the data do not fit the model's inputs.
        ConfigError: no event of the model's classes in the split.
    """
    schema, config = ckpt.schema, ckpt.config
    data_cfg = dict(config.data, label=schema.label or "")
    edges = schema.uses_edges
    probe = open_dataset(data_cfg, path=data, labels=False, in_memory=False, edges=edges)
    check_compatible(schema, probe.schema(), file=str(data))
    n_rows = probe.n_file_rows
    probe.file.close()
    chosen, rows = _rows(data, split, n_rows, config.data["path"], config.split)
    try:
        ds = open_dataset(data_cfg, path=data, rows=rows, classes=schema.classes, edges=edges)
    except KeyInFileError as err:
        wanted = [schema.label, *(f for t in schema.targets for f in t.fields)]
        if err.key not in wanted:
            raise
        what = (
            "evaluate needs targets: target"
            if schema.targets
            else "evaluate needs labels: label field"
        )
        raise KeyInFileError(err.key, file=data, available=err.available, what=what) from err
    if len(ds) == 0:
        msg = f"{data}: no events with labels in {list(schema.classes)} in the {chosen} split"
        raise ConfigError(msg)
    return ds, chosen, n_rows


def evaluate(
    model: str | Path,
    data: str | Path,
    outdir: str | Path,
    *,
    split: str = "auto",
    threshold: float | None = None,
    signal: int | str | None = None,
    group: str = "auto",
    efficiencies: tuple[float, ...] = (0.5, 0.9),
    backgrounds: tuple[float, ...] = (0.01, 0.001),
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
        data: HDF5 file with the inputs and the labels (or targets) the model was trained with.
        outdir: output directory.
        split: ``auto`` (the test split when ``data`` is the training file, else all
            events), ``all``, ``train``, ``validation`` or ``test``.
        threshold: working point (default: the one that minimizes misclassified events).
        signal: class judged as signal in the binary view: a class value or name
            (default: the model's signal class, ``data.signal``, else the last class).
        group: field of ``y`` (or per-event dataset) to break the classifier's metrics down
            by (``auto``: ``mass`` when present; ``none``: no breakdown).
        efficiencies: signal efficiencies at which to report background rejection.
        backgrounds: background efficiencies at which to report the signal efficiency.
        batch_size, device, num_workers: as in training.
        overwrite: replace an existing ``metrics.json``.
        progress: progress bar on stderr.
        formats: plot file formats.

    Raises:
        KeyInFileError: the data have no label field (or target), or no group field.
        ConfigError: a signal class the model does not have.
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
    if not schema.is_regression:
        from hitprep.ml.classification import resolve_signal

        resolve_signal(schema, signal)  # a bad --signal fails before any work
    ds, chosen, n_rows = _scored_events(ckpt, data, split)
    loader = make_loader(ds, batch_size=batch_size, num_workers=num_workers)
    task = Task(schema, loss=config.train["loss"])
    outputs = run_model(
        ckpt.model, loader, torch_device, task=task, progress=progress, desc="evaluate"
    )
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {
        "n_events": len(outputs.rows),
        "split": chosen,
        "model": str(ckpt.path),
        "data": str(Path(data)),
        "loss": outputs.loss,
    }
    if schema.is_regression:
        found, plots = _regression(schema, outputs, out, formats)
    else:
        from hitprep.ml.classification import classification_report

        labels = outputs.labels if outputs.labels is not None else np.zeros(0, dtype=np.int64)
        found, plots = classification_report(
            schema,
            labels,
            outputs.values,
            out,
            signal=signal,
            threshold=threshold,
            groups=_group_values(data, group, n_rows, outputs),
            efficiencies=efficiencies,
            backgrounds=backgrounds,
            formats=formats,
        )
        found.update({"label": schema.label, "excluded_other_classes": ds.excluded})
    metrics.update(found)
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    return EvaluationReport(metrics, metrics_path, plots, chosen)


def _regression(
    schema: Schema, outputs: Outputs, out: Path, formats: tuple[str, ...]
) -> tuple[dict[str, Any], list[Path]]:
    from hitprep.ml.plots import plot_regression
    from hitprep.ml.regression import regression_metrics

    pred = outputs.values.astype(np.float64)
    true = pred if outputs.targets is None else outputs.targets.astype(np.float64)
    found = regression_metrics(schema.targets, pred, true)
    plots = plot_regression(schema.targets, pred, true, found, out, formats=formats)
    return {"targets": found}, plots
