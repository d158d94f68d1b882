"""Model values checked and typed: non-finite values by the job's policy, casts that never wrap.

Example:
    >>> import numpy as np
    >>> cast(np.array([1.4, 2.6]), np.dtype("int16"), "Jet.nConst", np.array([0, 0]))
    array([1, 3], dtype=int16)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, CountOverflowError, ModelError

__all__ = ["NonFinite", "cast"]

IntArray = npt.NDArray[np.int64]
Float64 = npt.NDArray[np.float64]


def _cast_float(values: Float64, dtype: np.dtype[Any], where: str, entries: IntArray) -> Any:
    with np.errstate(over="ignore"):  # overflow is found and reported below
        cast = values.astype(dtype)
    overflow = ~np.isfinite(cast) & np.isfinite(values)
    if overflow.any():  # finite in float64, infinite in the branch: never written
        bad = int(np.flatnonzero(overflow)[0])
        msg = (
            f"{where} is {values[bad]:g} for an object of input entry {entries[bad]},"
            f" beyond what a {dtype} branch holds (it would be written as inf)"
        )
        raise CountOverflowError(msg)
    return cast


def cast(values: Float64, dtype: np.dtype[Any], where: str, entries: IntArray) -> npt.NDArray[Any]:
    """Float64 model values -> the output dtype; integers are rounded, never wrapped.

    Args:
        values: one column of model output.
        dtype: the branch's dtype.
        where: the column, for messages (``"[[model]] Jet.pt"``).
        entries: the input entry of each row, for messages.

    Raises:
        CountOverflowError: a value outside what the dtype holds.
        ModelError: a non-finite value for an integer branch.
    """
    if dtype.kind == "f":
        floats: npt.NDArray[Any] = _cast_float(values, dtype, where, entries)
        return floats
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        msg = (
            f"{where} is {values[bad]} for an object of input entry {entries[bad]}, which a"
            f" {dtype} branch cannot hold"
        )
        raise ModelError(msg)
    rounded = np.rint(values)
    if dtype.kind == "b":
        flags: npt.NDArray[np.bool_] = rounded != 0
        return flags
    info = np.iinfo(dtype)
    outside = (rounded < info.min) | (rounded > info.max)
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        msg = (
            f"{where} is {values[bad]:g} for an object of input entry {entries[bad]}, outside"
            f" the range of {dtype} [{info.min}, {info.max}]; values are never wrapped around"
        )
        raise CountOverflowError(msg)
    return rounded.astype(dtype)


@dataclass
class NonFinite:
    """The job's ``writeback.nonfinite`` policy, counting what it finds per column.

    Attributes:
        policy: ``error``, ``keep``, ``fill`` (with ``fill_value``) or ``skip_event``.
        fill_value: what ``fill`` writes.
        counts: ``"field (label)"`` -> non-finite values found (the summary's).
    """

    policy: str
    fill_value: float
    counts: Counter[str]

    def check(
        self,
        matrix: Float64,
        names: tuple[str, ...],
        label: str,
        rows_event: IntArray,
        keep: npt.NDArray[np.bool_],
        entries: IntArray,
    ) -> None:
        """Count non-finite values per column and handle them as the policy says (in place).

        Args:
            matrix: values, a row per object and a column per name.
            names: the columns' names (``"GenJet.pt"``).
            label: ``"conditioning"`` or ``"model output"``.
            rows_event: each row's output event in the chunk.
            keep: the chunk's events to write; ``skip_event`` clears those with a bad value.
            entries: each output event's input entry, for the message.

        Raises:
            ModelError: (policy ``error``) a non-finite model output.
            ConfigError: (policy ``error``) a non-finite preprocessed conditioning value.
        """
        bad = ~np.isfinite(matrix)
        if not bad.any():
            return
        per_column = bad.sum(axis=0)
        for name, n in zip(names, per_column, strict=True):
            if n:
                self.counts[f"{name} ({label})"] += int(n)
        if self.policy == "error":
            row, col = (int(v[0]) for v in np.nonzero(bad))
            msg = (
                f"{names[col]} ({label}) is {matrix[row, col]} for an object of input entry "
                f"{entries[rows_event[row]]} ({int(per_column.sum())} non-finite values in this"
                " chunk); check the [preprocess] transforms, or set writeback.nonfinite to keep,"
                " fill or skip_event"
            )
            if label == "model output":
                raise ModelError(msg)
            raise ConfigError(msg)
        if self.policy == "fill":
            matrix[bad] = self.fill_value
        elif self.policy == "skip_event":
            keep[np.unique(rows_event[bad.any(axis=1)])] = False
