"""``hitprep inspect PATH``: what a file or folder that hitprep reads or writes holds."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "inspect",
        help="show what a file or folder holds: datasets, branches, attributes, counts",
        description=(
            "Show a ROOT file's trees and branches or an HDF5 file's datasets, with shapes,"
            " dtypes, attributes and event/hit counts; also CSV files, checkpoints (best.pt)"
            " and folders (training runs, ACTS/TrackML inputs). Trees of many branches"
            " (NanoAOD) are summarised by collection unless --filter is given."
        ),
    )
    p.add_argument("file", metavar="PATH", help="file or folder")
    p.add_argument(
        "--filter",
        metavar="PATTERN",
        help="only datasets or branches matching this shell pattern, e.g. 'Jet_*' or 'x*'",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.inspect import describe

    text = describe(args.file, pattern=args.filter)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `hitprep inspect FILE | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
