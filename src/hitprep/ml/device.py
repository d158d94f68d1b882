"""Pick the torch device: a GPU when present, the CPU otherwise."""

from __future__ import annotations

import torch

from hitprep.errors import ConfigError

__all__ = ["pick_device", "to_device"]


def pick_device(spec: str = "auto") -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        ConfigError: an unknown device, or CUDA asked for but not available.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError) as err:
        msg = f"train.device: {spec!r} is not a device (auto, cpu, cuda, cuda:N)"
        raise ConfigError(msg) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        msg = f"train.device: {spec!r} asked for, but PyTorch sees no CUDA GPU (use auto or cpu)"
        raise ConfigError(msg)
    if device.type not in ("cpu", "cuda"):
        msg = f"train.device: {spec!r} is not supported (auto, cpu, cuda, cuda:N)"
        raise ConfigError(msg)
    return device


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of a batch on ``device`` (asynchronous from pinned memory)."""
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
