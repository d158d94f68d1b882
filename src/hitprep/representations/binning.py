"""Bin indices with ``numpy.histogramdd`` semantics, for whole chunks at once.

Bins are half-open ``[e_i, e_{i+1})`` except the last, which also holds values
equal to the last edge; values outside the edges and NaN fall in no bin.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["bin_index", "check_edges"]


def check_edges(name: str, edges: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Validate bin edges (at least two, strictly increasing, finite) and return them.

    Raises:
        ValueError: naming the axis.
    """
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or len(e) < 2:
        msg = f"bin edges of {name!r} need at least two values, got {e.tolist()}"
        raise ValueError(msg)
    if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        msg = f"bin edges of {name!r} must be finite and strictly increasing"
        raise ValueError(msg)
    return e


def bin_index(values: npt.ArrayLike, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Bin number of each value; -1 below the first edge, ``len(edges) - 1`` above the last.

    NaN counts as above. Matches ``np.histogramdd``: the last edge belongs to the last bin.
    Equally spaced edges take an arithmetic guess corrected against the edges themselves
    (exact, and faster than a binary search); others use ``np.searchsorted``.

    Example:
        >>> bin_index(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), np.array([0.0, 0.5, 1.0])).tolist()
        [-1, 0, 1, 1, 2]
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(edges) - 1
    width = (edges[-1] - edges[0]) / n
    if n > 1 and np.allclose(np.diff(edges), width, rtol=1e-9, atol=0.0):
        guess = np.floor((v - edges[0]) * (1.0 / width))
        np.clip(guess, 0, n - 1, out=guess)
        guess[np.isnan(guess)] = 0
        g = guess.astype(np.int64)
        idx: npt.NDArray[np.int64] = g - (v < edges[g]) + (v >= edges[g + 1])
        idx[np.isnan(v)] = n
    else:
        idx = np.searchsorted(edges, v, side="right").astype(np.int64) - 1
    idx[v == edges[-1]] = n - 1
    return idx
