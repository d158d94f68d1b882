"""Train a model on a hitprep file: splits, normalization, epochs, early stopping, checkpoints.

A run directory holds ``last.pt`` (every epoch; resumable), ``best.pt`` (lowest
validation loss), ``history.json``, ``history.png`` / ``.pdf`` and
``config.json``. Shuffling and dropout are seeded per epoch, so a resumed run
repeats exactly what an uninterrupted one would have done.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from hitprep.errors import ConfigError
from hitprep.ml.checkpoint import load_checkpoint, save_checkpoint
from hitprep.ml.config import TrainConfig
from hitprep.ml.data import open_dataset
from hitprep.ml.datasets import Batch, EventDataset
from hitprep.ml.device import pick_device
from hitprep.ml.distributed import Processes, shard_loader
from hitprep.ml.distributed import start as start_processes
from hitprep.ml.epochs import (
    Precision,
    epoch_line,
    make_optimizer,
    mixed_precision,
    move_optimizer,
    run_epoch,
)
from hitprep.ml.loader import make_loader
from hitprep.ml.models import HitprepModel, build_model, uses_stored_edges
from hitprep.ml.schema import Schema, check_compatible
from hitprep.ml.splits import split_rows
from hitprep.ml.tasks import Task
from hitprep.wording import count_of

__all__ = ["RESUMABLE", "TrainResult", "resume_config", "train"]

#: keys a resumed run may change; everything else must stay as the run started
RESUMABLE = frozenset(
    {
        "train.epochs",
        "train.patience",
        "train.min_delta",
        "train.device",
        "train.amp",
        "train.num_workers",
        "data.path",
    }
)


@dataclass
class TrainResult:
    """What a training run did and wrote (``model``: the model after the last epoch)."""

    run_dir: Path
    best: Path
    last: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    schema: Schema
    model: HitprepModel
    plots: list[Path] = field(default_factory=list)

    def line(self) -> str:
        best = next((h for h in self.history if h["epoch"] == self.best_epoch), None)
        auc = best.get("val_auc") if best else None
        auc_text = f", validation AUC {auc:.4f}" if auc is not None else ""
        stop = " (stopped early)" if self.stopped_early else ""
        return (
            f"{count_of(len(self.history), 'epoch')}{stop}; best epoch {self.best_epoch}:"
            " validation loss"
            f" {self.best_val_loss:.4f}{auc_text} -> {self.best}"
        )


def resume_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """The configuration of the run in ``run_dir`` with ``overrides`` of :data:`RESUMABLE` keys.

    Raises:
        ConfigError: no run to resume, or an override of a key a resumed run cannot change.
    """
    last = Path(run_dir) / "last.pt"
    if not last.is_file():
        msg = f"{run_dir}: no last.pt to resume from"
        raise ConfigError(msg)
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key not in RESUMABLE:
            msg = f"--resume: {key} cannot change in a resumed run (allowed: {sorted(RESUMABLE)})"
            raise ConfigError(msg)
    return load_checkpoint(last).config.replace(list(overrides))


def _datasets(config: TrainConfig) -> tuple[EventDataset, EventDataset, int]:
    edges = uses_stored_edges(config.model["name"])
    probe = open_dataset(config.data, labels=False, in_memory=False, edges=edges)
    parts = split_rows(probe.n_file_rows, config.split)
    probe.file.close()
    train_ds = open_dataset(config.data, rows=parts["train"], edges=edges)
    val_ds = open_dataset(
        config.data, rows=parts["validation"], classes=train_ds.classes, edges=edges
    )
    for name, ds in (("training", train_ds), ("validation", val_ds)):
        if len(ds) == 0:
            msg = (
                f"{ds.path}: the {name} split is empty ({probe.n_file_rows} events in the file,"
                f" {ds.excluded} outside the classes {list(ds.classes)})"
            )
            raise ConfigError(msg)
    return train_ds, val_ds, probe.n_file_rows


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train as ``config`` says and write the run to ``run_dir``.

    Args:
        config: validated configuration (:func:`hitprep.ml.config.load_train_config`).
        run_dir: output directory.
        resume: continue the run in ``run_dir`` from its ``last.pt``.
        overwrite: start again in a directory that already holds a run.
        progress: progress bars per epoch (stderr).
        log: receives one line per epoch and a few more.

    Returns:
        A :class:`TrainResult` (paths, history, best epoch).

    Raises:
        ConfigError: bad configuration, empty splits, an existing run without
            ``overwrite``/``resume``, a diverging loss, ``train.amp = 'fp16'`` on the CPU.
        KeyInFileError, FileFormatError: the data file lacks what the config names.
        SchemaMismatchError: resuming on data the run's model does not fit.
    """
    out = Path(run_dir)
    existing = _check_run_dir(out, resume=resume, overwrite=overwrite)
    device = pick_device(config.train["device"])
    precision = mixed_precision(config.train["amp"], device)
    procs = start_processes(device)
    if not procs.main:
        log = _silent
    train_ds, val_ds, n_rows = _datasets(config)
    if resume:
        run = _resumed(config, out / "last.pt", train_ds, log, precision)
    else:
        for p in existing if procs.main else []:
            p.unlink()
        run = _fresh(config, train_ds)
    run.model.to(device)
    move_optimizer(run.optimizer, device)
    excluded = train_ds.excluded + val_ds.excluded
    log(
        f"data {train_ds.path}: {n_rows} events; train {len(train_ds)}, validation {len(val_ds)}"
        + (f" (excluded {excluded} outside classes {list(run.schema.classes)})" if excluded else "")
        + f"; {run.schema.describe()}"
    )
    n_params = sum(p.numel() for p in run.model.parameters())
    amp = f" ({precision.mode} autocast)" if precision.mode != "off" else ""
    log(f"model {run.model.name}: {n_params:,} parameters on {device}{amp}")
    loaders = _loaders(config, train_ds, val_ds, device=device, procs=procs)
    forward: torch.nn.Module | None = None
    if procs.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(run.model)
        batch = config.train["batch_size"]
        log(f"{procs.world} processes, {batch // procs.world} events each per batch")
    task = Task(run.schema, loss=config.train["loss"])
    epochs = _Epochs(loaders, task, device, procs, forward, precision, progress and procs.main)
    stopped = _run_epochs(config, run, out, epochs, log)
    plots = _finish(config, run, out, procs)
    return TrainResult(
        out,
        out / "best.pt",
        out / "last.pt",
        run.history,
        run.state["best_epoch"],
        run.state["best_val_loss"],
        stopped,
        run.schema,
        run.model,
        plots,
    )


@dataclass
class _Run:
    """What a run carries from epoch to epoch (and from a checkpoint when resumed)."""

    model: HitprepModel
    schema: Schema
    optimizer: torch.optim.Optimizer
    history: list[dict[str, Any]]
    start: int
    state: dict[str, Any]


@dataclass(frozen=True)
class _Epochs:
    """How the epochs run: loaders (training, validation), task, device, processes, the
    DistributedDataParallel wrapper (None in one process), precision, progress bars."""

    loaders: tuple[DataLoader[Batch], DataLoader[Batch]]
    task: Task
    device: torch.device
    procs: Processes
    forward: torch.nn.Module | None
    precision: Precision
    progress: bool


def _check_run_dir(out: Path, *, resume: bool, overwrite: bool) -> list[Path]:
    """The checkpoints already in ``out`` (an error unless resumed or overwritten)."""
    existing = [p for p in (out / "best.pt", out / "last.pt") if p.exists()]
    if resume and not (out / "last.pt").is_file():
        msg = f"{out}: no last.pt to resume from"
        raise ConfigError(msg)
    if existing and not resume and not overwrite:
        msg = f"{out} holds a training run; pass --resume to continue it or --overwrite to restart"
        raise ConfigError(msg)
    return existing


def _found_schema(config: TrainConfig, train_ds: EventDataset) -> Schema:
    """The schema of the training data (before normalization statistics)."""
    signal = None if config.data["signal"] == "" else int(config.data["signal"])
    found = train_ds.schema(transform=config.data["transform"], signal=signal)
    return replace(found, class_names=tuple(config.data["class_names"]))


def _fresh_state() -> dict[str, Any]:
    return {"best_val_loss": math.inf, "best_epoch": 0, "stale_epochs": 0}


def _fresh(config: TrainConfig, train_ds: EventDataset) -> _Run:
    """A new model (normalization from the training split) and its optimizer."""
    found = _found_schema(config, train_ds)
    stats = {}
    if config.data["normalize"]:
        stats = train_ds.statistics(
            transform=config.data["transform"],
            max_events=config.train["norm_events"],
            seed=config.split["seed"],
        )
    schema = replace(found.with_stats(stats), targets=train_ds.target_statistics())
    torch.manual_seed(config.train["seed"])
    model = build_model(config.model["name"], schema, config.model)
    optimizer = make_optimizer(model, config.train)
    return _Run(model, schema, optimizer, [], 1, _fresh_state())


def _resumed(
    config: TrainConfig,
    last: Path,
    train_ds: EventDataset,
    log: Callable[[str], None],
    precision: Precision,
) -> _Run:
    """Model, optimizer, history and early-stopping state of ``last.pt`` (and the fp16
    gradient scaler's state, when the run saved one and resumes in fp16)."""
    ckpt = load_checkpoint(last)
    _check_resumable(ckpt.config, config)
    check_compatible(ckpt.schema, _found_schema(config, train_ds), file=str(train_ds.path))
    state = _fresh_state()
    for key in state:
        state[key] = type(state[key])(ckpt.state.get(key, state[key]))
    optimizer = make_optimizer(ckpt.model, config.train)
    if ckpt.optimizer_state is not None:
        optimizer.load_state_dict(ckpt.optimizer_state)
    scaler_state = ckpt.state.get("grad_scaler")
    if precision.scaler is not None and isinstance(scaler_state, dict):
        precision.scaler.load_state_dict(scaler_state)
    log(f"resuming {last.parent} after epoch {ckpt.epoch}")
    return _Run(ckpt.model, ckpt.schema, optimizer, ckpt.history, ckpt.epoch + 1, state)


def _loaders(
    config: TrainConfig,
    train_ds: EventDataset,
    val_ds: EventDataset,
    *,
    device: torch.device,
    procs: Processes,
) -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    """Training loader (shuffled; this process's share) and validation loader."""
    train_cfg = config.train
    shuffle = True if train_cfg["shuffle"] == "auto" else train_cfg["shuffle"]
    pin = device.type == "cuda"
    workers, batch_size = train_cfg["num_workers"], train_cfg["batch_size"]
    train_loader = make_loader(
        train_ds,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=train_cfg["seed"],
        num_workers=workers,
        pin_memory=pin,
    )
    val_loader = make_loader(val_ds, batch_size=batch_size, num_workers=workers, pin_memory=pin)
    if procs.world > 1:
        train_loader = shard_loader(train_loader, procs)
    return train_loader, val_loader


def _stopped(config: TrainConfig, run: _Run) -> bool:
    patience = config.train["patience"]
    return bool(patience > 0 and run.state["stale_epochs"] >= patience)


def _run_epochs(
    config: TrainConfig, run: _Run, out: Path, epochs: _Epochs, log: Callable[[str], None]
) -> bool:
    """Epochs ``run.start`` .. ``train.epochs`` (or until early stopping), each recorded in
    ``run.history`` and checkpointed. Returns whether the run stopped early."""
    train_cfg = config.train
    stopped = _stopped(config, run)
    if run.start > train_cfg["epochs"] or stopped:
        why = "stopped early" if stopped else f"has {run.start - 1} epochs"
        log(f"{out}: the run {why}; nothing to do (raise train.epochs / patience to continue)")
    epoch = run.start
    while epoch <= train_cfg["epochs"] and not stopped:
        record = run_epoch(
            run.model,
            run.optimizer,
            *epochs.loaders,
            device=epochs.device,
            epoch=epoch,
            epochs=train_cfg["epochs"],
            seed=train_cfg["seed"],
            task=epochs.task,
            procs=epochs.procs,
            forward=epochs.forward,
            precision=epochs.precision,
            progress=epochs.progress,
        )
        record["processes"] = epochs.procs.world
        record["amp"] = epochs.precision.mode
        improved = _record_epoch(config, run, out, record, epochs)
        log(epoch_line(record, train_cfg["epochs"], improved))
        stopped = _stopped(config, run)
        if stopped:
            patience = train_cfg["patience"]
            log(f"early stopping: validation loss did not improve in {patience} epochs")
        epoch += 1
    return stopped


def _record_epoch(
    config: TrainConfig, run: _Run, out: Path, record: dict[str, Any], epochs: _Epochs
) -> bool:
    """Add ``record`` to the history, update the early-stopping state, write ``last.pt``
    (and ``best.pt`` when the validation loss improved). Returns whether it improved."""
    procs, scaler = epochs.procs, epochs.precision.scaler
    epoch = record["epoch"]
    run.history.append(record)
    state = run.state
    improved = bool(record["val_loss"] < state["best_val_loss"] - config.train["min_delta"])
    if improved:
        state.update(best_val_loss=record["val_loss"], best_epoch=epoch, stale_epochs=0)
    else:
        state["stale_epochs"] += 1
    ckpt_args: dict[str, Any] = {
        "model": run.model,
        "config": config,
        "optimizer": run.optimizer,
        "epoch": epoch,
        "history": run.history,
        "extra": {**state, "processes": procs.world},
    }
    if scaler is not None:  # fp16: a resumed run continues from the same loss scale
        ckpt_args["extra"]["grad_scaler"] = scaler.state_dict()
    if improved and procs.main:
        save_checkpoint(out / "best.pt", **ckpt_args)
    if procs.main:
        save_checkpoint(out / "last.pt", **ckpt_args)
    return improved


def _finish(config: TrainConfig, run: _Run, out: Path, procs: Processes) -> list[Path]:
    """``history.json``, ``config.json`` and the history plots (process 0 only)."""
    if not procs.main:
        return []
    (out / "history.json").write_text(json.dumps(run.history, indent=1))
    records = {**config.as_dict(), "processes": procs.world}
    (out / "config.json").write_text(json.dumps(records, indent=1))
    if not run.history:
        return []
    from hitprep.plotting.training import plot_history

    best = run.state["best_epoch"] or None
    return plot_history(run.history, out / "history", best_epoch=best)


def _silent(line: str) -> None:
    """The log of processes other than the first."""


def _check_resumable(before: TrainConfig, now: TrainConfig) -> None:
    old, new = before.as_dict(), now.as_dict()
    changed = [
        f"{section}.{key}"
        for section, table in new.items()
        for key, value in table.items()
        if old[section].get(key) != value and f"{section}.{key}" not in RESUMABLE
    ]
    if changed:
        msg = f"--resume: {', '.join(changed)} differ from the run being resumed"
        raise ConfigError(msg)
