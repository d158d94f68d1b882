"""What a model's outputs mean: class logits (classification) or standardized targets
(regression). A task gives the loss to train with and turns outputs into results
(class probabilities; target values in the units of the file, log10 kept, directions
as unit vectors)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional

from hitprep.ml.schema import Schema

__all__ = ["Task"]


@dataclass(frozen=True)
class _Block:
    start: int
    stop: int
    direction: bool


class Task:
    """Loss and decoding of a model's outputs for ``schema`` (``loss``: ``auto``, ``mse``
    or ``huber``; regression only: classification always uses cross-entropy)."""

    def __init__(self, schema: Schema, *, loss: str = "auto") -> None:
        self.regression = schema.is_regression
        self.loss_name = "cross_entropy" if not self.regression else loss.replace("auto", "mse")
        self.blocks: list[_Block] = []
        mean: list[float] = []
        std: list[float] = []
        start = 0
        for t in schema.targets:
            self.blocks.append(_Block(start, start + t.size, t.is_direction))
            start += t.size
            mean += list(t.mean) or [0.0] * t.size
            std += list(t.std) or [1.0] * t.size
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)

    def loss(self, out: Tensor, batch: dict[str, Tensor], *, reduction: str = "mean") -> Tensor:
        """Cross-entropy, or per event the sum over targets of MSE / Huber on standardized
        values and ``1 - cos`` of the angle between predicted and true directions."""
        if not self.regression:
            return functional.cross_entropy(out, batch["label"], reduction=reduction)
        true = batch["target"]
        mean, std = self.mean.to(out.device), self.std.to(out.device)
        per_event = out.new_zeros(len(out))
        for b in self.blocks:
            pred, want = out[:, b.start : b.stop], true[:, b.start : b.stop]
            if b.direction:
                cos = functional.cosine_similarity(pred, want, dim=1, eps=1e-6)
                per_event = per_event + (1.0 - cos)
                continue
            z = (want - mean[b.start : b.stop]) / std[b.start : b.stop]
            if self.loss_name == "huber":
                part = functional.huber_loss(pred, z, reduction="none", delta=1.0)
            else:
                part = functional.mse_loss(pred, z, reduction="none")
            per_event = per_event + part.mean(dim=1)
        return per_event.sum() if reduction == "sum" else per_event.mean()

    def decode(self, out: Tensor) -> Tensor:
        """Probabilities (softmax), or targets: standardization undone, directions normalized."""
        if not self.regression:
            return torch.softmax(out.float(), dim=1)
        values = out.float() * self.std.to(out.device) + self.mean.to(out.device)
        for b in self.blocks:
            if b.direction:
                raw = out[:, b.start : b.stop].float()
                values[:, b.start : b.stop] = functional.normalize(raw, dim=1, eps=1e-6)
        return values
