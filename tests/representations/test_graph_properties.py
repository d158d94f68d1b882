"""Property tests of graph building on synthetic events: filters, truncation, padding, layouts.

A per-event reference written here (plain Python over each event's hits) mirrors the
documented steps: triggered filter, inclusive time window, count, truncation (earliest /
largest exactly; random by its invariants), time order, zero padding with a validity mask.
Every hit carries a unique ``id`` so that kept hits can be traced back.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.pipeline import Accounting, Context
from hitprep.representations.graph import (
    GraphRepresentation,
    GraphSpec,
    make_graphs,
    pad_nodes,
    random_keys,
    truncate,
)
from hitprep.sinks.hdf5 import HDF5Sink


def _batch(n: list[int], seed: int, *, first_entry: int = 0) -> ak.Array:
    rng = np.random.default_rng(seed)
    total = int(sum(n))
    columns = {
        "id": np.arange(total, dtype=np.int64) + 1000 * first_entry,
        "time": rng.integers(-20, 20, total).astype(np.float64),  # ties on purpose
        "tot": rng.integers(0, 10, total).astype(np.int64),
        "triggered": rng.integers(0, 2, total).astype(np.int64),
    }
    entry = np.arange(len(n), dtype=np.int64) + first_entry
    hits = jagged_from_flat(columns, offsets_from_counts(n))
    return make_batch({"entry": entry}, {"hits": hits}, length=len(n))


def _reference_event(hits: dict[str, np.ndarray], spec: GraphSpec) -> tuple[list[int] | None, int]:
    """Kept ids in output order (None: random, checked by invariants) and the count."""
    idx = list(range(len(hits["id"])))
    if spec.only_triggered:
        idx = [i for i in idx if hits["triggered"][i] != 0]
    if spec.time_window is not None:
        lo, hi = spec.time_window
        idx = [i for i in idx if lo <= hits["time"][i] <= hi]
    n_hits = len(idx)
    if spec.max_n_hits is not None and n_hits > spec.max_n_hits:
        if spec.truncation == "random":
            return None, n_hits
        if spec.truncation == "earliest":
            chosen = sorted(idx, key=lambda i: (hits["time"][i], i))[: spec.max_n_hits]
        else:
            chosen = sorted(idx, key=lambda i: (-hits["tot"][i], i))[: spec.max_n_hits]
        idx = sorted(chosen)
    if spec.order == "time":
        idx = sorted(idx, key=lambda i: (hits["time"][i], i))
    return [int(hits["id"][i]) for i in idx], n_hits


specs = st.builds(
    lambda fixed, max_n, trunc, order, trig, window, layout: GraphSpec(
        features=("id", "time", "tot"),
        dtype="float64",
        layout=layout,
        fixed_length=fixed,
        max_n_hits=max_n if (max_n or fixed) else None,
        truncation=trunc,
        truncation_field="tot" if trunc == "largest" else None,
        order=order,
        only_triggered=trig,
        time_window=window,
    ),
    st.booleans(),
    st.integers(1, 6),
    st.sampled_from(["random", "earliest", "largest"]),
    st.sampled_from(["file", "time"]),
    st.booleans(),
    st.one_of(st.none(), st.just((-10.0, 10.0)), st.just((0.0, 0.0))),
    st.just("hitprep"),
)


@settings(max_examples=150, deadline=None)
@given(n=st.lists(st.integers(0, 12), min_size=1, max_size=8), seed=st.integers(0, 99), spec=specs)
def test_graphs_match_the_per_event_reference(n: list[int], seed: int, spec: GraphSpec) -> None:
    batch = _batch(n, seed)
    chunk = make_graphs(batch, spec)
    offsets = offsets_from_counts(chunk.n_nodes)
    for e in range(len(n)):
        hits = {k: np.asarray(batch["hits"][k][e]) for k in ("id", "time", "tot", "triggered")}
        expected, n_hits = _reference_event(hits, spec)
        assert chunk.n_hits[e] == n_hits
        got = chunk.nodes[offsets[e] : offsets[e + 1], 0].astype(np.int64).tolist()
        assert len(got) == min(n_hits, spec.max_n_hits or n_hits)
        if expected is not None:
            assert got == expected
            continue
        # random: a subset of the filtered hits, input order kept, count = max_n_hits
        allowed, _ = _reference_event(hits, GraphSpec(spec.features, **_no_truncation(spec)))
        assert allowed is not None
        assert set(got) <= set(allowed)
        ranks = [allowed.index(i) for i in got]
        assert ranks == sorted(ranks)  # input order kept (time order when order = "time")
        assert len(got) == spec.max_n_hits
    if spec.fixed_length:
        assert spec.max_n_hits is not None
        padded, mask = pad_nodes(chunk.nodes, chunk.n_nodes, spec.max_n_hits, valid_column=True)
        for e in range(len(n)):
            k = int(chunk.n_nodes[e])
            np.testing.assert_array_equal(
                padded[e, :k, :3], chunk.nodes[offsets[e] : offsets[e + 1]]
            )
            assert (padded[e, k:] == 0).all()
            assert mask[e].tolist() == [True] * k + [False] * (spec.max_n_hits - k)
            np.testing.assert_array_equal(padded[e, :, 3], mask[e])


def _no_truncation(spec: GraphSpec) -> dict[str, Any]:
    return {
        "dtype": spec.dtype,
        "order": spec.order,
        "only_triggered": spec.only_triggered,
        "time_window": spec.time_window,
    }


@settings(max_examples=60, deadline=None)
@given(
    n=st.lists(st.integers(0, 15), min_size=2, max_size=10),
    seed=st.integers(0, 99),
    split=st.integers(1, 9),
    max_n=st.integers(1, 5),
)
def test_random_truncation_repeats_and_ignores_chunking(
    n: list[int], seed: int, split: int, max_n: int
) -> None:
    spec = GraphSpec(("id",), dtype="float64", max_n_hits=max_n, seed=seed)
    split = min(split, len(n) - 1)
    whole = make_graphs(_batch(n, 0), spec, file_index=2)
    again = make_graphs(_batch(n, 0), spec, file_index=2)
    np.testing.assert_array_equal(whole.nodes, again.nodes)
    batch = _batch(n, 0)
    parts = [
        make_graphs(batch[:split], spec, file_index=2),
        make_graphs(batch[split:], spec, file_index=2),
    ]
    np.testing.assert_array_equal(np.concatenate([p.nodes for p in parts]), whole.nodes)


def test_random_truncation_depends_on_the_seed() -> None:
    batch = _batch([200, 200], 0)
    a = make_graphs(batch, GraphSpec(("id",), dtype="float64", max_n_hits=50, seed=1))
    b = make_graphs(batch, GraphSpec(("id",), dtype="float64", max_n_hits=50, seed=2))
    assert not np.array_equal(a.nodes, b.nodes)
    # roughly uniform: every hit position is kept about a quarter of the time
    kept = np.zeros(200)
    for seed in range(200):
        g = make_graphs(batch, GraphSpec(("id",), dtype="float64", max_n_hits=50, seed=seed))
        kept[g.nodes[:50, 0].astype(int)] += 1
    assert kept.min() > 20 and kept.max() < 85


def test_truncate_and_keys_examples() -> None:
    assert truncate([3, 1], 2, [5.0, 1.0, 3.0, 9.0]).tolist() == [False, True, True, True]
    assert truncate([2, 2], 1, [1.0, 1.0, 2.0, 1.0]).tolist() == [True, False, False, True]
    keys = random_keys(3, 0, np.zeros(1000, np.int64), np.arange(1000))
    assert len(np.unique(keys)) == 1000
    assert not np.array_equal(keys, random_keys(3, 1, np.zeros(1000, np.int64), np.arange(1000)))


@pytest.mark.parametrize("layout", ["hitprep", "orcasong"])
@pytest.mark.parametrize("fixed", [False, True])
def test_layouts_offsets_run_over_chunks(layout: str, fixed: bool, tmp_path: Any) -> None:
    spec = GraphSpec(
        ("id", "time"), layout=layout, fixed_length=fixed, max_n_hits=4 if fixed else None
    )
    rep = GraphRepresentation(spec)
    out = tmp_path / "g.h5"
    ctx = Context("mem", 0, Accounting())
    with HDF5Sink(out) as sink:
        sink.append(rep(_batch([3, 0, 2], 1), ctx))
        sink.append(rep(_batch([1, 5], 2, first_entry=3), ctx))
        rep.finish(sink)
        sink.commit()
    with h5py.File(out) as f:
        x = f["x"][:]
        n_hits = f["x_n_hits"][:]
        attrs = dict(f["x"].attrs)
        names = set(f)
        indices = f["x_indices"][:] if "x_indices" in f else None
        mask = f["x_mask"][:] if "x_mask" in f else None
    np.testing.assert_array_equal(n_hits, [3, 0, 2, 1, 5])
    kept = [3, 0, 2, 1, 4] if fixed else [3, 0, 2, 1, 5]
    if layout == "orcasong":
        assert attrs["indexed"] == (not fixed)
        assert attrs["hit_info_0"] == "id"
        assert ("hit_info_2" in attrs) == fixed
        assert x.dtype == np.float32
        assert indices is not None
    else:
        assert list(attrs["features"]) == ["id", "time"]
        assert names == {"x", "x_n_hits", "x_mask" if fixed else "x_indices"}
    if fixed:
        assert x.shape[:2] == (5, 4)
        valid = x[:, :, 2] == 1 if layout == "orcasong" else mask
        assert valid is not None
        np.testing.assert_array_equal(valid.sum(axis=1), kept)
        if indices is not None:
            np.testing.assert_array_equal(indices["index"], np.arange(5))
    else:
        assert indices is not None
        np.testing.assert_array_equal(indices["n_items"], kept)
        np.testing.assert_array_equal(indices["index"], [0, 3, 3, 5, 6])
        np.testing.assert_array_equal(x[:, 0], [0, 1, 2, 3, 4, 3000, 3001, 3002, 3003, 3004, 3005])


def test_empty_output_still_has_its_datasets(tmp_path: Any) -> None:
    rep = GraphRepresentation(GraphSpec(("id",), fixed_length=True, max_n_hits=3))
    out = tmp_path / "e.h5"
    with HDF5Sink(out) as sink:
        rep.finish(sink)
        sink.commit()
    with h5py.File(out) as f:
        assert f["x"].shape == (0, 3, 1)
        assert f["x_mask"].shape == (0, 3)
        assert list(f["x"].attrs["features"]) == ["id"]
