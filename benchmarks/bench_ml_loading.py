#!/usr/bin/env python
"""Is loading the bottleneck? Samples/s of hitprep's Dataset + DataLoader against training.

Writes a toy image file (hitprep's layout: ``x`` (N, 3, 40, 40) uint16, gzip-compressed
in the sink's chunks, ``y`` with a label) and a WatChMaL hit file, then measures one
shuffled pass of:

- ``per-event reference``: the usual map-style Dataset (one h5py read per event in
  ``__getitem__``, default collate), as OrcaNet / WatChMaL-style loaders do;
- ``hitprep`` from the compressed file (event shuffle and chunk shuffle) and from memory;
- ``hitprep WatChMaL``: jagged hits turned into 2 x 40 x 40 grid images per batch;

each with ``num_workers`` 0 and 2, and compares them with the training throughput of
the default ConvNet on the same images (forward + backward, data already in memory).
Prints samples/s and ratios; asserts nothing.

Usage: ``python benchmarks/bench_ml_loading.py [--events 20000] [--batch-size 64]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hitprep.ml.images import ImageDataset
from hitprep.ml.loader import make_loader
from hitprep.ml.models import build_model
from hitprep.ml.schema import InputSpec, Schema
from hitprep.ml.watchmal import WatchmalDataset
from hitprep.sinks.hdf5 import HDF5Sink

SHAPE = (3, 40, 40)


def write_images(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    y = np.zeros(n, dtype=[("label", "i8")])
    y["label"] = rng.integers(0, 2, n)
    with HDF5Sink(path, overwrite=True) as sink:
        for lo in range(0, n, 2000):
            m = min(2000, n - lo)
            x = rng.poisson(0.3, size=(m, *SHAPE)).astype(np.uint16)
            sink.append({"x": x, "y": y[lo : lo + m]})
        sink.commit()


def write_watchmal(path: Path, n: int) -> Path:
    rng = np.random.default_rng(1)
    counts = rng.integers(50, 300, n)
    total = int(counts.sum())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    with h5py.File(path, "w") as f:  # contiguous, as WatChMaL memory-maps it
        f["hit_pmt"] = rng.integers(0, 1600, total).astype(np.int32)
        f["hit_charge"] = rng.exponential(2.0, total).astype(np.float32)
        f["hit_time"] = rng.uniform(900, 1100, total).astype(np.float32)
        f["event_hits_index"] = starts.astype(np.int64)
        f["labels"] = rng.integers(0, 2, n).astype(np.int32)
    rows, cols = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    pmt_map = path.with_suffix(".npz")
    np.savez(pmt_map, pmt_image_positions=np.column_stack([rows.ravel(), cols.ravel()]))
    return pmt_map


class PerEventDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The usual reference: one h5py read per event, file opened lazily per worker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: h5py.File | None = None
        with h5py.File(path) as f:
            self.n = len(f["x"])
            self.labels = f["y"]["label"]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.file is None:
            self.file = h5py.File(self.path)
        x = torch.from_numpy(self.file["x"][i].astype(np.float32))
        return x, torch.tensor(self.labels[i])


def rate(loader: Any, *, limit: int) -> float:
    """Samples/s over at most ``limit`` samples, after the first batch (worker start-up)."""
    it = iter(loader)
    next(it)
    n, started = 0, time.perf_counter()
    for batch in it:
        n += len(batch[1]) if isinstance(batch, list | tuple) else len(batch["row"])
        if n >= limit:
            break
    return n / (time.perf_counter() - started)


def train_rate(batch_size: int, steps: int = 30) -> float:
    schema = Schema("images", (InputSpec("x", "image", SHAPE),), classes=(0, 1))
    model = build_model("convnet", schema, {})
    opt = torch.optim.Adam(model.parameters())
    x = torch.rand(batch_size, *SHAPE)
    y = torch.randint(0, 2, (batch_size,))
    for _ in range(3):  # warm up
        loss = torch.nn.functional.cross_entropy(model({"x": x}), y)
        torch.autograd.backward(loss)
    started = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model({"x": x}), y)
        torch.autograd.backward(loss)
        opt.step()
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=8000, help="samples timed per loader")
    args = parser.parse_args()
    bs, limit = args.batch_size, args.limit
    with tempfile.TemporaryDirectory() as tmp:
        images, hits = Path(tmp) / "images.h5", Path(tmp) / "hits.h5"
        write_images(images, args.events)
        pmt_map = write_watchmal(hits, args.events)
        with h5py.File(images) as f:
            chunk = f["x"].chunks[0]
            size = images.stat().st_size
        print(
            f"{args.events} events of {SHAPE} uint16, gzip chunks of {chunk} events,"
            f" {size / 1e6:.1f} MB on disk; batch size {bs}; torch threads"
            f" {torch.get_num_threads()}"
        )
        results: dict[str, float] = {}
        for workers in (0, 2):
            ref = PerEventDataset(images)
            loader = DataLoader(ref, batch_size=bs, shuffle=True, num_workers=workers)
            results[f"per-event reference, file, {workers} workers"] = rate(loader, limit=limit)
            disk = ImageDataset(images, label="label", in_memory=False)
            for shuffle in ("events", "chunks"):
                loader = make_loader(disk, batch_size=bs, shuffle=shuffle, num_workers=workers)
                key = f"hitprep, file, {shuffle} shuffle, {workers} workers"
                results[key] = rate(loader, limit=limit)
            memory = ImageDataset(images, label="label", in_memory=True)
            loader = make_loader(memory, batch_size=bs, shuffle="events", num_workers=workers)
            results[f"hitprep, memory, {workers} workers"] = rate(loader, limit=limit)
            grid = WatchmalDataset(hits, pmt_map=pmt_map, label="labels", in_memory=False)
            loader = make_loader(grid, batch_size=bs, shuffle="events", num_workers=workers)
            results[f"hitprep WatChMaL grid, file, {workers} workers"] = rate(loader, limit=limit)
        training = train_rate(bs)
    width = max(len(k) for k in results)
    print(f"{'loader':<{width}}  samples/s  x reference  x training")
    for key, value in results.items():
        workers = key.rsplit(",", 1)[1]
        reference = results[f"per-event reference, file,{workers}"]
        print(f"{key:<{width}}  {value:9.0f}  {value / reference:11.1f}  {value / training:10.1f}")
    print(f"{'training (ConvNet forward + backward, CPU)':<{width}}  {training:9.0f}")


if __name__ == "__main__":
    main()
