"""kNN and radius edges of a whole chunk equal brute force per event."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.errors import ConfigError, HitprepError
from hitprep.events import offsets_from_counts
from hitprep.representations.edges import EdgeSpec, compute_edges, scaled_points

pytest.importorskip("scipy")


def _brute(points: np.ndarray) -> np.ndarray:
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    return dist


def _check(points: np.ndarray, n: list[int], spec: EdgeSpec) -> None:
    edges, n_edges = compute_edges(points, n, spec)
    assert edges.dtype == np.int32
    assert n_edges.sum() == len(edges)
    offsets = offsets_from_counts(n)
    eoff = offsets_from_counts(n_edges)
    for e, size in enumerate(n):
        local = edges[eoff[e] : eoff[e + 1]]
        dist = _brute(points[offsets[e] : offsets[e + 1]])
        assert ((local >= 0) & (local < size)).all()
        assert (local[:, 0] != local[:, 1]).all()  # no self-loops
        assert (np.diff(local[:, 1]) >= 0).all()  # sorted by target
        for node in range(size):
            mine = local[local[:, 1] == node, 0]
            assert len(set(mine.tolist())) == len(mine)
            got = np.sort(dist[node, mine])
            if spec.kind == "knn":
                want = np.sort(dist[node])[: min(spec.k, size - 1)]
            else:
                inside = np.sort(dist[node][dist[node] <= spec.radius])
                want = inside[: spec.max_neighbours]
            np.testing.assert_array_equal(got, want)  # same distances (ties may swap nodes)


events = st.lists(st.integers(0, 9), min_size=1, max_size=6)


@settings(max_examples=120, deadline=None)
@given(n=events, k=st.integers(1, 5), seed=st.integers(0, 1000), dims=st.integers(1, 3))
def test_knn_equals_brute_force(n: list[int], k: int, seed: int, dims: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.integers(-3, 4, (sum(n), dims)).astype(np.float64)  # many ties
    _check(points, n, EdgeSpec("knn", tuple("xyz"[:dims]), (1.0,) * dims, k=k))


@settings(max_examples=120, deadline=None)
@given(
    n=events,
    radius=st.integers(1, 4),
    cap=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_radius_is_inclusive_and_capped(n: list[int], radius: int, cap: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.integers(-3, 4, (sum(n), 2)).astype(np.float64)  # distances == radius occur
    spec = EdgeSpec("radius", ("x", "y"), (1.0, 1.0), radius=float(radius), max_neighbours=cap)
    _check(points, n, spec)


def test_events_never_connect_and_far_events_are_fine() -> None:
    points = np.array([[0.0, 0.0], [1e6, 1e6], [0.0, 0.0], [0.0, 1.0]])
    edges, n_edges = compute_edges(points, [2, 1, 1], EdgeSpec("knn", ("a", "b"), (1, 1), k=3))
    assert n_edges.tolist() == [2, 0, 0]
    assert edges.tolist() == [[1, 0], [0, 1]]


def test_scaled_points_and_bad_input() -> None:
    spec = EdgeSpec("knn", ("x", "t"), (1.0, 0.2), k=1)
    pts = scaled_points({"x": np.array([1, 2]), "t": np.array([10.0, 20.0])}, spec)
    np.testing.assert_allclose(pts, [[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(HitprepError, match="non-finite"):
        compute_edges(np.array([[0.0], [np.nan]]), [2], spec.__class__("knn", ("x",), (1,), k=1))
    for bad in (
        {"kind": "delaunay"},
        {"kind": "knn", "k": 0},
        {"kind": "radius", "radius": -1.0},
        {"kind": "knn", "k": 2, "scale": (1.0, 2.0)},
        {"kind": "knn", "k": 2, "scale": (0.0,)},
    ):
        args = {"features": ("x",), "scale": (1.0,), **bad}
        with pytest.raises(ConfigError):
            EdgeSpec(**args)  # type: ignore[arg-type]
