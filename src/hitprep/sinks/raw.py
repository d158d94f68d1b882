"""Contiguous HDF5 datasets written straight at their file offsets; used by the HDF5 sink.

Contiguous datasets allocated when created (:func:`create_allocated`) are filled by
:class:`RawWriter` in hitprep's thread pool, so that the writes overlap the caller's work
(h5py holds the GIL while it writes). Where the file system allows it, the writer sends the
whole 4 KiB blocks of each write with ``O_DIRECT`` (through small reused aligned buffers):
hundreds of MB of hits then skip the page cache, whose fresh pages cost more than the disk
write on some machines (a virtual machine writing 420 MB: 0.2 s direct, 0.6-1 s buffered).
The few bytes around them, and everything on file systems that refuse ``O_DIRECT``, are
written normally. Representations and tools do not use this module: they ask the sink
(:meth:`hitprep.sinks.hdf5.HDF5Sink.allocate` and :meth:`~hitprep.sinks.hdf5.HDF5Sink.writer`).
"""

from __future__ import annotations

import errno
import os
import queue
import weakref
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep import fastpaths, threads
from hitprep.sources.h5raw import plain_numbers_in_plain_file

__all__ = ["ContiguousWriter", "RawWriter", "create_allocated"]

_PIECE = 1 << 20  # bytes per buffered os.pwrite call
_ALIGN = 4096  # O_DIRECT: file offsets, lengths and buffers aligned to this
_DIRECT_PIECE = 4 << 20  # bytes per O_DIRECT write (one reused aligned buffer)
_DIRECT_MIN = 1 << 20  # writes with fewer whole blocks stay buffered


def create_allocated(
    group: h5py.Group,
    name: str,
    *,
    length: int,
    dtype: npt.DTypeLike,
    row: tuple[int, ...] = (),
) -> h5py.Dataset:
    """A contiguous dataset of ``length`` rows of shape ``row`` (default: 1-d) whose storage
    is allocated now and never pre-filled."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    shape = (length, *row)
    return group.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl, fill_time="never")


def _pwrite_all(fd: int, view: memoryview, offset: int, *, piece: int) -> None:
    """Write all of ``view`` at ``offset``, at most ``piece`` bytes per call."""
    done = 0
    while done < len(view):
        n = os.pwrite(fd, view[done : done + piece], offset + done)
        if n <= 0:
            raise OSError(errno.EIO, f"no bytes written at offset {offset + done}")
        done += n


def _buffered(fd: int, view: memoryview, offset: int) -> None:
    """Write all of ``view`` at ``offset``, 1 MiB per call: a buffered write holds the
    file's lock throughout, and HDF5 writes its own objects into the same file meanwhile."""
    _pwrite_all(fd, view, offset, piece=_PIECE)


class _Direct:
    """``O_DIRECT`` writes of whole aligned blocks, copied through reused aligned buffers."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.enabled = True
        self._buffers: queue.SimpleQueue[npt.NDArray[np.uint8]] = queue.SimpleQueue()

    def _buffer(self) -> npt.NDArray[np.uint8]:
        try:
            return self._buffers.get_nowait()
        except queue.Empty:
            raw = np.empty(_DIRECT_PIECE + _ALIGN, dtype=np.uint8)
            shift = -raw.ctypes.data % _ALIGN
            return raw[shift : shift + _DIRECT_PIECE]

    def write(self, view: memoryview, offset: int) -> None:
        """Write ``view`` (a multiple of the alignment long) at aligned ``offset``."""
        buffer = self._buffer()
        try:
            for start in range(0, len(view), _DIRECT_PIECE):
                piece = view[start : start + _DIRECT_PIECE]
                block = buffer[: len(piece)]
                block[:] = np.frombuffer(piece, dtype=np.uint8)
                _pwrite_all(self.fd, block.data, offset + start, piece=len(piece))
        finally:
            self._buffers.put(buffer)


def _write(fd: int, direct: _Direct | None, data: npt.NDArray[Any], offset: int) -> None:
    """Write all of ``data`` at ``offset``: its whole blocks direct where possible."""
    view = data.reshape(-1).view(np.uint8).data
    end = offset + len(view)
    first = -(-offset // _ALIGN) * _ALIGN  # the whole blocks inside [offset, end)
    last = end // _ALIGN * _ALIGN
    if direct is not None and direct.enabled and last - first >= _DIRECT_MIN:
        try:
            direct.write(view[first - offset : last - offset], first)
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
            direct.enabled = False  # the file system refuses them: all buffered from now on
        else:
            _buffered(fd, view[: first - offset], offset)
            _buffered(fd, view[last - offset :], last)
            return
    _buffered(fd, view, offset)


def _close(fds: list[int], pending: deque[Future[None]]) -> None:
    """Wait for the writes in flight, then close ``fds`` (so that no write can reach a
    reused descriptor)."""
    while pending:
        pending.popleft().exception()
    for fd in fds:
        os.close(fd)


class RawWriter:
    """Writes values into allocated contiguous datasets with ``os.pwrite`` in the thread pool
    (whole 4 KiB blocks with ``O_DIRECT`` where the file system allows it).

    Build it with :meth:`open`; call :meth:`close` before the file is read or closed (it
    waits for the writes in flight and raises the first error). At most ``max_pending``
    writes are in flight (each holds its array), so memory stays bounded.
    """

    def __init__(
        self,
        fd: int,
        offsets: Mapping[str, tuple[int, int]],
        max_pending: int,
        *,
        direct_fd: int | None = None,
    ) -> None:
        self._fd = fd
        self._direct = _Direct(direct_fd) if direct_fd is not None else None
        self._offsets = dict(offsets)
        self._max_pending = max_pending
        self._pending: deque[Future[None]] = deque()
        fds = [fd] if direct_fd is None else [fd, direct_fd]
        self._closer = weakref.finalize(self, _close, fds, self._pending)

    @property
    def direct(self) -> bool:
        """Whether writes still go to the disk directly (``O_DIRECT``) where they can."""
        return self._direct is not None and self._direct.enabled

    @classmethod
    def open(
        cls, datasets: Mapping[str, h5py.Dataset], *, max_pending: int = 8, direct: bool = True
    ) -> RawWriter | None:
        """A writer for ``datasets`` (name -> dataset of one file open for writing), or None
        when one of them is not an allocated contiguous 1-d dataset of native numbers in a
        file written with HDF5's default driver.

        Args:
            datasets: the datasets to write into.
            max_pending: writes in flight at most.
            direct: write whole blocks with ``O_DIRECT`` where the file system allows it.
        """
        offsets: dict[str, tuple[int, int]] = {}
        files = {ds.file.id.id for ds in datasets.values()}
        no_pwrite = not hasattr(os, "pwrite")  # (Windows)
        if not datasets or len(files) != 1 or no_pwrite or not fastpaths.enabled():
            return None
        for name, ds in datasets.items():
            if ds.ndim != 1 or ds.chunks is not None or not plain_numbers_in_plain_file(ds):
                return None
            offset = ds.id.get_offset()
            if offset is None:
                return None
            offsets[name] = (int(offset), ds.dtype.itemsize)
        f = next(iter(datasets.values())).file
        handle = f.id.get_vfd_handle()
        if not isinstance(handle, int):
            return None
        direct_fd = None
        flag = getattr(os, "O_DIRECT", 0)
        if direct and flag:
            try:
                direct_fd = os.open(f.filename, os.O_WRONLY | flag)
            except OSError:  # e.g. tmpfs: buffered writes only
                direct_fd = None
        # descriptors of its own, closed by it
        return cls(os.dup(handle), offsets, max_pending, direct_fd=direct_fd)

    def write(self, name: str, start: int, values: npt.NDArray[Any]) -> None:
        """Write ``values`` (of the dataset's dtype) at item ``start`` of dataset ``name``."""
        offset, itemsize = self._offsets[name]
        data = np.ascontiguousarray(values)
        if data.dtype.itemsize != itemsize:
            msg = f"{name}: values of {data.dtype} for a dataset of {itemsize}-byte items"
            raise ValueError(msg)
        where = offset + start * itemsize
        self._pending.append(threads.submit(_write, self._fd, self._direct, data, where))
        while len(self._pending) > self._max_pending or (self._pending and self._pending[0].done()):
            self._pending.popleft().result()

    def flush(self) -> None:
        """Wait for every write in flight; raise the first error."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for every write; raise the first error; release the descriptors."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._closer()


class ContiguousWriter:
    """Rows written at offsets of allocated contiguous datasets: with a :class:`RawWriter`
    where the datasets allow it (1-d numbers in a plain file), with h5py otherwise.

    Call :meth:`close` before the file is read or closed (the sink does at commit).
    """

    def __init__(self, datasets: Mapping[str, h5py.Dataset], *, max_pending: int) -> None:
        self._datasets = dict(datasets)
        self._raw = RawWriter.open(self._datasets, max_pending=max_pending) if datasets else None

    @property
    def raw(self) -> bool:
        """Whether the writes go straight to the file (``os.pwrite``)."""
        return self._raw is not None

    def write(self, name: str, start: int, values: npt.NDArray[Any]) -> None:
        """Write ``values`` at row ``start`` of dataset ``name``."""
        if self._raw is not None:
            self._raw.write(name, start, values)
        else:
            self._datasets[name][start : start + len(values)] = values

    def flush(self) -> None:
        """Wait for the writes in flight (raising the first error); more may follow."""
        if self._raw is not None:
            self._raw.flush()

    def close(self) -> None:
        """Wait for the writes in flight (raising the first error)."""
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
