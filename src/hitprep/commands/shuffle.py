"""``hitprep shuffle IN.h5 -o OUT.h5 --max-ram 2GB --seed S``: shuffle events out of core."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, seed, show_progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "shuffle",
        help="shuffle the events of a hitprep output (out of core, jagged-aware)",
        description=(
            "Write the events of a hitprep output in a seeded random order. Every per-event"
            " and jagged dataset is permuted the same way; data larger than --max-ram are"
            " shuffled in two passes through a scratch file."
        ),
    )
    p.add_argument("input", help="hitprep HDF5 output")
    p.add_argument("-o", "--output", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=seed, default=0, help="permutation seed (default 0)")
    p.add_argument("--max-ram", default="2GB", help="memory budget, e.g. 2GB, 512MB (default 2GB)")
    p.add_argument("--tmpdir", help="folder for the scratch file (default: beside the output)")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.shuffle import shuffle

    summary = shuffle(
        args.input,
        args.output,
        seed=args.seed,
        max_ram=args.max_ram,
        tmpdir=args.tmpdir,
        overwrite=args.overwrite,
        progress=show_progress(args),
    )
    print(summary.line())
    return 0
