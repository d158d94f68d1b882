"""The EdgeConv model: layers against a loop reference, kNN in the batch, the stored edges of a
real ``hitprep convert km3net_graph`` output used as they are, training and reloading."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.errors import ConfigError  # noqa: E402
from hitprep.ml.checkpoint import load_checkpoint  # noqa: E402
from hitprep.ml.config import TrainConfig, load_train_config  # noqa: E402
from hitprep.ml.data import open_dataset  # noqa: E402
from hitprep.ml.edgeconv import EdgeConv, knn_edges  # noqa: E402
from hitprep.ml.errors import SchemaMismatchError  # noqa: E402
from hitprep.ml.evaluate import evaluate  # noqa: E402
from hitprep.ml.inference import run_model  # noqa: E402
from hitprep.ml.loader import make_loader  # noqa: E402
from hitprep.ml.predict import predict  # noqa: E402
from hitprep.ml.train import TrainResult, train  # noqa: E402

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


def _edge_config(data: Path, *extra: str) -> TrainConfig:
    return load_train_config(
        overrides=[
            f"data.path='{data}'",
            "data.targets=['direction:dir_x+dir_y+dir_z']",
            "model.name='edgeconv'",
            "model.node_channels=[16, 16]",
            "model.hidden=32",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def edge_run(km3net_edges: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The edge model trained 3 epochs on the stored edges of the km3net_graph output."""
    cfg = _edge_config(km3net_edges, "train.epochs=3")
    return train(cfg, tmp_path_factory.mktemp("edges") / "run", log=lambda line: None)


@pytest.fixture(scope="module")
def km3net_no_edges(
    km3net_h5: Path, km3net_detx: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The same conversion as ``km3net_edges`` without ``graph.edges``: no ``x_edges``."""
    from hitprep.config import load_job
    from hitprep.runners import convert

    job = load_job("km3net_graph", overrides=["graph.max_n_hits=48", "graph.only_triggered=true"])
    out = tmp_path_factory.mktemp("km3net") / "graph_plain.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx)
    with h5py.File(out) as f:
        assert "x_edges" not in f
    return out


def test_edge_model_trains_and_reloads(km3net_edges: Path, edge_run: TrainResult) -> None:
    losses = [h["train_loss"] for h in edge_run.history]
    assert losses[-1] < losses[0]
    ckpt = load_checkpoint(edge_run.last)
    assert ckpt.schema.inputs[0].edges == "x_edges"  # recorded in the checkpoint
    ds = open_dataset(ckpt.config.data, path=km3net_edges, rows=np.arange(64))
    loader = make_loader(ds, batch_size=16)
    before = run_model(edge_run.model, loader, torch.device("cpu")).values
    assert np.array_equal(before, run_model(ckpt.model, loader, torch.device("cpu")).values)
    # the stored edges are what the model uses: a batch without them is refused, not kNN
    batch = ds.__getitems__(np.arange(16))
    batch.pop("x_edges")
    with torch.no_grad(), pytest.raises(ConfigError, match="trained on the stored edges 'x_edges'"):
        ckpt.model(batch)


def test_edge_model_refuses_a_file_without_edges(
    edge_run: TrainResult, km3net_no_edges: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.h5"
    with pytest.raises(SchemaMismatchError) as info:
        predict(edge_run.last, km3net_no_edges, out)
    message = str(info.value)
    assert str(km3net_no_edges) in message
    assert "no stored edges (dataset 'x_edges'" in message
    assert not out.exists()
    with pytest.raises(SchemaMismatchError, match="x_edges"):
        evaluate(edge_run.last, km3net_no_edges, tmp_path / "eval")
    assert list(tmp_path.iterdir()) == []


def test_knn_model_keeps_knn_on_a_file_with_edges(
    km3net_no_edges: Path, km3net_edges: Path, tmp_path: Path
) -> None:
    cfg = _edge_config(km3net_no_edges, "train.epochs=1", "split.fractions=[0.2, 0.1, 0.7]")
    result = train(cfg, tmp_path / "run", log=lambda line: None)
    assert load_checkpoint(result.last).schema.inputs[0].edges == ""
    summaries = [
        predict(result.last, data, tmp_path / f"{data.stem}.h5")
        for data in (km3net_no_edges, km3net_edges)
    ]
    with h5py.File(summaries[0].output) as a, h5py.File(summaries[1].output) as b:
        assert np.array_equal(a["predictions"][:], b["predictions"][:])


def test_pointnet_neither_reads_nor_needs_stored_edges(
    km3net_edges: Path, km3net_no_edges: Path, tmp_path: Path
) -> None:
    """A model that ignores edges records none: it scores files with or without them alike."""
    cfg = _edge_config(
        km3net_edges, "model.name='pointnet'", "train.epochs=1", "split.fractions=[0.2, 0.1, 0.7]"
    )
    result = train(cfg, tmp_path / "run", log=lambda line: None)
    schema = load_checkpoint(result.last).schema
    assert schema.inputs[0].edges == "" and not schema.uses_edges
    assert "x_edges" not in open_dataset(cfg.data, labels=False, edges=False).__getitems__([0])
    summaries = [
        predict(result.last, data, tmp_path / f"{data.stem}.h5")
        for data in (km3net_edges, km3net_no_edges)
    ]
    with h5py.File(summaries[0].output) as a, h5py.File(summaries[1].output) as b:
        assert np.array_equal(a["predictions"][:], b["predictions"][:])
