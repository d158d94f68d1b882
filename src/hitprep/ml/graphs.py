"""Graph (point-cloud) datasets: nodes padded with a mask, or jagged nodes with offsets.

Layouts read:

- **padded**: nodes ``x`` (N, max_nodes, F) with a mask: a dataset ``x_mask`` / ``mask``
  (N, max_nodes), or a column named ``is_valid`` (OrcaSong's ``fixed_length``).
- **jagged**: flat nodes ``x`` (n_nodes, F) with per-event offsets: the index that a hitprep
  output declares for ``x`` (:mod:`hitprep.layout`); in other files ``x_indices``
  (km3pipe / OrcaSong: fields ``index``, ``n_items``), ``x_offsets`` (N + 1 offsets),
  or ``x_index`` / ``event_hits_index`` (N start offsets; the last event ends at n_nodes).

Feature names come from a compound dtype, OrcaSong's ``hit_info_<i>`` attributes,
or a ``features`` / ``fields`` / ``columns`` attribute. Every batch is padded
to its longest event and comes with ``<name>_mask`` (B, nodes) bool.

Precomputed edges (``hitprep convert`` with ``graph.edges``: ``x_edges`` local (source,
target) pairs and ``x_edges_indices``) come as ``<name>_edges`` (E, 2) int64: indices
into the batch's flattened nodes (``event * nodes + node``); edges to nodes cut by
``max_nodes`` are dropped. Edges are read only for a model that uses them
(``GraphDataset(edges=False)`` otherwise): a PointNet neither pays for them nor needs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import torch

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.events import event_index, offsets_from_counts
from hitprep.layout import declared_index
from hitprep.ml.datasets import Batch, EventDataset, chunk_events
from hitprep.ml.h5io import dataset, read_rows, read_spans
from hitprep.ml.schema import InputSpec

__all__ = ["GraphDataset", "feature_names", "is_graph", "pad_nodes"]

_MASK_NAMES = ("is_valid", "valid", "mask")


def feature_names(ds: h5py.Dataset) -> list[str]:
    """Names of the node feature columns of ``ds``."""
    if ds.dtype.names:
        return list(ds.dtype.names)
    n = int(ds.shape[-1])
    infos = [ds.attrs.get(f"hit_info_{i}") for i in range(n)]
    if all(v is not None for v in infos):
        return [v.decode() if isinstance(v, bytes) else str(v) for v in infos]
    for key in ("features", "fields", "columns"):
        if key in ds.attrs:
            raw = ds.attrs[key]
            names = json.loads(raw) if isinstance(raw, str | bytes) else list(raw)
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in names]
            if len(names) == n:
                return names
    return [f"f{i}" for i in range(n)]


def _offsets_candidates(nodes: str) -> tuple[str, ...]:
    return (f"{nodes}_indices", f"{nodes}_offsets", f"{nodes}_index", "event_hits_index")


def is_graph(f: h5py.File, nodes: str) -> bool:
    """Whether ``f[nodes]`` looks like graph nodes rather than images."""
    ds = f.get(nodes)
    if not isinstance(ds, h5py.Dataset):
        return False
    if ds.dtype.names or "hit_info_0" in ds.attrs:
        return True
    names = (f"{nodes}_mask", *_offsets_candidates(nodes))
    return any(isinstance(f.get(n), h5py.Dataset) for n in names)


def pad_nodes(
    flat: npt.NDArray[Any], counts: npt.NDArray[np.int64], *, max_nodes: int = 0
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Pad jagged nodes (flat, per-event counts) to (B, L, F) and a (B, L) mask.

    ``L`` is the longest event, at most ``max_nodes`` when that is positive (events
    keep their first ``max_nodes`` nodes).

    Example:
        >>> x, m = pad_nodes(np.arange(6.0).reshape(3, 2), np.array([2, 0, 1]))
        >>> x.shape, m.tolist()
        ((3, 2, 2), [[True, True], [False, False], [True, False]])
    """
    width = int(counts.max()) if len(counts) else 0
    if max_nodes > 0:
        width = min(width, max_nodes)
    event = event_index(counts)
    within = np.arange(len(flat), dtype=np.int64) - np.repeat(
        offsets_from_counts(counts)[:-1], counts
    )
    keep = within < width
    out = np.zeros((len(counts), width, *flat.shape[1:]), dtype=flat.dtype)
    mask = np.zeros((len(counts), width), dtype=bool)
    out[event[keep], within[keep]] = flat[keep]
    mask[event[keep], within[keep]] = True
    return out, mask


class GraphDataset(EventDataset):
    """Nodes of each event as ``(B, L, F)`` float32 plus a ``(B, L)`` mask.

    Args:
        path: HDF5 file.
        nodes: node dataset name.
        features: node features to use, in order (default: all but the mask column).
        mask: padded layout: mask dataset or column name (``auto``: ``<nodes>_mask``,
            ``mask``, or a column ``is_valid`` / ``valid`` / ``mask``).
        offsets: jagged layout: offsets dataset (``auto``: see the module docstring).
        max_nodes: jagged layout: keep at most this many nodes per event (0: all).
        **options: see :class:`~hitprep.ml.datasets.EventDataset`.
    """

    kind = "graph"

    def __init__(
        self,
        path: str | Path,
        *,
        nodes: str = "x",
        features: Sequence[str] = (),
        mask: str = "auto",
        offsets: str = "auto",
        max_nodes: int = 0,
        edges: bool = True,
        **options: Any,
    ) -> None:
        self.nodes = nodes
        self.read_edges = edges
        self.wanted = tuple(features)
        self.mask_spec = mask
        self.offsets_spec = offsets
        self.max_nodes = max_nodes
        self._mem_nodes: npt.NDArray[Any] | None = None
        self._mem_mask: npt.NDArray[np.bool_] | None = None
        self._mem_starts: npt.NDArray[np.int64] | None = None
        self.edges_dataset: str | None = None
        self.edge_starts = self.edge_stops = np.zeros(0, dtype=np.int64)
        super().__init__(path, **options)

    # -- layout ---------------------------------------------------------------------------
    def _open(self, f: h5py.File) -> None:
        ds = dataset(f, self.nodes, what="node dataset")
        structured = ds.dtype.names is not None
        ndim = ds.ndim + (0 if structured else -1)  # axes before the feature axis
        if ndim not in (1, 2):
            detail = f"{self.nodes!r} of shape {ds.shape} is neither jagged nor padded nodes"
            raise FileFormatError(self.path, detail)
        self.padded = ndim == 2
        names = feature_names(ds)
        self.mask_column: int | None = None
        self.mask_dataset: str | None = None
        if self.padded:
            self._find_mask(f, names)
        else:
            self._find_offsets(f, ds)
        chosen = list(self.wanted) or [n for i, n in enumerate(names) if i != self.mask_column]
        missing = [n for n in chosen if n not in names]
        if missing:
            raise KeyInFileError(missing[0], file=self.path, available=names, what="node feature")
        self.structured = structured
        self.feature_cols = [names.index(n) for n in chosen]
        self.feature_names = tuple(chosen)
        if self.read_edges:
            self._find_edges(f)
        edges = self.edges_dataset or ""  # recorded in the schema: reloads need the same edges
        spec = InputSpec(self.nodes, "nodes", (len(chosen),), self.feature_names, edges=edges)
        self.specs = (spec,)

    def _find_edges(self, f: h5py.File) -> None:
        name = f"{self.nodes}_edges"
        index = f.get(f"{name}_indices")
        if not isinstance(f.get(name), h5py.Dataset) or not isinstance(index, h5py.Dataset):
            return
        spans = index[:]
        if not spans.dtype.names or len(spans) != self.n_file_rows:
            detail = f"{name}_indices: expected (index, n_items) per event, found {spans.dtype}"
            raise FileFormatError(self.path, detail)
        self.edges_dataset = name
        self.edge_starts = spans["index"].astype(np.int64)
        self.edge_stops = self.edge_starts + spans["n_items"].astype(np.int64)

    def _find_mask(self, f: h5py.File, names: list[str]) -> None:
        spec = self.mask_spec
        n_rows = int(f[self.nodes].shape[0])
        if spec == "auto":
            for candidate in (f"{self.nodes}_mask", "mask"):
                if isinstance(f.get(candidate), h5py.Dataset):
                    spec = candidate
                    break
            else:
                spec = next((c for c in _MASK_NAMES if c in names), "")
        if not spec:
            detail = (
                f"padded nodes {self.nodes!r} need a mask: a dataset {self.nodes}_mask or a column"
                f" is_valid (columns: {', '.join(names)}); name it with data.mask"
            )
            raise FileFormatError(self.path, detail)
        if spec in names:
            self.mask_column = names.index(spec)
        else:
            ds = dataset(f, spec, what="mask dataset")
            if ds.shape != f[self.nodes].shape[:2]:
                detail = f"mask {spec!r} has shape {ds.shape}, nodes {f[self.nodes].shape}"
                raise FileFormatError(self.path, detail)
            self.mask_dataset = spec
        self.n_file_rows = n_rows

    def _find_offsets(self, f: h5py.File, ds: h5py.Dataset) -> None:
        n_nodes = int(ds.shape[0])
        candidates = _offsets_candidates(self.nodes)
        spec = self.offsets_spec
        if spec == "auto":  # the index the file declares, else the first usual name found
            found = (c for c in candidates if isinstance(f.get(c), h5py.Dataset))
            spec = declared_index(f, self.nodes) or next(found, "")
            if not spec:
                detail = (
                    f"jagged nodes {self.nodes!r} need per-event offsets"
                    f" ({', '.join(candidates)}); name them with data.offsets"
                )
                raise FileFormatError(self.path, detail)
        off = dataset(f, spec, what="offsets dataset")[:]
        if off.dtype.names and {"index", "n_items"} <= set(off.dtype.names):
            starts = off["index"].astype(np.int64)
            stops = starts + off["n_items"].astype(np.int64)
        elif off.ndim == 1 and off.dtype.kind in "iu" and spec.endswith("_offsets"):
            starts, stops = off[:-1].astype(np.int64), off[1:].astype(np.int64)
        elif off.ndim == 1 and off.dtype.kind in "iu":
            starts = off.astype(np.int64)
            stops = np.append(starts[1:], n_nodes).astype(np.int64)
        else:
            detail = f"offsets {spec!r} of shape {off.shape} dtype {off.dtype} not understood"
            raise FileFormatError(self.path, detail)
        bad = (starts < 0) | (stops < starts) | (stops > n_nodes)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            detail = (
                f"offsets {spec!r}: event {row} spans nodes {starts[row]}..{stops[row]}"
                f" outside 0..{n_nodes}"
            )
            raise FileFormatError(self.path, detail)
        self.offsets_dataset = spec
        self.starts, self.stops = starts, stops
        self.n_file_rows = len(starts)

    # -- reading --------------------------------------------------------------------------
    def nbytes(self) -> int:
        ds = self.file.get()[self.nodes]
        row_bytes = int(ds.dtype.itemsize) * int(np.prod(ds.shape[1:]))
        if self.padded:
            return row_bytes * len(self.rows)
        return row_bytes * int((self.stops[self.rows] - self.starts[self.rows]).sum())

    def _column(self, raw: npt.NDArray[Any], i: int) -> npt.NDArray[Any]:
        if self.structured:
            return np.asarray(raw[raw.dtype.names[i]])  # type: ignore[index]
        return np.asarray(raw[..., i])

    def _features(self, raw: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        if self.structured:
            cols = [self._column(raw, i).astype(np.float32) for i in self.feature_cols]
            return np.stack(cols, axis=-1)
        return raw[..., self.feature_cols].astype(np.float32)

    def chunk_rows(self) -> int | None:
        if self._mem_nodes is not None:
            return None
        return chunk_events(self.file.get()[self.nodes], self.n_file_rows)

    def _load(self, f: h5py.File) -> None:
        if self.padded:
            self._mem_nodes = read_rows(f[self.nodes], self.rows)
            if self.mask_dataset is not None:
                self._mem_mask = read_rows(f[self.mask_dataset], self.rows).astype(bool)
        else:
            starts, stops = self.starts[self.rows], self.stops[self.rows]
            self._mem_nodes, counts = read_spans(f[self.nodes], starts, stops)
            self._mem_starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _read(self, rows: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]) -> Batch:
        if self.padded:
            x, mask = self._read_padded(rows, positions)
        else:
            if self._mem_nodes is not None and self._mem_starts is not None:
                starts, stops = self._mem_starts[positions], self._mem_starts[positions + 1]
                flat, counts = read_spans(self._mem_nodes, starts, stops)
            else:
                ds = self.file.get()[self.nodes]
                flat, counts = read_spans(ds, self.starts[rows], self.stops[rows])
            x, mask = pad_nodes(self._features(flat), counts, max_nodes=self.max_nodes)
        out = {
            self.nodes: torch.from_numpy(np.ascontiguousarray(x)),
            f"{self.nodes}_mask": torch.from_numpy(mask),
        }
        if self.edges_dataset is not None:
            out[self.edges_dataset] = self._edges(rows, x.shape[1])
        return out

    def _edges(self, rows: npt.NDArray[np.int64], width: int) -> torch.Tensor:
        """The rows' edges as (E, 2) indices into the batch's flattened (B * width) nodes."""
        ds = self.file.get()[str(self.edges_dataset)]
        local, counts = read_spans(ds, self.edge_starts[rows], self.edge_stops[rows])
        local = np.asarray(local, dtype=np.int64).reshape(-1, 2)
        event = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        keep = (local < width).all(axis=1) & (local >= 0).all(axis=1)
        flat = event[keep, None] * width + local[keep]
        return torch.from_numpy(np.ascontiguousarray(flat))

    def _read_padded(
        self, rows: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        if self._mem_nodes is not None:
            raw = self._mem_nodes[positions]
        else:
            raw = self.read(self.nodes, rows)
        if self.mask_column is not None:
            mask = self._column(raw, self.mask_column) > 0.5
        elif self._mem_mask is not None:
            mask = self._mem_mask[positions]
        else:
            mask = self.read(str(self.mask_dataset), rows).astype(bool)
        # drop trailing padding that no event of the batch uses
        used = np.flatnonzero(mask.any(axis=0))
        width = int(used[-1]) + 1 if len(used) else 0
        x = self._features(raw[:, :width])
        return x, np.ascontiguousarray(mask[:, :width])
