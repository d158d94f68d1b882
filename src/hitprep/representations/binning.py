"""Bin indices with ``numpy.histogramdd`` semantics, for whole chunks at once.

Bins are half-open ``[e_i, e_{i+1})`` except the last, which also holds values
equal to the last edge; values outside the edges and NaN fall in no bin.
"""

from __future__ import annotations

from typing import Any

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


#: most cells of the lookup grid of unequal edges (else a binary search)
_MAX_CELLS = 1 << 16
#: values binned at a time: the temporaries of a block stay in the CPU cache (~3x faster)
_BLOCK = 1 << 16


def bin_index(values: npt.ArrayLike, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Bin number of each value; -1 below the first edge, ``len(edges) - 1`` above the last.

    NaN counts as above. Matches ``np.histogramdd``: the last edge belongs to the last bin.

    How, exactly and fast: a first guess from arithmetic (equal bins: ``(v - e0) / width``;
    unequal bins: a lookup grid of cells at most half a bin wide), then one correction
    against the edges themselves, which can move the guess by one bin. float32 values are
    compared in float32 against the edges rounded up to float32 (``v < e`` exactly when
    ``v < round_up(e)``), without converting the values. Values go through in blocks that
    fit the CPU cache. Edges too uneven for a grid: ``np.searchsorted``.

    Example:
        >>> bin_index(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), np.array([0.0, 0.5, 1.0])).tolist()
        [-1, 0, 1, 1, 2]
    """
    v = np.asarray(values)
    if v.dtype != np.float32:
        v = v.astype(np.float64, copy=False)
    shape = v.shape
    v = v.reshape(-1)
    n = len(edges) - 1
    lower: npt.NDArray[np.floating[Any]] = edges[:-1].copy()
    upper: npt.NDArray[np.floating[Any]] = edges[1:].copy()
    upper[-1] = np.nextafter(edges[-1], np.inf)  # the last edge belongs to the last bin
    if v.dtype == np.float32:
        lower, upper = _round_up32(edges[:-1]), _round_up32(upper.astype(np.float64))
    grid = _grid(edges)
    if grid is None:
        idx: npt.NDArray[np.int64] = (
            np.searchsorted(np.append(lower, upper[-1]), v, side="right").astype(np.int64) - 1
        )
        idx[np.isnan(v)] = n
        return idx.reshape(shape)
    start, scale, table = grid
    last_cell = (n if table is None else len(table)) - 1
    out = np.empty(len(v), dtype=np.int64)
    for first in range(0, len(v), _BLOCK):
        block = v[first : first + _BLOCK]
        t = np.subtract(block, start, dtype=np.float64)
        t *= scale
        np.fmin(t, last_cell, out=t)  # NaN -> the last cell, corrected to n below
        np.maximum(t, 0, out=t)
        g = t.astype(np.int64)  # truncation is floor for t >= 0
        if table is not None:
            g = table[g]
        idx = out[first : first + _BLOCK]
        np.subtract(g, block < lower[g], out=idx)
        idx += ~(block < upper[g])  # above the bin (NaN compares False): the next one
    return out.reshape(shape)


def _grid(
    edges: npt.NDArray[np.float64],
) -> tuple[float, float, npt.NDArray[np.int64] | None] | None:
    """``(start, cells per unit, table)``: the cell of v is ``(v - start) * scale``; its bin
    guess is ``table[cell]`` (``None``: the cell is the bin, for equal bins). ``None`` when
    the grid would be too fine."""
    n = len(edges) - 1
    with np.errstate(over="ignore", divide="ignore"):
        span = float(edges[-1]) - float(edges[0])
        widths = np.diff(edges)
        cells = 2.0 * span / float(widths.min())  # cells of at most half the narrowest bin
        scale = n / span
    if not (np.isfinite(span) and np.isfinite(scale) and np.isfinite(cells)):
        return None  # extreme edges (overflowing span, subnormal widths): binary search
    if np.allclose(widths, span / n, rtol=1e-9, atol=0.0):
        return float(edges[0]), scale, None
    if not cells <= _MAX_CELLS:
        return None
    k = int(np.ceil(cells))
    left = edges[0] + np.arange(k) * (span / k)
    table = np.clip(np.searchsorted(edges, left, side="right") - 1, 0, n - 1)
    return float(edges[0]), k / span, table.astype(np.int64)


def _round_up32(e: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The smallest float32 >= each value."""
    out = e.astype(np.float32)
    low = out.astype(np.float64) < e
    out[low] = np.nextafter(out[low], np.float32(np.inf))
    return out
