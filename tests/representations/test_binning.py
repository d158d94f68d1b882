"""bin_index: numpy.histogramdd semantics for every path (equal bins, lookup grid, search)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.representations.binning import bin_index


def reference(values: npt.NDArray[np.floating], edges: npt.NDArray[np.float64]) -> list[int]:
    """Value by value, in float64: [e_i, e_i+1) bins, the last edge in the last bin."""
    n = len(edges) - 1
    out = []
    for v in np.asarray(values, dtype=np.float64).tolist():
        if not v <= edges[-1]:  # above, or NaN
            out.append(n)
        elif v == edges[-1]:
            out.append(n - 1)
        else:
            out.append(int(np.searchsorted(edges, v, side="right")) - 1)
    return out


def probes(edges: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Edges, their float64 neighbours, random values around them, NaN and infinities."""
    return np.concatenate(
        [
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            rng.uniform(edges[0] - 5, edges[-1] + 5, 100),
            [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300],
        ]
    )


EDGE_SETS = {
    "equal, many": np.linspace(-200.0, 200.0, 41),
    "equal, phi": np.linspace(-np.pi, np.pi, 129),
    "equal, few": np.linspace(0.0, 4.0, 5),
    "log, many": 230.0 + np.geomspace(10.0, 370.0, 31),
    "log, few": 230.0 + np.geomspace(10.0, 370.0, 11),
    "unequal": np.array([-3.0, -1.0, 0.0, 0.001, 0.5, 7.0, 7.25, 100.0, 101, 102, 103, 104, 110]),
    "too fine for a grid": np.array([0.0, 1e-9, *np.linspace(1.0, 2.0, 20)]),
}


@pytest.mark.parametrize("name", EDGE_SETS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_path_matches_the_reference(name: str, dtype: type) -> None:
    edges = EDGE_SETS[name]
    rng = np.random.default_rng(len(name))
    with np.errstate(over="ignore"):
        values = probes(edges, rng).astype(dtype)
    if dtype is np.float32:  # float32 neighbours of the edges, the hard cases in float32
        e32 = edges.astype(np.float32)
        values = np.concatenate(
            [values, np.nextafter(e32, np.float32(np.inf)), np.nextafter(e32, np.float32(-np.inf))]
        )
    got = bin_index(values, edges)
    assert got.dtype == np.int64
    assert got.tolist() == reference(values, edges)


def test_integers_and_lists() -> None:
    edges = np.linspace(0.0, 10.0, 21)
    assert bin_index([0, 5, 10, 11, -1], edges).tolist() == [0, 10, 19, 20, -1]
    assert bin_index(np.array([], dtype=np.float32), edges).tolist() == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40, unique=True),
    st.lists(st.floats(-2e3, 2e3) | st.sampled_from([np.nan, np.inf, -np.inf]), max_size=50),
    st.booleans(),
)
def test_any_edges_and_values(raw_edges: list[float], values: list[float], f32: bool) -> None:
    edges = np.array(sorted(raw_edges))
    if np.any(np.diff(edges) <= 0):
        return
    v = np.array(values + raw_edges, dtype=np.float32 if f32 else np.float64)
    assert bin_index(v, edges).tolist() == reference(v, edges)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["equal, many", "log, few", "unequal"])
def test_large_arrays_in_blocks(name: str, dtype: type) -> None:
    edges = EDGE_SETS[name]
    rng = np.random.default_rng(7)
    v = rng.uniform(edges[0] - 1, edges[-1] + 1, 300_001).astype(dtype)
    v[::1000] = np.resize(edges, len(v[::1000]))  # edges themselves, across block boundaries
    v[5::7919] = np.nan
    expected = np.searchsorted(edges, v.astype(np.float64), side="right") - 1
    expected[v == edges[-1]] = len(edges) - 2
    expected[np.isnan(v)] = len(edges) - 1
    np.testing.assert_array_equal(bin_index(v, edges), expected)
    np.testing.assert_array_equal(bin_index(v.reshape(-1, 1), edges), expected.reshape(-1, 1))


def test_extreme_edges_fall_back_to_a_search() -> None:
    tiny = np.array([0.0, 2.225073858507203e-309])  # a subnormal width
    assert bin_index(np.array([0.0, 1e-309, 3e-309, np.nan]), tiny).tolist() == [0, 0, 1, 1]
    huge = np.array([-1.5e308, 0.0, 1.5e308])  # the span overflows
    values = np.array([0.0, 1e308, -1e308, 5.0, 1.6e308, -np.inf])
    assert bin_index(values, huge).tolist() == [1, 1, 0, 1, 2, -1]
