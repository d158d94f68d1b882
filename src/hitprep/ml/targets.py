"""Regression targets: what ``--target`` names, read from a file as one row of numbers per event.

A target is written ``[how:]FIELD[+FIELD...]``:

- ``energies``: a field of ``y`` or a per-event dataset, as it is; a dataset may hold
  several numbers per event (WatChMaL ``positions`` (N, 1, 3): a 3-vector);
- ``log10:energies``: regressed as log10 (the values must be positive);
- ``dir_x+dir_y+dir_z``: several one-number fields joined into a vector;
- ``direction:angles``: a direction from WatChMaL's (polar, azimuth) pair, polar from the
  tank's y axis (``(sin p cos a, cos p, sin p sin a)``), or ``direction:dir_x+dir_y+dir_z``,
  ``direction:directions``: a 3-vector, normalized. A direction is learned as a unit
  3-vector with an angular (cosine) loss.

Values are standardized with the training split's mean and std (directions are not),
and the statistics are stored in the checkpoint with the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.ml.h5io import column_names

__all__ = ["TargetSpec", "angles_to_vectors", "parse_target", "read_targets", "target_names"]

HOW = ("value", "log10", "direction")


@dataclass(frozen=True)
class TargetSpec:
    """One regression target.

    Attributes:
        name: as written (``log10:energies``).
        fields: fields or datasets read.
        how: ``value``, ``log10`` or ``direction``.
        columns: names of the numbers the model predicts for it (3 for a direction).
        angles: a direction given as (polar, azimuth).
        mean, std: training-split statistics per column (value targets).
    """

    name: str
    fields: tuple[str, ...]
    how: str
    columns: tuple[str, ...] = ()
    angles: bool = False
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def size(self) -> int:
        return len(self.columns)

    @property
    def is_direction(self) -> bool:
        return self.how == "direction"

    def with_stats(self, mean: Sequence[float], std: Sequence[float]) -> TargetSpec:
        return replace(self, mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fields": list(self.fields),
            "how": self.how,
            "columns": list(self.columns),
            "angles": self.angles,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetSpec:
        return cls(
            str(d["name"]),
            tuple(str(f) for f in d["fields"]),
            str(d["how"]),
            tuple(str(c) for c in d["columns"]),
            bool(d.get("angles", False)),
            tuple(float(m) for m in d.get("mean", ())),
            tuple(float(s) for s in d.get("std", ())),
        )


def parse_target(text: str) -> TargetSpec:
    """The spec of ``[how:]FIELD[+FIELD...]`` (columns still unknown: see :func:`read_targets`).

    Example:
        >>> t = parse_target("direction:dir_x+dir_y+dir_z")
        >>> t.how, t.fields
        ('direction', ('dir_x', 'dir_y', 'dir_z'))
    """
    how, sep, rest = text.partition(":")
    if not sep:
        how, rest = "value", text
    fields = tuple(f.strip() for f in rest.split("+"))
    if how not in HOW or not all(fields):
        msg = (
            f"data.targets: {text!r} is not [how:]FIELD[+FIELD...] with how one of"
            f" {', '.join(HOW)} (e.g. 'log10:energies', 'direction:angles')"
        )
        raise ConfigError(msg)
    return TargetSpec(text, fields, how)


def target_names(targets: Sequence[TargetSpec]) -> list[str]:
    return [t.name for t in targets]


def _per_event(f: h5py.File, name: str, n_rows: int) -> npt.NDArray[np.float64]:
    """(n_rows, k) numbers of a ``y`` field or a per-event dataset (singleton axes dropped)."""
    y = f.get("y")
    if isinstance(y, h5py.Dataset) and y.dtype.names and name in y.dtype.names:
        values = np.asarray(y.fields(name)[:])
    elif isinstance(f.get(name), h5py.Dataset) and f[name].dtype.names is None:
        values = np.asarray(f[name][:])
    else:
        available = column_names(f) + [
            k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim in (2, 3)
        ]
        raise KeyInFileError(
            name, file=f.filename, available=sorted(set(available)), what="regression target"
        )
    if values.ndim >= 1 and len(values) == n_rows and values.dtype.kind in "biuf":
        flat = values.reshape(n_rows, -1).astype(np.float64)
        if flat.shape[1] >= 1:
            return flat
    detail = (
        f"target {name!r} should hold numbers per event ({n_rows} rows),"
        f" found shape {values.shape} dtype {values.dtype}"
    )
    raise FileFormatError(f.filename, detail)


def angles_to_vectors(angles: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Unit vectors of WatChMaL (polar, azimuth) pairs: polar from +y, azimuth atan2(z, x).

    Example:
        >>> angles_to_vectors(np.array([[np.pi / 2, 0.0]])).round(6).tolist()
        [[1.0, 0.0, 0.0]]
    """
    polar, azimuth = angles[:, 0], angles[:, 1]
    s = np.sin(polar)
    return np.stack([s * np.cos(azimuth), np.cos(polar), s * np.sin(azimuth)], axis=1)


def _columns(spec: TargetSpec, parts: list[npt.NDArray[np.float64]]) -> tuple[str, ...]:
    names: list[str] = []
    for field, part in zip(spec.fields, parts, strict=True):
        k = part.shape[1]
        names += [field] if k == 1 else [f"{field}[{i}]" for i in range(k)]
    return tuple(names)


def _one(f: h5py.File, spec: TargetSpec, n_rows: int) -> tuple[TargetSpec, npt.NDArray[np.float64]]:
    parts = [_per_event(f, name, n_rows) for name in spec.fields]
    values = np.concatenate(parts, axis=1)
    bad = ~np.isfinite(values).all(axis=1)
    if spec.how == "log10":
        bad |= (values <= 0).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        why = "a non-positive value (log10)" if spec.how == "log10" else "a NaN or inf"
        detail = f"target {spec.name!r}: event {row} has {why}: {values[row].tolist()}"
        raise FileFormatError(f.filename, detail)
    if spec.how == "log10":
        return replace(spec, columns=_columns(spec, parts)), np.log10(values)
    if spec.how == "value":
        return replace(spec, columns=_columns(spec, parts)), values
    if values.shape[1] == 2:
        values, angles = angles_to_vectors(values), True
    elif values.shape[1] == 3:
        angles = False
    else:
        msg = (
            f"{f.filename}: direction target {spec.name!r} has {values.shape[1]} numbers per"
            " event; a direction is (polar, azimuth) or (x, y, z)"
        )
        raise ConfigError(msg)
    norm = np.linalg.norm(values, axis=1, keepdims=True)
    if (norm == 0).any():
        row = int(np.flatnonzero(norm[:, 0] == 0)[0])
        detail = f"direction target {spec.name!r}: event {row} has a zero vector"
        raise FileFormatError(f.filename, detail)
    columns = tuple(f"{spec.name}.{axis}" for axis in "xyz")
    return replace(spec, columns=columns, angles=angles), values / norm


def read_targets(
    f: h5py.File, specs: Sequence[TargetSpec], *, n_rows: int
) -> tuple[tuple[TargetSpec, ...], npt.NDArray[np.float32]]:
    """Specs with their columns and the (n_rows, columns) targets in model space
    (log10 applied, directions as unit vectors; not standardized).

    Raises:
        KeyInFileError: a field is not in the file (with the names that are).
        FileFormatError: a value is not finite (or not positive for log10), naming the event.
    """
    done = [_one(f, spec, n_rows) for spec in specs]
    values = np.concatenate([v for _, v in done], axis=1) if done else np.zeros((n_rows, 0))
    return tuple(s for s, _ in done), values.astype(np.float32)
