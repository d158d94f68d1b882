"""Flatten / unflatten: per-object tables keep every event, zeros included."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.errors import KeyInFileError
from hitprep.events import item_index, jagged_from_flat, make_batch, offsets_from_counts
from hitprep.writeback.table import ObjectTable, flatten, unflatten


def _batch(counts: list[int]) -> ak.Array:
    total = sum(counts)
    pt = np.arange(total, dtype=np.float32) + 0.5
    pdg = np.where(np.arange(total) % 3 == 0, 13, 11).astype(np.int32)
    muons = jagged_from_flat({"pt": pt, "pdgId": pdg}, offsets_from_counts(counts))
    return make_batch({"run": np.ones(len(counts), np.uint32)}, {"Muon": muons}, length=len(counts))


def test_zero_object_events_are_kept() -> None:
    batch = _batch([2, 0, 0, 3, 0])
    table = flatten(batch, "Muon", ["pt"])
    assert table.counts.tolist() == [2, 0, 0, 3, 0]
    assert table.num_events == 5
    assert table.num_objects == 5
    assert table.event_index.tolist() == [0, 0, 3, 3, 3]
    assert table.columns["pt"].dtype == np.float32
    back = unflatten(table.columns, table.counts)
    assert ak.array_equal(back.pt, batch.Muon.pt)


def test_all_events_empty() -> None:
    table = flatten(_batch([0, 0, 0]), "Muon")
    assert table.counts.tolist() == [0, 0, 0]
    assert len(unflatten(table.columns, table.counts)) == 3


def test_select_keeps_structure_and_local_index() -> None:
    batch = _batch([4, 0, 3, 2])
    table = flatten(batch, "Muon", ["pt"], select={"pdgId": [13, -13]}, local_index="idx")
    pdg = ak.to_list(batch.Muon.pdgId)
    expected_counts = [sum(1 for p in ev if p == 13) for ev in pdg]
    assert table.counts.tolist() == expected_counts
    expected_idx = [i for ev in pdg for i, p in enumerate(ev) if p == 13]
    assert table.columns["idx"].tolist() == expected_idx
    pts = ak.to_list(batch.Muon.pt)
    ev_of = table.event_index
    for k, (e, i) in enumerate(zip(ev_of, table.columns["idx"], strict=True)):
        assert table.columns["pt"][k] == pts[e][i]


def test_take_events_repeats_and_reorders() -> None:
    batch = _batch([2, 0, 1])
    table = flatten(batch, "Muon", ["pt"])
    taken = table.take_events([2, 0, 0, 1])
    assert taken.counts.tolist() == [1, 2, 2, 0]
    assert ak.to_list(unflatten(taken.columns, taken.counts).pt) == [
        [2.5],
        [0.5, 1.5],
        [0.5, 1.5],
        [],
    ]


def test_matrix_is_float64_in_field_order() -> None:
    table = ObjectTable(
        {"a": np.array([1, 2], np.int32), "b": np.array([0.5, 1.5], np.float32)},
        np.array([1, 1]),
    )
    m = table.matrix(["b", "a"])
    assert m.dtype == np.float64
    assert m.tolist() == [[0.5, 1.0], [1.5, 2.0]]


def test_missing_collection_lists_existing() -> None:
    with pytest.raises(KeyInFileError, match=r"did you mean: 'Muon'\?.*available: Muon"):
        flatten(_batch([1]), "Muons")
    with pytest.raises(KeyInFileError, match=r"Muon\.ptt"):
        flatten(_batch([1]), "Muon", ["ptt"])


def test_unflatten_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="3 rows but the counts add up to 2"):
        unflatten({"pt": np.zeros(3)}, [1, 1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=0, max_size=30),
    st.lists(st.integers(0, 29), max_size=40),
)
def test_item_index_matches_python(counts: list[int], picks: list[int]) -> None:
    events = [p for p in picks if p < len(counts)]
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1] if counts else np.zeros(0, int)
    expected = [int(starts[e]) + k for e in events for k in range(counts[e])]
    assert (
        item_index(np.asarray(counts, np.int64), np.asarray(events, np.int64)).tolist() == expected
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=40))
def test_flatten_unflatten_round_trip(counts: list[int]) -> None:
    batch = _batch(counts)
    table = flatten(batch, "Muon")
    back = unflatten(table.columns, table.counts)
    assert ak.array_equal(back, batch.Muon)
    assert table.counts.tolist() == counts
