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

Each section is a typed model on :class:`hitprep.jobmodel.Section` (frozen, strict,
unknown keys are errors naming the nearest key): :class:`WritebackSection`,
:class:`ModelSection` (one per ``[[model]]``); ``[preprocess]`` tables are checked
by :func:`hitprep.writeback.transforms.parse_chain`. :class:`WritebackSpec` is the
job a run needs, built from these sections without checking them again.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.jobmodel import Section, validate, validate_list
from hitprep.writeback.transforms import Transform, parse_chain

__all__ = [
    "NONFINITE",
    "ORDERS",
    "ModelSection",
    "WritebackSection",
    "WritebackSpec",
    "validate_models",
    "validate_preprocess",
    "validate_writeback",
]

ORDERS = ("blocks", "adjacent")
NONFINITE = ("error", "keep", "fill", "skip_event")


def _names(key: str, values: tuple[str, ...]) -> None:
    if not all(values):
        msg = f"{key}: expected a list of names, got {list(values)!r}"
        raise ValueError(msg)
    if len(set(values)) != len(values):
        msg = f"{key}: names repeat in {list(values)!r}"
        raise ValueError(msg)


def _one_of(value: Any, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        msg = f"expected one of {', '.join(allowed)}, got {value!r}"
        raise ValueError(msg)
    return value


class WritebackSection(Section):
    """``[writeback]``: what is written besides the generated collections, and how."""

    event_fields: tuple[str, ...] = ("run", "luminosityBlock", "event")
    """Event-level branches written for every output event."""
    passthrough: tuple[str, ...] = ()
    """Branches or collections copied untouched (patterns: "HLT_*", "MET_pt", "Electron",
    "*")."""
    copy_trees: tuple[str, ...] = ("Runs", "LuminosityBlocks")
    """Other trees copied unchanged when the input has them."""
    upsample: int = 1
    """Output events made from each input event."""
    order: Literal["blocks", "adjacent"] = "blocks"
    """Upsampled copies: all events then all again (blocks), or side by side (adjacent)."""
    seed: int = 0
    """Seed of the models' noise (non-negative)."""
    nonfinite: Literal["error", "keep", "fill", "skip_event"] = "error"
    """A non-finite preprocessed input or model output: error, keep it, fill it with
    fill_value, or skip its event (counted)."""
    fill_value: float = 0.0
    """What nonfinite = "fill" writes."""
    compression: str = "zlib:1"
    """Output compression: zlib:N, lzma:N, lz4:N, zstd:N, none, or input (the input's)."""
    titles: bool = True
    """Keep the input's branch titles (NanoAOD's documentation of each branch)."""
    device: str = "cpu"
    """torch device of TorchScript models."""

    @field_validator("order", mode="before")
    @classmethod
    def _order(cls, value: Any) -> Any:
        return _one_of(value, ORDERS)

    @field_validator("nonfinite", mode="before")
    @classmethod
    def _nonfinite(cls, value: Any) -> Any:
        return _one_of(value, NONFINITE)

    @model_validator(mode="after")
    def _check(self) -> WritebackSection:
        from hitprep.sinks.root import parse_compression

        for key in ("event_fields", "passthrough", "copy_trees"):
            _names(key, getattr(self, key))
        if self.upsample < 1:
            msg = f"upsample: must be a positive integer, got {self.upsample}"
            raise ValueError(msg)
        if not 0 <= self.seed < 2**63:
            msg = f"seed: must be a non-negative integer, got {self.seed}"
            raise ValueError(msg)
        parse_compression(self.compression)
        return self


def _identifier(key: str, value: str) -> None:
    counter = value.startswith("n") and value[1:2].isupper()
    if not value or "." in value or "*" in value or counter:
        hint = " (that is a counter name)" if counter else ""
        msg = f"{key}: {value!r} is not a collection name{hint}"
        raise ValueError(msg)


def _dtype_name(key: str, name: str) -> str:
    try:
        dtype = np.dtype(name)
    except TypeError:
        dtype = np.dtype(object)
    if dtype.kind not in "biuf" or dtype.shape != ():
        msg = (
            f"{key}: expected a numeric dtype name (float32, int32, uint8, bool, ...), got {name!r}"
        )
        raise ValueError(msg)
    return str(dtype.name)


class ModelSection(Section):
    """``[[model]]``: one generated collection, its conditioning objects and its generator."""

    collection: str
    """Output collection (e.g. "Jet")."""
    conditioning: str = ""
    """Collection whose objects condition the model, one output object each (default: the
    output collection)."""
    inputs: tuple[str, ...] = ("*",)
    """Conditioning fields the model reads (["*"]: every field)."""
    outputs: tuple[str, ...] = ()
    """Output fields the model makes (default: the inputs)."""
    generator: str
    """The model: "module:function", "file.py:function" or a TorchScript "model.pt"."""
    noise: int = 0
    """Noise columns per object."""
    batch_size: int = 65536
    """Rows per model call."""
    dtypes: dict[str, str] = Field(default_factory=dict)
    """Output field -> dtype (default: the input file's branch, else float32)."""
    select: dict[str, tuple[int | float, ...]] = Field(default_factory=dict)
    """Conditioning objects kept: field -> allowed values (e.g. {pdgId = [13, -13]})."""
    link: str = ""
    """Optional output field holding the index of each object's conditioning object."""

    @model_validator(mode="before")
    @classmethod
    def _select_lists(cls, raw: Any) -> Any:
        """A single allowed value may stand alone; every value is a number."""
        if not isinstance(raw, dict) or not isinstance(raw.get("select"), dict):
            return raw
        select = {}
        for key, values in raw["select"].items():
            vals = values if isinstance(values, list | tuple) else (values,)
            if not vals or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in vals
            ):
                shown = list(values) if isinstance(values, tuple) else values  # as written
                msg = f"select.{key}: expected a list of allowed numbers, got {shown!r}"
                raise ValueError(msg)
            select[key] = tuple(vals)
        return {**raw, "select": select}

    @model_validator(mode="after")
    def _check(self) -> ModelSection:
        _identifier("collection", self.collection)
        if self.conditioning:
            _identifier("conditioning", self.conditioning)
        for key in ("inputs", "outputs"):
            names = getattr(self, key)
            _names(key, names)
            if "*" in names and names != ("*",):
                msg = f"{key}: '*' (every field) stands alone, got {list(names)!r}"
                raise ValueError(msg)
        if not self.inputs:
            msg = "inputs: needs at least one conditioning field (or ['*'])"
            raise ValueError(msg)
        if self.outputs == ("*",):
            msg = "outputs: name the output fields (or leave it out to reuse the inputs)"
            raise ValueError(msg)
        if self.noise < 0:
            msg = f"noise: must be >= 0, got {self.noise}"
            raise ValueError(msg)
        if self.batch_size < 1:
            msg = f"batch_size: must be >= 1, got {self.batch_size}"
            raise ValueError(msg)
        if self.link and (self.link in self.outputs or "." in self.link):
            msg = f"link: {self.link!r} must be a new field name, not one of the outputs"
            raise ValueError(msg)
        dtypes = {k: _dtype_name(f"dtypes.{k}", v) for k, v in self.dtypes.items()}
        if dtypes != self.dtypes or not self.conditioning:
            return self.model_copy(
                update={"dtypes": dtypes, "conditioning": self.conditioning or self.collection}
            )
        return self

    @property
    def where(self) -> str:
        """The model in messages: ``[[model]] Jet``."""
        return f"[[model]] {self.collection}"


def validate_writeback(where: str, value: Any) -> WritebackSection:
    """Validator of ``[writeback]``.

    Example:
        >>> validate_writeback("job [writeback]", {"upsample": 3}).upsample
        3
        >>> validate_writeback("job [writeback]", {"upsampel": 3})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hitprep.errors.ConfigError: job [writeback]: unknown key 'upsampel'; did you mean ...
    """
    return validate(WritebackSection, where, value)


def validate_models(where: str, value: Any) -> tuple[ModelSection, ...]:
    """Validator of ``[[model]]`` (one table per generated collection; one may stand alone)."""
    tables = value if isinstance(value, list | tuple) else [value]
    models = validate_list(ModelSection, where, tables)
    names = [m.collection for m in models]
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


class WritebackSpec(WritebackSection):
    """A writeback job as a run needs it: the ``[writeback]`` keys, the ``[source]`` keys it
    reads, its models and the parsed ``[preprocess]`` chains."""

    tree: str = "Events"
    """Input tree."""
    step: int = 10_000
    """Input events per chunk."""
    collections: tuple[str, ...] | None = None
    """Collections to read (None: every one)."""
    models: tuple[ModelSection, ...] = ()
    """The [[model]] sections, in job order (a model's position is its noise stream)."""
    preprocess: dict[str, dict[str, tuple[Transform, ...]]] = Field(default_factory=dict)
    """Collection -> field -> transform chain."""
    origin: str = ""
    """Where the job came from (a generator file's folder is found from it)."""

    @model_validator(mode="after")
    def _positive_step(self) -> WritebackSpec:
        if self.step < 1:
            msg = f"step: must be a positive number of events, got {self.step}"
            raise ValueError(msg)
        return self

    def chain(self, collection: str, name: str) -> tuple[Transform, ...]:
        """Transforms of variable ``collection.name`` (empty: identity)."""
        return self.preprocess.get(collection, {}).get(name, ())

    @classmethod
    def from_job(cls, job: Job) -> WritebackSpec:
        """The job's writeback sections, validated when the job was loaded, put together.

        Raises:
            ConfigError: the job has no ``[writeback]`` section, or reads another format.
        """
        where = job.origin or "job"
        section = job.get("writeback")
        if section is None:
            msg = (
                f"{where}: not a writeback job (no [writeback] section); see "
                "`hitprep presets --show nanoaod_flashsim`"
            )
            raise ConfigError(msg)
        source = job.source
        if source.get("format", "auto") not in ("auto", "root_tree"):
            msg = (
                f"{where} [source].format: writeback reads ROOT files (TTree or RNTuple); "
                f"use 'auto' or 'root_tree', not {source['format']!r}"
            )
            raise ConfigError(msg)
        preprocess = {
            coll: {
                name: parse_chain(f"{where} [preprocess].{coll}.{name}", spec)
                for name, spec in fields.items()
            }
            for coll, fields in (job.get("preprocess") or {}).items()
        }
        return cls.model_construct(  # every part was validated with the job
            **dict(section),
            tree=source.get("tree") or "Events",
            step=int(source["step"]),
            collections=tuple(source["collections"]) if source.get("collections") else None,
            models=tuple(job.get("model") or ()),
            preprocess=preprocess,
            origin=job.origin,
        )

    def with_options(self, **options: Any) -> WritebackSpec:
        """This job with the options given (those not None) in place of its own, checked as
        the job's keys are (``writeback.upsample: must be a positive integer, got 0``)."""
        changes = {key: value for key, value in options.items() if value is not None}
        if not changes:
            return self
        return validate(type(self), "writeback", {**dict(self), **changes})
