"""The per-chunk pipeline a job describes: stages, then representations.

A job's sections are turned into components by the builders their modules declare
(:class:`hitprep.jobmodel.JobSection`, found by :data:`hitprep.config.SECTIONS`; a builder
takes the job and :class:`BuildOptions` and returns a list of components), in the order of
the sections. A *stage* maps a batch to a batch (it may
drop events, counting them in the accounting with a reason); a
*representation* maps a batch to named arrays that the sink appends, and may
write summary datasets when the job ends. ``event_info`` (where each event
came from) is always written.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import SECTIONS, Job
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.events import counts
from hitprep.layout import LAYOUT_ATTR, Entry, Layout
from hitprep.layout import events as layout_events
from hitprep.layout import summary as layout_summary
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.sources.base import Source

__all__ = [
    "Accounting",
    "BuildOptions",
    "Component",
    "Context",
    "Pipeline",
    "Representation",
    "Stage",
]


@dataclass
class Accounting:
    """Event and item counts of a job; every input event is written or skipped with a reason."""

    events_read: int = 0
    events_written: int = 0
    items_read: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    items_skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, n: int) -> None:
        """Count ``n`` events dropped for ``reason``."""
        if n:
            self.skipped[reason] += n

    def skip_items(self, reason: str, n: int) -> None:
        """Count ``n`` items (hits, ...) of kept events dropped for ``reason``."""
        if n:
            self.items_skipped[reason] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "events_written": self.events_written,
            "events_skipped": dict(self.skipped),
            "items_read": dict(self.items_read),
            **({"items_skipped": dict(self.items_skipped)} if self.items_skipped else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accounting:
        """The accounting that :meth:`as_dict` wrote (e.g. into a shard's manifest entry)."""
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = "skipped" if key == "events_skipped" else key
            if name in names:
                values[name] = (
                    Counter({k: int(v) for k, v in value.items()})
                    if isinstance(value, dict)
                    else int(value)
                )
        return cls(**values)

    def add(self, other: Accounting) -> None:
        """Add the counts of another part of the job (a task, a shard), field by field."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            else:
                setattr(self, f.name, mine + theirs)


@dataclass(frozen=True)
class BuildOptions:
    """What a builder gets besides the job (nothing yet: command-line flags are job keys,
    :data:`hitprep.config.FLAGS`)."""

    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Where a batch comes from, for error messages and the accounting."""

    source: str
    file_index: int
    accounting: Accounting


class Component:
    """Base of stages and representations: what they read and add.

    Attributes:
        collections: collections read whole from the source.
        required: dotted fields that must exist (in the source, or added by an earlier stage).
        provides: dotted fields this component adds (stages only).
    """

    collections: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()
    #: a hint appended to the error when a required field is missing
    missing_hint: str = ""

    def restrict(self, needed: set[str]) -> None:
        """Learn which dotted fields later components use (a stage may skip adding others)."""

    def ready(self) -> None:
        """Wait for what the component loads in the background, raising its errors.

        A component may start loading a large input (a detector file) when it is built
        and use it from the first batch on, so that the loading overlaps the first read.
        """


class Stage(Component):
    """Batch -> batch."""

    #: True when the stage keeps every event and every item of the collections it is given
    #: (it may add fields and collections): item counts can then be known before the run
    preserves_counts: bool = False

    def __call__(self, batch: ak.Array, ctx: Context) -> ak.Array:
        raise NotImplementedError

    def count_items(
        self, collection: str, source: Source, start: int, stop: int, *, step: int
    ) -> int | None:
        """Items of ``collection`` (which this stage provides) that events ``[start, stop)`` of
        ``source`` will get, when the stage can tell cheaply (e.g. from a few columns);
        ``None`` (the default) when it cannot."""
        del collection, source, start, stop, step
        return None


class Representation(Component):
    """Batch -> named arrays appended to the output; ``finish`` writes summaries.

    Every dataset a representation writes gets a declared role (:mod:`hitprep.layout`),
    from :meth:`roles`: the tools and the merge of a sharded job read the declaration,
    never how HDF5 stores a dataset. Datasets made by ``sink.append`` (from
    ``__call__`` or :meth:`empty`) are *rows*; those created in :meth:`prepare` or
    :meth:`finish` are *written whole*.
    """

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        raise NotImplementedError

    def prepare(self, sink: HDF5Sink, item_count: Callable[[str], int | None]) -> None:
        """Before the first batch: e.g. create fixed-size datasets (default: nothing).

        Args:
            sink: the output.
            item_count: the number of items a collection will hold over the whole run,
                or ``None`` when that cannot be known cheaply (see :meth:`Pipeline.prepare`).
        """
        del sink, item_count

    def finish(self, sink: HDF5Sink) -> None:
        """Write datasets that summarise the whole job (default: nothing)."""

    def roles(self, rows: Sequence[str], whole: Sequence[str]) -> dict[str, Entry]:
        """The declared role of each dataset this representation wrote.

        Args:
            rows: datasets it appended rows to.
            whole: datasets it wrote whole (in :meth:`prepare` or :meth:`finish`).

        Returns:
            Dataset -> :class:`~hitprep.layout.Entry`. The default: rows are one row per
            event, datasets written whole are summaries kept when identical. Override it
            for jagged groups (:func:`~hitprep.layout.jagged`), summaries that add up
            (``summary("sum")``) and side data.
        """
        out = dict.fromkeys(rows, layout_events())
        out.update(dict.fromkeys(whole, layout_summary()))
        return out

    def empty(self) -> dict[str, npt.NDArray[Any]]:
        """Zero-row arrays, so that an output without events still has its datasets."""
        return {}


def _build(job: Job, options: BuildOptions, kind: str) -> list[Any]:
    """The components of ``kind`` the job's sections build, in section order."""
    out: list[Any] = []
    for entry in SECTIONS.of_kind(kind):
        if job.get(entry.name) is not None:
            out += entry.builder()(job, options)
    return out


class Pipeline:
    """Stages and representations of one job, applied chunk by chunk."""

    def __init__(self, job: Job, options: BuildOptions | None = None) -> None:
        opts = options or BuildOptions()
        self.job = job
        self.stages: list[Stage] = _build(job, opts, "stage")
        self.representations: list[Representation] = _build(job, opts, "representation")
        for i, stage in enumerate(self.stages):
            later = [*self.stages[i + 1 :], *self.representations]
            stage.restrict(set().union(*(c.required for c in later)))
        if not self.representations:
            sections = ", ".join(e.name for e in SECTIONS.of_kind("representation"))
            msg = f"{job.origin or 'job'}: nothing to write; add one of: {sections}"
            raise ConfigError(msg)
        self.accounting = Accounting()
        #: dataset written whole -> position of the representation that wrote it (see finish)
        self.summaries: dict[str, int] = {}
        #: per representation: the datasets it appended rows to
        self.rows: list[set[str]] = [set() for _ in self.representations]

    @property
    def components(self) -> list[Component]:
        return [*self.stages, *self.representations]

    def ready(self) -> None:
        """Wait until every component has loaded its inputs (raises their errors)."""
        for component in self.components:
            component.ready()

    def fields_for(self, source: Source) -> list[str]:
        """Dotted fields to read from ``source``: event fields and whole needed collections.

        Raises:
            KeyInFileError: a required field, or a collection a component declares it reads
                (e.g. a label extractor's ``mc_tracks``), is neither in the source nor added
                by a stage.
        """
        available = source.fields()
        provided: set[str] = set()
        for component in self.components:
            made = {f.rpartition(".")[0] for f in [*available, *provided]}
            for coll in sorted(component.collections - {"*"} - made):
                known = sorted(made - {""})
                raise KeyInFileError(coll, file=source.path, available=known, what="collection")
            for name in sorted(component.required - provided):
                if name not in available:
                    what = "field" + (
                        f" ({component.missing_hint})" if component.missing_hint else ""
                    )
                    known = [*available, *sorted(provided)]  # suggest stage-made fields too
                    raise KeyInFileError(name, file=source.path, available=known, what=what)
            provided |= component.provides
        collections: set[str] = set()
        for component in self.components:
            collections |= component.collections
            collections |= {f.rpartition(".")[0] for f in component.required if "." in f}
        if "*" in collections:  # a component that reads every collection (labels.ALL_COLLECTIONS)
            return list(available)
        return [f for f in available if f.rpartition(".")[0] in {"", *collections}]

    def run(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        """Process and represent one batch, updating the accounting."""
        acc = self.accounting
        acc.events_read += len(batch)
        for name in ak.fields(batch):
            if batch[name].ndim > 1:
                acc.items_read[name] += int(counts(batch[name]).sum())
        for stage in self.stages:
            batch = stage(batch, ctx)
        arrays: dict[str, npt.NDArray[Any]] = {}
        for rep, names in zip(self.representations, self.rows, strict=True):
            made = rep(batch, ctx)
            names.update(made)
            arrays.update(made)
        arrays["event_info"] = event_info(batch, file_index=ctx.file_index)
        acc.events_written += len(batch)
        return arrays

    def fresh(self) -> Pipeline:
        """A copy with zero counts and fresh representations, sharing the (pure) stages.

        Call it on a pipeline that has not run: a runner builds a job's pipeline
        once per process (stages may load detector files) and takes a fresh copy
        for each task.
        """
        memo: dict[int, Any] = {id(stage): stage for stage in self.stages}
        memo[id(self.job)] = self.job
        copied = copy.deepcopy(self, memo)
        copied.accounting = Accounting()
        copied.summaries = {}
        copied.rows = [set() for _ in copied.representations]
        return copied

    def item_count(
        self, collection: str, source: Source, start: int, stop: int, *, step: int
    ) -> int | None:
        """Items of a stage-made ``collection`` over events ``[start, stop)``, if knowable cheaply.

        Known when every stage keeps all events and items (``preserves_counts``) and the
        one stage providing the collection can count it (:meth:`Stage.count_items`).
        """
        makers = [s for s in self.stages if any(f.startswith(f"{collection}.") for f in s.provides)]
        if len(makers) != 1 or not all(s.preserves_counts for s in self.stages):
            return None
        return makers[0].count_items(collection, source, start, stop, step=step)

    def prepare(self, sink: HDF5Sink, item_count: Callable[[str], int | None]) -> None:
        """Let representations size datasets before the first batch.

        Args:
            sink: the output.
            item_count: items a collection will hold over everything this sink gets
                (see :meth:`item_count`), or None when that cannot be known cheaply.

        Records the datasets they create as written whole (see :meth:`finish`).
        """
        self.summaries = {}
        for i, rep in enumerate(self.representations):
            self._track(sink, i, partial(rep.prepare, sink, item_count))

    def _track(self, sink: HDF5Sink, index: int, write: Callable[[], None]) -> None:
        """Run ``write``; the fixed-size datasets it creates are summaries of rep ``index``."""
        before = set(sink.dataset_names(extendable=False))
        write()
        for name in sink.dataset_names(extendable=False):
            if name not in before:
                self.summaries[name] = index

    def finish(self, sink: HDF5Sink, *, extra_rows: Sequence[str] = ()) -> None:
        """Summaries of every representation; zero-row datasets when nothing was written;
        the output's declared layout (:meth:`layout`), with ``extra_rows``: per-event
        datasets the caller appended beside the pipeline's (e.g. ``mix``'s ``label``).

        Records in :attr:`summaries` which representation (its position) wrote each
        dataset written whole (here or in :meth:`prepare`).
        """
        for i, rep in enumerate(self.representations):
            self._track(sink, i, partial(rep.finish, sink))
        if self.accounting.events_written == 0:
            for rep, names in zip(self.representations, self.rows, strict=True):
                made = rep.empty()
                names.update(made)
                sink.append(made)
            sink.append({"event_info": event_info(ak.Array([{"entry": 0}])[:0], file_index=0)})
        layout = self.layout()
        layout.entries.update(dict.fromkeys(extra_rows, layout_events()))
        sink.set_attrs({LAYOUT_ATTR: layout.to_attr()})

    def layout(self) -> Layout:
        """What each dataset of the output is, as the representations declare it."""
        entries: dict[str, Entry] = {"event_info": layout_events()}
        for i, (rep, rows) in enumerate(zip(self.representations, self.rows, strict=True)):
            whole = [name for name, owner in self.summaries.items() if owner == i]
            entries.update(rep.roles(sorted(rows), whole))
        return Layout(entries)


_EVENT_INFO_DTYPE = np.dtype(
    [("file_index", np.int64), ("entry", np.int64), ("event_id", np.int64), ("run_id", np.int64)]
)


def event_info(batch: ak.Array, *, file_index: int) -> npt.NDArray[np.void]:
    """Where each event came from: input file index, entry, event id and run (-1 if unknown)."""
    names = set(ak.fields(batch))
    out = np.empty(len(batch), dtype=_EVENT_INFO_DTYPE)
    out["file_index"] = file_index
    out["entry"] = np.asarray(batch["entry"])
    for name in ("event_id", "run_id"):
        out[name] = np.asarray(batch[name]) if name in names else -1
    return out
