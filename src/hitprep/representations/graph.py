"""Graphs of hits, one per event: node features, jagged or fixed length, with optional edges.

Per event, in this order (OrcaSong ``PointMaker``'s, for a whole chunk at once):

1. keep only triggered hits (``only_triggered``) and hits with
   ``time_window[0] <= time <= time_window[1]`` (``time_window``);
2. count the hits left: ``<name>_n_hits``, the number before truncation;
3. if an event has more than ``max_n_hits`` hits, keep ``max_n_hits`` of them by the
   ``truncation`` policy: ``"random"`` (a seeded random subset, OrcaSong's policy),
   ``"earliest"`` (the first in ``time_field``) or ``"largest"`` (the largest
   ``truncation_field``, e.g. ``tot``); kept hits stay in their input order;
4. ``order = "time"`` sorts each event's nodes by time (``"file"`` keeps input order);
5. node features = the chosen hit fields, cast to ``dtype``; ``fixed_length`` pads every
   event with zeros to ``max_n_hits`` nodes and marks the real ones;
6. optional edges (:mod:`hitprep.representations.edges`).

The random subset does not depend on chunking or on other events: each hit's random key
is a hash of ``(seed, file_index, entry, position of the hit in its event)``, so the same
job on the same inputs keeps the same hits. OrcaSong draws from numpy's global random
state instead, so its subsets cannot be matched; without truncation the graphs are
identical to OrcaSong's ``FileGraph``.

Two HDF5 layouts (``layout``) are written; see the README section "Graphs".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import Job, check_memory
from hitprep.errors import ConfigError
from hitprep.events import counts, event_index, flat_column, offsets_from_counts
from hitprep.jobmodel import JobSection
from hitprep.layout import Entry, jagged
from hitprep.pipeline import BuildOptions, Context, Representation
from hitprep.representations.edges import compute_edges, scaled_points
from hitprep.representations.graph_spec import GraphSection, GraphSpec
from hitprep.representations.nodes import pad_nodes, random_keys, truncate
from hitprep.sinks.hdf5 import HDF5Sink

__all__ = [
    "INDICES_DTYPE",
    "JOB_SECTIONS",
    "GraphChunk",
    "GraphRepresentation",
    "GraphSpec",
    "build_representations",
    "make_graphs",
    "pad_nodes",
    "random_keys",
    "truncate",
]

#: per-event (start, count) of jagged datasets, as km3pipe's and OrcaSong's ``*_indices``
INDICES_DTYPE = np.dtype([("index", "<i8"), ("n_items", "<i8")])

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GraphChunk:
    """Graphs of one chunk of events (jagged).

    Attributes:
        nodes: ``(total nodes, n_features)`` features, events one after another.
        n_nodes: nodes per event.
        n_hits: hits per event after the filters, before truncation.
        edges: ``(total edges, 2)`` local ``(source, target)``, or None.
        n_edges: edges per event, or None.
    """

    nodes: npt.NDArray[np.generic]
    n_nodes: IntArray
    n_hits: IntArray
    edges: npt.NDArray[np.int32] | None = None
    n_edges: IntArray | None = None


def make_graphs(batch: ak.Array, spec: GraphSpec, *, file_index: int = 0) -> GraphChunk:
    """Build the graphs of a batch (no Python loop over events).

    Args:
        batch: event batch with ``spec.collection`` holding ``spec.fields``.
        spec: features, filters, truncation, order, edges.
        file_index: the input's number, part of the random truncation key.

    Returns:
        A :class:`GraphChunk`.
    """
    hits = batch[spec.collection]
    n = counts(hits)
    columns = {f: flat_column(hits, f) for f in spec.fields}
    keep = _filter(columns, spec)
    # per kept hit: its event in the batch and its position in the event before the filters
    # (computed only when needed: filters, truncation or time order)
    event: IntArray | None = None
    position: IntArray | None = None
    if keep is not None:
        event = event_index(n)
        position = (np.arange(len(keep), dtype=np.int64) - offsets_from_counts(n)[:-1][event])[keep]
        event = event[keep]
        n = np.bincount(event, minlength=len(n)).astype(np.int64)
        columns = {f: c[keep] for f, c in columns.items()}
    n_hits = n
    if spec.max_n_hits is not None and len(n) and int(n.max()) > spec.max_n_hits:
        if event is None:
            event = event_index(n)
        key: npt.NDArray[Any]
        if spec.truncation == "random":
            if position is None:
                position = (
                    np.arange(len(event), dtype=np.int64) - offsets_from_counts(n)[:-1][event]
                )
            entry = np.asarray(batch["entry"], dtype=np.int64)[event]
            key = random_keys(spec.seed, file_index, entry, position)
        elif spec.truncation == "earliest":
            key = columns[spec.time_field]
        else:
            key = -np.asarray(columns[str(spec.truncation_field)], dtype=np.float64)
        kept = truncate(n, spec.max_n_hits, key)
        n = np.minimum(n, spec.max_n_hits)
        columns = {f: c[kept] for f, c in columns.items()}
        event = event[kept]
    if spec.order == "time":
        if event is None:
            event = event_index(n)
        order = np.lexsort((columns[spec.time_field], event))
        columns = {f: c[order] for f, c in columns.items()}
    nodes = np.empty((int(n.sum()), spec.n_features), dtype=spec.dtype)
    for j, name in enumerate(spec.features):
        nodes[:, j] = columns[name]
    if spec.edges is None:
        return GraphChunk(nodes, n, n_hits)
    edges, n_edges = compute_edges(scaled_points(columns, spec.edges), n, spec.edges)
    return GraphChunk(nodes, n, n_hits, edges, n_edges)


def _filter(columns: dict[str, npt.NDArray[Any]], spec: GraphSpec) -> BoolArray | None:
    """Mask of the hits the filters keep; None when there are no filters or all pass."""
    keep: BoolArray | None = None
    if spec.only_triggered:
        keep = columns[spec.triggered_field] != 0
    if spec.time_window is not None:
        t = columns[spec.time_field]
        inside = (t >= spec.time_window[0]) & (t <= spec.time_window[1])
        keep = inside if keep is None else keep & inside
    return None if keep is None or keep.all() else keep


def _indices(start: int, n_items: IntArray) -> npt.NDArray[np.void]:
    out = np.empty(len(n_items), dtype=INDICES_DTYPE)
    out["index"] = start + offsets_from_counts(n_items)[:-1]
    out["n_items"] = n_items
    return out


class GraphRepresentation(Representation):
    """The ``[graph]`` section: node features (+ edges) per event, in one of two layouts.

    Datasets (``x`` = ``spec.name``), ``hitprep`` layout:

    - jagged: ``x`` (total nodes, F) and ``x_indices`` (index, n_items) per event;
    - fixed length: ``x`` (events, max_n_hits, F) and ``x_mask`` (events, max_n_hits) bool;
    - ``x_n_hits`` (events,) int64: hits after the filters, before truncation;
    - with edges: ``x_edges`` (total edges, 2) int32 local (source, target) and
      ``x_edges_indices``.

    Both layouts give ``x`` OrcaSong's attributes ``hit_info_<i>`` (column names) and
    ``indexed`` (jagged), so OrcaNet's generator reads jagged hitprep output unchanged.

    ``orcasong`` layout: as OrcaSong's ``FileGraph``: ``x`` (float32); ``x_indices``;
    fixed length appends the ``is_valid`` column to ``x`` instead of a mask (and
    ``x_indices`` is (event, 1)). ``x_n_hits`` and edges are written too (OrcaNet ignores
    them).

    Offsets run over the whole output: the representation keeps the running counts.
    """

    missing_hint = "positions and directions come from calibration: give --detx"

    def __init__(self, spec: GraphSpec, *, calibrated: bool = False) -> None:
        self.spec = spec
        if calibrated:  # the --detx hint would mislead
            self.missing_hint = f"a graph feature must be a field of {spec.collection!r}"
        self.required = frozenset(f"{spec.collection}.{f}" for f in spec.fields)
        self._events = 0
        self._nodes = 0
        self._edges = 0

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        chunk = make_graphs(batch, self.spec, file_index=ctx.file_index)
        return self._arrays(chunk)

    def _arrays(self, chunk: GraphChunk) -> dict[str, npt.NDArray[Any]]:
        spec, name = self.spec, self.spec.name
        out: dict[str, npt.NDArray[Any]] = {}
        n_events = len(chunk.n_nodes)
        if spec.fixed_length:
            length = int(spec.max_n_hits or 0)
            orca = spec.layout == "orcasong"
            padded, mask = pad_nodes(chunk.nodes, chunk.n_nodes, length, valid_column=orca)
            out[name] = padded
            if orca:
                out[f"{name}_indices"] = _indices(self._events, np.ones(n_events, np.int64))
            else:
                out[f"{name}_mask"] = mask
        else:
            out[name] = chunk.nodes
            out[f"{name}_indices"] = _indices(self._nodes, chunk.n_nodes)
        out[f"{name}_n_hits"] = chunk.n_hits
        if spec.edges is not None:
            n_edges = chunk.n_edges if chunk.n_edges is not None else np.zeros(n_events, np.int64)
            edges = chunk.edges if chunk.edges is not None else np.zeros((0, 2), np.int32)
            out[f"{name}_edges"] = edges
            out[f"{name}_edges_indices"] = _indices(self._edges, n_edges)
            self._edges += len(edges)
        self._events += n_events
        self._nodes += len(chunk.nodes)
        return out

    def roles(self, rows: Sequence[str], whole: Sequence[str]) -> dict[str, Entry]:
        """Nodes (and edges) are jagged groups indexed by ``*_indices``; the rest per event.

        Fixed length with the ``orcasong`` layout: ``x_indices`` indexes one padded row of
        ``x`` per event, as OrcaSong writes it.
        """
        name = self.spec.name
        out = super().roles(rows, whole)
        for items in (name, f"{name}_edges"):
            if f"{items}_indices" in rows:
                out.update(jagged(f"{items}_indices", [items]))
        return out

    def empty(self) -> dict[str, npt.NDArray[Any]]:
        spec = self.spec
        nodes = np.zeros((0, spec.n_features), dtype=spec.dtype)
        none = np.zeros(0, dtype=np.int64)
        with_edges = spec.edges is not None
        edges = np.zeros((0, 2), np.int32) if with_edges else None
        saved = (self._events, self._nodes, self._edges)
        out = self._arrays(GraphChunk(nodes, none, none, edges, none if with_edges else None))
        self._events, self._nodes, self._edges = saved
        return out

    def attrs(self) -> dict[str, dict[str, Any]]:
        """Attributes of the datasets, by dataset name."""
        spec, name = self.spec, self.spec.name
        description = {k: v for k, v in asdict(spec).items() if k != "edges"}
        x: dict[str, Any] = {"graph": json.dumps(description)}
        # OrcaNet's generator and GraphEdgeConv read the columns from hit_info_<i> and take
        # x_indices only when "indexed" is set: both layouts carry them (jagged hitprep
        # output is OrcaSong's datasets, so OrcaNet reads it unchanged)
        orca = spec.layout == "orcasong"
        columns = [*spec.features, *(["is_valid"] if orca and spec.fixed_length else [])]
        for i, column in enumerate(columns):
            x[f"hit_info_{i}"] = column
        x["indexed"] = np.bool_(not spec.fixed_length)
        if not orca:
            x["features"] = list(spec.features)
            x["layout"] = "hitprep"
            x["fixed_length"] = spec.fixed_length
        out = {
            name: x,
            f"{name}_n_hits": {
                "description": "hits per event after the filters, before truncation",
                "max_n_hits": spec.max_n_hits or 0,
            },
        }
        if spec.edges is not None:
            out[f"{name}_edges"] = {
                "columns": ["source", "target"],
                "local": True,
                "edges": json.dumps(asdict(spec.edges)),
            }
        return out

    def finish(self, sink: HDF5Sink) -> None:
        f = sink.file
        if f is None:
            msg = f"sink for {sink.path} is closed"
            raise RuntimeError(msg)
        if self.spec.name not in f:  # no event written: create the datasets now
            sink.append(self.empty())
        for dataset, attrs in self.attrs().items():
            for key, value in attrs.items():
                f[dataset].attrs[key] = value


def build_representations(job: Job, options: BuildOptions) -> list[GraphRepresentation]:
    """The graph representation of a job with a ``[graph]`` section.

    Raises:
        ConfigError: ``graph.name`` is also the name of an image, ``y`` or ``event_info``.
    """
    spec = job.get("graph").spec
    taken = {"y", "event_info", *(image.name for image in job.get("images") or ())}
    if spec.name in taken:
        msg = (
            f"{job.origin or 'job'} [graph].name: {spec.name!r} is already a dataset of this"
            f" job ({', '.join(sorted(taken))}); give the graph another name"
        )
        raise ConfigError(msg)
    del options
    calibration = job.get("calibration")
    calibrated = calibration is not None and bool(calibration.detx)
    return [GraphRepresentation(spec, calibrated=calibrated)]


def check_padded_size(where: str, graph: GraphSection, step: int) -> None:
    """A chunk of ``step`` fixed-length graphs fits in memory (else the size it would take)."""
    if graph.fixed_length and graph.max_n_hits:
        row = len(graph.features) * np.dtype(graph.dtype).itemsize + 1  # + mask
        what = f"a chunk of {step} events of {graph.max_n_hits:,} padded nodes"
        check_memory(f"{where}.max_n_hits", graph.max_n_hits * row * step, what=what)


JOB_SECTIONS = (
    JobSection(
        "graph",
        GraphSection,
        60,
        kind="representation",
        build=build_representations,
        fits=check_padded_size,
    ),
)
