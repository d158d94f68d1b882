"""Which input events make which output events: chunks, copies and new event numbers.

Every input event is used ``upsample`` times, in ``blocks`` (all events, then all
again) or ``adjacent`` order (the copies of an event side by side). Copy ``k`` of
event ``e`` gets the event number ``e + k * S``, with ``S`` the smallest power of
ten above the largest input event number, so copy 0 keeps its number and every
number stays unique.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.errors import CountOverflowError
from hitprep.sources.base import Source
from hitprep.writeback.spec import ORDERS

__all__ = ["Chunk", "event_stride", "output_events"]

IntArray = npt.NDArray[np.int64]


class Chunk(NamedTuple):
    """One chunk of output events.

    Attributes:
        start, stop: the range of input events to read.
        events: the input event (relative to ``start``) of each output event.
        copies: each output event's copy number.
    """

    start: int
    stop: int
    events: IntArray
    copies: IntArray


def output_events(num_events: int, *, step: int, upsample: int, order: str) -> Iterator[Chunk]:
    """Chunks of the output: ``(start, stop, events, copies)`` per chunk (a :class:`Chunk`).

    ``start:stop`` is the range of input events to read; ``events`` indexes them
    (relative to ``start``) once per output event, ``copies`` is each output
    event's copy number. Every input event appears ``upsample`` times, the last
    one included whatever ``num_events`` is modulo ``step``. Chunks of ``adjacent``
    order hold ``step // upsample`` input events, so memory stays bounded by ``step``.

    Example:
        >>> [(a, b, e.tolist(), c.tolist()) for a, b, e, c in
        ...  output_events(3, step=2, upsample=2, order="adjacent")]
        [(0, 1, [0, 0], [0, 1]), (1, 2, [0, 0], [0, 1]), (2, 3, [0, 0], [0, 1])]
    """
    if order not in ORDERS:
        msg = f"order must be one of {', '.join(ORDERS)}, not {order!r}"
        raise ValueError(msg)
    if step <= 0 or upsample <= 0:
        msg = f"step and upsample must be positive, got {step} and {upsample}"
        raise ValueError(msg)
    if order == "blocks":
        for copy in range(upsample):
            for start in range(0, num_events, step):
                stop = min(start + step, num_events)
                n = stop - start
                yield Chunk(start, stop, np.arange(n, dtype=np.int64), np.full(n, copy, np.int64))
        return
    per = max(1, step // upsample)
    for start in range(0, num_events, per):
        stop = min(start + per, num_events)
        n = stop - start
        events = np.repeat(np.arange(n, dtype=np.int64), upsample)
        copies = np.tile(np.arange(upsample, dtype=np.int64), n)
        yield Chunk(start, stop, events, copies)


def event_stride(source: Source, upsample: int) -> int:
    """Power of ten above the largest event number; checks the copies' numbers fit the dtype.

    Raises:
        CountOverflowError: the largest copy's number does not fit the ``event`` branch.
    """
    events = np.asarray(ak.to_numpy(source.read(0, source.num_events, fields=["event"]).event))
    dtype = events.dtype
    largest = int(events.max()) if len(events) else 0
    stride = 10 ** len(str(largest)) if largest > 0 else 1
    top = largest + (upsample - 1) * stride
    if dtype.kind in "iu" and top > np.iinfo(dtype).max:
        msg = (
            f"{source.path}: upsampling x{upsample} gives event numbers up to {top}, which do "
            f"not fit the {dtype} branch 'event'"
        )
        raise CountOverflowError(msg)
    return stride
