"""Precomputed graph edges: k nearest neighbours or a radius, for a whole chunk of events at once.

All events of a chunk go into **one** KD-tree (``scipy.spatial.cKDTree``, imported
lazily): each node gets one extra coordinate, ``event * spacing``, with ``spacing``
far larger than any distance inside the chunk, and every query is bounded below
``spacing``. Nodes of different events can then never be neighbours, and distances
inside an event are unchanged (the extra coordinate differs by exactly 0), so the
result equals a KD-tree per event, without a Python loop over events.

Edges are *local*: ``(source, target)`` node positions within their event, with
``target`` the node queried and ``source`` its neighbour (the ``source_to_target``
convention of PyTorch Geometric's ``knn_graph`` / ``radius_graph``), sorted by
event, then target, then distance. Self-loops are never made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, HitprepError
from hitprep.events import event_index, offsets_from_counts

__all__ = ["EDGE_KINDS", "EdgeSpec", "compute_edges", "scaled_points"]

#: edge kinds and what they need
EDGE_KINDS = ("knn", "radius")

#: query points per KD-tree call (bounds memory: points x neighbours x 16 bytes)
_QUERY_BLOCK = 1 << 17

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EdgeSpec:
    """Which edges to precompute.

    Attributes:
        kind: ``"knn"`` (the ``k`` nearest other nodes) or ``"radius"`` (every other
            node within ``radius``, at most ``max_neighbours`` nearest ones per node).
        features: node fields spanning the space distances are measured in.
        scale: factor per feature (e.g. 0.2 m/ns for time), 1 where not given.
        k: neighbours per node for ``knn`` (fewer when an event has fewer nodes).
        radius: inclusive distance for ``radius``.
        max_neighbours: cap per node for ``radius`` (as PyG's ``max_num_neighbors``).
    """

    kind: str
    features: tuple[str, ...]
    scale: tuple[float, ...]
    k: int = 0
    radius: float = 0.0
    max_neighbours: int = 32

    def __post_init__(self) -> None:
        if self.kind not in EDGE_KINDS:
            msg = f"edges.kind: {self.kind!r} is not one of {', '.join(EDGE_KINDS)}"
            raise ConfigError(msg)
        if not self.features or len(set(self.features)) != len(self.features):
            msg = f"edges.features: give distinct field names, got {list(self.features)}"
            raise ConfigError(msg)
        if len(self.scale) != len(self.features):
            msg = (
                f"edges.scale: {len(self.scale)} factors for {len(self.features)} features"
                f" {list(self.features)}; give one per feature"
            )
            raise ConfigError(msg)
        if not all(np.isfinite(s) and s > 0 for s in self.scale):
            msg = f"edges.scale: factors must be positive and finite, got {list(self.scale)}"
            raise ConfigError(msg)
        if self.kind == "knn" and self.k < 1:
            msg = f"edges.k: knn edges need k >= 1 neighbours, got {self.k}"
            raise ConfigError(msg)
        if self.kind == "radius":
            if not (np.isfinite(self.radius) and self.radius > 0):
                msg = f"edges.radius: radius edges need a positive radius, got {self.radius}"
                raise ConfigError(msg)
            if self.max_neighbours < 1:
                msg = f"edges.max_neighbours: must be >= 1, got {self.max_neighbours}"
                raise ConfigError(msg)

    @property
    def neighbours(self) -> int:
        """Most neighbours one node can get."""
        return self.k if self.kind == "knn" else self.max_neighbours


def scaled_points(
    columns: dict[str, npt.NDArray[np.generic]], spec: EdgeSpec
) -> npt.NDArray[np.float64]:
    """``(n_nodes, n_features)`` float64 coordinates, each feature times its scale."""
    n = len(next(iter(columns.values()))) if columns else 0
    out = np.empty((n, len(spec.features)), dtype=np.float64)
    for j, (name, factor) in enumerate(zip(spec.features, spec.scale, strict=True)):
        np.multiply(columns[name], factor, out=out[:, j], casting="unsafe")
    return out


def compute_edges(
    points: npt.NDArray[np.float64], n_per_event: npt.ArrayLike, spec: EdgeSpec
) -> tuple[npt.NDArray[np.int32], IntArray]:
    """Edges of every event of a chunk.

    Args:
        points: ``(n_nodes, d)`` coordinates of all nodes, events one after another.
        n_per_event: nodes per event (sums to ``n_nodes``).
        spec: kind of edges.

    Returns:
        ``edges`` of shape ``(n_edges, 2)`` int32, local ``(source, target)`` positions,
        and the number of edges per event.

    Raises:
        HitprepError: non-finite coordinates, or scipy is missing.

    Example:
        >>> pts = np.array([[0.0], [1.0], [5.0], [0.0], [2.0]])
        >>> e, n = compute_edges(pts, [3, 2], EdgeSpec("knn", ("x",), (1.0,), k=1))
        >>> e.tolist(), n.tolist()
        ([[1, 0], [0, 1], [1, 2], [1, 0], [0, 1]], [3, 2])
    """
    counts = np.asarray(n_per_event, dtype=np.int64)
    pts = np.asarray(points, dtype=np.float64)
    n_nodes = len(pts)
    if pts.ndim != 2 or n_nodes != int(counts.sum()):
        msg = f"edges: {pts.shape} points for {int(counts.sum())} nodes"
        raise ValueError(msg)
    empty = np.zeros((0, 2), dtype=np.int32)
    if n_nodes == 0:
        return empty, np.zeros(len(counts), dtype=np.int64)
    if not np.isfinite(pts).all():
        bad = int(np.argmax(~np.isfinite(pts).all(axis=1)))
        msg = f"edges: node {bad} of the chunk has a non-finite coordinate in {tuple(pts[bad])}"
        raise HitprepError(msg)
    try:
        from scipy.spatial import cKDTree  # type: ignore[import-untyped,unused-ignore]
    except ImportError as err:  # pragma: no cover - scipy is an optional dependency
        msg = "precomputed edges need scipy (pip install scipy)"
        raise HitprepError(msg) from err

    event = event_index(counts)
    offsets = offsets_from_counts(counts)
    extent = float(np.max(pts.max(axis=0) - pts.min(axis=0)))
    reach = 2.0 * extent + 1.0  # beyond any distance inside the chunk
    spacing = 2.0 * reach  # between events
    tree_points = np.empty((n_nodes, pts.shape[1] + 1), dtype=np.float64)
    tree_points[:, :-1] = pts
    tree_points[:, -1] = event * spacing
    # sliding-midpoint splits: as fast as one tree per event (median splits are slower here)
    tree = cKDTree(tree_points, balanced_tree=False, compact_nodes=False)
    want = spec.neighbours + 1  # the node itself comes back too
    bound = reach if spec.kind == "knn" else float(np.nextafter(spec.radius, np.inf))
    sources, targets = [], []
    for first in range(0, n_nodes, _QUERY_BLOCK):
        last = min(first + _QUERY_BLOCK, n_nodes)
        _, idx = tree.query(tree_points[first:last], k=want, distance_upper_bound=bound, workers=-1)
        idx = np.asarray(idx, dtype=np.int64).reshape(last - first, want)
        me = np.arange(first, last, dtype=np.int64)[:, None]
        keep = (idx != me) & (idx < n_nodes)
        # at most `neighbours` per node: drop the farthest when the node itself was not returned
        over = keep.sum(axis=1) > spec.neighbours
        keep[over, -1] = False
        rows, cols = np.nonzero(keep)
        sources.append(idx[rows, cols])
        targets.append(rows + first)
    src = np.concatenate(sources)
    dst = np.concatenate(targets)
    base = offsets[event[dst]]
    edges = np.empty((len(src), 2), dtype=np.int32)
    edges[:, 0] = src - base
    edges[:, 1] = dst - base
    per_event = np.bincount(event[dst], minlength=len(counts)).astype(np.int64)
    return (edges if len(edges) else empty), per_event
