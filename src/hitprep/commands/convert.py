"""``hitprep convert JOB INPUT... -o OUTPUT``: run a conversion job."""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
    p.add_argument("--detx", help="KM3NeT detector file (.detx) for calibration")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a job key, e.g. --set source.step=100 --set images.0.dtype=uint32",
    )
    p.add_argument(
        "--layout",
        choices=["hitprep", "orcasong"],
        help="graph jobs: HDF5 layout (sets graph.layout; orcasong = FileGraph's datasets)",
    )
    p.add_argument("--step", type=int, help="events per chunk (bounds memory)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="read inputs that need unpickling (DataTools .npz); unpickling runs code from the"
        " file, so only for files you trust",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_scale_out(p)
    p.set_defaults(run=run)


def _add_scale_out(p: argparse.ArgumentParser) -> None:
    """Options of the sharded runners (see hitprep.runners)."""
    g = p.add_argument_group(
        "scaling out",
        "Several inputs run as tasks (one per input, or --task-events entries each) that"
        " write shards into OUTPUT.parts/, merged in input order into one output; the same"
        " datasets whichever runner. Exit status 3: written, but some tasks failed"
        " (--keep-going).",
    )
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run tasks in N local processes (this one and N-1 started ones)",
    )
    g.add_argument(
        "--dask",
        action="store_true",
        help="run tasks on a Dask LocalCluster on 127.0.0.1 (--workers N sets its size)",
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run tasks on an existing Dask cluster, e.g. tcp://10.0.0.5:8786"
        " (workers must see the output folder)",
    )
    g.add_argument(
        "--scheduler-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for the scheduler and a worker (default 10)",
    )
    g.add_argument(
        "--task-events",
        type=int,
        metavar="N",
        help="split inputs into tasks of N entries (default: one task per input)",
    )
    g.add_argument(
        "--keep-going",
        action="store_true",
        help="write the tasks that succeeded, list those that failed (default: fail as a whole)",
    )
    g.add_argument(
        "--virtual",
        action="store_true",
        help="keep rows in the shards (OUTPUT.parts/) and write HDF5 virtual datasets over them",
    )
    g.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse the finished shards of an interrupted run of the same job (default: yes);"
        " --no-resume starts over",
    )


def run(args: argparse.Namespace) -> int:
    from hitprep.config import load_job
    from hitprep.errors import ConfigError
    from hitprep.runners import convert

    overrides = list(args.overrides)
    if args.trust_pickle:
        overrides.append("source.trust_pickle=true")
    if args.layout:
        if load_job(args.job, overrides=overrides).get("graph") is None:
            msg = f"--layout applies to graph jobs; {args.job} has no [graph] section"
            raise ConfigError(msg)
        overrides.append(f"graph.layout={args.layout}")
    job = load_job(args.job, overrides=overrides)
    summary = convert(
        job,
        args.inputs,
        args.output,
        detx=args.detx,
        overwrite=args.overwrite,
        step=args.step,
        progress=not args.no_progress and sys.stderr.isatty(),
        command=args.command_line,
        workers=args.workers,
        dask=args.dask,
        scheduler=args.scheduler,
        scheduler_timeout=args.scheduler_timeout,
        task_events=args.task_events,
        keep_going=args.keep_going,
        virtual=args.virtual,
        resume=args.resume,
    )
    print(summary.line())
    for line in summary.failure_lines():
        print(f"hitprep convert: failed: {line}", file=sys.stderr)
    return 3 if summary.failed else 0
