"""The ``[[images]]`` job section: one n-d histogram image per table.

::

    [[images]]
    name = "x"
    bin_edges = [["pos_z", {start = 50, stop = 700, bins = 18}], ["time", [-250, 0, 1000]]]
    weights = "tot"          # optional
    dtype = "uint16"         # counts never wrap: an overflow is an error
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import PrivateAttr, field_validator, model_validator

from hitprep.config import check_memory
from hitprep.jobmodel import Section

__all__ = ["RESERVED_NAMES", "EdgeRange", "ImageSection", "edges_array"]

#: datasets the pipeline writes itself: no image may take their name
RESERVED_NAMES = ("y", "event_info", "bin_stats")

#: dtype kinds that hold counts exactly (float32/64 up to 2**24 / 2**53, checked as written)
_COUNT_KINDS = "uif"


class EdgeRange(Section):
    """Evenly spaced bin edges (``np.linspace(start, stop, bins + 1)``)."""

    start: float
    """First edge."""
    stop: float
    """Last edge."""
    bins: int
    """Number of bins."""


Edges = tuple[float, ...] | EdgeRange


def edges_array(where: str, spec: Edges) -> npt.NDArray[np.float64]:
    """Bin edges from a list of numbers or an :class:`EdgeRange`, checked increasing.

    Raises:
        ValueError: fewer than one bin, not finite and increasing, or too many to hold.
    """
    if isinstance(spec, EdgeRange):
        if spec.bins < 1:
            msg = f"{where}.bins: expected a positive integer, got {spec.bins!r}"
            raise ValueError(msg)
        check_memory(f"{where}.bins", (spec.bins + 1) * 8, what="its bin edges")
        edges = np.linspace(spec.start, spec.stop, spec.bins + 1)
    else:
        edges = np.asarray(spec, dtype=np.float64)
    if len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        shown = np.array2string(edges, threshold=8)
        msg = f"{where}: bin edges must be at least two finite, increasing numbers, got {shown}"
        raise ValueError(msg)
    return edges


class ImageSection(Section):
    """``[[images]]``: one n-d histogram of a hit collection per event."""

    name: str = "x"
    """Output dataset name (x for the first image by convention)."""
    bin_edges: tuple[tuple[str, Edges], ...]
    """Axes: [field, edges] pairs; edges a list of numbers or {start, stop, bins}."""
    weights: str | None = None
    """Field whose values are summed instead of counting hits ("": count hits)."""
    dtype: str | None = None
    """Image dtype; counts must fit it (checked as written): uint16 for counts, float32 for
    weights when not given."""
    collection: str = "hits"
    """The hit collection binned."""

    _axes: tuple[tuple[str, npt.NDArray[np.float64]], ...] = PrivateAttr(default=())

    @field_validator("weights", "dtype", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _checked(self) -> ImageSection:
        if (
            not self.name
            or self.name.strip() != self.name
            or self.name.split("/")[0] in (RESERVED_NAMES)
        ):
            msg = (
                f"name: {self.name!r} is empty or names a dataset the pipeline writes itself"
                f" ({', '.join(RESERVED_NAMES)}); choose another name"
            )
            raise ValueError(msg)
        if not self.bin_edges:
            msg = "bin_edges: needs at least one axis"
            raise ValueError(msg)
        self._axes = tuple(
            (field, edges_array(f"bin_edges[{j}]", edges))
            for j, (field, edges) in enumerate(self.bin_edges)
        )
        if self.dtype is not None:
            self._check_dtype(self.dtype)
        return self

    def _check_dtype(self, dtype: str) -> None:
        """numpy knows ``dtype``, and counts fit it (no bool, no float16)."""
        try:
            kind = np.dtype(dtype)
        except TypeError:
            msg = f"dtype: {dtype!r} is not a numpy dtype (e.g. uint16, uint32, float32)"
            raise ValueError(msg) from None
        if kind.kind not in _COUNT_KINDS or kind == np.float16:
            use = "weights" if self.weights else "counts"
            msg = (
                f"dtype: {dtype!r} cannot hold {use} (bool keeps 0/1, float16 rounds above"
                " 2048); use an integer type (uint16, uint32, int64) or float32/float64"
            )
            raise ValueError(msg)

    @property
    def axes(self) -> tuple[tuple[str, npt.NDArray[np.float64]], ...]:
        """``(field, edges)`` per axis, the edges as arrays."""
        return self._axes

    def plain(self) -> dict[str, Any]:
        """As recorded in outputs: the edges resolved to lists of numbers."""
        return {
            "name": self.name,
            "collection": self.collection,
            "weights": self.weights,
            "dtype": self.dtype,
            "bin_edges": [[f, e.tolist()] for f, e in self.axes],
        }
