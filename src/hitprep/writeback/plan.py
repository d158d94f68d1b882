"""Resolve a writeback job against an input file: what to read, make, copy and how to type it.

Everything that can be checked before a single event is processed is checked
here: collections and fields exist (errors list the ones that do), wildcards
are expanded, output dtypes and counter dtypes are chosen, and the generators
are loaded.

Output dtypes, per model output field: the job's ``dtypes`` entry; else the
input file's dtype of the same branch (``Jet_pt`` when the input has reco
jets); else the conditioning field's of the same name; else ``float32``.
Counters: the input's counter of the output collection, else the conditioning
collection's, else ``uint32`` (NanoAOD's).

Four-vector fields NanoAOD has but a model does not output (``Muon_mass``) are completed
as :mod:`hitprep.writeback.fourvector` says, typed by the same rule.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, KeyInFileError
from hitprep.sources.root_tree import RootTreeSource
from hitprep.writeback.fourvector import completion
from hitprep.writeback.generator import Generator, load_generator
from hitprep.writeback.spec import ModelSection, WritebackSpec
from hitprep.writeback.transforms import Transform

__all__ = ["ModelPlan", "Plan", "make_plan"]

_INT32: np.dtype[Any] = np.dtype(np.int32)


@dataclass(frozen=True)
class ModelPlan:
    """One model, resolved: concrete fields, chains, dtypes and the loaded generator."""

    spec: ModelSection
    stream: int  # the model's position in the job: its noise stream
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    input_chains: tuple[tuple[Transform, ...], ...]
    output_chains: tuple[tuple[Transform, ...], ...]
    output_dtypes: tuple[np.dtype[Any], ...]
    generator: Generator
    link_dtype: np.dtype[Any] = _INT32
    completed: tuple[tuple[str, float | None, np.dtype[Any]], ...] = ()

    @property
    def copied(self) -> tuple[str, ...]:
        """Conditioning fields written as they are (four-vector fields the model lacks)."""
        return tuple(name for name, value, _ in self.completed if value is None)

    def completed_columns(
        self, columns: dict[str, Any], rows: int
    ) -> dict[str, tuple[npt.NDArray[np.float64], np.dtype[Any]]]:
        """Each completed field's float64 values for ``rows`` objects and its dtype."""
        return {
            name: (
                np.full(rows, value) if value is not None else columns[name].astype(np.float64),
                dtype,
            )
            for name, value, dtype in self.completed
        }


@dataclass(frozen=True)
class Plan:
    """What one writeback reads and writes.

    Attributes:
        read: dotted fields to read from the source.
        event_fields: event fields written (job's ``event_fields`` then passthrough ones).
        collections: output collections in writing order, each ``(name, kind)`` with
            kind ``"model"`` or ``"copy"``.
        models: collection -> its :class:`ModelPlan`.
        counter_dtypes: output collection -> counter dtype.
        titles: output branch -> title (empty when the job turns titles off).
        copy_fields: copied collection -> its fields, in the input's order.
    """

    read: tuple[str, ...]
    event_fields: tuple[str, ...]
    collections: tuple[tuple[str, str], ...]
    models: dict[str, ModelPlan]
    counter_dtypes: dict[str, np.dtype[Any]]
    titles: dict[str, str]
    copy_fields: dict[str, tuple[str, ...]]


def _collection_fields(source: RootTreeSource) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in source.fields():
        coll, dot, fname = name.partition(".")
        if dot:
            out.setdefault(coll, []).append(fname)
    return out


def _need_collection(source: RootTreeSource, name: str, known: dict[str, list[str]]) -> None:
    if name not in known:
        raise KeyInFileError(
            name, file=source.path, available=list(known), what="collection", list_all=True
        )


def _need_fields(source: RootTreeSource, coll: str, names: Any, known: list[str]) -> None:
    for name in names:
        if name not in known:
            key = f"{coll}.{name}"
            raise KeyInFileError(
                key,
                file=source.path,
                available=[f"{coll}.{f}" for f in known],
                what="field",
            )


def _branch(coll: str, fname: str) -> str:
    return coll if fname == "value" else f"{coll}_{fname}"


def _dtype_of(source: RootTreeSource, name: str) -> np.dtype[Any] | None:
    try:
        return source.dtype_of(name)
    except KeyError:
        return None


def _resolve_model(
    spec: WritebackSpec,
    stream: int,
    m: ModelSection,
    source: RootTreeSource,
    known: dict[str, list[str]],
    base: Path | None,
) -> ModelPlan:
    _need_collection(source, m.conditioning, known)
    fields = known[m.conditioning]
    inputs = tuple(fields) if m.inputs == ("*",) else m.inputs
    _need_fields(source, m.conditioning, [*inputs, *m.select], fields)
    outputs = m.outputs or inputs
    if m.link and m.link in outputs:
        msg = (
            f"{m.where}: link {m.link!r} is also one of the outputs {list(outputs)}; "
            "give the link field another name"
        )
        raise ConfigError(msg)

    def dtype(name: str) -> np.dtype[Any]:
        if name in m.dtypes:
            return np.dtype(m.dtypes[name])
        found = None
        if name in known.get(m.collection, []):
            found = _dtype_of(source, f"{m.collection}.{name}")
        if found is None and name in fields:
            found = _dtype_of(source, f"{m.conditioning}.{name}")
        return found if found is not None else np.dtype(np.float32)

    dtypes = [dtype(name) for name in outputs]
    completed = tuple(
        (name, value, dtype(name)) for name, value in completion(m.collection, outputs, fields)
    )
    link_dtype = np.dtype(np.int32)  # NanoAOD's *Idx fields
    if m.link and m.link in m.dtypes:
        link_dtype = np.dtype(m.dtypes[m.link])
    elif m.link and m.link in known.get(m.collection, []):
        link_dtype = _dtype_of(source, f"{m.collection}.{m.link}") or link_dtype
    return ModelPlan(
        spec=m,
        stream=stream,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        input_chains=tuple(spec.chain(m.conditioning, f) for f in inputs),
        output_chains=tuple(spec.chain(m.collection, f) for f in outputs),
        output_dtypes=tuple(dtypes),
        generator=load_generator(m.generator, base=base, device=spec.device),
        link_dtype=link_dtype,
        completed=completed,
    )


def _expand(patterns: Any, names: list[str]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        out += [n for n in names if fnmatch.fnmatchcase(n, pattern) and n not in out]
    return out


def make_plan(spec: WritebackSpec, source: RootTreeSource) -> Plan:
    """Check ``spec`` against ``source`` and resolve it.

    Raises:
        KeyInFileError: a collection, field or event field is not in the file
            (the message lists the existing ones).
        ConfigError: a passthrough pattern matches nothing, or a generated
            collection is also passed through.
    """
    known = _collection_fields(source)
    event_names = [f for f in source.fields() if "." not in f]
    base = Path(spec.origin).parent if spec.origin and Path(spec.origin).exists() else None

    for name in spec.event_fields:
        if name not in event_names:
            raise KeyInFileError(name, file=source.path, available=event_names, what="event field")
    made = {m.collection for m in spec.models}
    pass_events: list[str] = []
    pass_colls: list[str] = []
    for pattern in spec.passthrough:
        events = _expand([pattern], event_names)
        colls = _expand([pattern], list(known))
        if not events and not colls:
            raise KeyInFileError(
                pattern,
                file=source.path,
                available=[*event_names, *known],
                what="passthrough branch or collection",
            )
        if pattern in made:
            msg = (
                f"writeback.passthrough: {pattern!r} is made by a [[model]]; it cannot be"
                " copied too"
            )
            raise ConfigError(msg)
        pass_events += [e for e in events if e not in pass_events]
        pass_colls += [c for c in colls if c not in pass_colls and c not in made]

    models = {
        m.collection: _resolve_model(spec, i, m, source, known, base)
        for i, m in enumerate(spec.models)
    }
    event_fields = [*spec.event_fields, *(e for e in pass_events if e not in spec.event_fields)]

    # writing order: the input's collection order; a new collection follows its conditioning
    order = {name: float(i) for i, name in enumerate(known)}
    for i, m in enumerate(spec.models):
        order.setdefault(m.collection, order[m.conditioning] + 0.5 + i * 1e-3)
    kinds = [(c, "model") for c in models] + [(c, "copy") for c in pass_colls]
    collections = tuple(sorted(kinds, key=lambda ck: order[ck[0]]))

    read: list[str] = [*event_fields]
    for plan in models.values():
        cond = plan.spec.conditioning
        read += [f"{cond}.{f}" for f in (*plan.inputs, *plan.spec.select, *plan.copied)]
    for coll in pass_colls:
        read += [f"{coll}.{f}" for f in known[coll]]

    counter_dtypes: dict[str, np.dtype[Any]] = {}
    counters = source.counters
    for coll, kind in collections:
        cond = models[coll].spec.conditioning if kind == "model" else coll
        for candidate in (coll, cond):
            if candidate in counters:
                found = _dtype_of(source, counters[candidate])
                if found is not None:
                    counter_dtypes[coll] = found
                    break
        counter_dtypes.setdefault(coll, np.dtype(np.uint32))

    titles: dict[str, str] = {}
    if spec.titles:
        for name in event_fields:
            titles[name] = source.title_of(name)
        for coll, kind in collections:
            if coll not in known:
                continue
            if coll in counters:
                titles[counters[coll]] = source.title_of(counters[coll])
            names = known[coll]
            if kind == "model":
                link = models[coll].spec.link
                filled = [name for name, _, _ in models[coll].completed]
                names = [*models[coll].outputs, *filled, *([link] if link else [])]
            for fname in names:
                if fname in known[coll]:
                    titles[_branch(coll, fname)] = source.title_of(f"{coll}.{fname}")
    return Plan(
        read=tuple(dict.fromkeys(read)),
        event_fields=tuple(event_fields),
        collections=collections,
        models=models,
        counter_dtypes=counter_dtypes,
        titles=titles,
        copy_fields={coll: tuple(known[coll]) for coll in pass_colls},
    )
