"""A graph network over hit neighbourhoods in plain PyTorch: EdgeConv layers (DGCNN),
stacked DynEdge-style, with no compiled extension package.

Each layer updates node ``i`` to ``max over neighbours j of MLP([h_i, h_j - h_i])``
(the max taken with ``Tensor.scatter_reduce``). Neighbours are the edges stored in the
file (``hitprep convert`` with ``graph.edges``), else the ``k`` nearest real nodes of the
same event in the batch (on the position features ``pos_*``, and ``time`` when present,
after normalization). Which of the two is fixed by the training data (the schema's
``edges``): a model trained on stored edges refuses data without them (never a silent
kNN), one trained on kNN keeps building kNN on files that store edges. Like DynEdge,
every layer's output is kept and concatenated (skip connections), then pooled over real
nodes (max and mean) into the dense head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hitprep.errors import ConfigError
from hitprep.ml.schema import Schema

__all__ = ["EdgeConv", "EdgeConvNet", "check_graph_schema", "knn_edges", "position_columns"]


def knn_edges(points: Tensor, mask: Tensor, k: int) -> Tensor:
    """(E, 2) (source, target) edges of the ``k`` nearest real nodes of each real node,
    within its event, as indices into the flattened (B * L) nodes; no self-loops.

    Example:
        >>> pts = torch.tensor([[[0.0], [1.0], [5.0]]])
        >>> knn_edges(pts, torch.tensor([[True, True, False]]), 2).tolist()
        [[1, 0], [0, 1]]
    """
    b, n, _ = points.shape
    if n < 2:
        return points.new_zeros((0, 2), dtype=torch.long)
    dist = torch.cdist(points, points)
    invalid = ~(mask[:, None, :] & mask[:, :, None])
    invalid = invalid | torch.eye(n, dtype=torch.bool, device=points.device)[None]
    dist = dist.masked_fill(invalid, float("inf"))
    near, source = dist.topk(min(k, n - 1), dim=2, largest=False)  # (B, L, k)
    ok = torch.isfinite(near)
    base = (torch.arange(b, device=points.device) * n)[:, None, None]
    target = torch.arange(n, device=points.device)[None, :, None].expand_as(source)
    pairs = torch.stack([(source + base)[ok], (target + base)[ok]], dim=1)
    return pairs


class EdgeConv(nn.Module):
    """``h_i' = max_j MLP([h_i, h_j - h_i])`` over edges ``(j, i)``; 0 for nodes without any."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.n_out = n_out
        self.mlp = nn.Sequential(
            nn.Linear(2 * n_in, n_out), nn.ReLU(), nn.Linear(n_out, n_out), nn.ReLU()
        )

    def forward(self, h: Tensor, edges: Tensor) -> Tensor:
        source, target = edges[:, 0], edges[:, 1]
        message = self.mlp(torch.cat([h[target], h[source] - h[target]], dim=1))
        out = h.new_zeros((len(h), self.n_out))  # messages are >= 0 (ReLU): 0 is neutral
        index = target[:, None].expand(-1, self.n_out)
        return out.scatter_reduce(0, index, message, reduce="amax", include_self=True)


class EdgeConvNet(nn.Module):
    """The layers of :class:`hitprep.ml.models.EdgeConvModel` (nodes to pooled features)."""

    def __init__(
        self, n_features: int, channels: Sequence[int], *, k: int, stored_edges: str = ""
    ) -> None:
        super().__init__()
        self.k = k
        self.stored_edges = stored_edges  # "": kNN in the batch, even where a file has edges
        self.embed = nn.Sequential(nn.Linear(n_features, channels[0]), nn.ReLU())
        layers, n_in = [], channels[0]
        for n_out in channels:
            layers.append(EdgeConv(n_in, n_out))
            n_in = n_out
        self.layers = nn.ModuleList(layers)
        self.n_out = 2 * (channels[0] + sum(channels))

    def forward(self, x: Tensor, mask: Tensor, points: Tensor, edges: Tensor | None) -> Tensor:
        b, n, _ = x.shape
        if not self.stored_edges:
            edges = knn_edges(points, mask, self.k)
        elif edges is None:
            msg = f"the model was trained on the stored edges {self.stored_edges!r}; none given"
            raise ConfigError(msg)
        h = self.embed(x).reshape(b * n, -1)
        states = [h]
        for layer in self.layers:
            h = layer(h, edges)
            states.append(h)
        nodes = torch.cat(states, dim=1).reshape(b, n, -1)
        m = mask.unsqueeze(-1)
        mean = (nodes * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)
        peak = nodes.masked_fill(~m, float("-inf")).amax(dim=1)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        return torch.cat([peak, mean], dim=1)


def position_columns(features: Sequence[str]) -> list[int]:
    """Columns kNN distances use: ``pos_*`` and ``time`` when present, else every column."""
    chosen = [i for i, f in enumerate(features) if f.startswith("pos_") or f == "time"]
    return chosen or list(range(len(features)))


def check_graph_schema(name: str, schema: Schema) -> None:
    if len(schema.inputs) != 1 or schema.inputs[0].kind != "nodes":
        found = ", ".join(f"{i.name} ({i.kind})" for i in schema.inputs) or "none"
        msg = f"model {name!r} takes one node input (a graph), the data have {found}"
        raise ConfigError(msg)
