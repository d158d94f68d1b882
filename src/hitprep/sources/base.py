"""The Source interface: one file format, batches of at most ``step`` events."""

from __future__ import annotations

import abc
import itertools
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import awkward as ak

from hitprep.closing import Closing
from hitprep.errors import KeyInFileError
from hitprep.threads import threads

__all__ = ["Source", "check_range"]


class Source(Closing, abc.ABC):
    """Reads events of one file format as awkward batches.

    Every batch carries ``entry`` (int64, the event's position in the file)
    beside the format's event-level fields and collections. Field names are
    dotted: ``"event_id"`` for an event field, ``"hits.time"`` for a field of
    collection ``hits``.
    """

    format_name: ClassVar[str]
    #: reading a few fields costs about their bytes (not a decode of whole events), so a
    #: cheap pre-pass over some columns is possible (e.g. to count hits before a run)
    columnar: ClassVar[bool] = False
    #: read the next chunk in a background thread while the caller works on this one;
    #: off where that gains nothing (e.g. h5py reads, which hold the GIL) and only costs
    #: memory (a second batch, the thread's own malloc arena)
    prefetch: ClassVar[bool] = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    @abc.abstractmethod
    def num_events(self) -> int:
        """Number of events in the file."""

    @abc.abstractmethod
    def fields(self) -> list[str]:
        """Every dotted field this source can provide."""

    @abc.abstractmethod
    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        """Events ``start`` to ``stop`` (exclusive) as one batch.

        Args:
            start: first entry.
            stop: one past the last entry.
            fields: dotted fields to read (``None``: all). Collections that
                are not named are left out; ``entry`` is always present.
        """

    def iterate(
        self,
        *,
        step: int,
        start: int = 0,
        stop: int | None = None,
        fields: Collection[str] | None = None,
    ) -> Iterator[ak.Array]:
        """Yield batches of at most ``step`` events from ``start`` to ``stop``."""
        if step <= 0:
            msg = f"step must be a positive number of events, not {step}"
            raise ValueError(msg)
        end = self.num_events if stop is None else min(stop, self.num_events)
        ranges = ((first, min(first + step, end)) for first in range(start, end, step))
        yield from self.read_ahead(ranges, fields=fields)

    def read_ahead(
        self, ranges: Iterable[tuple[int, int]], *, fields: Collection[str] | None = None
    ) -> Iterator[ak.Array]:
        """Yield the batch of each ``(start, stop)`` range, in order.

        The next range is read in a background thread while the caller works on this
        one (at most two batches in memory), unless there is only one range, the source
        gains nothing by it (:attr:`prefetch`) or the thread budget is one core.
        ``ranges`` is taken one ahead, so it may be a generator of any length.
        """
        pending = iter(ranges)
        head = list(itertools.islice(pending, 2))
        if len(head) < 2 or not self.prefetch or threads() == 1:  # (one core: no read-ahead)
            for first, last in itertools.chain(head, pending):
                yield self.read(first, last, fields=fields)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
            reading = pool.submit(self.read, *head[0], fields=fields)
            for following in itertools.chain(head[1:], pending, [None]):
                batch = reading.result()
                if following is not None:
                    reading = pool.submit(self.read, *following, fields=fields)
                yield batch

    def check_fields(self, fields: Collection[str]) -> None:
        """Raise KeyInFileError for the first requested field the file lacks."""
        available = self.fields()
        for f in fields:
            if f not in available:
                raise KeyInFileError(f, file=self.path, available=available, what="field")

    def close(self) -> None:
        """Release the file handle."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.path)!r} events={self.num_events}>"


def check_range(start: int, stop: int, num_events: int) -> None:
    """Raise ValueError unless ``0 <= start <= stop <= num_events``."""
    if not 0 <= start <= stop <= num_events:
        msg = (
            f"entry range {start}:{stop} is not within the file's {num_events} entries "
            "(need 0 <= start <= stop <= num_events)"
        )
        raise ValueError(msg)
