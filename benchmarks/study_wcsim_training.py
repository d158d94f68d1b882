"""Training study on the toy WCSim sample (issue 15, "what it must show"): energy and direction
regression and e/mu/gamma identification, with the real CLI, judged by ``hitprep evaluate``.

Steps, each a ``hitprep`` process (the commands are printed as they run):

1. ``hitprep toy wcsim -n N --particles e,mu,gamma`` (kinetic energy 100-1000 MeV, uniform,
   vertex in the fiducial volume, isotropic);
2. ``hitprep convert wcsim_grid`` (barrel, top and bottom PMT images, charge and time;
   WatChMaL's per-event ``labels``, ``energies``, ``angles``), uncompressed;
3. three trainings of the multi-volume CNN (one tower per image), each evaluated on the test
   split (10 %) of the same file:

   - ``--target energies``: the resolution (68 % interval, RMS of the residual) against the
     "predict the training mean" baseline that ``evaluate`` reports beside it;
   - ``--target direction:angles``: median and 68 % angular error (a random guess: 90 deg);
   - ``--label labels`` (gamma 0, e 1, mu 2): the confusion matrix and per-class AUCs.

Printed: each task's figures, the ratios, and the seconds each step took. Nothing is asserted.
Torch runs one intra-op thread per process by default (``--threads``): on a 2-core machine
shared with other work, two spinning threads made an epoch ~6x slower (measured 2026-12-02).

    .venv/bin/python benchmarks/study_wcsim_training.py [--events 10000] [--epochs 6]
        [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLASS_NAMES = "['gamma','e','mu']"  # wcsim_grid's labels: 22 -> 0, 11 -> 1, 13 -> 2


def hitprep(args: list[str], env: dict[str, str]) -> float:
    """Run ``hitprep ARGS`` (this interpreter), print the command line; return its seconds."""
    print("$ hitprep " + " ".join(args), flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hitprep", *args], check=True, env=env)
    return time.perf_counter() - started


def train_and_evaluate(
    name: str,
    data: Path,
    work: Path,
    task: list[str],
    opts: argparse.Namespace,
    env: dict[str, str],
) -> tuple[dict[str, Any], float]:
    """Train one task on ``data``, evaluate its test split; metrics.json and the seconds."""
    run, out = work / f"run_{name}", work / f"eval_{name}"
    common = ["--model", "multivolume", "--epochs", str(opts.epochs), "--batch-size", "128"]
    common += ["--lr", "0.002", "--patience", "0", "--device", "cpu", "--seed", str(opts.seed)]
    common += ["--set", "model.conv_channels=[16, 32]", "--set", "model.hidden=64"]
    seconds = hitprep(
        [
            "train",
            "--data",
            str(data),
            *task,
            *common,
            "-o",
            str(run),
            "--overwrite",
            "--no-progress",
        ],
        env,
    )
    seconds += hitprep(
        [
            "evaluate",
            str(run / "best.pt"),
            str(data),
            "-o",
            str(out),
            "--overwrite",
            "--no-progress",
        ],
        env,
    )
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics, seconds


def report_energy(metrics: dict[str, Any]) -> None:
    (column,) = metrics["targets"]["energies"]["columns"]
    for key in ("sigma68", "rms"):
        model, base = column[key], column[f"baseline_{key}"]
        print(f"  energy {key}: model {model:.1f} MeV, training-mean baseline {base:.1f} MeV,"
              f" baseline / model = {base / model:.2f}")  # fmt: skip
    print(f"  relative sigma68 {column['relative_sigma68']:.3f}, bias {column['bias']:.1f} MeV")
    for b in column["bins"]:
        rel = b.get("relative_sigma68")
        rel_text = f", relative {rel:.3f}" if rel is not None else ""
        print(f"    true {b['low']:.0f}-{b['high']:.0f} MeV: sigma68 {b['sigma68']:.1f}{rel_text}")


def report_direction(metrics: dict[str, Any]) -> None:
    found = metrics["targets"]["direction:angles"]
    print(f"  direction: median angular error {found['angle_median']:.1f} deg, 68 %"
          f" {found['angle_68']:.1f} deg (random guess: median 90 deg)")  # fmt: skip


def report_pid(metrics: dict[str, Any]) -> None:
    names = metrics["class_names"] or [str(c) for c in metrics["classes"]]
    print(f"  e/mu/gamma: accuracy {metrics['multiclass_accuracy']:.3f}; confusion (rows true,"
          " columns predicted; counts | row-normalized):")  # fmt: skip
    counts, norm = metrics["confusion"]["counts"], metrics["confusion"]["normalized"]
    for name, row, frac in zip(names, counts, norm, strict=True):
        cells = " ".join(f"{c:6d}" for c in row)
        fracs = " ".join(f"{f:.3f}" for f in frac)
        print(f"    {name:>6}: {cells} | {fracs}")
    per_class = metrics["per_class"]
    aucs = ", ".join(f"{v['name']} {v['auc']:.3f}" for v in per_class.values() if v.get("auc"))
    print(f"  one-vs-rest AUC: {aucs}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", default="1", help="OMP_NUM_THREADS of each process")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--tasks", default="energy,direction,pid")
    opts = parser.parse_args()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="hitprep_study_"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": opts.threads, "MKL_NUM_THREADS": opts.threads}
    toy, grid = work / "toy.h5", work / "grid.h5"
    seconds = {"toy": hitprep(["toy", "wcsim", "-n", str(opts.events), "--particles",
                               "e,mu,gamma", "--seed", str(opts.seed), "--no-true-hits",
                               "-o", str(toy), "--overwrite"], env)}  # fmt: skip
    seconds["convert"] = hitprep(["convert", "wcsim_grid", str(toy), "-o", str(grid),
                                  "--set", 'output.compression=""', "--overwrite",
                                  "--no-progress"], env)  # fmt: skip
    tasks = {
        "energy": (["--target", "energies"], report_energy),
        "direction": (["--target", "direction:angles"], report_direction),
        "pid": (["--label", "labels", "--set", f"data.class_names={CLASS_NAMES}"], report_pid),
    }
    results = {}
    for name in opts.tasks.split(","):
        args, report = tasks[name]
        metrics, seconds[name] = train_and_evaluate(name, grid, work, args, opts, env)
        results[name] = (metrics, report)
    print(f"\ntoy WCSim, {opts.events} events (e, mu, gamma; 100-1000 MeV), {opts.epochs} epochs,"
          f" multivolume CNN, test split:")  # fmt: skip
    for name, (metrics, report) in results.items():
        print(f"{name} ({metrics['n_events']} test events):")
        report(metrics)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    if opts.workdir is None and not opts.keep:
        shutil.rmtree(work)
    else:
        print(f"files in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
