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
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT.root",
        help="NanoAOD input (TTree or RNTuple); several: one output per input in the -o folder",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="output file; with several inputs or a scaling-out option, a folder for"
        " OUTPUT/<input name>.root",
    )
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
    g = p.add_argument_group(
        "scaling out",
        "Several inputs run as one task per input (in this process, local processes or on"
        " Dask); each output is the one a single-input run writes. Exit status 3: written,"
        " but some inputs failed (--keep-going).",
    )
    g.add_argument("--workers", type=_positive, metavar="N", help="run in N local processes")
    g.add_argument("--dask", action="store_true", help="run on a Dask LocalCluster on 127.0.0.1")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster")
    g.add_argument(
        "--scheduler-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for the scheduler and a worker (default 10)",
    )
    g.add_argument(
        "--keep-going", action="store_true", help="write the other inputs when one fails"
    )
    g.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the outputs a previous run of the same job finished (default: yes)",
    )
    p.set_defaults(run=run)


def _scaled(args: argparse.Namespace) -> bool:
    return (
        len(args.inputs) > 1
        or args.workers is not None
        or args.dask
        or args.scheduler is not None
        or args.keep_going
        or bool(args.resume)
    )


def run(args: argparse.Namespace) -> int:
    from hitprep.config import load_job
    from hitprep.writeback import writeback

    job = load_job(args.job, overrides=args.overrides)
    if _scaled(args):
        from hitprep.runners.writeback import writeback_files

        many = writeback_files(
            job,
            args.inputs,
            args.output,
            upsample=args.upsample,
            order=args.order,
            seed=args.seed,
            step=args.step,
            overwrite=args.overwrite,
            progress=not args.no_progress and sys.stderr.isatty(),
            command=args.command_line,
            workers=args.workers,
            dask=args.dask,
            scheduler=args.scheduler,
            scheduler_timeout=args.scheduler_timeout,
            keep_going=args.keep_going,
            resume=args.resume,
        )
        print(many.line())
        for line in many.failure_lines():
            print(f"hitprep writeback: failed: {line}", file=sys.stderr)
        return 3 if many.failed else 0
    summary = writeback(
        job,
        args.inputs[0],
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
