"""``hitprep presets``: list the shipped job presets."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "presets",
        help="list the shipped job presets",
        description="List the shipped job presets, one line each; --show NAME prints one.",
    )
    p.add_argument("--show", metavar="NAME", help="print the TOML of one preset")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.config import list_presets, load_job

    if args.show:
        print(load_job(args.show).text, end="")
        return 0
    presets = list_presets()
    width = max(map(len, presets), default=0)
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")
    return 0
