"""OrcaNet reads the KM3NeT graph presets' default output unchanged.

OrcaNet 1.0.4's contract, as its ``h5_generator.Hdf5BatchGenerator``, ``in_out`` and
``lib.sample_modifiers.GraphEdgeConv`` read a file (facts, restated here; OrcaNet needs
TensorFlow, so the reading is replayed with h5py):

- samples per file = rows of ``y`` (``in_out``), which must equal the rows of
  ``x_indices`` when ``x`` is indexed, else the rows of ``x`` (``_store_file_length``);
- ``x`` is indexed when ``x.attrs["indexed"]`` is true and ``x_indices`` exists; a batch
  of events ``[a, b)`` then reads ``x[index[a] : index[b-1] + n_items[b-1]]`` and the
  per-event ``n_items``; otherwise ``x[a:b]`` is (events, hits, columns);
- column names are ``x.attrs[f"hit_info_{i}"]`` for every column; GraphEdgeConv takes its
  default node features ``pos_x pos_y pos_z time dir_x dir_y dir_z`` and coordinates
  ``pos_x pos_y pos_z time`` by name, and for non-indexed ``x`` keeps the hits whose
  ``is_valid`` column is 1;
- ``y`` is a compound dataset (``in_out`` reads ``y.dtype.names``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import pytest

from hitprep.config import load_job
from hitprep.runners import convert

NODE_FEATURES = ("pos_x", "pos_y", "pos_z", "time", "dir_x", "dir_y", "dir_z")
COORD_FEATURES = ("pos_x", "pos_y", "pos_z", "time")


def _orcanet_batch(f: h5py.File, start: int, size: int) -> tuple[npt.NDArray[Any], Any]:
    """(hits, n_items) of events ``[start, start + size)``, read as OrcaNet reads them."""
    x = f["x"]
    if x.attrs.get("indexed") and "x_indices" in f:
        indices = f["x_indices"][start : start + size]
        rows = slice(indices[0]["index"], indices[-1]["index"] + indices[-1]["n_items"])
        return x[rows], indices["n_items"]
    block = x[start : start + size]
    columns = _columns(x)
    is_valid = block[:, :, columns.index("is_valid")]
    return block[is_valid == 1], is_valid.sum(-1)


def _columns(x: h5py.Dataset) -> list[str]:
    return [str(x.attrs[f"hit_info_{i}"]) for i in range(x.shape[-1])]


def _n_samples(f: h5py.File) -> int:
    """OrcaNet's file length; raises as OrcaNet does when x and y disagree."""
    x = f["x"]
    indexed = bool(x.attrs.get("indexed")) and "x_indices" in f
    n_x = len(f["x_indices"] if indexed else x)
    assert n_x == len(f["y"]), "OrcaNet: all datasets must have the same number of samples"
    return n_x


@pytest.fixture(scope="module", params=["km3net_graph", "km3net_graph_fixed"])
def default_output(
    request: pytest.FixtureRequest,
    km3net_h5: Path,
    km3net_detx: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("orcanet") / f"{request.param}.h5"
    convert(load_job(request.param), [km3net_h5], out, detx=km3net_detx)
    return out


def test_default_graph_output_satisfies_orcanets_reading(default_output: Path) -> None:
    with h5py.File(default_output) as f:
        n = _n_samples(f)
        assert n == 500
        x = f["x"]
        columns = _columns(x)
        assert set(NODE_FEATURES) | set(COORD_FEATURES) <= set(columns)
        assert f["y"].dtype.names  # compound: OrcaNet's label modifiers read fields by name
        n_hits = f["x_n_hits"][:]
        length = 0 if x.attrs["indexed"] else x.shape[1]
        seen = 0
        for start in range(0, n, 64):  # OrcaNet's batches
            hits, n_items = _orcanet_batch(f, start, 64)
            stop = min(start + 64, n)
            assert len(n_items) == stop - start
            assert len(hits) == int(np.sum(n_items))  # every event's hits, none of another's
            expected = n_hits[start:stop] if not length else np.minimum(n_hits[start:stop], length)
            np.testing.assert_array_equal(n_items, expected)
            nodes = hits[:, [columns.index(c) for c in NODE_FEATURES]].astype(np.float32)
            assert np.isfinite(nodes).all()
            seen += len(n_items)
        assert seen == n


def test_hitprep_trainer_reads_the_same_nodes(default_output: Path) -> None:
    pytest.importorskip("torch")
    from hitprep.ml.graphs import GraphDataset

    ds = GraphDataset(default_output, label="n_muons")
    with h5py.File(default_output) as f:
        columns = _columns(f["x"])
        events = [0, 17, 250, 499]
        batch = ds.__getitems__(events)
        x, mask = batch["x"].numpy(), batch["x_mask"].numpy()
        for b, event in enumerate(events):
            hits, n_items = _orcanet_batch(f, event, 1)
            k = int(n_items[0])
            assert int(mask[b].sum()) == k
            keep = [columns.index(c) for c in ds.feature_names]
            np.testing.assert_array_equal(x[b, :k], hits[:, keep].astype(np.float32))
