"""One training epoch (a step per batch, mixed precision if asked), the optimizer, and the
line printed per epoch."""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from hitprep.errors import ConfigError
from hitprep.ml.datasets import Batch
from hitprep.ml.device import to_device
from hitprep.ml.distributed import Processes, ShardSampler, reduce_sums
from hitprep.ml.inference import run_model
from hitprep.ml.loader import ChunkShuffleSampler, EventShuffleSampler
from hitprep.ml.metrics import roc_curve
from hitprep.ml.models import HitprepModel
from hitprep.ml.tasks import Task

__all__ = [
    "AMP_DTYPES",
    "Precision",
    "epoch_line",
    "make_optimizer",
    "mixed_precision",
    "move_optimizer",
    "run_epoch",
    "train_pass",
    "train_step",
]

#: ``train.amp`` -> the autocast dtype
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def make_optimizer(model: torch.nn.Module, train: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (with momentum) as the ``[train]`` table says."""
    params = model.parameters()
    lr, decay = train["learning_rate"], train["weight_decay"]
    if train["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=train["momentum"], weight_decay=decay)
    if train["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=decay)


@dataclass(frozen=True)
class Precision:
    """Automatic mixed precision of the training steps: ``mode`` ``off``, ``bf16`` or
    ``fp16`` (with a gradient ``scaler``) on a ``device_type`` (``cpu``, ``cuda``)."""

    mode: str = "off"
    device_type: str = "cpu"
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> AbstractContextManager[Any]:
        """The forward pass's context: ``torch.autocast`` to the mode's dtype, or nothing."""
        if self.mode == "off":
            return nullcontext()
        return torch.autocast(self.device_type, dtype=AMP_DTYPES[self.mode])


def move_optimizer(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Optimizer state onto the parameters' device (after loading a checkpoint)."""
    for value in optimizer.state.values():
        for key, tensor in value.items():
            if isinstance(tensor, torch.Tensor) and key != "step":
                value[key] = tensor.to(device)


def mixed_precision(mode: str, device: torch.device) -> Precision:
    """The :class:`Precision` of ``train.amp`` (``off``, ``bf16``, ``fp16``) on ``device``.

    Raises:
        ConfigError: ``fp16`` on a device other than a CUDA GPU.
    """
    if mode == "fp16" and device.type != "cuda":
        msg = (
            f"train.amp: 'fp16' needs a CUDA GPU (training on {device});"
            " use 'bf16' (which PyTorch autocasts on the CPU too) or 'off'"
        )
        raise ConfigError(msg)
    scaler = torch.amp.GradScaler(device.type) if mode == "fp16" else None
    return Precision(mode, device.type, scaler)


def train_step(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    *,
    task: Task,
    precision: Precision | None = None,
    epoch: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on ``batch`` (already on the device): the model's output and loss.

    The forward pass runs under ``precision``'s autocast; the loss is taken in float32.

    Raises:
        ConfigError: the loss is not finite (diverged, or NaN inputs).
    """
    precision = precision or Precision()
    with precision.autocast():
        out = net(batch)
    out = out.float()
    loss = task.loss(out, batch)
    if not torch.isfinite(loss):
        msg = (
            f"training diverged in epoch {epoch} (loss {float(loss)});"
            " lower train.learning_rate or check the inputs for NaN"
        )
        raise ConfigError(msg)
    optimizer.zero_grad(set_to_none=True)
    if precision.scaler is None:
        torch.autograd.backward(loss)
        optimizer.step()
    else:
        torch.autograd.backward(precision.scaler.scale(loss))
        precision.scaler.step(optimizer)
        precision.scaler.update()
    return out, loss


def run_epoch(
    model: HitprepModel,
    optimizer: torch.optim.Optimizer,
    train_loader: DataLoader[Batch],
    val_loader: DataLoader[Batch],
    *,
    device: torch.device,
    epoch: int,
    epochs: int,
    seed: int,
    task: Task | None = None,
    procs: Processes | None = None,
    forward: torch.nn.Module | None = None,
    precision: Precision | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train one epoch, then score the validation split.

    Shuffling (the sampler's ``set_epoch``) and dropout are seeded by ``seed`` and
    ``epoch``, so an epoch repeats exactly whether or not the run was resumed before it.
    With several processes (``procs``), ``forward`` is the DistributedDataParallel wrapper
    of ``model``, and the training sums are added over the processes. ``precision``:
    mixed precision of the training steps (:func:`mixed_precision`; validation runs in
    float32).

    Returns:
        The history record: ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``,
        ``val_accuracy``, ``val_auc`` (signal class against the rest; None with one
        class; accuracies and AUC None for regression), ``seconds``.

    Raises:
        ConfigError: the loss is not finite (diverged, or NaN inputs).
    """
    started = time.perf_counter()
    sampler = train_loader.sampler
    if isinstance(sampler, EventShuffleSampler | ChunkShuffleSampler | ShardSampler):
        sampler.set_epoch(epoch)
    torch.manual_seed(seed * 100_003 + epoch)  # dropout: the same with or without a resume
    task = task or Task(model.schema)
    model.train()
    sums = train_pass(
        forward or model,
        optimizer,
        train_loader,
        device=device,
        task=task,
        precision=precision or Precision(),
        desc=f"epoch {epoch}/{epochs}",
        epoch=epoch,
        progress=progress,
    )
    loss_sum, correct_sum, n_sum = reduce_sums(sums, procs or Processes())
    record: dict[str, Any] = {
        "epoch": epoch,
        "train_loss": loss_sum / max(n_sum, 1),
        "train_accuracy": None if task.regression else correct_sum / max(n_sum, 1),
        **_validation(model, val_loader, device=device, task=task, progress=progress),
    }
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def train_pass(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader[Batch],
    *,
    device: torch.device,
    task: Task,
    precision: Precision,
    desc: str,
    epoch: int,
    progress: bool,
) -> list[float]:
    """One pass over ``loader`` with a :func:`train_step` per batch: the sums of the loss
    (times the batch size), the correct classifications and the events."""
    from tqdm import tqdm

    loss_sum, correct, n = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False)
    for batch in bar:
        batch = to_device(batch, device)
        out, loss = train_step(net, optimizer, batch, task=task, precision=precision, epoch=epoch)
        size = len(out)
        loss_sum += loss.item() * size
        if not task.regression:
            correct += int((out.argmax(1) == batch["label"]).sum())
        n += size
        bar.set_postfix(loss=f"{loss_sum / n:.4f}")
    return [loss_sum, float(correct), float(n)]


def _validation(
    model: HitprepModel,
    loader: DataLoader[Batch],
    *,
    device: torch.device,
    task: Task,
    progress: bool,
) -> dict[str, Any]:
    """``val_loss``, ``val_accuracy`` and ``val_auc`` (None where they do not apply)."""
    val = run_model(model, loader, device, task=task, progress=progress, desc="validation")
    record: dict[str, Any] = {
        "val_loss": float(val.loss if val.loss is not None else math.nan),
        "val_accuracy": None,
        "val_auc": None,
    }
    if not task.regression:
        val_labels = val.labels if val.labels is not None else np.zeros(0, dtype=np.int64)
        signal = model.schema.signal_index
        record["val_accuracy"] = float(np.mean(val.values.argmax(1) == val_labels))
        record["val_auc"] = roc_curve(val_labels == signal, val.scores(signal))[2]
    return record


def epoch_line(record: dict[str, Any], epochs: int, improved: bool) -> str:
    """``epoch 3/10: train loss ... | validation loss ... auc ... | 1.2 s *`` (* = best so far)."""
    auc = record["val_auc"]
    auc_text = f" auc {auc:.4f}" if auc is not None else ""
    mark = " *" if improved else ""
    train_acc, val_acc = record["train_accuracy"], record["val_accuracy"]
    return (
        f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}"
        + (f" acc {train_acc:.3f}" if train_acc is not None else "")
        + f" | validation loss {record['val_loss']:.4f}"
        + (f" acc {val_acc:.3f}" if val_acc is not None else "")
        + f"{auc_text} | {record['seconds']:.1f} s{mark}"
    )
