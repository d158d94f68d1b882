"""Whole-chunk images equal per-event np.histogramdd; counts never wrap."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.errors import CountOverflowError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.representations.binning import bin_index, check_edges
from hitprep.representations.image import BinStats, ImageSpec, make_images


def _batch(counts: list[int], rng: np.random.Generator) -> ak.Array:
    n = int(sum(counts))
    x = rng.uniform(-1.2, 1.2, n)
    t = rng.uniform(-10, 110, n)
    # values exactly on edges, including the last edge, and a NaN
    if n > 3:
        x[0], x[1], x[2], t[3] = -1.0, 1.0, 0.0, np.nan
    hits = jagged_from_flat(
        {"x": x, "t": t, "w": rng.uniform(0, 2, n)}, offsets_from_counts(counts)
    )
    return make_batch({"entry": np.arange(len(counts))}, {"hits": hits}, length=len(counts))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=12), st.integers(0, 2**32 - 1))
def test_images_equal_histogramdd_per_event(counts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch = _batch(counts, rng)
    edges_x, edges_t = np.linspace(-1, 1, 5), np.array([0.0, 10.0, 50.0, 100.0])
    spec = ImageSpec.build("img", [("x", edges_x), ("t", edges_t)])
    images = make_images(batch, spec)
    weighted = make_images(
        batch, ImageSpec.build("w", [("x", edges_x), ("t", edges_t)], weights="w")
    )
    assert images.shape == (len(counts), 4, 3) and images.dtype == np.uint16
    assert weighted.dtype == np.float32
    for i in range(len(counts)):
        h = batch.hits[i]
        ref = np.histogramdd([np.asarray(h.x), np.asarray(h.t)], bins=[edges_x, edges_t])[0]
        np.testing.assert_array_equal(images[i], ref)
        ref_w = np.histogramdd(
            [np.asarray(h.x), np.asarray(h.t)], bins=[edges_x, edges_t], weights=np.asarray(h.w)
        )[0]
        np.testing.assert_allclose(weighted[i], ref_w, rtol=1e-6)


def test_many_bins_take_several_passes() -> None:
    rng = np.random.default_rng(1)
    batch = _batch([500] * 40, rng)
    edges = [("x", np.linspace(-1, 1, 201)), ("t", np.linspace(0, 100, 2001))]
    spec = ImageSpec.build("big", edges, dtype="uint8")
    images = make_images(batch, spec)  # 40 x 400,000 cells: more than one bincount pass
    for i in (0, 17, 39):
        h = batch.hits[i]
        ref = np.histogramdd([np.asarray(h.x), np.asarray(h.t)], bins=[e for _, e in edges])[0]
        np.testing.assert_array_equal(images[i], ref)


def test_counts_never_wrap() -> None:
    hits = jagged_from_flat({"x": np.full(300, 0.5)}, [0, 0, 300])
    batch = make_batch({"entry": np.array([7, 8])}, {"hits": hits}, length=2)
    spec = ImageSpec.build("x", [("x", [0.0, 1.0])], dtype="uint8")
    with pytest.raises(CountOverflowError, match=r"event entry 8, bin \(0,\) holds 300.*uint8"):
        make_images(batch, spec)
    wide = make_images(batch, ImageSpec.build("x", [("x", [0.0, 1.0])]))
    assert wide.tolist() == [[0], [300]]


def test_bin_index_matches_histogram_semantics() -> None:
    edges = check_edges("a", [0.0, 1.0, 2.0])
    v = np.array([-0.1, 0.0, 0.999, 1.0, 2.0, 2.0001, np.nan])
    assert bin_index(v, edges).tolist() == [-1, 0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="strictly increasing"):
        check_edges("a", [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="at least two"):
        check_edges("a", [1.0])


def test_bin_stats_like_orcasong() -> None:
    spec = ImageSpec.build("x", [("z", np.linspace(0, 10, 3)), ("time", np.array([0.0, 5, 10]))])
    stats = BinStats(spec)
    z = np.array([-1.0, 0.0, 2.5, 10.0, 11.0, 5.0])
    t = np.array([1.0, 1.0, 20.0, 3.0, 3.0, -2.0])
    columns = {"z": z, "time": t}
    stats.update(columns, {k: bin_index(v, dict(spec.axes)[k]) for k, v in columns.items()})
    assert stats.cut_off["z"].tolist() == [1, 1]
    assert stats.cut_off["time"].tolist() == [1, 1]
    assert len(stats.hist_bin_edges["z"]) == 11  # 5x finer
    assert stats.hist_bin_edges["time"].tolist() == [0.0, 5.0, 10.0]  # time keeps its edges
    # z histogram counts hits inside the time range: z = -1(out), 0, 10, 11(out) -> 0 and 10
    assert stats.hist["z"].sum() == 2 and stats.hist["z"][0] == 1 and stats.hist["z"][-1] == 1


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-1e4, 1e4),
    st.floats(1e-3, 1e3),
    st.integers(1, 200),
    st.lists(st.one_of(st.floats(-2e4, 2e4), st.just(float("nan"))), max_size=50),
)
def test_uniform_fast_path_equals_searchsorted(
    start: float, width: float, bins: int, extra: list[float]
) -> None:
    edges = np.linspace(start, start + width * bins, bins + 1)
    on_edges = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    v = np.concatenate([on_edges, np.asarray(extra, dtype=np.float64)])
    expected = np.searchsorted(edges, v, side="right") - 1
    expected[v == edges[-1]] = bins - 1
    expected[np.isnan(v)] = bins
    np.testing.assert_array_equal(bin_index(v, edges), expected)
