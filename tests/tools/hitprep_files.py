"""Synthetic hitprep outputs for the dataset-tool tests, and a reader of them event by event.

Imported by the tests of this folder (not a conftest: ``from conftest import`` elsewhere
must keep finding ``tests/conftest.py``).

Every event carries a unique ``uid`` (in ``event_info.event_id``, in column 0 of every
node of ``x`` and in every WatChMaL-style hit), so that any reordering can be traced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hitprep.events import offsets_from_counts
from hitprep.sinks.hdf5 import HDF5Sink

INFO = np.dtype([("file_index", "<i8"), ("entry", "<i8"), ("event_id", "<i8"), ("run_id", "<i8")])
INDICES = np.dtype([("index", "<i8"), ("n_items", "<i8")])


def _indices(n: np.ndarray, start: int) -> np.ndarray:
    out = np.empty(len(n), dtype=INDICES)
    out["index"] = start + offsets_from_counts(n)[:-1]
    out["n_items"] = n
    return out


def write_events(
    path: Path,
    n_nodes: list[int],
    *,
    uid0: int = 0,
    runs: int = 3,
    chunks: int = 2,
    hist_offset: int = 0,
    geometry: float = 1.0,
    watchmal: bool = True,
    seed: int = 0,
) -> Path:
    """A hitprep-like output: graphs with edges, images, labels, WatChMaL hits, summaries."""
    rng = np.random.default_rng(seed)
    n = np.asarray(n_nodes, dtype=np.int64)
    uid = uid0 + np.arange(len(n))
    running = {"x": 0, "e": 0, "h": 0}
    with HDF5Sink(path, compression="gzip") as sink:
        for part in np.array_split(np.arange(len(n)), chunks):
            k = n[part]
            event = np.repeat(np.arange(len(part)), k)
            local = np.arange(int(k.sum())) - offsets_from_counts(k)[:-1][event]
            x = np.stack([uid[part][event], local, rng.normal(size=len(event))], axis=1)
            m = np.where(k > 1, k, 0)  # a ring of edges per event with 2+ nodes
            e_event = np.repeat(np.arange(len(part)), m)
            e_local = np.arange(int(m.sum())) - offsets_from_counts(m)[:-1][e_event]
            edges = np.stack([e_local, (e_local + 1) % np.maximum(m[e_event], 1)], axis=1)
            info = np.zeros(len(part), dtype=INFO)
            info["file_index"] = part % 2
            info["entry"] = part
            info["event_id"] = uid[part]
            info["run_id"] = part % runs
            y = np.zeros(len(part), dtype=[("energy", "<f8"), ("uid", "<i8")])
            y["energy"], y["uid"] = uid[part] * 1.5, uid[part]
            arrays: dict[str, Any] = {
                "event_info": info,
                "y": y,
                "img": (uid[part][:, None, None] + np.zeros((1, 4, 5))).astype(np.uint16),
                "x": x.astype(np.float32),
                "x_indices": _indices(k, running["x"]),
                "x_n_hits": k + 1,
                "x_edges": edges.astype(np.int32),
                "x_edges_indices": _indices(m, running["e"]),
            }
            if watchmal:
                hits = k // 2
                h_event = np.repeat(np.arange(len(part)), hits)
                arrays["event_hits_index"] = running["h"] + offsets_from_counts(hits)[:-1]
                arrays["hit_pmt"] = uid[part][h_event].astype(np.int32)
                arrays["hit_time"] = rng.normal(size=len(h_event)).astype(np.float32)
                running["h"] += int(hits.sum())
            sink.append(arrays)
            running["x"] += int(k.sum())
            running["e"] += int(m.sum())
        sink.file["x"].attrs["features"] = ["uid", "local", "noise"]  # type: ignore[index]
        edges_hist = np.linspace(0, 1, 6)
        sink.write("bin_stats/img/time/hist", np.arange(5) + hist_offset)
        sink.write("bin_stats/img/time/hist_bin_edges", edges_hist)
        sink.write("bin_stats/img/time/bin_edges", edges_hist)
        sink.write("bin_stats/img/time/cut_off", np.array([1, 2]) + hist_offset)
        sink.write("geometry/radius", np.array(geometry))
        sink.set_attrs(
            {
                "hitprep_version": "test",
                "job": "[graph]",
                "inputs": json.dumps(
                    [{"index": 0, "path": "a.root", "events": 1}, {"index": 1, "path": "b.root"}]
                ),
                "accounting": json.dumps({"events_read": len(n), "events_skipped": {"cut": 2}}),
            }
        )
        sink.commit()
    return path


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event of a file as a dict of its rows (jagged slices included)."""
    with h5py.File(path) as f:
        data = {k: f[k][:] for k in f if isinstance(f[k], h5py.Dataset)}
    idx, eidx = data["x_indices"], data["x_edges_indices"]
    events = []
    for i in range(len(data["event_info"])):
        ev: dict[str, Any] = {
            k: data[k][i] for k in ("event_info", "y", "img", "x_n_hits") if k in data
        }
        ev["x"] = data["x"][idx["index"][i] : idx["index"][i] + idx["n_items"][i]]
        ev["x_edges"] = data["x_edges"][eidx["index"][i] : eidx["index"][i] + eidx["n_items"][i]]
        if "event_hits_index" in data:
            starts = np.append(data["event_hits_index"], len(data["hit_pmt"]))
            ev["hit_pmt"] = data["hit_pmt"][starts[i] : starts[i + 1]]
            ev["hit_time"] = data["hit_time"][starts[i] : starts[i + 1]]
        events.append(ev)
    return events


def same_event(a: dict[str, Any], b: dict[str, Any], *, file_shift: int = 0) -> bool:
    for key in a:
        left, right = a[key], b[key]
        if key == "event_info":
            left = left.copy()
            left["file_index"] += file_shift
        if not np.array_equal(left, right):
            return False
    return True


def events_factory(folder: Path) -> Callable[..., Path]:
    """``make(n_nodes, **options)`` writing numbered files into ``folder``."""
    counter = iter(range(10**6))

    def make(n_nodes: list[int], **options: Any) -> Path:
        return write_events(folder / f"in{next(counter)}.h5", n_nodes, **options)

    return make
