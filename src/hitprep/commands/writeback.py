"""``hitprep writeback JOB INPUT.root -o OUTPUT.root``: synthetic NanoAOD from a generator model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "writeback",
        help="write model output back into NanoAOD with the input's event structure",
        description=(
            "Read generator-level collections from a NanoAOD file, apply the job's models"
            " object by object and write a synthetic NanoAOD (TTree Events, nX counters,"
            " X_field branches) whose events have exactly the input's structure."
        ),
    )
    p.add_argument("job", help="writeback job TOML or preset (e.g. nanoaod_flashsim)")
    p.add_argument("input", metavar="INPUT.root", help="NanoAOD input (TTree or RNTuple)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT.root", help="output file")
    p.add_argument("--upsample", type=_positive, metavar="N", help="use each input event N times")
    p.add_argument(
        "--order",
        choices=["blocks", "adjacent"],
        help="upsampled copies: all events then all again (blocks) or side by side",
    )
    p.add_argument("--seed", type=int, help="noise seed (default: the job's)")
    p.add_argument("--step", type=_positive, help="input events per chunk (bounds memory)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a job key, e.g. --set writeback.nonfinite=skip_event",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.config import load_job
    from hitprep.writeback import writeback

    job = load_job(args.job, overrides=args.overrides)
    summary = writeback(
        job,
        args.input,
        args.output,
        upsample=args.upsample,
        order=args.order,
        seed=args.seed,
        step=args.step,
        overwrite=args.overwrite,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(summary.line())
    return 0
