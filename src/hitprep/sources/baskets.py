"""Read plain numeric TTree branches straight from their baskets, without uproot's per-basket work.

uproot reads a basket through its generic object model (key, ``TBasket`` streamer,
decompression, interpretation), about a quarter of a millisecond of Python per
basket, which is most of the time spent reading a NanoAOD chunk of a few hundred
branches. The branches NanoAOD is made of have the simplest layout ROOT writes:
one number per entry (``run``, ``nJet``) or a list of numbers per entry with a
count leaf (``Jet_pt[nJet]``). Their baskets are a key, a compressed payload of
the big-endian values, and, for lists, the byte offset of each entry. This
module reads those directly: one ``pread`` per basket, zlib blocks inflated by
zlib-ng (which releases the GIL), offsets and values sliced with numpy; the
basket that the next chunk also needs is kept (at most one per branch).

Everything about the branch comes from uproot (basket positions, sizes, first
entries, dtype), so only the basket payload is parsed here, and it is checked
against that metadata (sizes, entry counts, offsets). A branch with any other
layout, baskets kept inside the TBranch (a file not closed properly), or a
non-zlib compression is left to uproot, as is any basket that fails a check:
:meth:`BasketReader.read` returns only what it read itself and the caller
reads the rest with uproot, which also reports any real damage. The result is
what uproot's ``tree.arrays(..., library="ak")`` gives: awkward arrays of
numbers per entry, or of lists of numbers.

Example:
    >>> import uproot
    >>> from hitprep.toys.nanoaod import write_toy_nanoaod
    >>> path = write_toy_nanoaod("nano.root", 20)
    >>> with uproot.open(path) as f:
    ...     reader = BasketReader(path, f["Events"])
    ...     arrays = reader.read(["run", "Jet_pt"], 0, 10)
    ...     reader.close()
    >>> sorted(arrays), len(arrays["Jet_pt"])
    (['Jet_pt', 'run'], 10)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep import fastpaths
from hitprep.deflate import decompress, zlib_error

__all__ = ["BasketReader"]

_KEY = struct.Struct(">ihiIhh")  # fNbytes, fVersion, fObjlen, fDatime, fKeylen, fCycle
_TBASKET = struct.Struct(">Hiiii")  # fVersion, fBufferSize, fNevBufSize, fNevBuf, fLast
_BLOCK_HEADER = 9  # ROOT compression block: algorithm (2), method (1), sizes (3 + 3)
_ZLIB = b"ZL"


class _Unsupported(Exception):
    """This branch or basket is left to uproot."""


@dataclass(frozen=True)
class _Branch:
    seeks: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    first: npt.NDArray[np.int64]  # first entry of each basket, and the end
    dtype: np.dtype[Any]  # big-endian, as stored
    jagged: bool


def _numeric(interpretation: Any) -> np.dtype[Any] | None:
    import uproot

    if type(interpretation) is not uproot.AsDtype:
        return None
    dtype: np.dtype[Any] = np.dtype(interpretation.from_dtype)
    if dtype.names is not None or dtype.shape != () or dtype.kind not in "biuf":
        return None
    return dtype


def _plan(branch: Any, num_entries: int) -> _Branch | None:
    """Basket layout of ``branch`` if it is plain numbers or a list of numbers, else None."""
    import uproot

    try:
        if len(branch.branches) > 0:
            return None
        interp = branch.interpretation
        jagged = type(interp) is uproot.AsJagged
        if jagged and interp.header_bytes != 0:
            return None  # std::vector and friends: a header per entry
        dtype = _numeric(interp.content if jagged else interp)
        if dtype is None or len(branch.embedded_baskets) > 0:
            return None  # baskets kept inside the TBranch (not written out when it was saved)
        n = int(branch.num_baskets)
        seeks = np.asarray(branch.member("fBasketSeek"), dtype=np.int64)[:n]
        sizes = np.asarray(branch.member("fBasketBytes"), dtype=np.int64)[:n]
        first = np.asarray(branch.entry_offsets, dtype=np.int64)
    except Exception:  # not a TTree branch as expected (an RNTuple field, an odd model)
        return None
    if len(first) != n + 1 or len(seeks) != n or len(sizes) != n:
        return None
    if first[0] != 0 or first[-1] != num_entries or (np.diff(first) <= 0).any():
        return None
    return _Branch(seeks, sizes, first, dtype, jagged)


def _inflate(payload: memoryview, size: int) -> bytes:
    """ROOT's compressed payload (zlib blocks of at most 16 MiB each) -> ``size`` bytes."""
    parts: list[bytes] = []
    pos = 0
    while pos < len(payload):
        header = bytes(payload[pos : pos + _BLOCK_HEADER])
        if len(header) < _BLOCK_HEADER or header[:2] != _ZLIB:
            raise _Unsupported
        packed = header[3] | header[4] << 8 | header[5] << 16
        unpacked = header[6] | header[7] << 8 | header[8] << 16
        start = pos + _BLOCK_HEADER
        try:
            parts.append(decompress(payload[start : start + packed], bufsize=unpacked))
        except zlib_error as err:  # damaged: uproot reads it again and reports it
            raise _Unsupported from err
        if len(parts[-1]) != unpacked:
            raise _Unsupported
        pos = start + packed
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) != size:
        raise _Unsupported
    return data


class BasketReader:
    """Direct reader for the plain numeric branches of one TTree of a local file.

    Args:
        path: the ROOT file.
        tree: the uproot TTree (its metadata says where the baskets are).
    """

    def __init__(self, path: str | Path, tree: Any) -> None:
        self.path = Path(path)
        self._tree = tree
        self._num_entries = int(tree.num_entries)
        self._plans: dict[str, _Branch | None] = {}
        self._last: dict[str, tuple[int, bytes, npt.NDArray[np.int64] | None]] = {}
        self._fd: int | None = None
        # (no os.pread on Windows: uproot reads everything)
        self.enabled = fastpaths.enabled() and hasattr(os, "pread")

    def _plan_of(self, name: str) -> _Branch | None:
        if name not in self._plans:
            try:
                branch = self._tree[name]
            except Exception:
                self._plans[name] = None
            else:
                self._plans[name] = _plan(branch, self._num_entries)
        return self._plans[name]

    def _basket(self, plan: _Branch, i: int) -> tuple[bytes, npt.NDArray[np.int64] | None, int]:
        """Payload of basket ``i``: (values and offsets bytes, entry byte offsets, border)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        size = int(plan.sizes[i])
        raw = os.pread(self._fd, size, int(plan.seeks[i]))
        if len(raw) != size or size < _KEY.size:
            raise _Unsupported
        nbytes, _, objlen, _, keylen, _ = _KEY.unpack_from(raw, 0)
        if nbytes != size or not _KEY.size + _TBASKET.size < keylen <= size:
            raise _Unsupported
        _, _, _, entries, last = _TBASKET.unpack_from(raw, keylen - _TBASKET.size - 1)
        if entries != plan.first[i + 1] - plan.first[i]:
            raise _Unsupported
        payload = memoryview(raw)[keylen:]
        data = bytes(payload) if len(payload) == objlen else _inflate(payload, objlen)
        border = last - keylen
        if not 0 <= border <= objlen or (objlen - border) % 4:
            raise _Unsupported
        if border == objlen:
            if plan.jagged or border != entries * plan.dtype.itemsize:
                raise _Unsupported
            return data, None, border
        # after the values: a count, then each entry's byte offset (+ fKeylen), as uproot reads
        stored = np.frombuffer(data, ">i4", offset=border, count=(objlen - border) // 4)
        offsets = stored[1:].astype(np.int64) - keylen
        if len(offsets) != entries + 1:
            raise _Unsupported
        offsets[-1] = border
        if offsets[0] != 0 or (np.diff(offsets) < 0).any() or (offsets % plan.dtype.itemsize).any():
            raise _Unsupported
        return data, offsets, border

    def _cached(
        self, name: str, plan: _Branch, i: int, *, keep: bool
    ) -> tuple[bytes, npt.NDArray[np.int64] | None]:
        """Basket ``i`` of branch ``name``, kept (``keep``) when the next chunk needs it too.

        Chunks smaller than the baskets (or not aligned with them) then inflate
        each basket once, not once per chunk, for at most one basket per branch
        of memory; chunks that end where baskets end keep nothing.
        """
        last = self._last.get(name)
        if last is not None and last[0] == i:
            return last[1], last[2]
        data, offsets, _ = self._basket(plan, i)
        if keep:
            self._last[name] = (i, data, offsets)
        else:
            self._last.pop(name, None)
        return data, offsets

    def _read_one(self, name: str, plan: _Branch, start: int, stop: int) -> ak.Array:
        dtype, itemsize = plan.dtype, plan.dtype.itemsize
        first = int(np.searchsorted(plan.first, start, side="right")) - 1
        end = int(np.searchsorted(plan.first, stop, side="left"))
        values: list[npt.NDArray[Any]] = []
        counts: list[npt.NDArray[np.int64]] = []
        for i in range(max(first, 0), end):
            data, offsets = self._cached(name, plan, i, keep=stop < plan.first[i + 1])
            lo = max(start, int(plan.first[i])) - int(plan.first[i])
            hi = min(stop, int(plan.first[i + 1])) - int(plan.first[i])
            if offsets is None:
                values.append(np.frombuffer(data, dtype, count=hi - lo, offset=lo * itemsize))
            else:
                begin, end_byte = int(offsets[lo]), int(offsets[hi])
                n = (end_byte - begin) // itemsize
                values.append(np.frombuffer(data, dtype, count=n, offset=begin))
                counts.append(np.diff(offsets[lo : hi + 1]) // itemsize)
        native = dtype.newbyteorder("=")
        flat = (np.concatenate(values) if values else np.zeros(0, dtype)).astype(native)
        if not plan.jagged:
            return ak.Array(ak.contents.NumpyArray(flat))
        per_entry = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        offsets_out = np.zeros(len(per_entry) + 1, dtype=np.int64)
        np.cumsum(per_entry, out=offsets_out[1:])
        layout = ak.contents.ListOffsetArray(
            ak.index.Index64(offsets_out), ak.contents.NumpyArray(flat)
        )
        return ak.Array(layout)

    def read(self, branches: Sequence[str], start: int, stop: int) -> dict[str, ak.Array]:
        """Entries ``start:stop`` of the ``branches`` this reader can read; the others are left out.

        Numbers per entry come as ``number`` arrays, lists as ``var * number``
        arrays, in native byte order, as uproot's ``library="ak"`` gives them.
        """
        out: dict[str, ak.Array] = {}
        if not self.enabled or stop <= start:
            return out
        for name in branches:
            plan = self._plan_of(name)
            if plan is None:
                continue
            try:
                out[name] = self._read_one(name, plan, start, stop)
            except (_Unsupported, OSError, ValueError):
                self._plans[name] = None  # uproot reads it from now on, and reports any damage
        return out

    def close(self) -> None:
        self._last.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
