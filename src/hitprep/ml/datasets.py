"""Torch datasets over hitprep's HDF5 outputs: the base class every dataset shares.

Every dataset reads whole batches: the DataLoader calls ``__getitems__`` with
a batch of indices and gets a dict of batched tensors (inputs by name,
``label``, ``extras``, ``row``); use :func:`hitprep.ml.loader.collate` (or
:func:`hitprep.ml.loader.make_loader`) as the collate function. Files are
opened lazily in each worker, so ``num_workers > 0`` is safe.

Images (:mod:`hitprep.ml.images`), graphs (:mod:`hitprep.ml.graphs`) and WatChMaL hits
(:mod:`hitprep.ml.watchmal`) share the base class :class:`EventDataset`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from hitprep.errors import ConfigError, FileFormatError
from hitprep.ml.h5io import ChunkCache, LazyFile, read_column, read_rows
from hitprep.ml.schema import InputSpec, Schema
from hitprep.ml.targets import TargetSpec, read_targets

__all__ = [
    "Batch",
    "EventDataset",
    "chunk_events",
    "select_classes",
]

#: a batch (or one event): inputs by name, ``label`` or ``target``, ``extras``, ``mask``, ``row``
Batch = dict[str, torch.Tensor]

#: ``in_memory="auto"`` loads the data when they take at most this many bytes
MEMORY_BUDGET = 1 << 30


def select_classes(
    values: npt.NDArray[Any], classes: Sequence[int] | None, *, file: str, label: str
) -> tuple[npt.NDArray[np.int64], tuple[int, ...]]:
    """Class index of each label value (-1 for values outside ``classes``) and the classes.

    ``classes=None`` takes every value present, sorted.

    Raises:
        ConfigError: non-integer labels (classification only), or fewer than two classes.
    """
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        msg = (
            f"{file}: label {label!r} has non-integer values; a label holds class numbers"
            f" (to regress {label!r}, give it as a target: --target {label})"
        )
        raise ConfigError(msg)
    ints = values.astype(np.int64)
    found = tuple(int(c) for c in np.unique(ints))
    chosen = found if classes is None else tuple(int(c) for c in classes)
    if len(chosen) < 2:
        msg = f"{file}: label {label!r} needs at least two classes to train on, found {list(found)}"
        raise ConfigError(msg)
    lookup = np.asarray(chosen, dtype=np.int64)
    order = np.argsort(lookup)
    pos = np.searchsorted(lookup[order], ints)
    pos = np.clip(pos, 0, len(lookup) - 1)
    hit = lookup[order][pos] == ints
    index = np.where(hit, order[pos], -1).astype(np.int64)
    return index, chosen


class EventDataset(Dataset[Batch]):
    """Base class: rows of one HDF5 file, their labels and extra scalar inputs.

    Args:
        path: hitprep HDF5 output.
        rows: file rows (events) this dataset serves, e.g. one split; default all.
        label: label field (of ``y``, or a top-level dataset); None for no labels.
        classes: label values kept, in class order (default: all values in the file);
            rows with other labels are dropped and counted in :attr:`excluded`.
        extras: scalar inputs (fields of ``y`` or top-level datasets).
        targets: regression targets (:mod:`hitprep.ml.targets`), instead of a label.
        fixed_extras: values of extra inputs given rather than read (e.g. a mass
            hypothesis for a file without a mass field); see :meth:`set_extra`.
        in_memory: load the rows' data into memory at construction
            (``"auto"``: when they take at most 1 GiB).
    """

    kind = "base"

    def __init__(
        self,
        path: str | Path,
        *,
        rows: npt.ArrayLike | None = None,
        label: str | None = None,
        classes: Sequence[int] | None = None,
        extras: Sequence[str] = (),
        targets: Sequence[TargetSpec] = (),
        fixed_extras: Mapping[str, float] | None = None,
        in_memory: bool | str = False,
    ) -> None:
        self.path = Path(path)
        self.file = LazyFile(self.path)
        self._cache: ChunkCache | None = None
        f = self.file.get()
        self._open(f)
        n = self.n_file_rows
        all_rows = np.arange(n, dtype=np.int64)
        chosen = all_rows if rows is None else np.asarray(rows, dtype=np.int64)
        if len(chosen) and (chosen.min() < 0 or chosen.max() >= n):
            detail = f"rows must lie in [0, {n}), got {chosen.min()}..{chosen.max()}"
            raise FileFormatError(self.path, detail)
        self.label = label
        self.classes: tuple[int, ...] = ()
        self.targets: npt.NDArray[np.int64] | None = None
        self.excluded = 0
        if label is not None:
            values = read_column(f, label, n_rows=n, what="label field")
            index, self.classes = select_classes(values, classes, file=str(self.path), label=label)
            keep = index[chosen] >= 0
            self.excluded = int(len(chosen) - keep.sum())
            chosen = chosen[keep]
            self.targets = index[chosen]
        self.rows = chosen
        self.target_specs: tuple[TargetSpec, ...] = ()
        self.target_values: npt.NDArray[np.float32] | None = None
        if targets:
            self.target_specs, values = read_targets(f, targets, n_rows=n)
            self.target_values = values[chosen]
        self.extras = tuple(extras)
        self.extra_values: npt.NDArray[np.float32] | None = None
        fixed = dict(fixed_extras or {})
        unknown = sorted(set(fixed) - set(self.extras))
        if unknown:
            msg = f"extra input {unknown[0]!r} is not one the model takes ({list(self.extras)})"
            raise ConfigError(msg)
        if self.extras:
            cols = [
                np.full(len(chosen), fixed[e])
                if e in fixed
                else read_column(f, e, n_rows=n, what="extra input")[chosen]
                for e in self.extras
            ]
            self.extra_values = np.stack(cols, axis=1).astype(np.float32)
        if in_memory == "auto":
            in_memory = self.nbytes() <= MEMORY_BUDGET
        self.in_memory = bool(in_memory)
        if self.in_memory:
            self._load(f)

    # -- to implement ------------------------------------------------------------------
    def _open(self, f: h5py.File) -> None:
        """Check the layout and set :attr:`n_file_rows` and :attr:`specs`."""
        raise NotImplementedError

    def _read(self, rows: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]) -> Batch:
        """Inputs of file ``rows`` (``positions`` index them within this dataset)."""
        raise NotImplementedError

    def _load(self, f: h5py.File) -> None:
        """Keep this dataset's rows in memory."""
        raise NotImplementedError

    def nbytes(self) -> int:
        """Bytes the rows' inputs take uncompressed."""
        raise NotImplementedError

    n_file_rows: int
    specs: tuple[InputSpec, ...]

    def chunk_rows(self) -> int | None:
        """Events per compressed storage chunk, when reading from disk (for shuffling by chunk)."""
        return None

    def read(self, name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """Rows of dataset ``name`` from the file; whole chunks through the chunk cache when
        the dataset is compressed."""
        ds = self.file.get()[name]
        if not ChunkCache.applies(ds):
            return read_rows(ds, rows)  # type: ignore[no-any-return]
        if self._cache is None:
            self._cache = ChunkCache()
        return self._cache.rows(ds, rows)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None  # each process decodes its own chunks
        return state

    # -- dataset protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Batch:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}

    def __getitems__(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> Batch:
        positions = np.asarray(indices, dtype=np.int64)
        rows = self.rows[positions]
        batch = self._read(rows, positions)
        batch["row"] = torch.from_numpy(rows)
        if self.targets is not None:
            batch["label"] = torch.from_numpy(self.targets[positions])
        if self.target_values is not None:
            batch["target"] = torch.from_numpy(self.target_values[positions])
        if self.extra_values is not None:
            batch["extras"] = torch.from_numpy(self.extra_values[positions])
        return batch

    def schema(self, *, transform: str = "none", signal: int | None = None) -> Schema:
        """The input schema of this dataset (without normalization statistics)."""
        if signal is not None and signal not in self.classes:
            msg = (
                f"{self.path}: signal class {signal} is not among the classes {list(self.classes)}"
            )
            raise ConfigError(msg)
        return Schema(
            kind=self.kind,
            inputs=self.specs,
            extras=self.extras,
            label=self.label,
            classes=self.classes,
            signal=signal,
            transform=transform,
            targets=self.target_specs,
        )

    def set_extra(self, name: str, value: float) -> None:
        """Give every event the extra input ``name`` = ``value`` (a hypothesis to score)."""
        if self.extra_values is None or name not in self.extras:
            msg = f"extra input {name!r} is not one the model takes ({list(self.extras)})"
            raise ConfigError(msg)
        self.extra_values[:, self.extras.index(name)] = value

    def target_statistics(self) -> tuple[TargetSpec, ...]:
        """The targets with the mean and std of each value column over this dataset's rows
        (directions keep mean 0 and std 1: they are unit vectors)."""
        out = []
        start = 0
        values = self.target_values if self.target_values is not None else np.zeros((0, 0))
        for spec in self.target_specs:
            cols = values[:, start : start + spec.size].astype(np.float64)
            start += spec.size
            if spec.is_direction or len(cols) == 0:
                out.append(spec.with_stats([0.0] * spec.size, [1.0] * spec.size))
                continue
            std = cols.std(axis=0)
            std = np.where(std > 1e-12 * np.maximum(np.abs(cols.mean(axis=0)), 1.0), std, 1.0)
            out.append(spec.with_stats(cols.mean(axis=0).tolist(), std.tolist()))
        return tuple(out)

    def statistics(
        self, *, transform: str = "none", max_events: int = 10000, seed: int = 0
    ) -> dict[str, dict[str, list[float]]]:
        """Per-channel (per-feature) mean and std of each input and of the extras.

        Computed over at most ``max_events`` events of this dataset (a seeded sample),
        after ``transform`` (images and grids only); node features only over real
        (unmasked) nodes.
        """
        n = len(self)
        take = np.arange(n)
        if n > max_events:
            take = np.sort(np.random.default_rng(seed).choice(n, max_events, replace=False))
        sums: dict[str, list[torch.Tensor]] = {}
        for lo in range(0, len(take), 512):
            batch = self.__getitems__(take[lo : lo + 512])
            for spec in self.specs:
                x = batch[spec.name].double()
                if spec.kind == "nodes":
                    flat = x[batch[f"{spec.name}_mask"]]
                else:
                    flat = x.transpose(0, 1).reshape(x.shape[1], -1).T
                if transform == "log1p" and spec.kind != "nodes":
                    flat = torch.log1p(flat.clamp_min(0))
                _accumulate(sums, spec.name, flat)
            if "extras" in batch:
                _accumulate(sums, "extras", batch["extras"].double())
        out: dict[str, dict[str, list[float]]] = {}
        for name, (count, total, squares) in sums.items():
            mean = total / count.clamp_min(1)
            var = (squares / count.clamp_min(1) - mean**2).clamp_min(0)
            std = torch.sqrt(var)
            std = torch.where(std > 1e-6 * mean.abs().clamp_min(1.0), std, torch.ones_like(std))
            out[name] = {"mean": mean.tolist(), "std": std.tolist()}
        return out


def _accumulate(sums: dict[str, list[torch.Tensor]], name: str, flat: torch.Tensor) -> None:
    count = torch.full((flat.shape[1],), float(flat.shape[0]), dtype=torch.float64)
    part = [count, flat.sum(0), (flat**2).sum(0)]
    if name in sums:
        sums[name] = [a + b for a, b in zip(sums[name], part, strict=True)]
    else:
        sums[name] = part


def chunk_events(ds: h5py.Dataset, n_events: int) -> int | None:
    """Events per chunk of ``ds`` (rows per chunk scaled by events per row) if compressed."""
    if ds.chunks is None or ds.compression is None or ds.shape[0] == 0:
        return None
    return max(1, round(int(ds.chunks[0]) * n_events / int(ds.shape[0])))
