"""The layout every hitprep output declares: what each of its datasets is.

Tools (``concat``, ``shuffle``, ``split``, the shard merge, ``mix``, ``inspect``) read this
declaration and nothing else: they never guess a dataset's role from how HDF5 stores it.
It is the file attribute ``hitprep_layout``, JSON ``{"version": 1, "datasets": {name: entry}}``
where each entry has a ``role``:

- ``events``: one row per event (``event_info``, ``y``, images, fixed-length graphs,
  ``x_n_hits``, WatChMaL's ``labels``...);
- ``index``: one row per event, indexing the items of a jagged group (``items``: the item
  datasets) in one ``form``: ``indices`` (records ``index``, ``n_items``, as km3pipe,
  OrcaSong and hitprep graphs write) or ``starts`` (int64 first item of each event, as
  WatChMaL's ``event_hits_index``); ``storage`` ``contiguous`` (the items are written
  contiguous and uncompressed, so that readers can memory-map them) or ``chunked``;
- ``items``: one row per item of a jagged group (``index``: its index dataset); items are
  stored in event order without gaps;
- ``summary``: not tied to events (bin statistics, counts); ``combine`` says how the
  summaries of two files join: ``sum``, ``identical`` (kept when equal) or ``drop``;
- ``side``: side data (geometry, PMT maps) that must be identical in every file joined.

Files without the attribute (written by hitprep before 0.5) get :func:`infer_layout`,
whose rules are named in :data:`INFERENCE_RULES`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import FileFormatError

__all__ = [
    "INFERENCE_RULES",
    "LAYOUT_ATTR",
    "Entry",
    "JaggedGroup",
    "Layout",
    "combine",
    "declared_index",
    "events",
    "infer_layout",
    "jagged",
    "read_layout",
    "role_text",
    "side",
    "summary",
]

LAYOUT_ATTR = "hitprep_layout"
LAYOUT_VERSION = 1
ROLES = ("events", "index", "items", "summary", "side")
FORMS = ("indices", "starts")
COMBINE = ("sum", "identical", "drop")
STORAGE = ("chunked", "contiguous")

#: the rules :func:`infer_layout` applies to a file that declares no layout, in order
INFERENCE_RULES = {
    "indices-records": "'X_indices' with fields (index, n_items) beside 'X': a jagged group",
    "watchmal-starts": "'event_hits_index' beside 'hit_*' datasets: WatChMaL's jagged hits",
    "extendable-rows": "any other dataset with an unlimited first axis: one row per event",
    "bin-stats-sum": "'bin_stats/.../hist' and '.../cut_off': summaries that add up",
    "fixed-summary": "any other fixed-size dataset: a summary kept when identical",
}


@dataclass(frozen=True)
class Entry:
    """The declared role of one dataset (see the module docstring)."""

    role: str
    index: str | None = None  # items: their index dataset
    form: str | None = None  # index: "indices" or "starts"
    items: tuple[str, ...] = ()  # index: the item datasets
    storage: str | None = None  # index: "chunked" or "contiguous"
    combine: str | None = None  # summary: "sum", "identical" or "drop"

    def as_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v}


def events() -> Entry:
    """A dataset with one row per event."""
    return Entry("events")


def summary(combine_rule: str = "identical") -> Entry:
    """A summary dataset joined by ``combine_rule`` (``sum``, ``identical``, ``drop``)."""
    return Entry("summary", combine=combine_rule)


def side() -> Entry:
    """Side data (geometry, maps): identical in every file joined."""
    return Entry("side")


def jagged(
    index: str, items: Iterable[str], *, form: str = "indices", storage: str = "chunked"
) -> dict[str, Entry]:
    """Entries of a jagged group: its index dataset and its item datasets."""
    names = tuple(items)
    out = {index: Entry("index", form=form, items=names, storage=storage)}
    out.update({name: Entry("items", index=index) for name in names})
    return out


@dataclass(frozen=True)
class JaggedGroup:
    """Item datasets indexed by one per-event dataset."""

    index: str
    items: tuple[str, ...]
    starts_only: bool = False  # WatChMaL's event_hits_index (start offsets only)
    contiguous: bool = False  # items stored contiguous and uncompressed


@dataclass
class Layout:
    """Dataset name -> :class:`Entry`, for one file; ``rules``: how it was inferred, if it was."""

    entries: dict[str, Entry]
    rules: tuple[str, ...] = field(default=())

    @property
    def declared(self) -> bool:
        return not self.rules

    def names(self, *roles: str) -> list[str]:
        """Datasets with one of ``roles``, in declaration order."""
        return [n for n, e in self.entries.items() if e.role in roles]

    @property
    def groups(self) -> list[JaggedGroup]:
        return [
            JaggedGroup(n, e.items, e.form == "starts", e.storage == "contiguous")
            for n, e in self.entries.items()
            if e.role == "index"
        ]

    def without(self, names: Iterable[str]) -> Layout:
        """The layout less ``names`` (e.g. summaries a tool dropped)."""
        gone = set(names)
        return Layout({n: e for n, e in self.entries.items() if n not in gone}, self.rules)

    def to_attr(self) -> str:
        entries = {n: e.as_json() for n, e in self.entries.items()}
        return json.dumps({"version": LAYOUT_VERSION, "datasets": entries})

    @classmethod
    def from_attr(cls, text: str | bytes, path: Path) -> Layout:
        """Parse the ``hitprep_layout`` attribute of ``path`` (errors name the file)."""
        try:
            data = json.loads(text.decode() if isinstance(text, bytes) else text)
            version, raw = data["version"], data["datasets"]
            entries = {str(n): _entry(e) for n, e in raw.items()}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            detail = f"attribute {LAYOUT_ATTR!r} cannot be read: {err}"
            raise FileFormatError(path, detail) from err
        if version != LAYOUT_VERSION:
            detail = f"{LAYOUT_ATTR!r} version {version}; this hitprep reads {LAYOUT_VERSION}"
            raise FileFormatError(path, detail)
        layout = cls(entries)
        layout.check_consistent(path)
        return layout

    def check_consistent(self, path: Path) -> None:
        """Raise FileFormatError when groups and their items do not name each other."""
        for name, e in self.entries.items():
            if e.role == "index":
                for item in e.items:
                    if self.entries.get(item, Entry("")).index != name:
                        detail = f"layout: {item!r} is listed as an item of {name!r} but not so"
                        raise FileFormatError(path, detail)
            if e.role == "items":
                owner = self.entries.get(e.index or "")
                if owner is None or name not in owner.items:
                    detail = f"layout: {name!r} is indexed by {e.index!r}, which does not list it"
                    raise FileFormatError(path, detail)

    def check_file(self, datasets: Mapping[str, h5py.Dataset], path: Path) -> None:
        """Raise FileFormatError unless the file's datasets are exactly those declared."""
        missing = [n for n in self.entries if n not in datasets]
        undeclared = [n for n in datasets if n not in self.entries]
        if missing:
            detail = f"layout declares datasets the file lacks: {missing}"
            raise FileFormatError(path, detail)
        if undeclared:
            detail = f"datasets not in the declared layout: {undeclared}"
            raise FileFormatError(path, detail)


def role_text(entry: Entry) -> str:
    """A dataset's role in words, as ``hitprep inspect`` shows it.

    Example:
        >>> role_text(jagged("event_hits_index", ["hit_pmt"], form="starts")["hit_pmt"])
        'items of event_hits_index'
        >>> role_text(summary("sum"))
        'summary, sum'
    """
    if entry.role == "index":
        return f"index ({entry.form}, {entry.storage or 'chunked'}) of {', '.join(entry.items)}"
    if entry.role == "items":
        return f"items of {entry.index}"
    if entry.role == "summary":
        return f"summary, {entry.combine}"
    return "per event" if entry.role == "events" else entry.role


def _entry(raw: Mapping[str, Any]) -> Entry:
    entry = Entry(
        role=str(raw["role"]),
        index=raw.get("index"),
        form=raw.get("form"),
        items=tuple(raw.get("items", ())),
        storage=raw.get("storage"),
        combine=raw.get("combine"),
    )
    checks = [
        (entry.role, ROLES),
        (entry.form, (None, *FORMS)),
        (entry.storage, (None, *STORAGE)),
        (entry.combine, (None, *COMBINE)),
    ]
    for value, allowed in checks:
        if value not in allowed:
            msg = f"unknown value {value!r} (expected one of {allowed})"
            raise ValueError(msg)
    if entry.role == "index" and (entry.form is None or not entry.items):
        msg = "an index entry needs a form and items"
        raise ValueError(msg)
    return entry


def _datasets(f: h5py.Group) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = obj

    f.visititems(visit)
    return found


def read_layout(f: h5py.File, path: Path) -> tuple[Layout, dict[str, h5py.Dataset]]:
    """The layout a file declares (or :func:`infer_layout`'s), checked against its datasets."""
    datasets = _datasets(f)
    if LAYOUT_ATTR in f.attrs:
        layout = Layout.from_attr(f.attrs[LAYOUT_ATTR], path)
    else:
        layout = infer_layout(datasets)
    layout.check_file(datasets, path)
    return layout, datasets


def declared_index(f: h5py.File, items: str) -> str | None:
    """The index dataset that ``f``'s declared layout gives item dataset ``items``, if any.

    For readers that only need one group (the ML datasets); a file that declares nothing,
    or declares ``items`` as something else, gives None.
    """
    if LAYOUT_ATTR not in f.attrs:
        return None
    entry = Layout.from_attr(f.attrs[LAYOUT_ATTR], Path(f.filename)).entries.get(items)
    return entry.index if entry is not None and entry.role == "items" else None


def infer_layout(datasets: Mapping[str, h5py.Dataset]) -> Layout:
    """The layout of a file that declares none, by :data:`INFERENCE_RULES` (applied in order)."""
    entries: dict[str, Entry] = {}
    used: list[str] = []
    for name, ds in datasets.items():
        base = name.removesuffix("_indices")
        fields = set(ds.dtype.names or ())
        if base != name and base in datasets and {"index", "n_items"} <= fields:
            entries.update(jagged(name, [base], storage=_storage(datasets[base])))
            used.append("indices-records")
    hits = [n for n in datasets if n.startswith("hit_") and n not in entries]
    if "event_hits_index" in datasets and hits:
        storage = _storage(datasets[hits[0]])
        entries.update(jagged("event_hits_index", hits, form="starts", storage=storage))
        used.append("watchmal-starts")
    for name, ds in datasets.items():
        if name in entries:
            continue
        if ds.ndim >= 1 and ds.maxshape[0] is None:
            entries[name], rule = events(), "extendable-rows"
        elif name.startswith("bin_stats/") and name.endswith(("/hist", "/cut_off")):
            entries[name], rule = summary("sum"), "bin-stats-sum"
        else:
            entries[name], rule = summary("identical"), "fixed-summary"
        used.append(rule)
    return Layout(entries, tuple(dict.fromkeys(used)) or ("fixed-summary",))


def _storage(ds: h5py.Dataset) -> str:
    return "chunked" if ds.chunks is not None else "contiguous"


def combine(
    name: str, entry: Entry, total: npt.NDArray[Any], part: npt.NDArray[Any]
) -> npt.NDArray[Any] | None:
    """Join summary ``name`` of two files by its declared rule; None when it is dropped.

    A ``sum`` summary adds up; an ``identical`` one (or side data) is kept when equal;
    otherwise an ``identical`` or ``drop`` summary is dropped (None).

    Raises:
        ValueError: a ``sum`` summary whose shapes differ; side data that differ.
    """
    same_shape = total.shape == part.shape and total.dtype == part.dtype
    if entry.role == "summary" and entry.combine == "sum":
        if not same_shape:
            msg = f"summary {name!r}: shapes {total.shape} and {part.shape} cannot be summed"
            raise ValueError(msg)
        summed: npt.NDArray[Any] = total + part
        return summed
    if same_shape and np.array_equal(total, part, equal_nan=total.dtype.kind in "fc"):
        return total
    if entry.role == "side":
        msg = f"side data {name!r} differ between the files joined (another detector?)"
        raise ValueError(msg)
    return None
