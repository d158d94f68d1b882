"""Per-chunk node arrays of graphs: seeded random keys, truncation to N per event, padding.

No Python loop over events: flat items plus per-event counts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hitprep.events import event_index, offsets_from_counts

__all__ = ["pad_nodes", "random_keys", "truncate"]

BoolArray = npt.NDArray[np.bool_]


def _splitmix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_keys(
    seed: int, file_index: int, entry: npt.ArrayLike, position: npt.ArrayLike
) -> npt.NDArray[np.uint64]:
    """A reproducible pseudo-random uint64 per hit, from its identity alone.

    Args:
        seed: job seed (>= 0).
        file_index: input file number.
        entry: the hit's event entry, one per hit.
        position: the hit's position within its event, one per hit.

    Example:
        >>> a = random_keys(1, 0, [5, 5], [0, 1])
        >>> bool((a == random_keys(1, 0, [5, 5], [0, 1])).all()), bool(a[0] != a[1])
        (True, True)
    """
    base = _splitmix64(np.array([seed, file_index], dtype=np.uint64))
    head = _splitmix64(base[:1] ^ _splitmix64(base[1:]))
    e = np.asarray(entry, dtype=np.int64).astype(np.uint64)
    p = np.asarray(position, dtype=np.int64).astype(np.uint64)
    return _splitmix64(_splitmix64(head ^ e) ^ p)


def truncate(n_per_event: npt.ArrayLike, max_n: int, key: npt.ArrayLike) -> BoolArray:
    """Keep at most ``max_n`` items per event: those with the smallest ``key``.

    Ties go to the earlier item. Events with at most ``max_n`` items keep all.

    Args:
        n_per_event: items per event (flat items are grouped by event, in order).
        max_n: items kept per event.
        key: one sortable value per flat item.

    Returns:
        Boolean mask over the flat items (kept items keep their order).

    Example:
        >>> truncate([3, 1], 2, [5.0, 1.0, 3.0, 9.0]).tolist()
        [False, True, True, True]
    """
    n = np.asarray(n_per_event, dtype=np.int64)
    keys = np.asarray(key)
    keep = np.ones(len(keys), dtype=bool)
    over = n > max_n
    if not over.any():
        return keep
    event = event_index(n)
    items = np.flatnonzero(over[event])  # items of the events over the limit, in order
    order = np.lexsort((keys[items], event[items]))  # stable: ties keep item order
    # sorting by event keeps each event's run where it was: rank = position in the run
    run_start = np.repeat(offsets_from_counts(n[over])[:-1], n[over])
    rank = np.arange(len(items), dtype=np.int64) - run_start
    keep[items[order][rank >= max_n]] = False
    return keep


def pad_nodes(
    nodes: npt.NDArray[np.generic],
    n_nodes: npt.ArrayLike,
    length: int,
    *,
    valid_column: bool = False,
) -> tuple[npt.NDArray[np.generic], BoolArray]:
    """Pad each event's nodes with zeros to ``length`` rows.

    Args:
        nodes: ``(total, F)`` node features, events one after another.
        n_nodes: nodes per event, each at most ``length``.
        length: padded length.
        valid_column: append a column that is 1 for real nodes, 0 for padding
            (OrcaSong's ``is_valid``).

    Returns:
        ``(n_events, length, F [+1])`` array and the ``(n_events, length)`` mask of real nodes.

    Example:
        >>> x, m = pad_nodes(np.array([[1.0], [2.0], [3.0]]), [1, 2], 3, valid_column=True)
        >>> x[:, :, 1].tolist(), m.sum(axis=1).tolist()
        ([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], [1, 2])
    """
    n = np.asarray(n_nodes, dtype=np.int64)
    n_features = nodes.shape[1]
    if len(n) and int(n.max()) > length:
        msg = f"pad_nodes: an event has {int(n.max())} nodes, more than the length {length}"
        raise ValueError(msg)
    event = event_index(n)
    slot = np.arange(len(event), dtype=np.int64) - offsets_from_counts(n)[:-1][event]
    out = np.zeros((len(n), length, n_features + int(valid_column)), dtype=nodes.dtype)
    out[event, slot, :n_features] = nodes
    mask = np.zeros((len(n), length), dtype=bool)
    mask[event, slot] = True
    if valid_column:
        out[event, slot, n_features] = 1
    return out, mask
