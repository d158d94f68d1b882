"""The ``hitprep`` command: a thin shell over the Python API.

Each sub-command lives in :mod:`hitprep.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. Errors print one line
(``--debug`` shows the traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Sequence

from hitprep.allocator import keep_freed_memory
from hitprep.errors import HitprepError

__all__ = ["main"]

#: sub-command modules, in the order ``--help`` lists them
COMMANDS = [
    "convert",
    "presets",
    "inspect",
    "binstats",
    "train",
    "evaluate",
    "predict",
    "toy",
    "writeback",
    "concat",
    "shuffle",
    "split",
    "export",
    "mix",
    "display",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hitprep",
        description="Turn particle-detector event data into deep-learning training samples.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"hitprep.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    keep_freed_memory()  # this process is ours: reuse chunk arrays (hitprep.allocator)
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    args.command_line = shlex.join(["hitprep", *words])
    if args.version:
        from hitprep.provenance import version

        print(f"hitprep {version()}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except (HitprepError, OSError) as err:
        if args.debug:
            raise
        message = " ".join(str(err).split())  # one line, whatever the library said
        print(f"hitprep {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hitprep {args.command}: interrupted; no output written", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
