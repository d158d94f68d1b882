"""Read 1-d chunked HDF5 datasets faster than h5py: raw chunks, decompressed in threads.

h5py decompresses chunk after chunk under its global lock. For datasets whose filter
pipeline is only deflate (gzip), byte shuffle and Fletcher-32 (what km3pipe/PyTables
write), this module reads the raw chunks and inflates them in hitprep's thread pool
(:mod:`hitprep.threads`; with
zlib-ng, which releases the GIL: :mod:`hitprep.deflate`), then undoes the
shuffle with numpy. Anything else
(Blosc, other filters, a chunk with a skipped filter, non-1-d data) is read by h5py.
The result is the same array h5py returns (tests compare them on real files).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep import fastpaths
from hitprep.deflate import decompress, zlib_error
from hitprep.errors import FileFormatError
from hitprep.threads import run_all

__all__ = ["ensure_filters", "read_slice"]


_DEFLATE, _SHUFFLE, _FLETCHER32 = 1, 2, 3
_SUPPORTED = {_DEFLATE, _SHUFFLE, _FLETCHER32}


def ensure_filters(datasets: Iterable[h5py.Dataset]) -> None:
    """Register hdf5plugin's filters (Blosc, LZ4, Zstd, ...) if a dataset needs one.

    HDF5 itself decodes gzip, shuffle, Fletcher-32, szip, n-bit, scale-offset and LZF;
    importing :mod:`hdf5plugin` costs about 10 ms, so only files that use another
    filter pay for it. A filter that hdf5plugin does not provide either is left for
    HDF5 to report when the data are read.
    """
    for ds in datasets:
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            if not h5py.h5z.filter_avail(plist.get_filter(i)[0]):
                import hdf5plugin  # noqa: F401  (registers its filters on import)

                return


def _filters(ds: h5py.Dataset) -> tuple[int, ...] | None:
    """Filter ids in write order, or None when this module cannot decode them."""
    if ds.ndim != 1 or ds.chunks is None or ds.dtype.kind not in "iufb":
        return None
    if not fastpaths.enabled():
        return None
    plist = ds.id.get_create_plist()
    ids = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))
    if _DEFLATE not in ids or not set(ids) <= _SUPPORTED:
        return None
    return ids


def _decode_into(
    out: npt.NDArray[np.uint8], raw: bytes, filters: tuple[int, ...], itemsize: int
) -> None:
    """Undo the filters of one chunk, writing its first ``len(out)`` bytes into ``out``."""
    data = raw
    shuffled = False
    for f in reversed(filters):
        if f == _DEFLATE:
            data = decompress(data)
        elif f == _SHUFFLE and itemsize > 1:
            shuffled = True
        elif f == _FLETCHER32 and not shuffled:
            data = data[:-4]
    if shuffled:  # byte planes: all first bytes, all second bytes, ... (+ leftover bytes)
        n = len(data) // itemsize  # a Fletcher-32 checksum may be shuffled in as well
        planes = np.frombuffer(data, dtype=np.uint8, count=n * itemsize).reshape(itemsize, n)
        m = len(out) // itemsize
        out.reshape(m, itemsize)[:] = planes[:, :m].T
    else:
        out[:] = np.frombuffer(data, dtype=np.uint8, count=len(out))


def read_slice(ds: h5py.Dataset, start: int, stop: int) -> npt.NDArray[Any]:
    """``ds[start:stop]`` of a 1-d dataset, inflating its chunks in parallel where possible.

    Raises:
        FileFormatError: the items cannot be read (a damaged chunk); names the file,
            the dataset and the items.
    """
    try:
        return _read_slice(ds, start, stop)
    except OSError as err:  # HDF5's own read failed (a filter, a truncated file)
        msg = f"{ds.name}: items {start} to {stop} cannot be read ({err})"
        raise FileFormatError(ds.file.filename, msg) from err


def _read_slice(ds: h5py.Dataset, start: int, stop: int) -> npt.NDArray[Any]:
    stop = min(stop, ds.shape[0]) if ds.ndim == 1 else stop
    filters = _filters(ds)
    if filters is None or stop - start < 2 * ds.chunks[0]:
        return np.asarray(ds[start:stop])
    length = ds.chunks[0]
    first, last = start // length, (stop - 1) // length
    raws = []
    for c in range(first, last + 1):
        mask, raw = ds.id.read_direct_chunk((c * length,))
        if mask:  # a filter was skipped for this chunk: let HDF5 handle the whole slice
            return np.asarray(ds[start:stop])
        raws.append(raw)
    itemsize = ds.dtype.itemsize
    n_items = min((last + 1) * length, ds.shape[0]) - first * length
    out = np.empty(n_items * itemsize, dtype=np.uint8)
    pieces = [
        out[i * length * itemsize : min((i + 1) * length, n_items) * itemsize]
        for i in range(len(raws))
    ]

    def decode(i: int) -> None:
        try:
            _decode_into(pieces[i], raws[i], filters, itemsize)
        except (zlib_error, ValueError) as err:  # a damaged chunk: name file, dataset, items
            lo = (first + i) * length
            hi = min(lo + length, ds.shape[0])
            msg = f"{ds.name}: compressed chunk of items {lo} to {hi} is corrupt ({err})"
            raise FileFormatError(ds.file.filename, msg) from err

    run_all(decode, range(len(raws)))  # waits, and raises the first error
    offset = start - first * length
    result: npt.NDArray[Any] = out.view(ds.dtype)[offset : offset + (stop - start)]
    return result
