"""``hitprep report OUTPUT -o report.html``: one self-contained HTML page for an output or a run."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="one self-contained HTML page for a conversion output or a training run",
        description=(
            "Write one HTML page, pictures inlined, that needs no other file. For a"
            " conversion output: provenance, event accounting, the declared layout, label"
            " balance, bin statistics and a few event displays. For a training run folder:"
            " the history and, for each evaluation folder given (--evaluation) or found in"
            " the run, its metrics and plots. A section that cannot be drawn says why."
        ),
    )
    p.add_argument("input", metavar="OUTPUT", help="hitprep output (.h5) or training run folder")
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="report file (.html)")
    p.add_argument(
        "--evaluation",
        action="append",
        default=[],
        metavar="DIR",
        help="hitprep evaluate folder to show with a run (repeatable; default: those in RUN)",
    )
    p.add_argument("--events", type=int, default=3, metavar="N", help="event displays (default 3)")
    add_output_options(p, replaces="an existing report", progress=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.report import report

    out = report(
        args.input,
        args.output,
        evaluations=args.evaluation,
        events=args.events,
        overwrite=args.overwrite,
    )
    print(f"report of {args.input} -> {out}")
    return 0
