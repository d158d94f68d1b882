"""The EdgeConv model: layers against a loop reference, kNN in the batch, the stored edges of a
real ``hitprep convert km3net_graph`` output used as they are, training and reloading."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.config import load_train_config  # noqa: E402
from hitprep.ml.data import open_dataset  # noqa: E402
from hitprep.ml.edgeconv import EdgeConv, knn_edges  # noqa: E402
from hitprep.ml.inference import run_model  # noqa: E402
from hitprep.ml.loader import make_loader  # noqa: E402
from hitprep.ml.train import train  # noqa: E402

pytest_plugins = ["ml_fixtures"]


def test_edgeconv_is_the_max_over_neighbour_messages() -> None:
    torch.manual_seed(0)
    layer = EdgeConv(3, 5)
    h = torch.randn(6, 3)
    edges = torch.tensor([[1, 0], [2, 0], [0, 1], [5, 4], [3, 4], [4, 3]])
    out = layer(h, edges)
    for i in range(6):
        sources = [int(s) for s, t in edges.tolist() if t == i]
        if not sources:
            assert torch.equal(out[i], torch.zeros(5))
            continue
        messages = torch.stack([layer.mlp(torch.cat([h[i], h[j] - h[i]])) for j in sources])
        assert torch.allclose(out[i], messages.amax(0), atol=1e-6)


def test_knn_in_the_batch_stays_inside_each_event() -> None:
    rng = np.random.default_rng(1)
    points = torch.from_numpy(rng.normal(size=(3, 7, 2)).astype(np.float32))
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] + [False] * 6])
    edges = knn_edges(points, mask, 3).numpy()
    flat = points.reshape(-1, 2).numpy()
    expected = set()
    for b in range(3):
        real = [b * 7 + i for i in range(7) if mask[b, i]]
        for t in real:
            others = sorted((np.linalg.norm(flat[s] - flat[t]), s) for s in real if s != t)
            expected |= {(s, t) for _, s in others[:3]}
    assert {tuple(e) for e in edges.tolist()} == expected


def test_stored_edges_reach_the_batch(km3net_edges: Path) -> None:
    cfg = load_train_config(overrides=[f"data.path='{km3net_edges}'", "data.label='is_cc'"])
    ds = open_dataset(cfg.data, labels=False)
    batch = ds.__getitems__([3, 10])
    width = batch["x"].shape[1]
    with h5py.File(km3net_edges) as f:
        idx = f["x_edges_indices"][:]
        local = [
            f["x_edges"][idx["index"][r] : idx["index"][r] + idx["n_items"][r]] for r in (3, 10)
        ]
    expected = np.concatenate([local[0], local[1] + width])
    assert np.array_equal(batch["x_edges"].numpy(), expected)


def test_edge_model_trains_and_reloads(km3net_edges: Path, tmp_path: Path) -> None:
    cfg = load_train_config(
        overrides=[
            f"data.path='{km3net_edges}'",
            "data.targets=['direction:dir_x+dir_y+dir_z']",
            "model.name='edgeconv'",
            "model.node_channels=[16, 16]",
            "model.hidden=32",
            "train.epochs=3",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
        ]
    )
    result = train(cfg, tmp_path / "run", log=lambda line: None)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    ckpt = load_checkpoint(result.last)
    ds = open_dataset(cfg.data, rows=np.arange(64))
    loader = make_loader(ds, batch_size=16)
    before = run_model(result.model, loader, torch.device("cpu")).values
    assert np.array_equal(before, run_model(ckpt.model, loader, torch.device("cpu")).values)
    # the stored edges are what the model uses: without them (kNN in the batch) it differs
    batch = ds.__getitems__(np.arange(16))
    with torch.no_grad():
        stored = ckpt.model(batch)
        batch.pop("x_edges")
        fallback = ckpt.model(batch)
    assert torch.isfinite(fallback).all() and not torch.allclose(stored, fallback)
