"""The sections of a writeback job: ``[writeback]``, ``[[model]]`` and ``[preprocess]``.

Registered in :data:`hitprep.config.SECTIONS`, so a writeback job is loaded and
validated like any other (``hitprep presets``, ``load_job``, ``--set``)::

    description = "synthetic NanoAOD from generator-level jets"
    [source]
    tree = "Events"            # input tree (default Events)
    step = 10000               # events per chunk
    [writeback]
    event_fields = ["run", "luminosityBlock", "event"]
    passthrough = []           # branches copied untouched: "HLT_*", "MET_pt", "Electron", "*"
    copy_trees = ["Runs", "LuminosityBlocks"]   # copied when present
    upsample = 1               # each input event used N times
    order = "blocks"           # blocks: all events, then all again | adjacent: copies side by side
    seed = 0
    nonfinite = "error"        # error | keep | fill | skip_event
    fill_value = 0.0
    compression = "zlib:1"     # zlib:N | lzma:N | lz4:N | zstd:N | none | input (the input's)
    titles = true              # keep the input's branch titles (NanoAOD's documentation)
    device = "cpu"             # torch device for TorchScript models
    [[model]]
    collection = "Jet"         # output collection
    conditioning = "GenJet"    # its structure: one output object per conditioning object
    inputs = ["pt", "eta", "phi", "mass"]    # ["*"]: every field
    outputs = ["pt", "eta", "phi", "mass"]   # default: the inputs
    generator = "hitprep.writeback.toy_model:jets"   # or "file.py:function" or "model.pt"
    noise = 4                  # noise columns per object
    batch_size = 65536         # rows per model call
    dtypes = {}                # output dtypes; default: the input file's, else float32
    select = {}                # e.g. {pdgId = [13, -13], status = [1]}
    link = "genJetIdx"         # optional output field: index of the conditioning object
    [preprocess.GenJet]        # per variable, a chain of transforms (see transforms.py)
    pt = ["log"]
    [preprocess.Jet]
    pt = ["log"]

The validators return plain tables (for the job's JSON provenance);
:class:`WritebackSpec` turns them into typed objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hitprep.config import Job, check_keys
from hitprep.errors import ConfigError
from hitprep.writeback.transforms import Transform, parse_chain

__all__ = [
    "NONFINITE",
    "ORDERS",
    "ModelSpec",
    "WritebackSpec",
    "validate_models",
    "validate_preprocess",
    "validate_writeback",
]

ORDERS = ("blocks", "adjacent")
NONFINITE = ("error", "keep", "fill", "skip_event")

_WRITEBACK_SCHEMA: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "event_fields": (list, ["run", "luminosityBlock", "event"]),
    "passthrough": (list, []),
    "copy_trees": (list, ["Runs", "LuminosityBlocks"]),
    "upsample": (int, 1),
    "order": (str, "blocks"),
    "seed": (int, 0),
    "nonfinite": (str, "error"),
    "fill_value": (float, 0.0),
    "compression": (str, "zlib:1"),
    "titles": (bool, True),
    "device": (str, "cpu"),
}

_MODEL_SCHEMA: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "collection": (str, None),
    "conditioning": (str, ""),
    "inputs": (list, ["*"]),
    "outputs": (list, []),
    "generator": (str, None),
    "noise": (int, 0),
    "batch_size": (int, 65536),
    "dtypes": (dict, {}),
    "select": (dict, {}),
    "link": (str, ""),
}


def _names(where: str, values: Any) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        msg = f"{where}: expected a list of names, got {values!r}"
        raise ConfigError(msg)
    if len(set(values)) != len(values):
        msg = f"{where}: names repeat in {values!r}"
        raise ConfigError(msg)
    return list(values)


def _identifier(where: str, value: str) -> str:
    counter = value.startswith("n") and value[1:2].isupper()
    if not value or "." in value or "*" in value or counter:
        hint = " (that is a counter name)" if counter else ""
        msg = f"{where}: {value!r} is not a collection name{hint}"
        raise ConfigError(msg)
    return value


def validate_writeback(where: str, value: Any) -> dict[str, Any]:
    """Validator of ``[writeback]``."""
    from hitprep.sinks.root import parse_compression

    table = check_keys(where, value, _WRITEBACK_SCHEMA)
    for key in ("event_fields", "passthrough", "copy_trees"):
        table[key] = _names(f"{where}.{key}", table[key])
    if table["upsample"] < 1:
        msg = f"{where}.upsample: must be a positive integer, got {table['upsample']}"
        raise ConfigError(msg)
    if table["order"] not in ORDERS:
        msg = f"{where}.order: expected one of {', '.join(ORDERS)}, got {table['order']!r}"
        raise ConfigError(msg)
    if table["nonfinite"] not in NONFINITE:
        msg = (
            f"{where}.nonfinite: expected one of {', '.join(NONFINITE)}, got {table['nonfinite']!r}"
        )
        raise ConfigError(msg)
    if not 0 <= table["seed"] < 2**63:
        msg = f"{where}.seed: must be a non-negative integer, got {table['seed']}"
        raise ConfigError(msg)
    parse_compression(table["compression"])
    return table


def _dtype(where: str, name: Any) -> str:
    try:
        dtype = np.dtype(name)
    except TypeError:
        dtype = np.dtype(object)
    if not isinstance(name, str) or dtype.kind not in "biuf" or dtype.shape != ():
        msg = (
            f"{where}: expected a numeric dtype name (float32, int32, uint8, bool, ...),"
            f" got {name!r}"
        )
        raise ConfigError(msg)
    return str(dtype.name)


def _model(where: str, table: Any) -> dict[str, Any]:
    m = check_keys(where, table, _MODEL_SCHEMA)
    m["collection"] = _identifier(f"{where}.collection", m["collection"])
    m["conditioning"] = _identifier(f"{where}.conditioning", m["conditioning"] or m["collection"])
    m["inputs"] = _names(f"{where}.inputs", m["inputs"])
    m["outputs"] = _names(f"{where}.outputs", m["outputs"])
    for key in ("inputs", "outputs"):
        if "*" in m[key] and m[key] != ["*"]:
            msg = f"{where}.{key}: '*' (every field) stands alone, got {m[key]!r}"
            raise ConfigError(msg)
    if not m["inputs"]:
        msg = f"{where}.inputs: needs at least one conditioning field (or ['*'])"
        raise ConfigError(msg)
    if m["outputs"] == ["*"]:
        msg = f"{where}.outputs: name the output fields (or leave it out to reuse the inputs)"
        raise ConfigError(msg)
    if m["noise"] < 0:
        msg = f"{where}.noise: must be >= 0, got {m['noise']}"
        raise ConfigError(msg)
    if m["batch_size"] < 1:
        msg = f"{where}.batch_size: must be >= 1, got {m['batch_size']}"
        raise ConfigError(msg)
    m["dtypes"] = {k: _dtype(f"{where}.dtypes.{k}", v) for k, v in m["dtypes"].items()}
    select: dict[str, list[float]] = {}
    for key, values in m["select"].items():
        vals = values if isinstance(values, list) else [values]
        if not vals or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in vals
        ):
            msg = f"{where}.select.{key}: expected a list of allowed numbers, got {values!r}"
            raise ConfigError(msg)
        select[key] = list(vals)
    m["select"] = select
    if m["link"] and (m["link"] in m["outputs"] or "." in m["link"]):
        msg = f"{where}.link: {m['link']!r} must be a new field name, not one of the outputs"
        raise ConfigError(msg)
    return m


def validate_models(where: str, value: Any) -> list[dict[str, Any]]:
    """Validator of ``[[model]]`` (one table per generated collection)."""
    tables = value if isinstance(value, list) else [value]
    models = [_model(f"{where} #{i + 1}", t) for i, t in enumerate(tables)]
    names = [m["collection"] for m in models]
    if len(set(names)) != len(names):
        msg = f"{where}: each [[model]] makes its own collection; {names} repeats one"
        raise ConfigError(msg)
    return models


def validate_preprocess(where: str, value: Any) -> dict[str, dict[str, list[Any]]]:
    """Validator of ``[preprocess.<collection>]`` tables of ``field = [transforms]``."""
    if not isinstance(value, dict):
        msg = f"{where}: expected [preprocess.<collection>] tables, got {value!r}"
        raise ConfigError(msg)
    out: dict[str, dict[str, list[Any]]] = {}
    for coll, fields in value.items():
        if not isinstance(fields, dict):
            msg = f"{where}.{coll}: expected a table of field = [transforms], got {fields!r}"
            raise ConfigError(msg)
        out[coll] = {
            name: [t.as_spec() for t in parse_chain(f"{where}.{coll}.{name}", spec)]
            for name, spec in fields.items()
        }
    return out


@dataclass(frozen=True)
class ModelSpec:
    """One ``[[model]]``: which collection it makes, from what, with which generator."""

    index: int
    collection: str
    conditioning: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    generator: str
    noise: int
    batch_size: int
    dtypes: dict[str, str]
    select: dict[str, list[float]]
    link: str = ""

    @property
    def where(self) -> str:
        return f"[[model]] {self.collection}"


@dataclass(frozen=True)
class WritebackSpec:
    """A validated writeback job, typed."""

    tree: str
    step: int
    collections: tuple[str, ...] | None
    event_fields: tuple[str, ...]
    passthrough: tuple[str, ...]
    copy_trees: tuple[str, ...]
    upsample: int
    order: str
    seed: int
    nonfinite: str
    fill_value: float
    compression: str
    titles: bool
    device: str
    models: tuple[ModelSpec, ...]
    preprocess: dict[str, dict[str, tuple[Transform, ...]]] = field(default_factory=dict)
    origin: str = ""

    def chain(self, collection: str, name: str) -> tuple[Transform, ...]:
        """Transforms of variable ``collection.name`` (empty: identity)."""
        return self.preprocess.get(collection, {}).get(name, ())

    @classmethod
    def from_job(cls, job: Job) -> WritebackSpec:
        """Typed view of a job's writeback sections.

        Raises:
            ConfigError: the job has no ``[writeback]`` section.
        """
        where = job.origin or "job"
        table: Mapping[str, Any] | None = job.get("writeback")
        if table is None:
            msg = (
                f"{where}: not a writeback job (no [writeback] section); see "
                "`hitprep presets --show nanoaod_flashsim`"
            )
            raise ConfigError(msg)
        models = tuple(
            ModelSpec(
                index=i,
                collection=m["collection"],
                conditioning=m["conditioning"],
                inputs=tuple(m["inputs"]),
                outputs=tuple(m["outputs"]),
                generator=m["generator"],
                noise=m["noise"],
                batch_size=m["batch_size"],
                dtypes=dict(m["dtypes"]),
                select=dict(m["select"]),
                link=m["link"],
            )
            for i, m in enumerate(job.get("model") or [])
        )
        pre = job.get("preprocess") or {}
        preprocess = {
            coll: {
                name: parse_chain(f"{where} [preprocess].{coll}.{name}", spec)
                for name, spec in fields.items()
            }
            for coll, fields in pre.items()
        }
        source = job.source
        if source.get("format", "auto") not in ("auto", "root_tree"):
            msg = (
                f"{where} [source].format: writeback reads ROOT files (TTree or RNTuple); "
                f"use 'auto' or 'root_tree', not {source['format']!r}"
            )
            raise ConfigError(msg)
        return cls(
            tree=source.get("tree") or "Events",
            step=int(source["step"]),
            collections=tuple(source["collections"]) if source.get("collections") else None,
            event_fields=tuple(table["event_fields"]),
            passthrough=tuple(table["passthrough"]),
            copy_trees=tuple(table["copy_trees"]),
            upsample=int(table["upsample"]),
            order=table["order"],
            seed=int(table["seed"]),
            nonfinite=table["nonfinite"],
            fill_value=float(table["fill_value"]),
            compression=table["compression"],
            titles=bool(table["titles"]),
            device=table["device"],
            models=models,
            preprocess=preprocess,
            origin=job.origin,
        )
