"""``hitprep binstats OUTPUT.h5... --save-as PLOT``: plot per-axis hit distributions."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, plot_file

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "binstats",
        help="plot the per-axis hit distributions and cut-off fractions of image outputs",
        description=(
            "Plot, for each image axis, the hit distribution with the bin edges and the"
            " fraction of hits cut off below and above; several files are summed."
        ),
    )
    p.add_argument("files", nargs="+", metavar="OUTPUT.h5", help="hitprep image outputs")
    p.add_argument("--save-as", required=True, type=plot_file, help="plot file (.pdf or .png)")
    add_output_options(p, replaces="an existing plot", progress=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.plotting.binstats import plot_bin_stats, read_bin_stats

    stats = read_bin_stats(args.files)
    path = plot_bin_stats(stats, args.save_as, overwrite=args.overwrite)
    print(f"bin statistics of {len(args.files)} file(s) -> {path}")
    return 0
