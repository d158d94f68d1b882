"""Fixtures of the ML tests (a plugin: ``pytest_plugins = ["ml_fixtures"]``; a second
``conftest.py`` here would shadow ``tests/conftest.py``, which other tests import by name).

Small files in each layout the ML datasets read, written by the tests themselves:

- images: hitprep's output layout (``x``, ``y`` with ``label`` and ``mass``, ``event_info``),
  from the demo's toy calorimeter (separable classes);
- multi-volume images (``v0``, ``v1``) as the ACTS per-volume images of issue 4;
- graphs: hitprep jagged (``x`` + ``x_indices``), hitprep fixed length (``x`` + ``x_mask``)
  and OrcaSong fixed length (``is_valid`` column), as issue 5 writes them;
- WatChMaL digi hits (``hit_pmt``, ``hit_charge``, ``hit_time``, ``event_hits_index``,
  ``labels``) with a PMT map ``.npz``, contiguous and chunked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from hitprep.demos.ml import write_toy_images

GRAPH_FEATURES = ("pos_x", "pos_y", "pos_z", "time")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """One intra-op thread: the tiny models here gain nothing from more, and on a busy
    machine several spinning threads per test make the suite many times slower."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 toy calorimeter events, 12x12, gzip-compressed, signal vs background + mass."""
    path = tmp_path_factory.mktemp("images") / "toy.h5"
    return write_toy_images(path, 600, seed=3, size=12)


@pytest.fixture(scope="session")
def toy_images_other_shape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "toy10.h5"
    return write_toy_images(path, 50, seed=4, size=10)


@pytest.fixture(scope="session")
def multivolume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two image inputs of different shapes per event (per-volume images)."""
    rng = np.random.default_rng(5)
    n = 120
    label = rng.integers(0, 2, n)
    v0 = rng.poisson(1 + 2 * label[:, None, None, None], size=(n, 4, 16, 16)).astype(np.uint16)
    v1 = rng.poisson(1.0, size=(n, 2, 16, 8)).astype(np.uint16)
    path = tmp_path_factory.mktemp("mv") / "volumes.h5"
    y = np.zeros(n, dtype=[("label", "i8")])
    y["label"] = label
    with h5py.File(path, "w") as f:
        f.create_dataset("v0", data=v0, chunks=(16, 4, 16, 16), compression="gzip")
        f.create_dataset("v1", data=v1, chunks=(16, 2, 16, 8), compression="gzip")
        f.create_dataset("y", data=y)
    return path


@dataclass(frozen=True)
class Graphs:
    """Reference nodes per event and the files holding them."""

    nodes: list[np.ndarray]
    label: np.ndarray
    features: tuple[str, ...]
    jagged: Path
    fixed: Path
    orcasong: Path
    max_nodes: int


@pytest.fixture(scope="session")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Graphs:
    rng = np.random.default_rng(6)
    n = 80
    label = rng.integers(0, 2, n)
    counts = rng.integers(0, 25, n)
    counts[3] = 0  # an empty event
    nodes = [
        np.column_stack([rng.normal(size=(c, 3)), rng.normal(scale=1 + 2 * lab, size=c)]).astype(
            np.float32
        )
        for c, lab in zip(counts, label, strict=True)
    ]
    width = int(counts.max())
    flat = np.concatenate(nodes)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    indices = np.zeros(n, dtype=[("index", "<i8"), ("n_items", "<i8")])
    indices["index"], indices["n_items"] = offsets[:-1], counts
    padded = np.zeros((n, width, 4), dtype=np.float32)
    mask = np.zeros((n, width), dtype=bool)
    for i, x in enumerate(nodes):
        padded[i, : len(x)] = x
        mask[i, : len(x)] = True
    y = np.zeros(n, dtype=[("label", "i8"), ("event_id", "i8")])
    y["label"], y["event_id"] = label, np.arange(n)
    base = tmp_path_factory.mktemp("graphs")
    paths = {k: base / f"{k}.h5" for k in ("jagged", "fixed", "orcasong")}
    with h5py.File(paths["jagged"], "w") as f:
        ds = f.create_dataset("x", data=flat, chunks=(64, 4), compression="gzip")
        ds.attrs["features"] = list(GRAPH_FEATURES)
        f.create_dataset("x_indices", data=indices)
        f.create_dataset("y", data=y)
    with h5py.File(paths["fixed"], "w") as f:
        f.create_dataset("x", data=padded, chunks=(8, width, 4), compression="gzip")
        f["x"].attrs["features"] = list(GRAPH_FEATURES)
        f.create_dataset("x_mask", data=mask)
        f.create_dataset("y", data=y)
    with h5py.File(paths["orcasong"], "w") as f:
        with_valid = np.concatenate([padded, mask[..., None].astype(np.float32)], axis=-1)
        ds = f.create_dataset("x", data=with_valid)
        for i, name in enumerate([*GRAPH_FEATURES, "is_valid"]):
            ds.attrs[f"hit_info_{i}"] = name
        f.create_dataset("y", data=y)
    return Graphs(
        nodes, label, GRAPH_FEATURES, paths["jagged"], paths["fixed"], paths["orcasong"], width
    )


@dataclass(frozen=True)
class Watchmal:
    """A WatChMaL digi-hit file pair (contiguous and chunked) and its PMT map."""

    contiguous: Path
    chunked: Path
    pmt_map: Path
    positions: np.ndarray
    pmt: list[np.ndarray]
    charge: list[np.ndarray]
    time: list[np.ndarray]
    labels: np.ndarray


@pytest.fixture(scope="session")
def watchmal(tmp_path_factory: pytest.TempPathFactory) -> Watchmal:
    """40 events on a 5x6 grid of 30 PMTs; labels 1 (e) and 2 (mu); one empty event."""
    rng = np.random.default_rng(7)
    rows, cols = np.meshgrid(np.arange(5), np.arange(6), indexing="ij")
    positions = np.column_stack([rows.ravel(), cols.ravel()])
    positions = positions[rng.permutation(len(positions))]  # PMT id -> pixel, shuffled
    n = 40
    labels = rng.integers(1, 3, n).astype(np.int32)
    counts = rng.integers(0, 12, n)
    counts[2] = 0
    pmt = [rng.integers(0, 30, c).astype(np.int32) for c in counts]
    pmt[5] = np.array([4, 4, 9], dtype=np.int32)  # two hits on one PMT
    charge = [rng.exponential(2.0, len(p)).astype(np.float32) for p in pmt]
    time = [rng.uniform(900, 1100, len(p)).astype(np.float32) for p in pmt]
    counts = np.array([len(p) for p in pmt])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    base = tmp_path_factory.mktemp("watchmal")
    pmt_map = base / "pmt_positions.npz"
    np.savez(pmt_map, pmt_image_positions=positions)
    paths = {}
    for kind in ("contiguous", "chunked"):
        paths[kind] = base / f"{kind}.h5"
        options = {"chunks": (16,), "compression": "gzip"} if kind == "chunked" else {}
        with h5py.File(paths[kind], "w") as f:
            f.create_dataset("hit_pmt", data=np.concatenate(pmt), **options)
            f.create_dataset("hit_charge", data=np.concatenate(charge), **options)
            f.create_dataset("hit_time", data=np.concatenate(time), **options)
            f.create_dataset("event_hits_index", data=starts)
            f.create_dataset("labels", data=labels)
            f.create_dataset("event_ids", data=np.arange(n, dtype=np.int32))
    return Watchmal(
        paths["contiguous"], paths["chunked"], pmt_map, positions, pmt, charge, time, labels
    )


@pytest.fixture(scope="session")
def trained_run(toy_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch mass-parametrized model on ``toy_images`` (needs PyTorch)."""
    from hitprep.ml.config import load_train_config
    from hitprep.ml.train import train

    cfg = load_train_config(
        overrides=[
            f"data.path='{toy_images}'",
            "data.extras=['mass']",
            "train.epochs=2",
            "train.batch_size=32",
            "train.learning_rate=0.003",
            "train.device='cpu'",
        ]
    )
    run = tmp_path_factory.mktemp("trained") / "run"
    train(cfg, run, log=lambda line: None)
    return run


@pytest.fixture(scope="session")
def wcsim_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hitprep convert wcsim_grid`` of 1000 toy WCSim events (barrel images only): e, mu,
    gamma labels and WatChMaL's per-event ``energies``, ``positions``, ``angles``."""
    from hitprep.config import load_job
    from hitprep.runners import convert
    from hitprep.toys.wcsim import write_dump

    base = tmp_path_factory.mktemp("wcsim")
    toy = write_dump(base / "toy.h5", 1000, seed=11, true_hits=False)
    out = base / "grid.h5"
    convert(load_job("wcsim_grid", overrides=['pmt_grid.regions=["barrel"]']), [toy], out)
    return out


@pytest.fixture(scope="session")
def km3net_edges(
    km3net_h5: Path, km3net_detx: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``hitprep convert km3net_graph`` of km3net-testdata's 500 muon events with kNN edges
    (k = 6 in position and time; at most 48 triggered hits per event)."""
    pytest.importorskip("scipy")
    from hitprep.config import load_job
    from hitprep.runners import convert

    edges = (
        'graph.edges={kind = "knn", k = 6, features = ["pos_x", "pos_y", "pos_z", "time"],'
        " scale = [1, 1, 1, 0.2]}"
    )
    job = load_job(
        "km3net_graph", overrides=[edges, "graph.max_n_hits=48", "graph.only_triggered=true"]
    )
    out = tmp_path_factory.mktemp("km3net") / "graph_edges.h5"
    convert(job, [km3net_h5], out, detx=km3net_detx)
    return out
