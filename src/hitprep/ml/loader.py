"""DataLoaders over hitprep datasets: batched reads, seeded shuffling, workers.

Datasets return whole batches from ``__getitems__``; :func:`collate` passes
them through (and stacks per-event items, padding node counts, when a
dataset is indexed one event at a time). :class:`ChunkShuffleSampler`
shuffles whole storage chunks and mixes a few at a time, so a batch read
from a compressed file decompresses a handful of chunks instead of one per
event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from hitprep.ml.datasets import Batch, EventDataset

__all__ = ["ChunkShuffleSampler", "EventShuffleSampler", "collate", "make_loader"]


def collate(items: Batch | Sequence[Batch]) -> Batch:
    """A batch from ``__getitems__`` as is, or per-event items stacked (padded along nodes).

    Example:
        >>> a = {"x": torch.zeros(2, 3), "x_mask": torch.ones(2, dtype=torch.bool)}
        >>> b = {"x": torch.zeros(1, 3), "x_mask": torch.ones(1, dtype=torch.bool)}
        >>> {k: tuple(v.shape) for k, v in collate([a, b]).items()}
        {'x': (2, 2, 3), 'x_mask': (2, 2)}
    """
    if isinstance(items, Mapping):
        return dict(items)
    out: Batch = {}
    for key in items[0]:
        tensors = [item[key] for item in items]
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) == 1:
            out[key] = torch.stack(tensors)
            continue
        longest = max(t.shape[0] for t in tensors)
        padded = tensors[0].new_zeros((len(tensors), longest, *tensors[0].shape[1:]))
        for i, t in enumerate(tensors):
            padded[i, : t.shape[0]] = t
        out[key] = padded
    return out


class _EpochSampler(Sampler[int]):
    """``n`` events in an order drawn from ``seed + epoch`` (so a resumed run repeats it)."""

    def __init__(self, n: int, *, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n


class EventShuffleSampler(_EpochSampler):
    """A fresh permutation every epoch, seeded by ``seed + epoch`` (resumable)."""

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        return iter(rng.permutation(self.n).tolist())


class ChunkShuffleSampler(_EpochSampler):
    """Shuffle blocks of ``block`` consecutive events, then events within pools of blocks.

    Each pool of ``pool`` blocks is permuted as a whole, so a batch mixes events
    from up to ``pool`` storage chunks while reading only those chunks.
    """

    def __init__(self, n: int, *, block: int, pool: int = 16, seed: int = 0) -> None:
        super().__init__(n, seed=seed)
        self.block, self.pool = max(1, block), max(1, pool)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        starts = rng.permutation(np.arange(0, self.n, self.block))
        order: list[np.ndarray[Any, Any]] = []
        for lo in range(0, len(starts), self.pool):
            pooled = np.concatenate(
                [np.arange(s, min(s + self.block, self.n)) for s in starts[lo : lo + self.pool]]
            )
            order.append(rng.permutation(pooled))
        return iter(np.concatenate(order).tolist() if order else [])


def make_loader(
    dataset: EventDataset,
    *,
    batch_size: int = 64,
    shuffle: bool | str = False,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Batch]:
    """A DataLoader that reads whole batches and re-opens files in each worker.

    Args:
        dataset: a hitprep dataset.
        batch_size: events per batch.
        shuffle: False (file order), ``"events"`` (full permutation), ``"chunks"``
            (:class:`ChunkShuffleSampler`), ``True`` / ``"auto"`` (chunks when reading a
            compressed file, events when the data are in memory).
        seed: shuffling seed; call ``loader.sampler.set_epoch(e)`` for epoch ``e``.
        num_workers: worker processes (each opens the file itself).
        pin_memory: pin batches for a faster copy to a GPU.
    """
    sampler: Sampler[int] | None = None
    if shuffle in (True, "auto"):
        block = dataset.chunk_rows()
        shuffle = "chunks" if block and block > 1 else "events"
    if shuffle == "events":
        sampler = EventShuffleSampler(len(dataset), seed=seed)
    elif shuffle == "chunks":
        sampler = ChunkShuffleSampler(len(dataset), block=dataset.chunk_rows() or 1, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
