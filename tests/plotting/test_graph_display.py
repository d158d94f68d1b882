"""Event display of graph outputs (jagged with edges, fixed length)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hitprep.errors import KeyInFileError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.pipeline import Accounting, Context
from hitprep.plotting.graph import plot_graph_event
from hitprep.representations.edges import EdgeSpec
from hitprep.representations.graph import GraphRepresentation, GraphSpec
from hitprep.sinks.hdf5 import HDF5Sink

FEATURES = ("pos_x", "pos_y", "pos_z", "time")


def _write(path: Path, spec: GraphSpec) -> Path:
    n = [5, 8]
    rng = np.random.default_rng(0)
    hits = jagged_from_flat({f: rng.normal(size=13) for f in FEATURES}, offsets_from_counts(n))
    batch = make_batch({"entry": np.arange(2)}, {"hits": hits}, length=2)
    rep = GraphRepresentation(spec)
    with HDF5Sink(path) as sink:
        sink.append(rep(batch, Context("mem", 0, Accounting())))
        rep.finish(sink)
        sink.commit()
    return path


@pytest.mark.parametrize("layout", ["hitprep", "orcasong"])
def test_plots_jagged_and_fixed(layout: str, tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    edges = EdgeSpec("knn", FEATURES[:3], (1.0, 1.0, 1.0), k=2)
    jagged = _write(tmp_path / "j.h5", GraphSpec(FEATURES, layout=layout, edges=edges))
    fixed = _write(
        tmp_path / "f.h5", GraphSpec(FEATURES, layout=layout, fixed_length=True, max_n_hits=10)
    )
    for path in (jagged, fixed):
        out = plot_graph_event(path, tmp_path / f"{path.stem}.png", event=1)
        assert out.stat().st_size > 1000


def test_missing_feature_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.h5", GraphSpec(FEATURES))
    with pytest.raises(KeyInFileError, match="'y' not found"):
        plot_graph_event(path, tmp_path / "e.png", name="y")
    only_time = _write(tmp_path / "t.h5", GraphSpec(("time",)))
    with pytest.raises(KeyInFileError, match="pos_x"):
        plot_graph_event(only_time, tmp_path / "e.png")
