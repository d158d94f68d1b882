"""HDF5 sink: append arrays chunk by chunk; the output appears only when complete.

The file is written under a hidden temporary name beside the target and
renamed on :meth:`HDF5Sink.commit`. Any error (or leaving the ``with`` block
by an exception) removes the temporary file, so no half-written output is
ever left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.errors import OutputExistsError

__all__ = ["HDF5Sink", "check_output", "dataset_names"]

_CHUNK_BYTES = 1 << 18


def check_output(path: str | Path, *, overwrite: bool) -> Path:
    """Raise OutputExistsError early, before any work, when ``path`` exists."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(p)
    return p


def dataset_names(group: h5py.Group, *, extendable: bool | None = None) -> list[str]:
    """Paths of the datasets under ``group``, sorted.

    Args:
        group: an open file or group.
        extendable: ``True``: only datasets made by :meth:`HDF5Sink.append` (rows, first
            axis unlimited); ``False``: only fixed-shape ones (summaries made by
            :meth:`HDF5Sink.write`); ``None``: both.
    """
    names: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            rows = bool(obj.maxshape) and obj.maxshape[0] is None
            if extendable is None or rows == extendable:
                names.append(name)

    group.visititems(visit)
    return sorted(names)


class HDF5Sink:
    """Extendable, chunked, compressed datasets written to a temporary file.

    Args:
        path: final output path.
        overwrite: replace an existing output on commit.
        compression: ``"gzip"``, ``"lzf"`` or ``None``.
        compression_level: gzip level 0-9.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        compression: str | None = "gzip",
        compression_level: int = 1,
    ) -> None:
        self.path = check_output(path, overwrite=overwrite)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.partial")
        self.compression = compression
        self.compression_level = compression_level if compression == "gzip" else None
        self.file: h5py.File | None = h5py.File(self.tmp_path, "w")

    def _file(self) -> h5py.File:
        if self.file is None:
            msg = f"sink for {self.path} is closed"
            raise RuntimeError(msg)
        return self.file

    def append(self, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
        """Append each array along its first axis to its dataset (created on first use)."""
        f = self._file()
        for name, array in arrays.items():
            arr = np.asarray(array)
            if name not in f:
                row_bytes = max(arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64)), 1)
                rows = int(max(1, min(_CHUNK_BYTES // row_bytes, max(len(arr), 1) * 4)))
                f.create_dataset(
                    name,
                    shape=(0, *arr.shape[1:]),
                    maxshape=(None, *arr.shape[1:]),
                    dtype=arr.dtype,
                    chunks=(rows, *arr.shape[1:]),
                    compression=self.compression,
                    compression_opts=self.compression_level,
                    shuffle=self.compression is not None,
                )
            ds = f[name]
            if ds.shape[1:] != arr.shape[1:] or ds.dtype != arr.dtype:
                msg = (
                    f"{name}: chunk of shape {arr.shape} and dtype {arr.dtype} does not match"
                    f" the dataset's {ds.shape[1:]} / {ds.dtype}"
                )
                raise ValueError(msg)
            start = ds.shape[0]
            ds.resize(start + len(arr), axis=0)
            ds[start:] = arr

    def create(
        self,
        name: str,
        *,
        dtype: npt.DTypeLike,
        shape: tuple[int, ...],
        chunks: tuple[int, ...],
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Create an empty dataset for :meth:`append` with a given chunk shape (e.g. a shard's).

        Args:
            name: dataset path.
            dtype: element type.
            shape: shape of one row (everything after the first axis).
            chunks: chunk shape, rows first.
            attrs: attributes to set.
        """
        ds = self._file().create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=chunks,
            compression=self.compression,
            compression_opts=self.compression_level,
            shuffle=self.compression is not None,
        )
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def write_virtual(
        self, name: str, layout: h5py.VirtualLayout, *, attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write a virtual dataset (rows that stay in other files, e.g. shards)."""
        ds = self._file().create_virtual_dataset(name, layout)
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def dataset_names(self, *, extendable: bool | None = None) -> list[str]:
        """Datasets written so far (see :func:`dataset_names`)."""
        return dataset_names(self._file(), extendable=extendable)

    def write(
        self, name: str, array: npt.ArrayLike, *, attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write a whole (small) dataset at once, e.g. bin statistics."""
        ds = self._file().create_dataset(name, data=np.asarray(array))
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value

    def set_attrs(self, attrs: Mapping[str, Any], *, group: str = "/") -> None:
        """Set attributes on the file (or a group)."""
        target = self._file().require_group(group) if group != "/" else self._file()
        for key, value in attrs.items():
            target.attrs[key] = value

    def commit(self) -> Path:
        """Close the file and move it to its final path."""
        self._file().close()
        self.file = None
        self.tmp_path.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file."""
        if self.file is not None:
            try:
                self.file.close()
            finally:
                self.file = None
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> HDF5Sink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.file is not None:
            self.abort()
