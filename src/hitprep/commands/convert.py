"""``hitprep convert JOB INPUT... -o OUTPUT``: run a conversion job."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, add_set_option, show_progress
from hitprep.commands.scale_out import add_scale_out_options, print_failures, scale_out_options

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "convert",
        help="convert input files into a training sample (HDF5)",
        description="Convert input files into one HDF5 training sample as a job or preset says.",
    )
    p.add_argument("job", help="job TOML file or preset name (see `hitprep presets`)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="input files")
    p.add_argument("-o", "--output", required=True, help="output HDF5 file")
    add_set_option(p, example="source.step=100 --set images.0.dtype=uint32")
    p.add_argument(
        "--detx", help="KM3NeT detector file (.detx) for calibration (sets calibration.detx)"
    )
    p.add_argument(
        "--layout",
        choices=["hitprep", "orcasong"],
        help="graph jobs: HDF5 layout (sets graph.layout; orcasong = FileGraph's datasets)",
    )
    p.add_argument("--step", type=int, help="events per chunk, bounds memory (sets source.step)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="read inputs that need unpickling (DataTools .npz); unpickling runs code from the"
        " file, so only for files you trust (sets source.trust_pickle)",
    )
    add_output_options(p)
    add_scale_out_options(
        p,
        "Several inputs run as tasks (one per input, or --task-events entries each) that"
        " write shards into OUTPUT.parts/, merged in input order into one output; the same"
        " datasets whichever runner. Exit status 3: written, but some tasks failed"
        " (--keep-going).",
        shards=True,
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.config import FLAGS, load_job
    from hitprep.runners import convert
    from hitprep.watchmal_files import job_side_files

    flags = {flag: getattr(args, flag) for flag in FLAGS}  # each sets a job key
    job = load_job(args.job, overrides=args.overrides).with_flags(**flags)

    side_files = job_side_files(job, args.inputs, args.output, overwrite=args.overwrite)
    summary = convert(
        job,
        args.inputs,
        args.output,
        overwrite=args.overwrite,
        progress=show_progress(args),
        command=args.command_line,
        **scale_out_options(args),
    )
    print(summary.line())
    written = [] if summary.failed else side_files()  # [watchmal] side_files
    if written:
        print(f"WatChMaL side files: {', '.join(str(p) for p in written)}")
    print_failures("convert", summary.failure_lines())
    return 3 if summary.failed else 0
