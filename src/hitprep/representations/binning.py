"""Bin indices with ``numpy.histogramdd`` semantics, for whole chunks at once.

Bins are half-open ``[e_i, e_{i+1})`` except the last, which also holds values
equal to the last edge; values outside the edges and NaN fall in no bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Binner", "bin_index", "check_edges"]


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
#: largest error, in grid cells, allowed to the float32 first guess (the correction needs < 1)
_MAX_GUESS_ERROR = 0.25


def bin_index(values: npt.ArrayLike, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Bin number of each value; -1 below the first edge, ``len(edges) - 1`` above the last.

    NaN counts as above. Matches ``np.histogramdd``: the last edge belongs to the last bin.

    How, exactly and fast: a first guess from arithmetic (equal bins: ``(v - e0) / width``;
    unequal bins: a lookup grid of cells at most half a bin wide), then one correction
    against the edges themselves, which can move the guess by one bin. float32 values are
    compared in float32 against the edges rounded up to float32 (``v < e`` exactly when
    ``v < round_up(e)``), without converting the values; their first guess is computed in
    float32 too where its error stays well below a cell. Values go through in blocks that
    fit the CPU cache. Edges too uneven for a grid: ``np.searchsorted``. To bin many
    arrays against the same edges, prepare them once with :class:`Binner`.

    Example:
        >>> bin_index(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), np.array([0.0, 0.5, 1.0])).tolist()
        [-1, 0, 1, 1, 2]
    """
    v = np.asarray(values)
    return Binner(edges, v.dtype)(v)


class Binner:
    """:func:`bin_index` against fixed ``edges``, prepared once for values of one dtype.

    ``dtype`` float32 bins float32 values without converting them; any other dtype bins
    in float64. Calling it with values of the other kind is exact too, only slower.
    """

    def __init__(self, edges: npt.NDArray[np.float64], dtype: npt.DTypeLike = np.float64) -> None:
        self.edges = edges
        self.f32 = np.dtype(dtype) == np.float32
        self.n = n = len(edges) - 1
        lower: npt.NDArray[np.floating[Any]] = edges[:-1].copy()
        upper: npt.NDArray[np.floating[Any]] = edges[1:].copy()
        upper[-1] = np.nextafter(edges[-1], np.inf)  # the last edge belongs to the last bin
        if self.f32:
            lower, upper = _round_up32(edges[:-1]), _round_up32(upper.astype(np.float64))
        self.lower, self.upper = lower, upper
        self.grid = _grid(edges)
        self.search = np.append(lower, upper[-1])
        self.start: np.floating[Any] = np.float64(0.0)
        self.scale: np.floating[Any] = np.float64(1.0)
        self.last_cell: np.floating[Any] = np.float64(0.0)
        if self.grid is not None:
            start, scale, table = self.grid
            cells = n if table is None else len(table)
            self.start, self.scale = np.float64(start), np.float64(scale)
            self.last_cell = np.float64(cells - 1)
            if self.f32 and _guess32_is_close(start, scale, cells):
                self.start, self.scale = np.float32(start), np.float32(scale)
                self.last_cell = np.float32(cells - 1)

    def __call__(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        v = np.asarray(values)
        if v.dtype != np.float32:
            v = v.astype(np.float64, copy=False)
        if (v.dtype == np.float32) != self.f32:
            return Binner(self.edges, v.dtype)(v)
        shape = v.shape
        v = v.reshape(-1)
        if self.grid is None:
            idx: npt.NDArray[np.int64] = (
                np.searchsorted(self.search, v, side="right").astype(np.int64) - 1
            )
            idx[np.isnan(v)] = self.n
            return idx.reshape(shape)
        table = self.grid[2]
        lower, upper = self.lower, self.upper
        out = np.empty(len(v), dtype=np.int64)
        with np.errstate(over="ignore"):  # far values: +-inf, clamped below
            for first in range(0, len(v), _BLOCK):
                block = v[first : first + _BLOCK]
                t = np.subtract(block, self.start, dtype=self.start.dtype)
                t *= self.scale
                np.fmin(t, self.last_cell, out=t)  # NaN -> the last cell, corrected to n below
                np.maximum(t, 0, out=t)
                idx = out[first : first + _BLOCK]
                g = t.astype(np.int64) if table is None else table.take(t.astype(np.intp))
                # truncation is floor for t >= 0; then one step down or up where needed
                np.subtract(g, np.less(block, lower.take(g)), out=idx)
                idx += ~np.less(block, upper.take(g))  # NaN compares False: the next bin
        return out.reshape(shape)


def _guess32_is_close(start: float, scale: float, cells: int) -> bool:
    """Whether ``(v - start) * scale`` in float32 stays within ``_MAX_GUESS_ERROR`` cells.

    Near the grid (``|t| <= 2 cells``; farther away the clamps decide), the error is the
    rounding of ``start`` (half a float32 ulp, times ``scale``) plus three float32
    roundings relative to ``t``.
    """
    with np.errstate(over="ignore", under="ignore"):
        start32, scale32 = np.float32(start), np.float32(scale)
    if not (np.isfinite(start32) and np.isfinite(scale32)):
        return False
    if not float(scale32) >= float(np.finfo(np.float32).tiny):
        return False
    error = abs(float(start32) - start) * scale + 2.0 * cells * 3.0 * 2.0**-24
    return error <= _MAX_GUESS_ERROR


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
