"""Checkpoints: state dict, optimizer state, training config, input schema and history.

Everything besides tensors is stored as JSON strings or plain numbers, so a
checkpoint loads with ``torch.load(weights_only=True)``: nothing in it can run
code. Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hitprep.atomic import atomic_path
from hitprep.errors import FileFormatError
from hitprep.ml.config import TrainConfig
from hitprep.ml.models import HitprepModel, build_model
from hitprep.ml.schema import Schema
from hitprep.provenance import version

__all__ = ["FORMAT", "Checkpoint", "load_checkpoint", "resolve_model_path", "save_checkpoint"]

#: marks a hitprep checkpoint and its layout version
FORMAT = "hitprep-checkpoint-1"

_REQUIRED = ("format", "model", "state_dict", "config", "schema")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model and what it was trained with."""

    path: Path
    model: HitprepModel
    model_name: str
    config: TrainConfig
    schema: Schema
    epoch: int
    history: list[dict[str, Any]]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def optimizer_state(self) -> dict[str, Any] | None:
        value = self.state.get("optimizer")
        return value if isinstance(value, dict) else None


def resolve_model_path(path: str | Path) -> Path:
    """``MODEL.pt``, or a training run directory (its ``best.pt``, else ``last.pt``)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.pt", "last.pt"):
            if (p / name).is_file():
                return p / name
        raise FileFormatError(p, "run directory without best.pt or last.pt")
    if not p.is_file():
        raise FileFormatError(p, "no such checkpoint file")
    return p


def save_checkpoint(
    path: str | Path,
    *,
    model: HitprepModel,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int = 0,
    history: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "hitprep_version": version(),
        "model": model.name,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config.to_json(),
        "schema": model.schema.to_json(),
        "epoch": int(epoch),
        "history": json.dumps(history or []),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    payload.update(extra or {})
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint (``weights_only=True``) and rebuild its model in eval mode.

    Args:
        path: ``MODEL.pt`` or a run directory (see :func:`resolve_model_path`).
        device: where to put the model.

    Raises:
        FileFormatError: missing file, not a torch file, not a hitprep checkpoint,
            or a state dict that does not fit the model its schema describes.
    """
    p = resolve_model_path(path)
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileFormatError(p, f"not a readable PyTorch checkpoint: {first}") from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise FileFormatError(p, f"not a hitprep checkpoint (format {found!r}, expected {FORMAT})")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise FileFormatError(p, f"checkpoint lacks {', '.join(missing)}")
    try:
        config = TrainConfig.from_json(raw["config"], origin=f"{p} config")
        schema = Schema.from_json(raw["schema"])
        history = json.loads(raw.get("history", "[]"))
    except (ValueError, KeyError, TypeError) as err:
        raise FileFormatError(p, f"checkpoint config or schema unreadable: {err}") from err
    model = build_model(raw["model"], schema, config.model)
    try:
        model.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise FileFormatError(
            p, f"state dict does not fit model {raw['model']!r}: {first}"
        ) from err
    model.to(device).eval()
    return Checkpoint(
        p, model, str(raw["model"]), config, schema, int(raw.get("epoch", 0)), history, raw
    )
