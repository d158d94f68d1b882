#!/usr/bin/env python
"""Training throughput of each hitprep model, and the loader's rate against it (CPU; GPU with AMP).

Every input is a real hitprep output, made in a temporary folder first:

- ``ldmx``: toy LDMX ECal (``hitprep toy ldmx``: 10 MeV A' signal and background) mixed with
  ``hitprep mix`` (preset ``ldmx_xyz``: 40 x 40 x 3 float32 images, ``label``, ``mass``);
- ``acts``: toy ACTS barrel tracker, ``hitprep convert acts_barrel_trigger`` (three volume
  images 4x128x128, 4x128x128, 2x128x21; trigger label);
- ``km3net_zt``: km3net-testdata's 500 muon events, ``hitprep convert km3net_zt`` (18 x 100);
- ``km3net_graph``: the same events, ``hitprep convert km3net_graph`` with stored kNN edges
  (k = 6, at most 48 triggered hits per event); the KM3NeT rows regress log10(energy).

For each model on its input, set up as ``hitprep train`` sets it up (its split, statistics,
model, optimizer and loaders), three rates in events/s, each over ``--seconds`` of batches
after a warm-up batch:

- ``train``: the training loop of an epoch (:func:`hitprep.ml.epochs.train_pass`: the loader,
  the copy to the device and one :func:`~hitprep.ml.epochs.train_step` per batch);
- ``step``: the step alone, on a few batches already on the device;
- ``loader``: what the training DataLoader delivers, copied to the device, with no step;

and ``loader/train``: how much faster the loader is than the loop it feeds (below ~2 the
loader is most of the loop's time: the bottleneck). Where PyTorch sees a CUDA GPU, the same
runs there with ``train.amp`` off, bf16 and fp16 (fp16 with a gradient scaler), with the
GPU's mean utilization during the training loop (``torch.cuda.utilization()``, else
``nvidia-smi``); without one the GPU part is skipped and the reason printed. Asserts nothing.

    .venv/bin/python benchmarks/bench_ml_training.py [--seconds 4] [--batch-size 64]
        [--num-workers 0] [--only edgeconv,pointnet] [--device auto|cpu|cuda]
        [--cpu-amp off,bf16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, cast

import torch

from hitprep.ml.config import TrainConfig, load_train_config
from hitprep.ml.datasets import Batch
from hitprep.ml.device import to_device
from hitprep.ml.distributed import Processes
from hitprep.ml.epochs import Precision, mixed_precision, train_pass, train_step
from hitprep.ml.tasks import Task
from hitprep.ml.train import _datasets, _fresh, _loaders  # the setup `hitprep train` runs

EDGES = (
    'graph.edges={kind = "knn", k = 6, features = ["pos_x", "pos_y", "pos_z", "time"],'
    " scale = [1, 1, 1, 0.2]}"
)
ENERGY = "data.targets=['log10:energy']"


@dataclass(frozen=True)
class Case:
    model: str
    data: str
    describe: str
    overrides: tuple[str, ...] = ()


CASES = (
    Case("convnet", "ldmx", "LDMX xyz 3x40x40"),
    Case("convnet_extra", "ldmx", "LDMX xyz 3x40x40 + mass", ("data.extras=['mass']",)),
    Case("multivolume", "acts", "ACTS 3 volume images", ("data.label='trigger'",)),
    Case("convnet", "km3net_zt", "KM3NeT z-t 18x100", (ENERGY,)),
    Case("pointnet", "km3net_graph", "KM3NeT graph <=48 hits", (ENERGY,)),
    Case("edgeconv", "km3net_graph", "KM3NeT graph + edges", (ENERGY,)),
)


def hitprep(*words: str, env: dict[str, str] | None = None) -> None:
    """``hitprep WORDS...`` in a child process (quiet unless it fails)."""
    command = [sys.executable, "-m", "hitprep", *words]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        msg = f"{' '.join(command)} failed:\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)


def ldmx_mix(tmp: Path, events: int, *sets: str) -> Path:
    """``tmp/ldmx.h5``: ``events`` toy LDMX events, half 10 MeV A' signal, half background,
    mixed by ``hitprep mix`` (preset ``ldmx_xyz``; ``sets``: ``--set`` items)."""
    n = str(events // 2)
    hitprep("toy", "ldmx", "--mass", "10", "-n", n, "--seed", "1", "-o", str(tmp / "sig.root"))
    hitprep("toy", "ldmx", "-n", n, "--seed", "2", "-o", str(tmp / "bkg.root"))
    out = tmp / "ldmx.h5"
    sig, bkg = f"10={tmp / 'sig.root'}", str(tmp / "bkg.root")
    more = [w for item in sets for w in ("--set", item)]
    hitprep("mix", "--signal", sig, "--background", bkg, "-n", n, "-o", str(out), *more)
    return out


def make_inputs(tmp: Path, ldmx_events: int) -> dict[str, Path]:
    """The converted samples the cases read (see the module docstring)."""
    import km3net_testdata

    km3 = km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5")
    detx = km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx")
    out = {k: tmp / f"{k}.h5" for k in ("acts", "km3net_zt", "km3net_graph")}
    out["ldmx"] = ldmx_mix(tmp, ldmx_events)
    hitprep("toy", "acts", "-n", "400", "-o", str(tmp / "acts"))
    clusters = str(tmp / "acts" / "clusters_0.csv")
    hitprep("convert", "acts_barrel_trigger", clusters, "-o", str(out["acts"]), "--no-progress")
    for preset, extra in (("km3net_zt", []), ("km3net_graph", ["--set", EDGES])):
        more = ["--set", "graph.max_n_hits=48", "--set", "graph.only_triggered=true"]
        more = more if preset == "km3net_graph" else []
        words = [preset, km3, "--detx", detx, "-o", str(out[preset]), "--no-progress"]
        hitprep("convert", *words, *extra, *more)
    return out


def timed(batches: Callable[[], Iterator[int]], seconds: float, device: torch.device) -> float:
    """Events/s of ``batches`` (yielding each batch's event count; restarted when it ends)
    over at least ``seconds`` after the first batch."""
    it = batches()
    next(it)  # warm-up: worker start-up, first allocations
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for size in it:
            n += size
            if time.perf_counter() - started >= seconds:
                break
        else:
            it = batches()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n / (time.perf_counter() - started)


class Utilization:
    """Mean GPU utilization (%) sampled every 0.1 s while in the ``with`` block."""

    def __init__(self, device: torch.device) -> None:
        self.index = device.index or 0
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def read(self) -> float | None:
        try:
            return float(torch.cuda.utilization(self.index))
        except Exception:  # no pynvml: ask nvidia-smi
            query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            if shutil.which("nvidia-smi") is None:
                return None
            done = subprocess.run([*query, "-i", str(self.index)], capture_output=True, text=True)
            return float(done.stdout.strip()) if done.returncode == 0 else None

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            value = self.read()
            if value is not None:
                self.samples.append(value)

    def __enter__(self) -> Utilization:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


@dataclass
class Setup:
    """A case set up as ``hitprep train`` sets it up, on one device."""

    config: TrainConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    task: Task
    loader: Any


def setup(case: Case, path: Path, device: torch.device, args: argparse.Namespace) -> Setup:
    config = load_train_config(
        overrides=[
            f"data.path='{path}'",
            f"model.name='{case.model}'",
            f"train.batch_size={args.batch_size}",
            f"train.num_workers={args.num_workers}",
            f"train.device='{device}'",
            *case.overrides,
        ]
    )
    train_ds, val_ds, _ = _datasets(config)
    run = _fresh(config, train_ds)
    run.model.to(device)
    loader, _ = _loaders(config, train_ds, val_ds, device=device, procs=Processes())
    task = Task(run.schema, loss=config.train["loss"])
    return Setup(config, run.model, run.optimizer, task, loader)


def rates(s: Setup, device: torch.device, precision: Precision, seconds: float) -> dict[str, Any]:
    """``train``, ``step`` and ``loader`` events/s and the GPU's utilization in the loop."""
    s.model.train()

    def forever() -> Iterator[Batch]:
        while True:
            yield from s.loader

    stream = forever()

    def loop() -> Iterator[int]:
        while True:  # the epoch's loop over the next two batches of the loader's epochs
            sums = train_pass(
                s.model,
                s.optimizer,
                cast(Any, islice(stream, 2)),
                device=device,
                task=s.task,
                precision=precision,
                desc="",
                epoch=1,
                progress=False,
            )
            yield int(sums[2])

    def load() -> Iterator[int]:
        for batch in s.loader:
            yield len(to_device(batch, device)["row"])

    cached: list[Batch] = []
    for batch in s.loader:
        cached.append(to_device(batch, device))
        if len(cached) == 8:
            break

    def step() -> Iterator[int]:
        for batch in cached:
            out, _ = train_step(s.model, s.optimizer, batch, task=s.task, precision=precision)
            yield len(out)

    result: dict[str, Any] = {"step": timed(step, seconds, device)}
    result["loader"] = timed(load, seconds, device)
    if device.type == "cuda":
        with Utilization(device) as use:
            result["train"] = timed(loop, seconds, device)
        result["gpu_use"] = use.mean
    else:
        result["train"] = timed(loop, seconds, device)
    return result


def table(rows: list[tuple[Case, str, dict[str, Any]]], gpu: bool) -> None:
    head = f"{'model':<14} {'input':<26} {'amp':<5} {'train ev/s':>10} {'step ev/s':>10}"
    head += f" {'loader ev/s':>11} {'loader/train':>12}" + (" GPU use %" if gpu else "")
    print(head)
    for case, amp, r in rows:
        if "error" in r:
            print(f"{case.model:<14} {case.describe:<26} {amp:<5} failed: {r['error'][:120]}")
            continue
        ratio = r["loader"] / r["train"]
        line = f"{case.model:<14} {case.describe:<26} {amp:<5} {r['train']:10.0f}"
        line += f" {r['step']:10.0f} {r['loader']:11.0f} {ratio:12.1f}"
        if gpu:
            use = r.get("gpu_use")
            line += f" {use:9.0f}" if use is not None else "       n/a"
        print(line + ("  <- loader-bound" if ratio < 2 else ""))


def run_device(
    device: torch.device, amps: tuple[str, ...], inputs: dict[str, Path], args: argparse.Namespace
) -> None:
    rows: list[tuple[Case, str, dict[str, Any]]] = []
    for case in CASES:
        if args.only and case.model not in args.only:
            continue
        for amp in amps:
            torch.manual_seed(0)
            s = setup(case, inputs[case.data], device, args)
            try:
                found = rates(s, device, mixed_precision(amp, device), args.seconds)
            except Exception as err:  # a model that cannot run so: a row saying why
                found = {"error": f"{type(err).__name__}: {err}"}
            rows.append((case, amp, found))
            print(f"  {case.model} on {case.data}, amp {amp}: done", file=sys.stderr)
    print(f"\n{device} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    table(rows, device.type == "cuda")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed per rate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--ldmx-events", type=int, default=3000)
    parser.add_argument("--only", type=lambda s: s.split(","), default=[], help="models")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--cpu-amp",
        type=lambda s: tuple(s.split(",")),
        default=("off",),
        help="train.amp values on the CPU, e.g. off,bf16 (the GPU runs off, bf16, fp16)",
    )
    args = parser.parse_args()
    print(
        f"batch size {args.batch_size}, {args.num_workers} DataLoader workers,"
        f" {args.seconds:g} s per rate; {os.cpu_count()} CPUs, load average"
        f" {os.getloadavg()[0]:.1f} at the start"
    )
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp), args.ldmx_events)
        if args.device in ("auto", "cpu"):
            run_device(torch.device("cpu"), args.cpu_amp, inputs, args)
        if args.device == "cpu":
            return
        if not torch.cuda.is_available():
            why = "a CPU-only build" if torch.version.cuda is None else "no CUDA device visible"
            print(f"\nGPU part skipped: PyTorch {torch.__version__} sees no CUDA GPU ({why})")
            return
        run_device(torch.device("cuda"), ("off", "bf16", "fp16"), inputs, args)


if __name__ == "__main__":
    main()
