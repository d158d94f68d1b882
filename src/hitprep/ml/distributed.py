"""Training in several processes with DistributedDataParallel (``torchrun`` or ``--nproc``).

``torchrun --nproc-per-node N -m hitprep train ...`` sets ``RANK`` / ``WORLD_SIZE``;
:func:`start` joins the process group (NCCL on GPUs, gloo on CPUs). ``train.batch_size``
stays the *global* batch: each process reads ``batch_size / N`` events of every batch,
the ``r``-th of every ``N`` events of the epoch's order, so N processes see exactly the
batches one process would (the remainder of an epoch that does not divide by N is left
out). Gradients are averaged by DDP, training sums are added over processes, and only
process 0 writes checkpoints, history and plots.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import distributed as dist
from torch.utils.data import DataLoader, Sampler

from hitprep.errors import ConfigError
from hitprep.ml.datasets import Batch
from hitprep.ml.loader import collate

__all__ = ["Processes", "ShardSampler", "reduce_sums", "shard_loader", "start"]


@dataclass(frozen=True)
class Processes:
    """This process's ``rank`` among ``world`` training processes."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0


def start(device: torch.device) -> Processes:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Processes(dist.get_rank(), dist.get_world_size(), str(device))


class ShardSampler(Sampler[int]):
    """Every ``world``-th index of ``base`` from ``rank`` on, the same count in each process."""

    def __init__(self, base: Sampler[int], procs: Processes, n: int) -> None:
        self.base, self.procs = base, procs
        self.n = n // procs.world

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.base, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        order = list(iter(self.base))
        return iter(order[self.procs.rank :: self.procs.world][: self.n])

    def __len__(self) -> int:
        return self.n


def shard_loader(loader: DataLoader[Batch], procs: Processes) -> DataLoader[Batch]:
    """``loader`` reading this process's share: ``batch_size / world`` events of each batch.

    Raises:
        ConfigError: a global batch smaller than the number of processes, or not divisible.
    """
    size = int(loader.batch_size or 1)
    if size % procs.world:
        msg = f"train.batch_size {size} must divide by the {procs.world} training processes"
        raise ConfigError(msg)
    sampler = ShardSampler(loader.sampler, procs, len(loader.dataset))  # type: ignore[arg-type]
    return DataLoader(
        loader.dataset,
        batch_size=size // procs.world,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=collate,
        pin_memory=loader.pin_memory,
        persistent_workers=loader.num_workers > 0,
    )


def reduce_sums(values: list[float], procs: Processes) -> list[float]:
    """``values`` added over every process (as they are with one process)."""
    if procs.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=procs.device)
    dist.all_reduce(t)
    return [float(v) for v in t.tolist()]
