"""Per-object tables: a collection flattened to columns, with per-event counts kept.

An :class:`ObjectTable` is what a model sees: one row per object (a jet, a
muon), numeric columns, and the number of objects of every event, including the
events that have none. Counts, not event indices of the rows, carry the
structure, so an event without objects can never disappear or shift the events
after it.

Example:
    >>> batch = ak.Array({"Muon": [[{"pt": 5.0}], [], [{"pt": 7.0}, {"pt": 9.0}], []]})
    >>> table = flatten(batch, "Muon", ["pt"])
    >>> table.counts.tolist(), table.event_index.tolist()
    ([1, 0, 2, 0], [0, 2, 2])
    >>> unflatten(table.columns, table.counts).pt.tolist()
    [[5.0], [], [7.0, 9.0], []]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.errors import KeyInFileError
from hitprep.events import counts as counts_of
from hitprep.events import (
    event_index,
    flat_column,
    item_index,
    jagged_from_flat,
    offsets_from_counts,
)

__all__ = ["ObjectTable", "flatten", "unflatten"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ObjectTable:
    """Flat columns of one collection plus its per-event object counts.

    Attributes:
        columns: field -> flat array, one entry per object.
        counts: int64 objects per event (zeros included), one entry per event.
    """

    columns: dict[str, npt.NDArray[Any]]
    counts: IntArray

    @property
    def num_events(self) -> int:
        return len(self.counts)

    @property
    def num_objects(self) -> int:
        return int(self.counts.sum())

    @property
    def event_index(self) -> IntArray:
        """Event (within the batch) of each row."""
        return event_index(self.counts)

    @property
    def offsets(self) -> IntArray:
        return offsets_from_counts(self.counts)

    def take_events(self, events: npt.ArrayLike) -> ObjectTable:
        """The table of events ``events`` (any order, repeats allowed)."""
        take = np.asarray(events, dtype=np.int64)
        n = len(self.counts)
        if len(take) == n and (n == 0 or (take[0] == 0 and np.all(np.diff(take) == 1))):
            return self  # every event once, in order
        rows = item_index(self.counts, take)
        return ObjectTable({k: v[rows] for k, v in self.columns.items()}, self.counts[take])

    def matrix(self, fields: Sequence[str]) -> npt.NDArray[np.float64]:
        """``(rows, len(fields))`` float64 matrix of the named columns (column-major)."""
        out = np.empty((self.num_objects, len(fields)), dtype=np.float64, order="F")
        for j, name in enumerate(fields):
            out[:, j] = self.columns[name]
        return out


def flatten(
    batch: ak.Array,
    collection: str,
    fields: Sequence[str] | None = None,
    *,
    select: Mapping[str, Sequence[float]] | None = None,
    local_index: str | None = None,
) -> ObjectTable:
    """Flatten ``batch[collection]`` to an :class:`ObjectTable`.

    Args:
        batch: event batch with the collection ``var * {fields}``.
        collection: collection name.
        fields: fields to keep (``None``: all).
        select: keep only objects whose field values are in the given lists,
            e.g. ``{"pdgId": [13, -13], "status": [1]}``; the counts are those
            of the selected objects.
        local_index: add a column of this name holding each object's position
            within its event in the whole collection (before ``select``), the
            index NanoAOD's ``*Idx`` fields refer to.

    Raises:
        KeyInFileError: the batch has no such collection or field.
    """
    if collection not in ak.fields(batch):
        names = [f for f in ak.fields(batch) if batch[f].ndim > 1]
        raise KeyInFileError(collection, available=names, what="collection", list_all=True)
    coll = batch[collection]
    available = ak.fields(coll)
    wanted = list(available) if fields is None else list(fields)
    for name in [*wanted, *(select or {})]:
        if name not in available:
            key = f"{collection}.{name}"
            raise KeyInFileError(
                key,
                available=[f"{collection}.{f}" for f in available],
                what="field",
            )
    n = counts_of(coll)
    columns = {name: flat_column(coll, name) for name in wanted}
    if local_index is not None:
        offsets = offsets_from_counts(n)
        columns[local_index] = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], n)
    if not select:
        return ObjectTable(columns, n)
    keep = np.ones(int(n.sum()), dtype=bool)
    for name, values in select.items():
        keep &= np.isin(flat_column(coll, name), np.asarray(values))
    kept_counts = np.bincount(event_index(n)[keep], minlength=len(n)).astype(np.int64)
    return ObjectTable({k: v[keep] for k, v in columns.items()}, kept_counts)


def unflatten(columns: Mapping[str, npt.NDArray[Any]], counts: npt.ArrayLike) -> ak.Array:
    """Jagged ``var * {fields}`` array from flat columns and per-event counts (no copy).

    Raises:
        ValueError: a column's length differs from the total count.
    """
    n = np.asarray(counts, dtype=np.int64)
    total = int(n.sum())
    for name, values in columns.items():
        if len(values) != total:
            msg = f"column {name!r} has {len(values)} rows but the counts add up to {total}"
            raise ValueError(msg)
    return jagged_from_flat(dict(columns), offsets_from_counts(n))
