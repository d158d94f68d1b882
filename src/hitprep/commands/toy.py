"""``hitprep toy NAME ...``: write a toy detector sample (see :mod:`hitprep.toys`).

Each toy is a module with ``cli_main(argv) -> int`` parsing its own options,
registered in :data:`TOYS`; ``hitprep toy NAME --help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

__all__ = ["TOYS", "add_parser", "run"]

#: toy name -> "module:function" taking argv and returning an exit code
TOYS: dict[str, str] = {
    "nanoaod": "hitprep.toys.nanoaod:cli_main",
    "wcsim": "hitprep.toys.wcsim:cli_main",
    "ldmx": "hitprep.toys.ldmx:cli_main",
    "acts": "hitprep.toys.acts:cli_main",
    "heptrkx": "hitprep.toys.heptrkx:cli_main",
}


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "toy",
        help="write a toy detector sample (for demos, tests and benchmarks)",
        description=(
            "Simulate a small toy detector and write its output in a format hitprep reads."
            f" Toys: {', '.join(TOYS)}. Run `hitprep toy NAME --help` for a toy's options."
        ),
    )
    p.add_argument("toy", choices=sorted(TOYS), metavar="NAME", help=", ".join(sorted(TOYS)))
    p.add_argument("toy_args", nargs=argparse.REMAINDER, help="the toy's own options")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    module, _, function = TOYS[args.toy].partition(":")
    main = getattr(importlib.import_module(module), function)
    code: int = main(list(args.toy_args))
    return code
