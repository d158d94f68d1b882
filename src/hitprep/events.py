"""Event-batch helpers: counts, offsets and flat <-> jagged conversions.

An *event batch* is an ``awkward.Array`` of records: event-level scalars
(``entry``, ``event_id``, ...) and named collections (``hits``, ``mc_tracks``, ...),
each ``var * {field: number}``. These helpers work on flat content plus
offsets and never loop over events in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

__all__ = [
    "collection_fields",
    "counts",
    "event_column",
    "event_index",
    "flat_column",
    "flat_values",
    "item_index",
    "jagged_from_flat",
    "make_batch",
    "offsets_from_counts",
    "with_collection_fields",
    "with_fields",
]

IntArray = npt.NDArray[np.int64]


def counts(collection: ak.Array) -> IntArray:
    """Number of items per event of a jagged collection.

    Args:
        collection: ``var * ...`` array, e.g. ``batch["hits"]``.

    Returns:
        int64 array of length ``len(collection)``.

    Example:
        >>> counts(ak.Array([[1, 2], [], [3]])).tolist()
        [2, 0, 1]
    """
    layout = collection.layout if isinstance(collection, ak.Array) else None
    if isinstance(layout, ak.contents.ListOffsetArray):  # fast path: no awkward dispatch
        return np.diff(np.asarray(layout.offsets)).astype(np.int64, copy=False)
    return np.asarray(ak.num(collection, axis=1), dtype=np.int64)


def offsets_from_counts(n_per_event: npt.ArrayLike) -> IntArray:
    """Offsets (length n + 1, starting at 0) from per-event counts.

    Example:
        >>> offsets_from_counts([2, 0, 1]).tolist()
        [0, 2, 2, 3]
    """
    c = np.asarray(n_per_event, dtype=np.int64)
    out = np.zeros(len(c) + 1, dtype=np.int64)
    np.cumsum(c, out=out[1:])
    return out


def event_index(n_per_event: npt.ArrayLike) -> IntArray:
    """For each flat item, the index of its event within the batch.

    Example:
        >>> event_index([2, 0, 1]).tolist()
        [0, 0, 2]
    """
    c = np.asarray(n_per_event, dtype=np.int64)
    return np.repeat(np.arange(len(c), dtype=np.int64), c)


def item_index(n_per_event: npt.ArrayLike, events: npt.ArrayLike) -> IntArray:
    """Flat positions of the items of ``events`` (a reordering, selection or repetition).

    With ``flat[item_index(c, events)]`` and ``c[events]`` as the new counts,
    the flat content of a jagged collection follows any integer index of its
    events, repeated events included.

    Args:
        n_per_event: items per event of the collection.
        events: indices of the events to take, in the order wanted.

    Returns:
        int64 flat positions, ``sum(n_per_event[events])`` long.

    Example:
        >>> item_index([2, 0, 1], [2, 0, 0]).tolist()
        [2, 0, 1, 0, 1]
    """
    c = np.asarray(n_per_event, dtype=np.int64)
    take = np.asarray(events, dtype=np.int64)
    starts = offsets_from_counts(c)[:-1][take]
    new_counts = c[take]
    new_offsets = offsets_from_counts(new_counts)
    within = np.arange(new_offsets[-1], dtype=np.int64) - np.repeat(new_offsets[:-1], new_counts)
    out: IntArray = np.repeat(starts, new_counts) + within
    return out


def flat_column(collection: ak.Array, field: str) -> npt.NDArray[Any]:
    """Flat numpy content of one field of a jagged record collection (no copy if possible).

    Example:
        >>> hits = ak.Array([[{"t": 1.0}], [{"t": 2.0}, {"t": 3.0}]])
        >>> flat_column(hits, "t").tolist()
        [1.0, 2.0, 3.0]
    """
    layout = collection.layout if isinstance(collection, ak.Array) else None
    if (  # fast path for list-of-records of plain numbers: a slice, no awkward dispatch
        isinstance(layout, ak.contents.ListOffsetArray)
        and isinstance(layout.content, ak.contents.RecordArray)
        and not layout.content.is_tuple
        and field in layout.content.fields
    ):
        content = layout.content.content(field)
        if (
            isinstance(content, ak.contents.NumpyArray)
            and not content.parameters
            and np.asarray(content.data).ndim == 1
        ):
            offsets = np.asarray(layout.offsets)
            data: npt.NDArray[Any] = np.asarray(content.data)
            return data[offsets[0] : offsets[-1]]
    return np.asarray(ak.to_numpy(ak.flatten(collection[field], axis=1)))


def event_column(batch: ak.Array, name: str) -> npt.NDArray[Any]:
    """Numpy values of one event-level field of a batch (no copy if possible).

    Example:
        >>> event_column(ak.Array([{"e": 1.5}, {"e": 2.5}]), "e").tolist()
        [1.5, 2.5]
    """
    layout = batch.layout if isinstance(batch, ak.Array) else None
    if (  # fast path for a plain number field of a record array: no awkward dispatch
        isinstance(layout, ak.contents.RecordArray)
        and not layout.is_tuple
        and name in layout.fields
    ):
        content = layout.content(name)
        if isinstance(content, ak.contents.NumpyArray) and not content.parameters:
            data: npt.NDArray[Any] = np.asarray(content.data)
            return data[: layout.length]
    return np.asarray(batch[name])


def flat_values(jagged: ak.Array) -> npt.NDArray[Any]:
    """Flat numpy content of a jagged array of numbers (``var * number``), no copy if possible.

    Example:
        >>> flat_values(ak.Array([[1.0, 2.0], [], [3.0]])).tolist()
        [1.0, 2.0, 3.0]
    """
    layout = jagged.layout if isinstance(jagged, ak.Array) else None
    if (  # fast path: a slice of the content, no awkward dispatch
        isinstance(layout, ak.contents.ListOffsetArray)
        and isinstance(layout.content, ak.contents.NumpyArray)
        and not layout.content.parameters
        and np.asarray(layout.content.data).ndim == 1
    ):
        offsets = np.asarray(layout.offsets)
        data: npt.NDArray[Any] = np.asarray(layout.content.data)
        return data[offsets[0] : offsets[-1]]
    return np.asarray(ak.to_numpy(ak.flatten(jagged, axis=1)))


def collection_fields(batch: ak.Array, name: str) -> list[str]:
    """Field names of collection ``name`` in a batch."""
    return list(ak.fields(batch[name]))


def jagged_from_flat(
    columns: Mapping[str, npt.NDArray[np.generic]], offsets: npt.ArrayLike
) -> ak.Array:
    """Build a ``var * {fields}`` array from flat columns and offsets, without copying.

    Args:
        columns: equal-length flat arrays, one per field.
        offsets: int64 offsets of length n_events + 1 (starting anywhere; only
            differences and positions into ``columns`` matter).

    Returns:
        Jagged record array of length ``len(offsets) - 1``.

    Example:
        >>> a = jagged_from_flat({"t": np.array([1.0, 2.0, 3.0])}, [0, 1, 3])
        >>> a.t.tolist()
        [[1.0], [2.0, 3.0]]
    """
    off = np.asarray(offsets, dtype=np.int64)
    fields = list(columns)
    contents = [ak.contents.NumpyArray(np.asarray(columns[f])) for f in fields]
    length = int(off[-1]) if len(off) else 0
    if not fields:
        record = ak.contents.RecordArray([], [], length=length)
    else:
        record = ak.contents.RecordArray(contents, fields)
    layout = ak.contents.ListOffsetArray(ak.index.Index64(off), record)
    return ak.Array(layout)


def with_fields(batch: ak.Array, columns: Mapping[str, Any]) -> ak.Array:
    """Return ``batch`` with per-event ``columns`` added (or replaced), in one step.

    Like ``ak.with_field`` once per column, without re-broadcasting the batch each time.

    Example:
        >>> with_fields(ak.Array([{"a": 1}, {"a": 2}]), {"b": np.array([3, 4])}).b.tolist()
        [3, 4]
    """
    layout = batch.layout
    if not isinstance(layout, ak.contents.RecordArray) or layout.is_tuple:
        for name, values in columns.items():
            batch = ak.with_field(batch, values, name)
        return batch
    fields = list(layout.fields)
    contents = list(layout.contents)
    for name, values in columns.items():
        content = ak.to_layout(values)
        if content.length != layout.length:
            msg = f"{name}: {content.length} values for {layout.length} events"
            raise ValueError(msg)
        if name in fields:
            contents[fields.index(name)] = content
        else:
            fields.append(name)
            contents.append(content)
    record = ak.contents.RecordArray(contents, fields, length=layout.length)
    return ak.Array(record, behavior=batch.behavior)


def with_collection_fields(
    batch: ak.Array,
    name: str,
    new_columns: Mapping[str, npt.NDArray[np.generic]],
    *,
    drop: Sequence[str] = (),
) -> ak.Array:
    """Return ``batch`` with flat ``new_columns`` added to (or replacing) collection ``name``.

    The new columns must be flat arrays aligned with ``ak.flatten(batch[name])``.
    Existing columns are kept unless replaced or listed in ``drop``.
    """
    collection = batch[name]
    columns: dict[str, npt.NDArray[np.generic]] = {
        f: flat_column(collection, f)
        for f in ak.fields(collection)
        if f not in drop and f not in new_columns
    }
    columns.update(new_columns)
    rebuilt = jagged_from_flat(columns, offsets_from_counts(counts(collection)))
    return ak.with_field(batch, rebuilt, name)


def make_batch(
    event_fields: Mapping[str, npt.NDArray[np.generic]],
    collections: Mapping[str, ak.Array],
    *,
    length: int,
) -> ak.Array:
    """Assemble an event batch from per-event columns and jagged collections, without copying.

    Args:
        event_fields: one value per event each (e.g. ``entry``, ``event_id``).
        collections: ``var * {...}`` arrays of length ``length``.
        length: number of events.

    Returns:
        Record array with one field per event column and collection.

    Example:
        >>> b = make_batch({"entry": np.arange(2)}, {"hits": jagged_from_flat(
        ...     {"t": np.array([1.0, 2.0])}, [0, 0, 2])}, length=2)
        >>> b.hits.t.tolist()
        [[], [1.0, 2.0]]
    """
    names = [*event_fields, *collections]
    contents = [ak.contents.NumpyArray(np.asarray(v)) for v in event_fields.values()]
    contents += [ak.to_layout(c) for c in collections.values()]
    return ak.Array(ak.contents.RecordArray(contents, names, length=length))
