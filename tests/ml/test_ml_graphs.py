"""Graph datasets: jagged and padded layouts (hitprep's and OrcaSong's) give the same nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hitprep.errors import FileFormatError, KeyInFileError  # noqa: E402
from hitprep.ml.graphs import GraphDataset, pad_nodes  # noqa: E402
from hitprep.ml.loader import make_loader  # noqa: E402

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


@pytest.mark.parametrize("layout", ["jagged", "fixed", "orcasong"])
@pytest.mark.parametrize("in_memory", [False, True])
def test_every_layout_gives_each_events_nodes(graphs: Any, layout: str, in_memory: bool) -> None:
    path = getattr(graphs, layout)
    ds = GraphDataset(path, label="label", in_memory=in_memory)
    assert ds.padded == (layout != "jagged")
    assert ds.feature_names == graphs.features
    idx = [7, 3, 0, 41, 7]
    batch = ds.__getitems__(idx)
    x, mask = batch["x"].numpy(), batch["x_mask"].numpy()
    assert x.shape[0] == len(idx) and x.shape[2] == 4
    for b, i in enumerate(idx):
        n = len(graphs.nodes[i])
        assert mask[b].sum() == n and mask[b, :n].all()
        assert np.array_equal(x[b, :n], graphs.nodes[i])
    # the batch is only as long as its longest event
    assert x.shape[1] == max(len(graphs.nodes[i]) for i in idx)
    assert batch["label"].tolist() == graphs.label[idx].tolist()


def test_feature_selection_and_order(graphs: Any) -> None:
    ds = GraphDataset(graphs.jagged, features=["time", "pos_x"])
    x = ds.__getitems__([1])["x"][0].numpy()
    n = len(graphs.nodes[1])
    assert np.array_equal(x[:n], graphs.nodes[1][:, [3, 0]])
    assert ds.specs[0].shape == (2,)


def test_unknown_feature_lists_the_features(graphs: Any) -> None:
    with pytest.raises(KeyInFileError, match=r"node feature 'tme' not found.*did you mean: 'time'"):
        GraphDataset(graphs.jagged, features=["tme"])


def test_max_nodes_keeps_the_first_nodes(graphs: Any) -> None:
    ds = GraphDataset(graphs.jagged, max_nodes=5)
    batch = ds.__getitems__(list(range(len(graphs.nodes))))
    assert batch["x"].shape[1] == 5
    for i, nodes in enumerate(graphs.nodes):
        k = min(5, len(nodes))
        assert int(batch["x_mask"][i].sum()) == k
        assert np.array_equal(batch["x"][i, :k].numpy(), nodes[:k])


def test_pad_nodes() -> None:
    flat = np.arange(12, dtype=np.float32).reshape(6, 2)
    x, mask = pad_nodes(flat, np.array([3, 0, 2, 1]))
    assert x.shape == (4, 3, 2)
    assert mask.sum(1).tolist() == [3, 0, 2, 1]
    assert x[2, :2].tolist() == [[6, 7], [8, 9]] and x[1].sum() == 0


def test_padded_nodes_without_mask_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nomask.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((3, 5, 2), np.float32)
        f["x"].attrs["features"] = ["a", "b"]
    with pytest.raises(FileFormatError, match="need a mask"):
        GraphDataset(path)


def test_offsets_outside_the_nodes_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "badoff.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((10, 2), np.float32)
        f["x_offsets"] = np.array([0, 4, 12])
    with pytest.raises(FileFormatError, match=r"event 1 spans nodes 4..12 outside 0..10"):
        GraphDataset(path)


def test_start_offsets_as_watchmal_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "starts.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(10, dtype=np.float32).reshape(5, 2)
        f["event_hits_index"] = np.array([0, 2, 2])
    ds = GraphDataset(path)
    batch = ds.__getitems__([0, 1, 2])
    assert batch["x_mask"].sum(1).tolist() == [2, 0, 3]
    assert batch["x"][2, 2].tolist() == [8.0, 9.0]


def test_loader_batches_of_jagged_graphs(graphs: Any) -> None:
    ds = GraphDataset(graphs.jagged, label="label")
    rows = []
    for batch in make_loader(ds, batch_size=16, shuffle="events", seed=1):
        assert batch["x"].shape[:2] == batch["x_mask"].shape
        rows += batch["row"].tolist()
    assert sorted(rows) == list(range(len(graphs.nodes)))
