"""WatChMaL jagged PMT hits turned into PMT-grid images on the fly.

Reads the WatChMaL HDF5 layout (``hit_pmt`` 0-based tube ids, ``hit_charge``,
``hit_time``, ``event_hits_index`` start offsets; labels in ``labels``) and a
PMT map giving each PMT's (row, column) pixel, as WatChMaL's ``CNNDataset``
does (``pmt_image_positions`` in an ``.npz``). With ``pmts_per_pixel = 19`` the
map is per mPMT module and each module's PMTs become channels (WatChMaL's
mPMT layout: channel = PMT number in its module).

Per pixel, the charge channel sums the hits' charge and the time channel holds
the earliest hit time (0 where no hit), so several hits on one PMT are never
silently overwritten; two PMTs mapped to one pixel are an error. A PMT whose
row and column are −1 (off the imaged region, in a map made elsewhere; hitprep's
``pmt_image_positions`` place every PMT, caps included) is not drawn: its hits are left
out of the image; :attr:`WatchmalDataset.unmapped_pmts` says how many PMTs that concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import torch

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.events import event_index
from hitprep.ml.datasets import Batch, EventDataset, chunk_events
from hitprep.ml.h5io import dataset, read_spans
from hitprep.ml.schema import InputSpec

__all__ = ["WatchmalDataset", "is_watchmal", "load_pmt_map"]

_HIT_FIELDS = {"charge": "hit_charge", "time": "hit_time"}


def is_watchmal(f: h5py.File) -> bool:
    """Whether ``f`` has WatChMaL's jagged hit layout."""
    return all(isinstance(f.get(n), h5py.Dataset) for n in ("hit_pmt", "event_hits_index"))


def load_pmt_map(spec: str | Path | npt.ArrayLike) -> npt.NDArray[np.int64]:
    """A (n, 2) integer array of (row, column) per PMT (or module).

    Args:
        spec: an array, ``.npz`` (``pmt_image_positions`` or ``mpmt_image_positions``,
            WatChMaL's files), ``.npy``, ``FILE.h5:DATASET``, or ``FILE.h5`` (its
            ``pmt_image_positions``, as ``hitprep convert wcsim_grid`` writes it).
            Rows of (−1, −1) mark PMTs that have no pixel.

    Raises:
        FileFormatError: unreadable, wrong shape, other negative entries, or two entries
            on one pixel.
    """
    if isinstance(spec, str | Path):
        text = str(spec)
        name = text
        path, sep, key = text.rpartition(":")
        try:
            if text.endswith((".h5", ".hdf5")):
                path, key = text, "pmt_image_positions"
            if (sep or text.endswith((".h5", ".hdf5"))) and path.endswith((".h5", ".hdf5")):
                with h5py.File(path, "r") as f:
                    arr = dataset(f, key, what="PMT map dataset")[:]
            elif text.endswith(".npz"):
                with np.load(text, allow_pickle=False) as z:
                    keys = [k for k in ("pmt_image_positions", "mpmt_image_positions") if k in z]
                    if not keys:
                        wanted = "pmt_image_positions"
                        raise KeyInFileError(wanted, file=text, available=z.files, what="array")
                    arr = z[keys[0]]
            elif text.endswith(".npy"):
                arr = np.load(text, allow_pickle=False)
            else:
                raise FileFormatError(text, "a PMT map is .npz, .npy or FILE.h5:DATASET")
        except OSError as err:
            raise FileFormatError(text, f"cannot read the PMT map: {err}") from err
    else:
        name = "PMT map"
        arr = np.asarray(spec)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iuf" or len(arr) == 0:
        detail = f"a PMT map is (n, 2) rows and columns, got shape {arr.shape} dtype {arr.dtype}"
        raise FileFormatError(name, detail)
    pix = arr.astype(np.int64)
    off = (pix == -1).all(axis=1)
    if (pix[~off] < 0).any() or off.all():
        detail = "PMT map rows and columns must be >= 0 (or -1, -1 for a PMT without a pixel)"
        raise FileFormatError(name, detail)
    width = int(pix[:, 1].max()) + 1
    flat = np.where(off, -1, pix[:, 0] * width + pix[:, 1])
    uniq, counts = np.unique(flat[~off], return_counts=True)
    if (counts > 1).any():
        shared = int(uniq[np.flatnonzero(counts > 1)[0]])
        pmts = np.flatnonzero(flat == shared)[:2].tolist()
        row, col = divmod(shared, width)
        detail = f"PMTs {pmts[0]} and {pmts[1]} share pixel ({row}, {col})"
        raise FileFormatError(name, detail)
    result: npt.NDArray[np.int64] = pix
    return result


class WatchmalDataset(EventDataset):
    """PMT-grid images ``grid`` (B, C, H, W) built from WatChMaL jagged hits per batch.

    Args:
        path: WatChMaL HDF5 file.
        pmt_map: see :func:`load_pmt_map`.
        channels: ``charge`` and/or ``time``, in order.
        pmts_per_pixel: PMTs per map entry (19 for an mPMT module map).
        **options: see :class:`~hitprep.ml.datasets.EventDataset` (label default ``labels``).
    """

    kind = "watchmal"

    def __init__(
        self,
        path: str | Path,
        *,
        pmt_map: str | Path | npt.ArrayLike,
        channels: Sequence[str] = ("charge", "time"),
        pmts_per_pixel: int = 1,
        **options: Any,
    ) -> None:
        if not channels or set(channels) - set(_HIT_FIELDS):
            msg = f"grid channels must be 'charge' and/or 'time', got {list(channels)}"
            raise ConfigError(msg)
        self.pmt_map = load_pmt_map(pmt_map)
        self.channels = tuple(channels)
        self.per_pixel = pmts_per_pixel
        self.unmapped_pmts = int((self.pmt_map[:, 0] < 0).sum()) * pmts_per_pixel
        self.height = int(self.pmt_map[:, 0].max()) + 1
        self.width = int(self.pmt_map[:, 1].max()) + 1
        self._memory: dict[str, npt.NDArray[Any]] = {}
        self._mem_starts: npt.NDArray[np.int64] | None = None
        super().__init__(path, **options)

    def _open(self, f: h5py.File) -> None:
        if not is_watchmal(f):
            missing = next(n for n in ("hit_pmt", "event_hits_index") if n not in f)
            raise KeyInFileError(missing, file=self.path, available=list(f), what="dataset")
        self.fields = ("hit_pmt", *(_HIT_FIELDS[c] for c in self.channels))
        n_hits = int(dataset(f, "hit_pmt").shape[0])
        for name in self.fields[1:]:
            if dataset(f, name, what="hit dataset").shape != (n_hits,):
                detail = f"{name} has shape {f[name].shape}, hit_pmt has ({n_hits},)"
                raise FileFormatError(self.path, detail)
        starts = f["event_hits_index"][:].astype(np.int64)
        stops = np.append(starts[1:], n_hits).astype(np.int64)
        if len(starts) and (starts[0] < 0 or (stops < starts).any() or stops[-1] > n_hits):
            detail = "event_hits_index is not a non-decreasing list of start offsets into hit_pmt"
            raise FileFormatError(self.path, detail)
        self.starts, self.stops = starts, stops
        self.n_file_rows = len(starts)
        n_channels = len(self.channels) * self.per_pixel
        spec = InputSpec(
            "grid",
            "grid",
            (n_channels, self.height, self.width),
            tuple(
                f"{c}{i}" if self.per_pixel > 1 else c
                for c in self.channels
                for i in range(self.per_pixel)
            ),
        )
        self.specs = (spec,)
        self.n_pmts = len(self.pmt_map) * self.per_pixel
        self._layout = {name: _contiguous(f[name]) for name in self.fields}
        self._mmaps: dict[str, npt.NDArray[Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_mmaps"] = {}  # each process maps the file itself
        return state

    def _source(self, name: str) -> h5py.Dataset | npt.NDArray[Any]:
        """A memory map when the dataset is contiguous and uncompressed, else the dataset."""
        layout = self._layout[name]
        if layout is None:
            return self.file.get()[name]
        if name not in self._mmaps:
            offset, dtype, shape = layout
            self._mmaps[name] = np.memmap(
                self.path, mode="r", dtype=dtype, offset=offset, shape=shape
            )
        return self._mmaps[name]

    def nbytes(self) -> int:
        f = self.file.get()
        per_hit = sum(int(f[name].dtype.itemsize) for name in self.fields)
        return per_hit * int((self.stops[self.rows] - self.starts[self.rows]).sum())

    def chunk_rows(self) -> int | None:
        if self._mem_starts is not None:
            return None
        return chunk_events(self.file.get()["hit_pmt"], self.n_file_rows)

    def _load(self, f: h5py.File) -> None:
        starts, stops = self.starts[self.rows], self.stops[self.rows]
        for name in self.fields:
            self._memory[name], counts = read_spans(f[name], starts, stops)
        self._mem_starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _hits(
        self, rows: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]
    ) -> tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.int64]]:
        out: dict[str, npt.NDArray[Any]] = {}
        counts = np.zeros(len(rows), dtype=np.int64)
        for name in self.fields:
            if self._mem_starts is not None:
                s, e = self._mem_starts[positions], self._mem_starts[positions + 1]
                out[name], counts = read_spans(self._memory[name], s, e)
            else:
                out[name], counts = read_spans(
                    self._source(name), self.starts[rows], self.stops[rows]
                )
        return out, counts

    def _read(self, rows: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]) -> Batch:
        hits, counts = self._hits(rows, positions)
        pmt = hits["hit_pmt"].astype(np.int64)
        if len(pmt) and (pmt.min() < 0 or pmt.max() >= self.n_pmts):
            bad = int(np.flatnonzero((pmt < 0) | (pmt >= self.n_pmts))[0])
            row = int(rows[event_index(counts)[bad]])
            detail = f"event {row}: hit_pmt {pmt[bad]} outside the PMT map's 0..{self.n_pmts - 1}"
            raise FileFormatError(self.path, detail)
        entry, sub = np.divmod(pmt, self.per_pixel)
        pix = self.pmt_map[entry]
        event = event_index(counts)
        if self.unmapped_pmts:
            drawn = pix[:, 0] >= 0
            pix, sub, event = pix[drawn], sub[drawn], event[drawn]
            hits = {name: values[drawn] for name, values in hits.items()}
        n_ch = len(self.channels) * self.per_pixel
        plane = self.height * self.width
        base = event * (n_ch * plane) + pix[:, 0] * self.width + pix[:, 1]
        size = len(rows) * n_ch * plane
        grid = np.zeros(size, dtype=np.float32)
        for c, name in enumerate(self.channels):
            index = base + (c * self.per_pixel + sub) * plane
            values = hits[_HIT_FIELDS[name]].astype(np.float32)
            if name == "charge":
                grid += np.bincount(index, weights=values, minlength=size).astype(np.float32)
            else:
                earliest = np.full(size, np.inf, dtype=np.float32)
                np.minimum.at(earliest, index, values)
                hit = np.isfinite(earliest)
                grid[hit] = earliest[hit]
        shape = (len(rows), n_ch, self.height, self.width)
        return {"grid": torch.from_numpy(grid.reshape(shape))}


def _contiguous(ds: h5py.Dataset) -> tuple[int, np.dtype[Any], tuple[int, ...]] | None:
    """Byte offset, dtype and shape of a contiguous, uncompressed dataset (WatChMaL memory-maps
    those); None otherwise."""
    if ds.chunks is not None or ds.compression is not None or ds.shape[0] == 0:
        return None
    offset = ds.id.get_offset()
    if offset is None:
        return None
    return int(offset), ds.dtype, tuple(ds.shape)
