"""``hitprep inspect FILE``: what a ROOT or HDF5 file holds."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "inspect",
        help="show a ROOT file's trees/branches or an HDF5 file's datasets",
        description=(
            "Show a ROOT file's trees and branches, or an HDF5 file's datasets, with shapes,"
            " dtypes and event/hit counts."
        ),
    )
    p.add_argument("file", help="ROOT or HDF5 file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.inspect import describe

    print(describe(args.file))
    return 0
