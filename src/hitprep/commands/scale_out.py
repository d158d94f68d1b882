"""Command-line options shared by the commands that run on the scale-out runners."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_scale_out_options", "positive_int", "print_failures", "scale_out_options"]


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_scale_out_options(p: argparse.ArgumentParser, description: str, *, shards: bool) -> None:
    """``--workers``, ``--dask``, ``--scheduler[-timeout]``, ``--keep-going``, ``--resume``;
    with ``shards`` also ``--task-events`` and ``--virtual``."""
    g = p.add_argument_group("scaling out", description)
    g.add_argument(
        "--workers",
        type=positive_int,
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
        "--keep-going",
        action="store_true",
        help="write the tasks that succeeded, list those that failed (default: fail as a whole)",
    )
    g.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse what an interrupted run of the same job finished (default: yes);"
        " --no-resume starts over",
    )
    if shards:
        g.add_argument(
            "--task-events",
            type=positive_int,
            metavar="N",
            help="split inputs into tasks of N entries (default: one task per input)",
        )
        g.add_argument(
            "--virtual",
            action="store_true",
            help="keep rows in the shards (OUTPUT.parts/) and write HDF5 virtual datasets",
        )


def scale_out_options(args: argparse.Namespace) -> dict[str, Any]:
    """The runner keyword arguments the options above set."""
    names = ["workers", "dask", "scheduler", "scheduler_timeout", "keep_going", "resume"]
    names += [n for n in ("task_events", "virtual") if hasattr(args, n)]
    return {name: getattr(args, name) for name in names}


def print_failures(command: str, lines: list[str]) -> None:
    """One stderr line per failed task."""
    for line in lines:
        print(f"hitprep {command}: failed: {line}", file=sys.stderr)
