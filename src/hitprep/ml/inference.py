"""Apply a model to a loader: class probabilities or regression targets, and file rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import DataLoader

from hitprep.ml.datasets import Batch
from hitprep.ml.device import to_device
from hitprep.ml.models import HitprepModel
from hitprep.ml.tasks import Task

__all__ = ["Outputs", "run_model"]


@dataclass(frozen=True)
class Outputs:
    """Model outputs in the loader's order.

    Attributes:
        rows: file row of each event.
        values: class probabilities (N, classes), or regression targets (N, columns) in
            model space (:mod:`hitprep.ml.targets`: log10 kept, directions as unit vectors).
        labels: class index of each event (classification with labels).
        targets: true targets, as ``values`` (regression with targets).
        loss: the mean loss when labels or targets exist.
    """

    rows: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64] | None
    targets: npt.NDArray[np.float32] | None
    loss: float | None

    @property
    def probabilities(self) -> npt.NDArray[np.float32]:
        return self.values

    def scores(self, signal_index: int) -> npt.NDArray[np.float32]:
        """Probability of the signal class."""
        return self.values[:, signal_index]


def _cat(parts: list[npt.NDArray[np.float32]], width: int) -> npt.NDArray[np.float32]:
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.float32)


@torch.no_grad()
def run_model(
    model: HitprepModel,
    loader: DataLoader[Batch],
    device: torch.device,
    *,
    task: Task | None = None,
    progress: bool = False,
    desc: str = "predict",
) -> Outputs:
    """Run ``model`` in eval mode over every batch; the mean loss when labels or targets exist."""
    from tqdm import tqdm

    task = task or Task(model.schema)
    model.eval()
    rows: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float32]] = []
    labels: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.float32]] = []
    loss_sum, n = 0.0, 0
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
        batch = to_device(batch, device)
        out = model(batch)
        values.append(task.decode(out).cpu().numpy())
        rows.append(batch["row"].cpu().numpy())
        known = "target" if task.regression else "label"
        if known in batch:
            loss_sum += float(task.loss(out, batch, reduction="sum"))
            n += len(out)
            if task.regression:
                targets.append(batch[known].cpu().numpy())
            else:
                labels.append(batch[known].cpu().numpy())
    width = model.schema.n_outputs
    return Outputs(
        np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        _cat(values, width),
        np.concatenate(labels) if labels else None,
        _cat(targets, width) if targets else None,
        loss_sum / n if n else None,
    )
