"""Apply a model to a loader: signal scores, class probabilities and file rows, batch by batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import DataLoader

from hitprep.ml.datasets import Batch
from hitprep.ml.device import to_device
from hitprep.ml.models import HitprepModel

__all__ = ["Outputs", "run_model"]


@dataclass(frozen=True)
class Outputs:
    """Model outputs in the loader's order."""

    rows: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64] | None
    loss: float | None

    def scores(self, signal_index: int) -> npt.NDArray[np.float32]:
        """Probability of the signal class."""
        return self.probabilities[:, signal_index]


@torch.no_grad()
def run_model(
    model: HitprepModel,
    loader: DataLoader[Batch],
    device: torch.device,
    *,
    progress: bool = False,
    desc: str = "predict",
) -> Outputs:
    """Run ``model`` in eval mode over every batch; the mean cross-entropy when labels exist."""
    from tqdm import tqdm

    model.eval()
    rows, probs, labels = [], [], []
    loss_sum, n = 0.0, 0
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
        batch = to_device(batch, device)
        logits = model(batch)
        probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        rows.append(batch["row"].cpu().numpy())
        if "label" in batch:
            label = batch["label"]
            loss_sum += float(torch.nn.functional.cross_entropy(logits, label, reduction="sum"))
            n += len(label)
            labels.append(label.cpu().numpy())
    n_classes = model.schema.n_classes
    return Outputs(
        np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        np.concatenate(probs) if probs else np.zeros((0, n_classes), dtype=np.float32),
        np.concatenate(labels) if labels else None,
        loss_sum / n if n else None,
    )
