"""``hitprep writeback JOB INPUT.root -o OUTPUT.root``: synthetic NanoAOD from a generator model."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, add_set_option, show_progress
from hitprep.commands.scale_out import (
    add_scale_out_options,
    positive_int,
    print_failures,
    scale_out_options,
)

__all__ = ["add_parser", "run"]


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
    p.add_argument(
        "--upsample", type=positive_int, metavar="N", help="use each input event N times"
    )
    p.add_argument(
        "--order",
        choices=["blocks", "adjacent"],
        help="upsampled copies: all events then all again (blocks) or side by side",
    )
    p.add_argument("--seed", type=int, help="noise seed (default: the job's)")
    p.add_argument("--step", type=positive_int, help="input events per chunk (bounds memory)")
    add_set_option(p, example="writeback.nonfinite=skip_event")
    add_output_options(p)
    add_scale_out_options(
        p,
        "Several inputs run as one task per input (in this process, local processes or on"
        " Dask); each output is the one a single-input run writes. Exit status 3: written,"
        " but some inputs failed (--keep-going).",
        shards=False,
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
    options = {
        "upsample": args.upsample,
        "order": args.order,
        "seed": args.seed,
        "step": args.step,
        "overwrite": args.overwrite,
        "progress": show_progress(args),
    }
    if _scaled(args):
        from hitprep.runners.writeback import writeback_files

        many = writeback_files(
            job,
            args.inputs,
            args.output,
            command=args.command_line,
            **options,
            **scale_out_options(args),
        )
        print(many.line())
        print_failures("writeback", many.failure_lines())
        return 3 if many.failed else 0
    summary = writeback(job, args.inputs[0], args.output, **options)
    print(summary.line())
    return 0
