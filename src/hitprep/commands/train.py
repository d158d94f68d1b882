"""``hitprep train [TRAIN.toml] [--data FILE.h5] ... -o RUN_DIR``: train a baseline model."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from typing import Any

from hitprep.commands import add_set_option, show_progress

__all__ = ["add_parser", "run"]

#: flag -> config key it sets
FLAGS = {
    "data": "data.path",
    "label": "data.label",
    "model": "model.name",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.learning_rate",
    "optimizer": "train.optimizer",
    "seed": "train.seed",
    "patience": "train.patience",
    "device": "train.device",
    "num_workers": "train.num_workers",
    "amp": "train.amp",
}


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "train",
        help="train a baseline model (CNN, multi-input CNN, PointNet) on a hitprep file",
        description=(
            "Train a model on a hitprep HDF5 file. Flags override the config file; with no"
            " file, defaults come from the data (images in x and a label field in y train as"
            " they are). Writes RUN_DIR/best.pt, last.pt (resumable), history.json and"
            " history.png. `--show-config` prints every key with its value."
        ),
    )
    p.add_argument("config", nargs="?", help="training config (TOML); every key optional")
    p.add_argument("--data", metavar="FILE.h5", help="training data (data.path)")
    p.add_argument("--label", metavar="FIELD", help="label field of y or dataset (data.label)")
    p.add_argument(
        "--target",
        metavar="FIELD[,FIELD...]",
        help=(
            "regress these instead of classifying (data.targets): fields of y or per-event"
            " datasets, e.g. log10:energies,positions,direction:angles"
        ),
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="auto, convnet, convnet_extra, multivolume, pointnet or edgeconv (model.name)",
    )
    p.add_argument("--epochs", type=int, metavar="N", help="number of epochs (train.epochs)")
    p.add_argument("--batch-size", type=int, metavar="N", help="events per batch")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate (train.learning_rate)")
    p.add_argument("--optimizer", metavar="NAME", help="adam, adamw or sgd")
    p.add_argument("--seed", type=int, metavar="N", help="seed of weights, shuffling, dropout")
    p.add_argument("--patience", type=int, metavar="N", help="early-stopping patience (0: off)")
    p.add_argument("--device", metavar="DEV", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--num-workers", type=int, metavar="N", help="DataLoader worker processes")
    p.add_argument(
        "--amp",
        choices=("off", "bf16", "fp16"),
        help="automatic mixed precision of the training steps (train.amp; fp16: CUDA only)",
    )
    add_set_option(p, example="data.extras=['mass'] --set split.seed=3", what="config")
    p.add_argument("-o", "--output", metavar="RUN_DIR", help="run directory (required to train)")
    p.add_argument(
        "--show-config",
        action="store_true",
        help="print the configuration (file, flags, defaults) as TOML and exit",
    )
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help=(
            "train in N processes with DistributedDataParallel (launches torchrun; gloo on"
            " CPUs, NCCL on GPUs); train.batch_size stays the global batch"
        ),
    )
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help="restart a run that exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def overrides_from(args: argparse.Namespace) -> list[str]:
    """``--set`` items plus one ``key=value`` per flag given (values quoted as TOML)."""
    items = list(args.overrides)
    for flag, key in FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            items.append(f"{key}={json.dumps(value)}")
    if args.target is not None:
        targets = [t.strip() for t in args.target.split(",") if t.strip()]
        items.append(f"data.targets={json.dumps(targets)}")
    return items


def _launch(args: argparse.Namespace) -> int:
    """Run this command again in ``--nproc`` processes under ``torch.distributed.run``."""
    words = shlex.split(args.command_line)[1:]
    if "--nproc" in words:
        i = words.index("--nproc")
        del words[i : i + 2]
    words = [w for w in words if not w.startswith("--nproc=")]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={args.nproc}",
        "-m",
        "hitprep",
        *words,
    ]
    return subprocess.run(command, check=False).returncode


def run(args: argparse.Namespace) -> int:
    from hitprep.errors import ConfigError
    from hitprep.ml.config import load_train_config

    overrides = overrides_from(args)
    if args.show_config:
        print(load_train_config(args.config, overrides=overrides).to_toml(), end="")
        return 0
    if not args.output:
        msg = "give the run directory with -o RUN_DIR"
        raise ConfigError(msg)
    from hitprep.ml.errors import require_torch

    require_torch("train")
    if args.nproc is not None and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(args)
    from hitprep.ml.train import resume_config, train

    if args.resume and args.config is None:
        config = resume_config(args.output, overrides)
    else:
        config = load_train_config(args.config, overrides=overrides)
    result = train(
        config,
        args.output,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=show_progress(args),
    )
    print(result.line())
    for path in result.plots:
        print(f"plot: {path}")
    return 0
