"""``hitprep export INPUT -o OUT.{npy,h5,parquet}``: LDMX hits as one flat table."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, show_progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="write LDMX hits as a flat (n_hits, 6) table: event, hit, x, y, z, E",
        description=(
            "Write the hits of an LDMX hit file (tree ecalHits: eventNumber and x, y, z, E per"
            " hit) as one flat table with columns [event number, hit number in event, x, y, z,"
            " E], as .npy (float64), .h5 (dataset 'hits') or .parquet (needs pyarrow)."
        ),
    )
    p.add_argument("input", help="LDMX ROOT file")
    p.add_argument("-o", "--output", required=True, help="output .npy, .h5 or .parquet file")
    p.add_argument("--tree", default="ecalHits", help="hit tree (default: ecalHits)")
    p.add_argument(
        "--branches",
        default="x,y,z,E",
        help="the branches of x, y, z and E, comma-separated (default: x,y,z,E)",
    )
    p.add_argument(
        "--event-branch", default="eventNumber", help="event number branch (default: eventNumber)"
    )
    p.add_argument("--step", type=int, default=1000, help="events per chunk (bounds memory)")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.export import export_hits

    summary = export_hits(
        args.input,
        args.output,
        tree=args.tree,
        branches=[b.strip() for b in args.branches.split(",")],
        event_branch=args.event_branch,
        step=args.step,
        overwrite=args.overwrite,
        progress=show_progress(args),
    )
    print(summary.line())
    return 0
