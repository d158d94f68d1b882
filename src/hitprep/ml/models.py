"""Baseline models, sized from the input schema.

- :class:`ConvNet`: two convolution blocks and two fully connected layers (LDMX's ConvNet);
  1-, 2- or 3-D convolutions as the image has spatial axes.
- :class:`ConvNetExtraInput`: the same with scalar inputs (e.g. the A' ``mass``) joined
  before the dense layers: the mass-parametrized model.
- :class:`MultiVolumeCNN`: one convolution tower per input (HEPTrkX's per-volume trigger
  CNN), features concatenated, one dense head.
- :class:`PointNet`: a shared per-node MLP, max and mean pooling over real nodes only (the
  mask), a dense head: a DeepSets / PointNet-style model for graphs.
- :class:`EdgeConvModel`: EdgeConv layers over the stored edges (or kNN in the batch),
  DynEdge-style skip connections, max + mean pooling (:mod:`hitprep.ml.edgeconv`).

Every model normalizes its inputs with the training split's statistics (stored as
buffers, so a checkpoint carries them), takes a batch dict and returns class logits, or
standardized regression targets (:mod:`hitprep.ml.tasks`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hitprep.errors import ConfigError
from hitprep.ml.schema import InputSpec, Schema

__all__ = [
    "MODELS",
    "ConvNet",
    "ConvNetExtraInput",
    "EdgeConvModel",
    "HitprepModel",
    "MultiVolumeCNN",
    "PointNet",
    "build_model",
    "default_model",
    "uses_stored_edges",
]

#: spatial size each axis is pooled down to before the dense layers (bounds their size)
POOLED = 4


class Standardize(nn.Module):
    """``(transform(x) - mean) / std`` along one axis (channels of images, features of nodes)."""

    mean: Tensor
    std: Tensor

    def __init__(self, stats: Mapping[str, Sequence[float]], *, dim: int, log1p: bool) -> None:
        super().__init__()
        self.dim, self.log1p = dim, log1p
        self.register_buffer("mean", torch.tensor(list(stats["mean"]), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(stats["std"]), dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        if self.log1p:
            x = torch.log1p(x.clamp_min(0))
        shape = [1] * x.ndim
        shape[self.dim] = -1
        return (x - self.mean.view(shape)) / self.std.view(shape)


def _identity_stats(n: int) -> dict[str, list[float]]:
    return {"mean": [0.0] * n, "std": [1.0] * n}


class HitprepModel(nn.Module):
    """Base class: the schema, input normalization and the dense head."""

    name = "base"

    def __init__(self, schema: Schema, *, hidden: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.schema = schema
        self.hidden, self.dropout = hidden, dropout
        self.norms = nn.ModuleDict()
        for spec in schema.inputs:
            n = spec.shape[0] if spec.kind != "nodes" else spec.shape[-1]
            stats = schema.stats.get(spec.name, _identity_stats(n))
            log1p = schema.transform == "log1p" and spec.kind != "nodes"
            dim = -1 if spec.kind == "nodes" else 1
            self.norms[spec.name] = Standardize(stats, dim=dim, log1p=log1p)
        self.extras_norm: Standardize | None = None
        if schema.extras:
            stats = schema.stats.get("extras", _identity_stats(len(schema.extras)))
            self.extras_norm = Standardize(stats, dim=-1, log1p=False)

    def head(self, n_features: int) -> nn.Sequential:
        n_in = n_features + len(self.schema.extras)
        return nn.Sequential(
            nn.Linear(n_in, self.hidden),
            nn.ReLU(),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.schema.n_outputs),
        )

    def join_extras(self, features: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        if self.extras_norm is None:
            return features
        return torch.cat([features, self.extras_norm(batch["extras"])], dim=1)


def conv_tower(
    shape: Sequence[int], channels: Sequence[int], *, kernel_size: int = 3
) -> tuple[nn.Sequential, int]:
    """Convolution blocks (conv, ReLU, 2x max-pool) over an input of shape (C, *spatial).

    Returns the tower and the number of features it outputs (after pooling every
    spatial axis to at most :data:`POOLED`).
    """
    n_spatial = len(shape) - 1
    conv: Any = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[n_spatial]
    pool: Any = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[n_spatial]
    adaptive: Any = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
    sizes = list(shape[1:])
    layers: list[nn.Module] = []
    in_ch = shape[0]
    for out_ch in channels:
        layers += [conv(in_ch, out_ch, kernel_size, padding=kernel_size // 2), nn.ReLU()]
        kernel = tuple(2 if s >= 2 else 1 for s in sizes)
        if max(kernel) > 1:
            layers.append(pool(kernel))
            sizes = [s // k for s, k in zip(sizes, kernel, strict=True)]
        in_ch = out_ch
    pooled = tuple(min(s, POOLED) for s in sizes)
    layers += [adaptive[n_spatial](pooled), nn.Flatten()]
    return nn.Sequential(*layers), in_ch * math.prod(pooled)


class MultiVolumeCNN(HitprepModel):
    """One convolution tower per image input, concatenated (with extras), one dense head."""

    name = "multivolume"

    def __init__(
        self,
        schema: Schema,
        *,
        conv_channels: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        hidden: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(schema, hidden=hidden, dropout=dropout)
        _check_inputs(self.name, schema, kinds=("image", "grid"))
        self.towers = nn.ModuleDict()
        n_features = 0
        for spec in schema.inputs:
            tower, n = conv_tower(spec.shape, conv_channels, kernel_size=kernel_size)
            self.towers[spec.name] = tower
            n_features += n
        self.classifier = self.head(n_features)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        parts = [
            self.towers[spec.name](self.norms[spec.name](batch[spec.name]))
            for spec in self.schema.inputs
        ]
        features = self.join_extras(torch.cat(parts, dim=1), batch)
        logits: Tensor = self.classifier(features)
        return logits


class ConvNet(MultiVolumeCNN):
    """Two convolution blocks and two fully connected layers over one image input."""

    name = "convnet"

    def __init__(self, schema: Schema, **options: Any) -> None:
        if len(schema.inputs) != 1 or schema.extras:
            msg = (
                f"model {self.name!r} takes one image input and no extra inputs, the data have"
                f" {[i.name for i in schema.inputs]} and extras {list(schema.extras)}"
                " (use convnet_extra or multivolume)"
            )
            raise ConfigError(msg)
        super().__init__(schema, **options)


class ConvNetExtraInput(MultiVolumeCNN):
    """:class:`ConvNet` with scalar inputs joined before the dense layers (mass-parametrized)."""

    name = "convnet_extra"

    def __init__(self, schema: Schema, **options: Any) -> None:
        if len(schema.inputs) != 1 or not schema.extras:
            msg = (
                f"model {self.name!r} takes one image input and at least one extra input"
                f" (data.extras), the data have {[i.name for i in schema.inputs]} and extras"
                f" {list(schema.extras)}"
            )
            raise ConfigError(msg)
        super().__init__(schema, **options)


class PointNet(HitprepModel):
    """Shared node MLP, masked max + mean pooling, dense head; padded nodes never count."""

    name = "pointnet"

    def __init__(
        self,
        schema: Schema,
        *,
        node_channels: Sequence[int] = (64, 128),
        hidden: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(schema, hidden=hidden, dropout=dropout)
        _check_inputs(self.name, schema, kinds=("nodes",))
        if len(schema.inputs) != 1:
            msg = f"model 'pointnet' takes one node input, got {[i.name for i in schema.inputs]}"
            raise ConfigError(msg)
        self.input = schema.inputs[0].name
        layers: list[nn.Module] = []
        n_in = schema.inputs[0].shape[-1]
        for n_out in node_channels:
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
            n_in = n_out
        self.node_mlp = nn.Sequential(*layers)
        self.classifier = self.head(2 * n_in)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        x = self.node_mlp(self.norms[self.input](batch[self.input]))
        mask = batch[f"{self.input}_mask"].unsqueeze(-1)
        count = mask.sum(dim=1).clamp_min(1)
        mean = (x * mask).sum(dim=1) / count
        peak = x.masked_fill(~mask, float("-inf")).amax(dim=1)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        features = self.join_extras(torch.cat([peak, mean], dim=1), batch)
        logits: Tensor = self.classifier(features)
        return logits


class EdgeConvModel(HitprepModel):
    """EdgeConv layers over each event's hit neighbourhoods, pooled, a dense head."""

    name = "edgeconv"

    def __init__(
        self,
        schema: Schema,
        *,
        node_channels: Sequence[int] = (64, 128),
        k: int = 8,
        hidden: int = 64,
        dropout: float = 0.0,
    ) -> None:
        from hitprep.ml.edgeconv import EdgeConvNet, check_graph_schema, position_columns

        super().__init__(schema, hidden=hidden, dropout=dropout)
        check_graph_schema(self.name, schema)
        spec = schema.inputs[0]
        self.input = spec.name
        self.points = position_columns(spec.features) if spec.features else []
        self.net = EdgeConvNet(spec.shape[-1], node_channels, k=k, stored_edges=spec.edges)
        self.classifier = self.head(self.net.n_out)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        x = self.norms[self.input](batch[self.input])
        points = x[..., self.points] if self.points else x
        edges = batch.get(f"{self.input}_edges")
        pooled = self.net(x, batch[f"{self.input}_mask"], points, edges)
        logits: Tensor = self.classifier(self.join_extras(pooled, batch))
        return logits


def _check_inputs(name: str, schema: Schema, *, kinds: tuple[str, ...]) -> None:
    bad = [i for i in schema.inputs if i.kind not in kinds]
    if bad or not schema.inputs:
        found = ", ".join(f"{i.name} ({i.kind})" for i in schema.inputs) or "none"
        msg = f"model {name!r} takes {' or '.join(kinds)} inputs, the data have {found}"
        raise ConfigError(msg)


#: model name -> class
MODELS: dict[str, type[HitprepModel]] = {
    "convnet": ConvNet,
    "convnet_extra": ConvNetExtraInput,
    "multivolume": MultiVolumeCNN,
    "pointnet": PointNet,
    "edgeconv": EdgeConvModel,
}

_OPTIONS = {
    "convnet": ("conv_channels", "kernel_size", "hidden", "dropout"),
    "convnet_extra": ("conv_channels", "kernel_size", "hidden", "dropout"),
    "multivolume": ("conv_channels", "kernel_size", "hidden", "dropout"),
    "pointnet": ("node_channels", "hidden", "dropout"),
    "edgeconv": ("node_channels", "k", "hidden", "dropout"),
}


def uses_stored_edges(name: str) -> bool:
    """Whether the model ``name`` reads a graph's stored edges (``auto`` picks PointNet)."""
    return name == EdgeConvModel.name


def default_model(inputs: Sequence[InputSpec], extras: Sequence[str]) -> str:
    """The model that fits the data: pointnet for nodes, multivolume for several images,
    convnet_extra with extra inputs, convnet otherwise."""
    if any(i.kind == "nodes" for i in inputs):
        return "pointnet"
    if len(inputs) > 1:
        return "multivolume"
    return "convnet_extra" if extras else "convnet"


def build_model(name: str, schema: Schema, options: Mapping[str, Any]) -> HitprepModel:
    """A model by name (``auto``: :func:`default_model`) sized from ``schema``.

    Args:
        name: key of :data:`MODELS` or ``auto``.
        schema: input schema with normalization statistics.
        options: the ``[model]`` table (unused keys ignored).

    Raises:
        ConfigError: unknown name, or a model that does not fit the data.

    Example:
        >>> from hitprep.ml.schema import InputSpec, Schema
        >>> s = Schema("images", (InputSpec("x", "image", (1, 8, 8)),), classes=(0, 1))
        >>> m = build_model("auto", s, {})
        >>> m(({"x": torch.zeros(2, 1, 8, 8)})).shape
        torch.Size([2, 2])
    """
    chosen = default_model(schema.inputs, schema.extras) if name == "auto" else name
    if chosen not in MODELS:
        msg = f"unknown model {name!r} (models: auto, {', '.join(MODELS)})"
        raise ConfigError(msg)
    kwargs = {k: options[k] for k in _OPTIONS[chosen] if k in options}
    model: HitprepModel = MODELS[chosen](schema, **kwargs)
    return model
