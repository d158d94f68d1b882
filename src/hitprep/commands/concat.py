"""``hitprep concat A.h5 B.h5 ... -o C.h5``: join hitprep outputs."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, show_progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "concat",
        help="join hitprep outputs (jagged indices and file indices fixed up)",
        description=(
            "Write the events of every input, one after another, into one file: jagged"
            " indices and event_info.file_index fixed up, chunking and compression kept,"
            " bin statistics summed, the provenance of all inputs kept."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="hitprep HDF5 outputs")
    p.add_argument("-o", "--output", required=True, help="output HDF5 file")
    p.add_argument("--max-ram", default="1GB", help="memory per block of events (default 1GB)")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.concat import concat

    summary = concat(
        args.inputs,
        args.output,
        overwrite=args.overwrite,
        max_ram=args.max_ram,
        progress=show_progress(args),
    )
    print(summary.line())
    return 0
