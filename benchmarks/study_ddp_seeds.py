#!/usr/bin/env python
"""Two training processes (``--nproc 2``, gloo on the CPU) against one: final losses over seeds.

Issue 15 asks that a 2-process run give the final loss of a 1-process run with the same
global batch "within the spread of three seeds". On a real converted sample (toy LDMX ECal,
10 MeV A' signal and background, ``hitprep mix`` with preset ``ldmx_xyz`` at ``--dim``
pixels), ``hitprep train`` runs once per seed (``train.seed``: weights, shuffling, dropout)
in one process and in two (``train.batch_size`` is the global batch in both), on the CPU.

Printed: each run's final training and validation loss (and AUC), per seed the difference
between the 2- and the 1-process run, the 1-process runs' spread over seeds (min..max and
standard deviation), and whether the 2-process mean lies inside that spread. Asserts nothing.

    .venv/bin/python benchmarks/study_ddp_seeds.py [--seeds 0,1,2] [--events 1200] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_ml_training import hitprep, ldmx_mix

KEYS = ("train_loss", "val_loss", "val_auc")


def final(data: Path, out: Path, *, seed: int, nproc: int, args: argparse.Namespace) -> Any:
    """The last epoch's record of one run."""
    hitprep(
        "train", "--data", str(data), "--epochs", str(args.epochs), "--patience", "0",
        "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--device", "cpu",
        "--seed", str(seed), "--no-progress", "-o", str(out), "--nproc", str(nproc),
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["processes"] == nproc
    return history[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--events", type=int, default=1200, help="signal + background")
    parser.add_argument("--dim", type=int, default=20, help="image pixels per side")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch")
    parser.add_argument("--lr", type=float, default=0.003)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = ldmx_mix(Path(tmp), args.events, f"ldmx_images.0.dim={args.dim}")
        runs: dict[int, dict[int, Any]] = {1: {}, 2: {}}
        for seed in args.seeds:
            for nproc in (1, 2):
                out = Path(tmp) / f"run_{nproc}_{seed}"
                runs[nproc][seed] = final(data, out, seed=seed, nproc=nproc, args=args)
                print(f"  seed {seed}, {nproc} process(es): done", file=sys.stderr)
    print(
        f"toy LDMX {args.events} events ({args.dim}x{args.dim}x3 images), convnet,"
        f" {args.epochs} epochs, global batch {args.batch_size}, lr {args.lr}, CPU (gloo)"
    )
    print(f"{'seed':>4} {'key':<10} {'1 process':>10} {'2 processes':>12} {'2 - 1':>10}")
    for seed in args.seeds:
        for key in KEYS:
            one, two = runs[1][seed][key], runs[2][seed][key]
            print(f"{seed:>4} {key:<10} {one:10.5f} {two:12.5f} {two - one:10.2e}")
    for key in KEYS:
        ones = [runs[1][s][key] for s in args.seeds]
        twos = [runs[2][s][key] for s in args.seeds]
        lo, hi = min(ones), max(ones)
        mean2 = statistics.fmean(twos)
        diff = max(abs(a - b) for a, b in zip(ones, twos, strict=True))
        inside = "inside" if lo <= mean2 <= hi else "OUTSIDE"
        print(
            f"{key}: 1 process {lo:.5f}..{hi:.5f} (std {statistics.stdev(ones):.2e}),"
            f" 2-process mean {mean2:.5f} ({inside} the 1-process spread);"
            f" largest 2-vs-1 difference at one seed {diff:.2e}"
        )


if __name__ == "__main__":
    main()
