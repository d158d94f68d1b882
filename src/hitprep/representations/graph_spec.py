"""The ``[graph]`` job section: :class:`GraphSpec` and its validation.

See :mod:`hitprep.representations.graph` for what each option does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hitprep.config import Schema, check_keys
from hitprep.errors import ConfigError
from hitprep.representations.edges import EdgeSpec

__all__ = ["LAYOUTS", "ORDERS", "TRUNCATIONS", "GraphSpec", "check_graph_section"]

LAYOUTS = ("hitprep", "orcasong")
TRUNCATIONS = ("random", "earliest", "largest")
ORDERS = ("file", "time")

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
