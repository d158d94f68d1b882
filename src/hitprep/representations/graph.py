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
from dataclasses import asdict, dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import Job, Schema, check_keys
from hitprep.errors import ConfigError
from hitprep.events import counts, event_index, flat_column, offsets_from_counts
from hitprep.pipeline import BuildOptions, Context, Representation
from hitprep.representations.edges import EdgeSpec, compute_edges, scaled_points
from hitprep.sinks.hdf5 import HDF5Sink

__all__ = [
    "INDICES_DTYPE",
    "GraphChunk",
    "GraphRepresentation",
    "GraphSpec",
    "build_representations",
    "check_graph_section",
    "make_graphs",
    "pad_nodes",
    "random_keys",
    "truncate",
]

LAYOUTS = ("hitprep", "orcasong")
TRUNCATIONS = ("random", "earliest", "largest")
ORDERS = ("file", "time")

#: per-event (start, count) of jagged datasets, as km3pipe's and OrcaSong's ``*_indices``
INDICES_DTYPE = np.dtype([("index", "<i8"), ("n_items", "<i8")])

_SCHEMA: Schema = {
    "name": (str, "x"),
    "collection": (str, "hits"),
    "features": (list, None),
    "dtype": (str, "float32"),
    "layout": (str, "hitprep"),
    "fixed_length": (bool, False),
    "max_n_hits": (int, 0),
    "truncation": (str, "random"),
    "truncation_field": (str, ""),
    "seed": (int, 42),
    "order": (str, "file"),
    "time_field": (str, "time"),
    "time_window": (list, []),
    "only_triggered": (bool, False),
    "triggered_field": (str, "triggered"),
    "edges": (dict, {}),
}
_EDGE_SCHEMA: Schema = {
    "kind": (str, None),
    "features": (list, ["pos_x", "pos_y", "pos_z"]),
    "scale": (list, []),
    "k": (int, 0),
    "radius": (float, 0.0),
    "max_neighbours": (int, 32),
}

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        msg = f"{key}: {value!r} is not one of {', '.join(allowed)}"
        raise ConfigError(msg)


def _names(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        msg = f"{key}: expected a list of field names, got {value!r}"
        raise ConfigError(msg)
    if not value or len(set(value)) != len(value):
        msg = f"{key}: give at least one field, each once, got {list(value)}"
        raise ConfigError(msg)
    return tuple(value)


@dataclass(frozen=True)
class GraphSpec:
    """One graph per event (see the module docstring for the steps)."""

    features: tuple[str, ...]
    name: str = "x"
    collection: str = "hits"
    dtype: str = "float32"
    layout: str = "hitprep"
    fixed_length: bool = False
    max_n_hits: int | None = None
    truncation: str = "random"
    truncation_field: str | None = None
    seed: int = 42
    order: str = "file"
    time_field: str = "time"
    time_window: tuple[float, float] | None = None
    only_triggered: bool = False
    triggered_field: str = "triggered"
    edges: EdgeSpec | None = None

    def __post_init__(self) -> None:
        _names("features", list(self.features))
        _choice("layout", self.layout, LAYOUTS)
        _choice("truncation", self.truncation, TRUNCATIONS)
        _choice("order", self.order, ORDERS)
        if self.max_n_hits is not None and self.max_n_hits <= 0:
            msg = (
                f"max_n_hits: must be a positive number of hits, got {self.max_n_hits}"
                " (leave it out to keep every hit)"
            )
            raise ConfigError(msg)
        if self.fixed_length and self.max_n_hits is None:
            msg = "max_n_hits: fixed_length graphs need max_n_hits (the padded length)"
            raise ConfigError(msg)
        if self.truncation == "largest" and not self.truncation_field:
            msg = 'truncation_field: truncation = "largest" needs a field, e.g. "tot"'
            raise ConfigError(msg)
        try:
            kind = np.dtype(self.dtype).kind
        except TypeError as err:
            msg = f"dtype: {self.dtype!r} is not a numpy dtype"
            raise ConfigError(msg) from err
        if kind != "f":
            msg = f"dtype: node features are floats (float16/32/64), got {self.dtype!r}"
            raise ConfigError(msg)
        if self.layout == "orcasong" and np.dtype(self.dtype) != np.float32:
            msg = f"dtype: the orcasong layout is float32 (as OrcaSong), got {self.dtype!r}"
            raise ConfigError(msg)
        if self.seed < 0:
            msg = f"seed: must be >= 0, got {self.seed}"
            raise ConfigError(msg)
        if self.time_window is not None and not self.time_window[0] <= self.time_window[1]:
            msg = f"time_window: start must not exceed stop, got {list(self.time_window)}"
            raise ConfigError(msg)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def fields(self) -> list[str]:
        """Every field of ``collection`` this spec reads."""
        names = list(self.features)
        if self.only_triggered:
            names.append(self.triggered_field)
        if self.time_window is not None or self.order == "time" or self.truncation == "earliest":
            names.append(self.time_field)
        if self.truncation == "largest" and self.truncation_field:
            names.append(self.truncation_field)
        if self.edges is not None:
            names += self.edges.features
        return list(dict.fromkeys(names))

    @classmethod
    def from_table(cls, where: str, table: dict[str, Any]) -> GraphSpec:
        """Spec from a ``[graph]`` table (validated by :func:`check_graph_section`)."""
        try:
            return cls._from_table(check_keys(where, table, _SCHEMA))
        except ConfigError as err:
            text = str(err)
            msg = text if text.startswith(where) else f"{where}.{text}"
            raise ConfigError(msg) from None

    @classmethod
    def _from_table(cls, t: dict[str, Any]) -> GraphSpec:
        window = t["time_window"]
        if window and (
            len(window) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in window)
        ):
            msg = f"time_window: expected [start, stop] in ns, got {window!r}"
            raise ConfigError(msg)
        edges = None
        if t["edges"]:
            e = check_keys("edges", t["edges"], _EDGE_SCHEMA)
            feats = _names("edges.features", e["features"])
            scale = e["scale"] or [1.0] * len(feats)
            if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in scale):
                msg = f"edges.scale: expected numbers, got {scale!r}"
                raise ConfigError(msg)
            edges = EdgeSpec(
                e["kind"],
                feats,
                tuple(float(s) for s in scale),
                k=e["k"],
                radius=e["radius"],
                max_neighbours=e["max_neighbours"],
            )
        return cls(
            features=_names("features", t["features"]),
            name=t["name"],
            collection=t["collection"],
            dtype=t["dtype"],
            layout=t["layout"],
            fixed_length=t["fixed_length"],
            max_n_hits=t["max_n_hits"] if "max_n_hits" in t and t["max_n_hits"] != 0 else None,
            truncation=t["truncation"],
            truncation_field=t["truncation_field"] or None,
            seed=t["seed"],
            order=t["order"],
            time_field=t["time_field"],
            time_window=(float(window[0]), float(window[1])) if window else None,
            only_triggered=t["only_triggered"],
            triggered_field=t["triggered_field"],
            edges=edges,
        )


def check_graph_section(where: str, value: Any) -> dict[str, Any]:
    """Validator of the ``[graph]`` job section (registered in ``config.SECTIONS``).

    ``max_n_hits`` left out (or 0 in the validated table) keeps every hit; given, it
    must be positive.
    """
    if isinstance(value, dict) and "max_n_hits" in value:
        n = value["max_n_hits"]
        if isinstance(n, int) and not isinstance(n, bool) and n <= 0:
            msg = (
                f"{where}.max_n_hits: must be a positive number of hits, got {n}"
                " (leave it out to keep every hit)"
            )
            raise ConfigError(msg)
    table = check_keys(where, value, _SCHEMA)
    GraphSpec.from_table(where, table)
    return table


def _splitmix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_keys(
    seed: int, file_index: int, entry: npt.ArrayLike, position: npt.ArrayLike
) -> npt.NDArray[np.uint64]:
    """A reproducible pseudo-random uint64 per hit, from its identity alone.

    Args:
        seed: job seed (>= 0).
        file_index: input file number.
        entry: the hit's event entry, one per hit.
        position: the hit's position within its event, one per hit.

    Example:
        >>> a = random_keys(1, 0, [5, 5], [0, 1])
        >>> bool((a == random_keys(1, 0, [5, 5], [0, 1])).all()), bool(a[0] != a[1])
        (True, True)
    """
    base = _splitmix64(np.array([seed, file_index], dtype=np.uint64))
    head = _splitmix64(base[:1] ^ _splitmix64(base[1:]))
    e = np.asarray(entry, dtype=np.int64).astype(np.uint64)
    p = np.asarray(position, dtype=np.int64).astype(np.uint64)
    return _splitmix64(_splitmix64(head ^ e) ^ p)


def truncate(n_per_event: npt.ArrayLike, max_n: int, key: npt.ArrayLike) -> BoolArray:
    """Keep at most ``max_n`` items per event: those with the smallest ``key``.

    Ties go to the earlier item. Events with at most ``max_n`` items keep all.

    Args:
        n_per_event: items per event (flat items are grouped by event, in order).
        max_n: items kept per event.
        key: one sortable value per flat item.

    Returns:
        Boolean mask over the flat items (kept items keep their order).

    Example:
        >>> truncate([3, 1], 2, [5.0, 1.0, 3.0, 9.0]).tolist()
        [False, True, True, True]
    """
    n = np.asarray(n_per_event, dtype=np.int64)
    keys = np.asarray(key)
    keep = np.ones(len(keys), dtype=bool)
    over = n > max_n
    if not over.any():
        return keep
    event = event_index(n)
    items = np.flatnonzero(over[event])  # items of the events over the limit, in order
    order = np.lexsort((keys[items], event[items]))  # stable: ties keep item order
    # sorting by event keeps each event's run where it was: rank = position in the run
    run_start = np.repeat(offsets_from_counts(n[over])[:-1], n[over])
    rank = np.arange(len(items), dtype=np.int64) - run_start
    keep[items[order][rank >= max_n]] = False
    return keep


def pad_nodes(
    nodes: npt.NDArray[np.generic],
    n_nodes: npt.ArrayLike,
    length: int,
    *,
    valid_column: bool = False,
) -> tuple[npt.NDArray[np.generic], BoolArray]:
    """Pad each event's nodes with zeros to ``length`` rows.

    Args:
        nodes: ``(total, F)`` node features, events one after another.
        n_nodes: nodes per event, each at most ``length``.
        length: padded length.
        valid_column: append a column that is 1 for real nodes, 0 for padding
            (OrcaSong's ``is_valid``).

    Returns:
        ``(n_events, length, F [+1])`` array and the ``(n_events, length)`` mask of real nodes.

    Example:
        >>> x, m = pad_nodes(np.array([[1.0], [2.0], [3.0]]), [1, 2], 3, valid_column=True)
        >>> x[:, :, 1].tolist(), m.sum(axis=1).tolist()
        ([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], [1, 2])
    """
    n = np.asarray(n_nodes, dtype=np.int64)
    n_features = nodes.shape[1]
    if len(n) and int(n.max()) > length:
        msg = f"pad_nodes: an event has {int(n.max())} nodes, more than the length {length}"
        raise ValueError(msg)
    event = event_index(n)
    slot = np.arange(len(event), dtype=np.int64) - offsets_from_counts(n)[:-1][event]
    out = np.zeros((len(n), length, n_features + int(valid_column)), dtype=nodes.dtype)
    out[event, slot, :n_features] = nodes
    mask = np.zeros((len(n), length), dtype=bool)
    mask[event, slot] = True
    if valid_column:
        out[event, slot, n_features] = 1
    return out, mask


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
    keep = np.ones(int(n.sum()), dtype=bool)
    if spec.only_triggered:
        keep &= columns[spec.triggered_field] != 0
    if spec.time_window is not None:
        t = columns[spec.time_field]
        keep &= (t >= spec.time_window[0]) & (t <= spec.time_window[1])
    event = event_index(n)
    position = np.arange(len(keep), dtype=np.int64) - offsets_from_counts(n)[:-1][event]
    if not keep.all():
        n = np.bincount(event[keep], minlength=len(n)).astype(np.int64)
        columns = {f: c[keep] for f, c in columns.items()}
        event, position = event[keep], position[keep]
    n_hits = n
    if spec.max_n_hits is not None and len(n) and int(n.max()) > spec.max_n_hits:
        key: npt.NDArray[Any]
        if spec.truncation == "random":
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
        order = np.lexsort((columns[spec.time_field], event))
        columns = {f: c[order] for f, c in columns.items()}
    nodes = np.empty((int(n.sum()), spec.n_features), dtype=spec.dtype)
    for j, name in enumerate(spec.features):
        nodes[:, j] = columns[name]
    if spec.edges is None:
        return GraphChunk(nodes, n, n_hits)
    edges, n_edges = compute_edges(scaled_points(columns, spec.edges), n, spec.edges)
    return GraphChunk(nodes, n, n_hits, edges, n_edges)


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

    ``orcasong`` layout: as OrcaSong's ``FileGraph``: ``x`` (float32) with attributes
    ``hit_info_<i>`` and ``indexed``; ``x_indices``; fixed length appends the ``is_valid``
    column to ``x`` instead of a mask (and ``x_indices`` is (event, 1)). ``x_n_hits`` and
    edges are written too (OrcaNet ignores them).

    Offsets run over the whole output: the representation keeps the running counts.
    """

    missing_hint = "positions and directions come from calibration: give --detx"

    def __init__(self, spec: GraphSpec) -> None:
        self.spec = spec
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
        if spec.layout == "orcasong":
            columns = [*spec.features, *(["is_valid"] if spec.fixed_length else [])]
            for i, column in enumerate(columns):
                x[f"hit_info_{i}"] = column
            x["indexed"] = np.bool_(not spec.fixed_length)
        else:
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
    """The graph representation of a job with a ``[graph]`` section."""
    return [GraphRepresentation(GraphSpec.from_table("[graph]", job.get("graph")))]
