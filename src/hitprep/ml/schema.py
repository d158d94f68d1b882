"""Input schema: what a model was trained on, stored in its checkpoint as plain JSON.

It names the data kind, every input with the shape the model sees, the node
features or grid channels, the extra scalar inputs, the label and its classes,
and the normalization statistics (from the training split only).
:func:`check_compatible` compares a checkpoint's schema with new data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from hitprep.ml.errors import SchemaMismatchError
from hitprep.ml.targets import TargetSpec

__all__ = ["InputSpec", "Schema", "check_compatible"]


@dataclass(frozen=True)
class InputSpec:
    """One model input.

    Attributes:
        name: dataset name in the file (``x``, ``v0``, ...; ``grid`` for WatChMaL hits).
        kind: ``image`` (C, *spatial), ``nodes`` (nodes, F) or ``grid`` (C, H, W).
        shape: per-event shape the model sees; for ``nodes`` only ``(F,)``.
        features: node features or grid channels, in order.
        channels: where image channels were in the file (``none``, ``first``, ``last``).
        edges: the stored edges dataset a graph input comes with (``x_edges``); ``""``: none
            (a graph model then builds kNN edges in the batch).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    features: tuple[str, ...] = ()
    channels: str = "none"
    edges: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "features": list(self.features),
            "channels": self.channels,
            "edges": self.edges,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(
            str(d["name"]),
            str(d["kind"]),
            tuple(int(s) for s in d["shape"]),
            tuple(str(f) for f in d.get("features", ())),
            str(d.get("channels", "none")),
            str(d.get("edges", "")),
        )

    def describe(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        feats = f" [{', '.join(self.features)}]" if self.features else ""
        kind = "" if self.kind == self.name else f" {self.kind}"  # not "image image 3x40x40"
        return f"{self.name}{kind} {shape}{feats}"


@dataclass(frozen=True)
class Schema:
    """Everything about the inputs a model needs to be applied to new data."""

    kind: str
    inputs: tuple[InputSpec, ...]
    extras: tuple[str, ...] = ()
    label: str | None = None
    classes: tuple[int, ...] = ()
    signal: int | None = None
    transform: str = "none"
    stats: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    targets: tuple[TargetSpec, ...] = ()
    class_names: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def uses_edges(self) -> bool:
        """Whether the model was trained on a graph's stored edges (data must carry them)."""
        return any(spec.edges for spec in self.inputs)

    @property
    def is_regression(self) -> bool:
        return bool(self.targets)

    @property
    def n_outputs(self) -> int:
        """Numbers the model outputs: one per class, or one per target column."""
        return sum(t.size for t in self.targets) if self.targets else self.n_classes

    def class_name(self, index: int) -> str:
        """``class 2 (mu)`` for the class at ``index`` (its name when ``class_names`` has one)."""
        value = self.classes[index]
        named = index < len(self.class_names) and self.class_names[index]
        return f"class {value} ({self.class_names[index]})" if named else f"class {value}"

    @property
    def signal_index(self) -> int:
        """Index of the signal class among ``classes`` (the last when unset)."""
        if self.signal is None:
            return len(self.classes) - 1
        return self.classes.index(self.signal)

    def with_stats(self, stats: dict[str, dict[str, list[float]]]) -> Schema:
        return replace(self, stats=stats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": [i.as_dict() for i in self.inputs],
            "extras": list(self.extras),
            "label": self.label,
            "classes": list(self.classes),
            "signal": self.signal,
            "transform": self.transform,
            "stats": self.stats,
            "targets": [t.as_dict() for t in self.targets],
            "class_names": list(self.class_names),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        return cls(
            kind=str(d["kind"]),
            inputs=tuple(InputSpec.from_dict(i) for i in d["inputs"]),
            extras=tuple(str(e) for e in d.get("extras", ())),
            label=d.get("label"),
            classes=tuple(int(c) for c in d.get("classes", ())),
            signal=None if d.get("signal") is None else int(d["signal"]),
            transform=str(d.get("transform", "none")),
            stats={
                k: {s: [float(x) for x in v] for s, v in m.items()} for k, m in d["stats"].items()
            },
            targets=tuple(TargetSpec.from_dict(t) for t in d.get("targets", ())),
            class_names=tuple(str(n) for n in d.get("class_names", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))

    def describe(self) -> str:
        parts = [i.describe() for i in self.inputs]
        if self.extras:
            parts.append(f"extras [{', '.join(self.extras)}]")
        if self.targets:
            parts.append(f"targets [{', '.join(t.name for t in self.targets)}]")
        return f"{self.kind}: " + "; ".join(parts)


def check_compatible(trained: Schema, found: Schema, *, file: str) -> None:
    """Raise :class:`SchemaMismatchError` listing every difference between two schemas.

    Labels and classes are not compared (prediction needs no labels); the kind,
    inputs (names, shapes, features, channel axis) and extra inputs are.
    """
    diffs: list[str] = []
    if trained.kind != found.kind:
        diffs.append(f"data kind is {found.kind!r}, the model takes {trained.kind!r}")
    names_t = [i.name for i in trained.inputs]
    names_f = [i.name for i in found.inputs]
    if names_t != names_f:
        diffs.append(f"inputs are {names_f}, the model takes {names_t}")
    for t, f in zip(trained.inputs, found.inputs, strict=False):
        if t.name != f.name:
            continue
        if t.shape != f.shape:
            diffs.append(f"input {t.name!r} has shape {f.shape}, the model takes {t.shape}")
        if t.features != f.features:
            diffs.append(
                f"input {t.name!r} has features {list(f.features)},"
                f" the model takes {list(t.features)}"
            )
        if t.channels != f.channels:
            diffs.append(
                f"input {t.name!r} has channels {f.channels!r}, the model takes {t.channels!r}"
            )
        if t.edges and not f.edges:
            diffs.append(
                f"input {t.name!r} has no stored edges (dataset {t.edges!r} and its index are"
                f" missing); the model was trained on them (convert with graph.edges)"
            )
    if trained.extras != found.extras:
        diffs.append(
            f"extra inputs are {list(found.extras)}, the model takes {list(trained.extras)}"
        )
    if diffs:
        raise SchemaMismatchError(file, diffs)
