"""Graphs: OrcaSong FileGraph parity on real data, truncation, padding, layouts, bad input.

The parity reference below is written from OrcaSong 4.8.7's documented ``FileGraph``
(``PointMaker``), event by event, with its own detx parsing: ``time + t0 - slew(tot)``,
centring on the first triggered hit, then per event a float32 matrix with one column per
hit info, in file order; ``fixed_length`` pads with zeros to ``max_n_hits`` rows and adds
an ``is_valid`` column. ``benchmarks/bench_km3net_graph.py`` compares with OrcaSong itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.runners import convert
from hitprep.stages.timeslew import SLEW_TABLE

FEATURES = ["pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "time", "tot", "triggered"]


def _reference_geometry(detx: Path) -> dict[tuple[int, int], list[float]]:
    """(dom_id, channel) -> [x, y, z, dx, dy, dz, t0], parsed line by line from a v2 detx."""
    lines = [ln.split() for ln in detx.read_text().splitlines() if ln.strip()]
    assert lines[0][1].lower() == "v2"
    table: dict[tuple[int, int], list[float]] = {}
    i = 4  # header, validity, UTM, number of DOMs
    while i < len(lines):
        dom_id, n_pmts = int(lines[i][0]), int(lines[i][3])
        for channel in range(n_pmts):
            table[(dom_id, channel)] = [float(v) for v in lines[i + 1 + channel][1:8]]
        i += 1 + n_pmts
    return table


def _reference_points(events: Path, detx: Path) -> list[np.ndarray]:
    """OrcaSong's PointMaker per event: (n_hits, 9) float64 before the float32 cast."""
    geometry = _reference_geometry(detx)
    out = []
    with h5py.File(events) as f:
        index = f["hits/_indices"][:]
        hits = {k: f[f"hits/{k}"][:] for k in ("dom_id", "channel_id", "time", "tot", "triggered")}
    for start, n in zip(index["index"], index["n_items"], strict=True):
        sl = slice(start, start + n)
        geo = np.array(
            [
                geometry[(int(d), int(c))]
                for d, c in zip(hits["dom_id"][sl], hits["channel_id"][sl], strict=True)
            ]
        )
        time = (hits["time"][sl] + geo[:, 6]) - SLEW_TABLE[hits["tot"][sl]]
        time = time - np.min(time[hits["triggered"][sl] != 0])
        columns = [*geo[:, :6].T, time, hits["tot"][sl], hits["triggered"][sl]]
        out.append(np.stack(columns, axis=1).astype(np.float64))
    return out


@pytest.fixture(scope="module")
def reference(km3net_h5: Path, km3net_detx: Path) -> list[np.ndarray]:
    return _reference_points(km3net_h5, km3net_detx)


@pytest.mark.slow
def test_orcasong_layout_equals_per_event_reference(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, reference: list[np.ndarray]
) -> None:
    out = tmp_path / "graph.h5"
    args = ["km3net_graph", str(km3net_h5), "-o", str(out), "--detx", str(km3net_detx)]
    code = main(["convert", *args, "--layout", "orcasong", "--no-progress"])
    assert code == 0
    expected = np.concatenate(reference).astype(np.float32)  # OrcaSong's points[:, i] = hits[i]
    with h5py.File(out) as f:
        x = f["x"]
        assert x.dtype == np.float32
        assert [x.attrs[f"hit_info_{i}"] for i in range(9)] == FEATURES
        assert bool(x.attrs["indexed"]) is True
        assert "hit_info_9" not in x.attrs
        assert (x.compression, x.shuffle) == ("gzip", False)  # the preset's [output]
        np.testing.assert_array_equal(x[:], expected)
        indices = f["x_indices"][:]
        n_hits = f["x_n_hits"][:]
        assert {"y", "event_info"} <= set(f)
    assert len(expected) == 2_228_941
    lengths = np.array([len(r) for r in reference])
    np.testing.assert_array_equal(indices["n_items"], lengths)
    np.testing.assert_array_equal(indices["index"], np.cumsum(lengths) - lengths)
    np.testing.assert_array_equal(n_hits, lengths)


@pytest.mark.slow
def test_orcasong_fixed_length_7000_equals_reference(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, reference: list[np.ndarray]
) -> None:
    job = load_job(
        "km3net_graph_fixed", overrides=["graph.max_n_hits=7000", "graph.layout=orcasong"]
    )
    out = tmp_path / "fixed.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx)
    assert max(len(r) for r in reference) < 7000  # no truncation: every hit kept
    with h5py.File(out) as f:
        x = f["x"]
        assert x.shape == (500, 7000, 10)
        assert x.attrs["hit_info_9"] == "is_valid"
        assert bool(x.attrs["indexed"]) is False
        for first in range(0, 500, 125):  # OrcaSong: zeros, points[:n, i] = hit info, is_valid
            block = x[first : first + 125]
            expected = np.zeros_like(block)
            for j, points in enumerate(reference[first : first + 125]):
                expected[j, : len(points), :9] = points
                expected[j, : len(points), 9] = 1.0
            np.testing.assert_array_equal(block, expected)
        indices = f["x_indices"][:]
    np.testing.assert_array_equal(indices["index"], np.arange(500))
    np.testing.assert_array_equal(indices["n_items"], np.ones(500))


@pytest.mark.slow
def test_truncation_to_2000_keeps_an_ordered_seeded_subset(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, reference: list[np.ndarray]
) -> None:
    job = load_job("km3net_graph_fixed")
    assert job.get("graph")["max_n_hits"] == 2000
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    convert(job, [km3net_h5], a, detx=km3net_detx)
    convert(job, [km3net_h5], b, detx=km3net_detx, step=37)  # other chunking, same draw
    with h5py.File(a) as fa, h5py.File(b) as fb:  # the preset's orcasong layout: is_valid
        x, n_hits = fa["x"][:], fa["x_n_hits"][:]
        np.testing.assert_array_equal(fb["x"][:], x)
        assert [fa["x"].attrs[f"hit_info_{i}"] for i in range(10)] == [*FEATURES, "is_valid"]
    x, mask = x[..., :9], x[..., 9] == 1.0
    lengths = np.array([len(r) for r in reference])
    assert (lengths > 2000).all()  # every event is truncated
    np.testing.assert_array_equal(n_hits, lengths)  # the count before truncation
    assert mask.all()  # count == max_n_hits
    for e in range(0, 500, 50):  # kept hits are a subsequence of the event's hits
        rows = reference[e].astype(np.float32)
        position = {row.tobytes(): i for i, row in reversed(list(enumerate(rows)))}
        found = [position.get(row.tobytes(), -1) for row in x[e]]
        assert min(found) >= 0
        assert np.all(np.diff(found) > 0)
    # another seed draws another subset: test_graph_properties.py


def _convert_error(tmp_path: Path, km3net_h5: Path, km3net_detx: Path, *sets: str) -> str:
    out = tmp_path / "bad.h5"
    with pytest.raises((ConfigError, KeyInFileError)) as err:
        convert(load_job("km3net_graph", overrides=list(sets)), [km3net_h5], out, detx=km3net_detx)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no partial output either
    return str(err.value)


@pytest.mark.parametrize("n", [0, -3])
def test_max_n_hits_must_be_positive(
    n: int, tmp_path: Path, km3net_h5: Path, km3net_detx: Path
) -> None:
    text = _convert_error(tmp_path, km3net_h5, km3net_detx, f"graph.max_n_hits={n}")
    assert "max_n_hits" in text
    assert "positive" in text


def test_unknown_feature_lists_the_fields_that_exist(
    tmp_path: Path, km3net_h5: Path, km3net_detx: Path
) -> None:
    text = _convert_error(
        tmp_path, km3net_h5, km3net_detx, 'graph.features=["pos_x", "pos_q", "time"]'
    )
    assert "'hits.pos_q' not found" in text
    assert "give --detx" not in text  # it was given
    assert "hits.pos_x" in text  # made by calibration, suggested all the same
    assert str(km3net_h5) in text


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("graph.fixed_length=true", ["fixed_length", "max_n_hits"]),
        ('graph.layout="pyg"', ["layout", "'hitprep' or 'orcasong'"]),
        ('graph.dtype="float64"', ["dtype", "orcasong"]),  # with the orcasong layout below
        ('graph.truncation="largest"', ["truncation_field"]),
        ("graph.time_window=[10, -10]", ["time_window"]),
        ("graph.edges.kind='knn'", ["edges.k", "k >= 1"]),
        ('graph.edges={kind = "radius", radius = 0.0}', ["edges.radius"]),
        ('graph.edges={kind = "knn", k = 3, scale = [1, 2]}', ["edges.scale", "one per feature"]),
        ("graph.featurs=[]", ["featurs", "did you mean 'features'"]),
    ],
)
def test_bad_graph_sections_are_named(override: str, words: list[str]) -> None:
    sets = [override]
    if "dtype" in override:
        sets.append('graph.layout="orcasong"')
    with pytest.raises(ConfigError) as err:
        load_job("km3net_graph", overrides=sets)
    for word in words:
        assert word in str(err.value)
    assert "[graph]" in str(err.value)


def test_graph_name_must_not_clash(tmp_path: Path, km3net_h5: Path, km3net_detx: Path) -> None:
    job = load_job("km3net_zt", overrides=['graph={features = ["pos_z", "time"]}'])
    with pytest.raises(ConfigError, match="'x' is already a dataset"):
        convert(job, [km3net_h5], tmp_path / "g.h5", detx=km3net_detx)
    assert not list(tmp_path.iterdir())
    renamed = load_job("km3net_zt", overrides=['graph={features = ["pos_z", "time"], name = "g"}'])
    convert(renamed, [km3net_h5], tmp_path / "g.h5", detx=km3net_detx, step=500)
    with h5py.File(tmp_path / "g.h5") as f:
        assert f["x"].shape == (500, 18, 100)
        assert f["g"].shape == (2_228_941, 2)
        assert list(f["g"].attrs["features"]) == ["pos_z", "time"]


def test_layout_flag_needs_a_graph_job(
    tmp_path: Path, km3net_h5: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.h5"
    code = main(["convert", "km3net_zt", str(km3net_h5), "-o", str(out), "--layout", "orcasong"])
    assert code == 1
    assert "no [graph] section" in capsys.readouterr().err
    assert not out.exists()


def _datasets(path: Path) -> dict[str, Any]:
    with h5py.File(path) as f:
        return {k: f[k][:] for k in f if isinstance(f[k], h5py.Dataset)}


def test_hitprep_layout_with_filters_and_knn_edges(
    tmp_path: Path, km3net_h5: Path, km3net_detx: Path
) -> None:
    pytest.importorskip("scipy")
    job = load_job(
        "km3net_graph",
        overrides=[
            "graph.only_triggered=true",
            "graph.time_window=[-50, 500]",
            'graph.order="time"',
            'graph.edges={kind = "knn", k = 4, features = ["pos_x", "pos_y", "pos_z", "time"],'
            " scale = [1, 1, 1, 0.2]}",
        ],
    )
    out = tmp_path / "g.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx, step=200)
    d = _datasets(out)
    with h5py.File(out) as f:
        assert list(f["x"].attrs["features"]) == FEATURES
        assert f["x"].attrs["layout"] == "hitprep"
        assert list(f["x_edges"].attrs["columns"]) == ["source", "target"]
    x, idx = d["x"], d["x_indices"]
    assert (x[:, 8] == 1).all()  # only triggered hits
    assert (x[:, 6] >= -50).all() and (x[:, 6] <= 500).all()
    np.testing.assert_array_equal(idx["index"], np.cumsum(idx["n_items"]) - idx["n_items"])
    assert int(idx["n_items"].sum()) == len(x)
    np.testing.assert_array_equal(d["x_n_hits"], idx["n_items"])  # no truncation
    e, eidx = d["x_edges"], d["x_edges_indices"]
    assert int(eidx["n_items"].sum()) == len(e)
    n = idx["n_items"]
    np.testing.assert_array_equal(eidx["n_items"], n * np.clip(n - 1, 0, 4))  # k = 4 or fewer
    assert (n < 5).any() and (n > 100).any()
    smallest = int(np.flatnonzero(n == n[n >= 2].min())[0])
    for event in (*np.flatnonzero(n > 4)[[0, -1]], smallest):  # time order, nearest edges
        nodes = x[idx["index"][event] : idx["index"][event] + idx["n_items"][event]]
        assert np.all(np.diff(nodes[:, 6]) >= 0)
        pts = nodes[:, [0, 1, 2, 6]].astype(np.float64) * [1, 1, 1, 0.2]
        edges = e[eidx["index"][event] : eidx["index"][event] + eidx["n_items"][event]]
        dist = np.linalg.norm(pts[:, None] - pts[None], axis=2)
        np.fill_diagonal(dist, np.inf)
        k = min(4, len(nodes) - 1)
        chosen = np.sort(dist[edges[:, 1], edges[:, 0]].reshape(-1, k), axis=1)
        np.testing.assert_allclose(chosen, np.sort(dist, axis=1)[:, :k], rtol=1e-4)
        assert (edges[:, 0] != edges[:, 1]).all()
