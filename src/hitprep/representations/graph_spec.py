"""The ``[graph]`` job section (:class:`GraphSection`) and the :class:`GraphSpec` it makes.

See :mod:`hitprep.representations.graph` for what each option does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import PrivateAttr, model_validator

from hitprep.errors import ConfigError
from hitprep.jobmodel import Section
from hitprep.representations.edges import EdgeSpec

__all__ = ["LAYOUTS", "ORDERS", "TRUNCATIONS", "GraphEdgesSection", "GraphSection", "GraphSpec"]

LAYOUTS = ("hitprep", "orcasong")
TRUNCATIONS = ("random", "earliest", "largest")
ORDERS = ("file", "time")


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


class GraphEdgesSection(Section):
    """``[graph.edges]``: edges computed when converting (none without this table)."""

    kind: Literal["knn", "radius"]
    """"knn": the k nearest other nodes; "radius": every other node within radius."""
    features: tuple[str, ...] = ("pos_x", "pos_y", "pos_z")
    """Node fields spanning the space distances are measured in."""
    scale: tuple[float, ...] = ()
    """Factor per feature (e.g. 0.2 m/ns for time); [] is 1 for each."""
    k: int = 0
    """knn: neighbours per node (fewer when an event has fewer nodes)."""
    radius: float = 0.0
    """radius: inclusive distance."""
    max_neighbours: int = 32
    """radius: at most this many nearest neighbours per node (as PyG's max_num_neighbors)."""

    def spec(self) -> EdgeSpec:
        """The edges to compute (checked)."""
        features = _names("edges.features", self.features)
        scale = self.scale or (1.0,) * len(features)
        return EdgeSpec(
            self.kind,
            features,
            scale,
            k=self.k,
            radius=self.radius,
            max_neighbours=self.max_neighbours,
        )


class GraphSection(Section):
    """``[graph]``: one graph per event, its nodes the hits of a collection."""

    name: str = "x"
    """Output dataset (group) name."""
    collection: str = "hits"
    """The hit collection whose hits are the nodes."""
    features: tuple[str, ...]
    """Node features: fields of the collection, in column order."""
    dtype: str = "float32"
    """Node feature dtype (a float type; the orcasong layout is float32)."""
    layout: Literal["hitprep", "orcasong"] = "hitprep"
    """hitprep: jagged nodes (flat rows + per-event offsets); orcasong: OrcaSong's padded
    x with a hit mask column."""
    fixed_length: bool = False
    """Pad (or truncate) every graph to max_n_hits nodes."""
    max_n_hits: int | None = None
    """At most this many nodes per graph (not set: keep every hit)."""
    truncation: Literal["random", "earliest", "largest"] = "random"
    """Which hits stay when an event has more than max_n_hits: a random subset (seeded),
    the earliest, or those with the largest truncation_field."""
    truncation_field: str = ""
    """truncation = "largest": the field ranked (e.g. "tot")."""
    seed: int = 42
    """Seed of the random truncation (per event, reproducible)."""
    order: Literal["file", "time"] = "file"
    """Node order: as in the file, or by time_field."""
    time_field: str = "time"
    """The hits' time field (order, time_window, earliest truncation)."""
    time_window: tuple[float, ...] = ()
    """[start, stop] in ns: keep hits with start <= time <= stop ([]: all)."""
    only_triggered: bool = False
    """Keep only triggered hits (triggered_field true)."""
    triggered_field: str = "triggered"
    """The hits' trigger flag field."""
    edges: GraphEdgesSection | None = None
    """Edges computed when converting (none without this table)."""

    _spec: GraphSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _checked(self) -> GraphSection:
        if self.max_n_hits is not None and self.max_n_hits <= 0:
            msg = (
                f"max_n_hits: must be a positive number of hits, got {self.max_n_hits}"
                " (leave it out to keep every hit)"
            )
            raise ValueError(msg)
        if self.time_window and len(self.time_window) != 2:
            msg = f"time_window: expected [start, stop] in ns, got {list(self.time_window)}"
            raise ValueError(msg)
        self._spec = GraphSpec(
            features=_names("features", self.features),
            name=self.name,
            collection=self.collection,
            dtype=self.dtype,
            layout=self.layout,
            fixed_length=self.fixed_length,
            max_n_hits=self.max_n_hits,
            truncation=self.truncation,
            truncation_field=self.truncation_field or None,
            seed=self.seed,
            order=self.order,
            time_field=self.time_field,
            time_window=(self.time_window[0], self.time_window[1]) if self.time_window else None,
            only_triggered=self.only_triggered,
            triggered_field=self.triggered_field,
            edges=self.edges.spec() if self.edges is not None else None,
        )
        return self

    @property
    def spec(self) -> GraphSpec:
        """The graph to build (checked when the section was validated)."""
        assert self._spec is not None  # set by the validator
        return self._spec

    def plain(self) -> dict[str, Any]:
        """As recorded in outputs (no max_n_hits: ``0``, no edges: ``{}``)."""
        out = super().plain()
        out["max_n_hits"] = out["max_n_hits"] or 0
        out["edges"] = out["edges"] or {}
        return out
