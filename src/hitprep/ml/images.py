"""Image datasets: one or several image inputs per event (``x``; per-volume ``v0``, ``v1``, ...;
LDMX ``image``; PMT-grid ``barrel``, ``top``, ``bottom``), channels moved first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import torch

from hitprep.errors import ConfigError, FileFormatError
from hitprep.ml.datasets import Batch, EventDataset, chunk_events
from hitprep.ml.h5io import dataset, read_rows
from hitprep.ml.schema import InputSpec

__all__ = ["ImageDataset", "resolve_channels"]


def resolve_channels(shape: tuple[int, ...], channels: str, *, name: str, file: str) -> str:
    """Which axis of a per-event image holds channels: ``none``, ``first`` or ``last``.

    ``auto``: 1-D and 2-D images have one channel; a 3-D image whose last (else first)
    axis is short (at most 8) and shorter than the others holds channels there
    (LDMX ``xyz`` dim x dim x 3, WatChMaL grids H x W x 2, ACTS 4 x 128 x 128); otherwise
    it is a 3-D volume with one channel; a 4-D image has channels last (OrcaNet's xyz-t).
    """
    nd = len(shape)
    if channels == "auto":
        if nd <= 2:
            channels = "none"
        elif nd == 3:
            if shape[-1] <= 8 and shape[-1] < min(shape[:-1]):
                channels = "last"
            elif shape[0] <= 8 and shape[0] < min(shape[1:]):
                channels = "first"
            else:
                channels = "none"
        else:
            channels = "last"
    spatial = nd - (channels != "none")
    if not 1 <= spatial <= 3:
        msg = (
            f"{file}: image {name!r} of shape {shape} has {spatial} spatial axes with"
            f" channels={channels!r}; convolutions take 1 to 3 (set data.channels)"
        )
        raise ConfigError(msg)
    return channels


class ImageDataset(EventDataset):
    """Images of one or several datasets (``x``, or per-volume ``v0``, ``v1``, ...).

    Each input becomes a float32 tensor (B, C, *spatial): channels moved first as
    :func:`resolve_channels` decides (``channels`` applies to every input).

    Example:
        >>> import hitprep
        >>> from km3net_testdata import data_path
        >>> detx = data_path("detx/km3net_offline.detx")
        >>> job = hitprep.load_job("km3net_zt", overrides=[f"calibration.detx={detx!r}"])
        >>> _ = hitprep.convert(job, [data_path("offline/km3net_offline.root")], "images.h5")
        >>> ds = ImageDataset("images.h5")
        >>> ds.__getitems__([0, 1])["x"].shape
        torch.Size([2, 1, 18, 100])
    """

    kind = "images"

    def __init__(
        self,
        path: str | Path,
        *,
        inputs: Sequence[str] = ("x",),
        channels: str = "auto",
        **options: Any,
    ) -> None:
        if not inputs:
            msg = (
                f"{path}: no image inputs (no x and no per-event image datasets);"
                " name them in data.inputs"
            )
            raise ConfigError(msg)
        self.inputs = tuple(inputs)
        self.channels = channels
        self._memory: dict[str, npt.NDArray[Any]] = {}
        super().__init__(path, **options)

    def _open(self, f: h5py.File) -> None:
        specs = []
        sizes = set()
        for name in self.inputs:
            ds = dataset(f, name, what="image dataset")
            if ds.dtype.names is not None or ds.dtype.kind not in "biuf" or ds.ndim < 2:
                detail = f"{name!r} is not an image dataset (shape {ds.shape}, dtype {ds.dtype})"
                raise FileFormatError(self.path, detail)
            sizes.add(ds.shape[0])
            shape = tuple(int(s) for s in ds.shape[1:])
            where = resolve_channels(shape, self.channels, name=name, file=str(self.path))
            model_shape = {
                "none": (1, *shape),
                "first": shape,
                "last": (shape[-1], *shape[:-1]),
            }[where]
            specs.append(InputSpec(name, "image", model_shape, (), where))
        if len(sizes) != 1:
            detail = f"image inputs {list(self.inputs)} have different numbers of events {sizes}"
            raise FileFormatError(self.path, detail)
        self.n_file_rows = sizes.pop()
        self.specs = tuple(specs)

    def nbytes(self) -> int:
        f = self.file.get()
        per_row = sum(int(f[n].dtype.itemsize) * int(np.prod(f[n].shape[1:])) for n in self.inputs)
        return per_row * len(self.rows)

    def chunk_rows(self) -> int | None:
        if self.in_memory:
            return None
        return chunk_events(self.file.get()[self.inputs[0]], self.n_file_rows)

    def _load(self, f: h5py.File) -> None:
        for name in self.inputs:
            self._memory[name] = read_rows(f[name], self.rows)

    def _read(self, rows: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]) -> Batch:
        out: Batch = {}
        for spec in self.specs:
            if self.in_memory:
                raw = self._memory[spec.name][positions]
            else:
                raw = self.read(spec.name, rows)
            arr = raw.astype(np.float32, copy=False)
            if spec.channels == "none":
                arr = arr[:, None]
            elif spec.channels == "last":
                arr = np.moveaxis(arr, -1, 1)
            out[spec.name] = torch.from_numpy(np.ascontiguousarray(arr))
        return out
