"""A toy input format in one module: ``text_hits``, plain-text hit lists.

Each line is one hit, ``event_id x y z t`` separated by blanks; lines starting with ``#``
are comments; the hits of an event are on consecutive lines. The source yields batches
with event field ``event_id`` and collection ``hits`` (``x y z t``), like every hitprep
source. Registered under its name, a job reads it with ``[source] format = "text_hits"``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import ClassVar

import awkward as ak
import numpy as np

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.events import jagged_from_flat, make_batch
from hitprep.sources import register_format
from hitprep.sources.base import Source, check_range

__all__ = ["COLUMNS", "TextHitsSource"]

#: the columns of a line, after the event id
COLUMNS = ("x", "y", "z", "t")


class TextHitsSource(Source):
    """Plain-text hit lists (see the module docstring), read whole when opened."""

    format_name: ClassVar[str] = "text_hits"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        try:
            table = np.loadtxt(self.path, ndmin=2, comments="#")
        except ValueError as err:
            raise FileFormatError(self.path, f"not a text hit list: {err}") from None
        if table.size and table.shape[1] != 1 + len(COLUMNS):
            msg = f"lines have {table.shape[1]} columns; expected event_id {' '.join(COLUMNS)}"
            raise FileFormatError(self.path, msg)
        table = table.reshape(-1, 1 + len(COLUMNS))
        event = table[:, 0].astype(np.int64)
        new_event = np.r_[True, event[1:] != event[:-1]] if len(event) else np.zeros(0, bool)
        starts = np.flatnonzero(new_event)
        self.event_id = event[starts]
        self.offsets = np.r_[starts, len(event)].astype(np.int64)
        self.columns = {name: table[:, i + 1] for i, name in enumerate(COLUMNS)}

    @property
    def num_events(self) -> int:
        return len(self.event_id)

    def fields(self) -> list[str]:
        return ["event_id", *(f"hits.{name}" for name in COLUMNS)]

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        check_range(start, stop, self.num_events)
        wanted = self.fields() if fields is None else list(fields)
        for name in wanted:
            if name not in self.fields():
                raise KeyInFileError(name, file=self.path, available=self.fields())
        first, last = self.offsets[start], self.offsets[stop]
        hits = {n: self.columns[n][first:last] for n in COLUMNS if f"hits.{n}" in wanted}
        events = {"entry": np.arange(start, stop, dtype=np.int64)}
        if "event_id" in wanted:
            events["event_id"] = self.event_id[start:stop]
        collections = {"hits": jagged_from_flat(hits, self.offsets[start : stop + 1] - first)}
        return make_batch(events, collections if hits else {}, length=stop - start)


register_format("text_hits", TextHitsSource)
