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

from hitprep.errors import ConfigError
from hitprep.ml.checkpoint import load_checkpoint, save_checkpoint
from hitprep.ml.config import TrainConfig
from hitprep.ml.data import open_dataset
from hitprep.ml.datasets import EventDataset
from hitprep.ml.device import pick_device
from hitprep.ml.distributed import shard_loader
from hitprep.ml.distributed import start as start_processes
from hitprep.ml.epochs import epoch_line, make_optimizer, move_optimizer, run_epoch
from hitprep.ml.loader import make_loader
from hitprep.ml.models import HitprepModel, build_model
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
    probe = open_dataset(config.data, labels=False, in_memory=False)
    parts = split_rows(probe.n_file_rows, config.split)
    probe.file.close()
    train_ds = open_dataset(config.data, rows=parts["train"])
    val_ds = open_dataset(config.data, rows=parts["validation"], classes=train_ds.classes)
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
            ``overwrite``/``resume``, a diverging loss.
        KeyInFileError, FileFormatError: the data file lacks what the config names.
        SchemaMismatchError: resuming on data the run's model does not fit.
    """
    out = Path(run_dir)
    best_path, last_path = out / "best.pt", out / "last.pt"
    existing = [p for p in (best_path, last_path) if p.exists()]
    if resume and not last_path.is_file():
        msg = f"{out}: no last.pt to resume from"
        raise ConfigError(msg)
    if existing and not resume and not overwrite:
        msg = f"{out} holds a training run; pass --resume to continue it or --overwrite to restart"
        raise ConfigError(msg)
    train_cfg = config.train
    device = pick_device(train_cfg["device"])
    procs = start_processes(device)
    if not procs.main:
        log = _silent
    train_ds, val_ds, n_rows = _datasets(config)
    signal = None if config.data["signal"] == "" else int(config.data["signal"])
    found = train_ds.schema(transform=config.data["transform"], signal=signal)
    found = replace(found, class_names=tuple(config.data["class_names"]))
    state: dict[str, Any] = {"best_val_loss": math.inf, "best_epoch": 0, "stale_epochs": 0}
    history: list[dict[str, Any]] = []
    start = 1
    if resume:
        ckpt = load_checkpoint(last_path)
        _check_resumable(ckpt.config, config)
        check_compatible(ckpt.schema, found, file=str(train_ds.path))
        model, schema = ckpt.model, ckpt.schema
        history, start = ckpt.history, ckpt.epoch + 1
        for key in state:
            state[key] = type(state[key])(ckpt.state.get(key, state[key]))
        optimizer = make_optimizer(model, train_cfg)
        if ckpt.optimizer_state is not None:
            optimizer.load_state_dict(ckpt.optimizer_state)
        log(f"resuming {out} after epoch {ckpt.epoch}")
    else:
        for p in existing if procs.main else []:
            p.unlink()
        stats = {}
        if config.data["normalize"]:
            stats = train_ds.statistics(
                transform=config.data["transform"],
                max_events=train_cfg["norm_events"],
                seed=config.split["seed"],
            )
        schema = replace(found.with_stats(stats), targets=train_ds.target_statistics())
        torch.manual_seed(train_cfg["seed"])
        model = build_model(config.model["name"], schema, config.model)
        optimizer = make_optimizer(model, train_cfg)
    model.to(device)
    move_optimizer(optimizer, device)
    n_params = sum(p.numel() for p in model.parameters())
    excluded = train_ds.excluded + val_ds.excluded
    log(
        f"data {train_ds.path}: {n_rows} events; train {len(train_ds)}, validation {len(val_ds)}"
        + (f" (excluded {excluded} outside classes {list(schema.classes)})" if excluded else "")
        + f"; {schema.describe()}"
    )
    task = Task(schema, loss=train_cfg["loss"])
    log(f"model {model.name}: {n_params:,} parameters on {device}")
    shuffle = True if train_cfg["shuffle"] == "auto" else train_cfg["shuffle"]
    pin = device.type == "cuda"
    workers = train_cfg["num_workers"]
    batch_size = train_cfg["batch_size"]
    train_loader = make_loader(
        train_ds,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=train_cfg["seed"],
        num_workers=workers,
        pin_memory=pin,
    )
    val_loader = make_loader(val_ds, batch_size=batch_size, num_workers=workers, pin_memory=pin)
    forward: torch.nn.Module | None = None
    if procs.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_loader = shard_loader(train_loader, procs)
        forward = DistributedDataParallel(model)
        log(f"{procs.world} processes, {batch_size // procs.world} events each per batch")
    stopped = train_cfg["patience"] > 0 and state["stale_epochs"] >= train_cfg["patience"]
    if start > train_cfg["epochs"] or stopped:
        why = "stopped early" if stopped else f"has {start - 1} epochs"
        log(f"{out}: the run {why}; nothing to do (raise train.epochs / patience to continue)")
    epoch = start
    while epoch <= train_cfg["epochs"] and not stopped:
        record = run_epoch(
            model,
            optimizer,
            train_loader,
            val_loader,
            device=device,
            epoch=epoch,
            epochs=train_cfg["epochs"],
            seed=train_cfg["seed"],
            task=task,
            procs=procs,
            forward=forward,
            progress=progress and procs.main,
        )
        record["processes"] = procs.world
        history.append(record)
        improved = record["val_loss"] < state["best_val_loss"] - train_cfg["min_delta"]
        if improved:
            state.update(best_val_loss=record["val_loss"], best_epoch=epoch, stale_epochs=0)
        else:
            state["stale_epochs"] += 1
        ckpt_args: dict[str, Any] = {
            "model": model,
            "config": config,
            "optimizer": optimizer,
            "epoch": epoch,
            "history": history,
            "extra": {**state, "processes": procs.world},
        }
        if improved and procs.main:
            save_checkpoint(best_path, **ckpt_args)
        if procs.main:
            save_checkpoint(last_path, **ckpt_args)
        log(epoch_line(record, train_cfg["epochs"], improved))
        stopped = train_cfg["patience"] > 0 and state["stale_epochs"] >= train_cfg["patience"]
        if stopped:
            patience = train_cfg["patience"]
            log(f"early stopping: validation loss did not improve in {patience} epochs")
        epoch += 1
    plots: list[Path] = []
    if procs.main:
        (out / "history.json").write_text(json.dumps(history, indent=1))
        records = {**config.as_dict(), "processes": procs.world}
        (out / "config.json").write_text(json.dumps(records, indent=1))
    if history and procs.main:
        from hitprep.plotting.training import plot_history

        plots = plot_history(history, out / "history", best_epoch=state["best_epoch"] or None)
    return TrainResult(
        out,
        best_path,
        last_path,
        history,
        state["best_epoch"],
        state["best_val_loss"],
        stopped,
        schema,
        model,
        plots,
    )


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
