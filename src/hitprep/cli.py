"""The ``hitprep`` command: a thin shell over the Python API.

Each sub-command lives in :mod:`hitprep.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. Errors print one line
(``--debug`` shows the traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from hitprep.allocator import keep_freed_memory
from hitprep.atomic import final_name, handle_termination
from hitprep.errors import ConfigError, HitprepError, Terminated

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
    "watchmal-files",
    "report",
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
        module = importlib.import_module(f"hitprep.commands.{name.replace('-', '_')}")
        module.add_parser(sub)
    return parser


#: commands that convert chunk by chunk, for which glibc's malloc is tuned (hitprep.allocator)
_CHUNKED = frozenset({"convert", "writeback", "mix"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    if args.command in _CHUNKED:  # this process is ours: reuse chunk arrays (allocator)
        keep_freed_memory()
    args.command_line = shlex.join(["hitprep", *words])
    if args.version:
        from hitprep.provenance import version

        print(f"hitprep {version()}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    handle_termination()  # SIGTERM cleans up like Ctrl-C
    try:
        check_outputs(args)
        code: int = args.run(args)
    except Exception as err:
        if args.debug:
            raise
        print(f"hitprep {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        if args.debug:
            raise
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        print(f"hitprep {args.command}: {what}; unfinished outputs removed", file=sys.stderr)
        return err.exit_code if isinstance(err, Terminated) else 130
    return code


#: arguments that name what a command writes; every other existing file it names is an input
OUTPUT_ARGS = ("output", "save_as", "prefix")


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse an output that is one of the files the command reads (inputs, --detx, models)."""
    named: list[str] = []
    for key, value in vars(args).items():
        if key not in OUTPUT_ARGS and key != "command_line":
            values = value if isinstance(value, list) else [value]
            named += [v for v in values if isinstance(v, str) and v]
    inputs = [v for v in named if Path(v).is_file()]
    for key in OUTPUT_ARGS:
        out = getattr(args, key, None)
        if isinstance(out, str) and Path(out).is_file():
            for source in inputs:
                if Path(out).samefile(source):
                    msg = f"output {out} is also an input ({source}); choose another output name"
                    raise ConfigError(msg)


def one_line(err: BaseException) -> str:
    """The error as one line; a full disk says which output it was writing."""
    message = " ".join(str(err).split())  # one line, whatever the library said
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        found = re.search(r"filename = '([^']+)'", message)
        name = err.filename or (found.group(1) if found else None)
        where = f" writing {final_name(name)}" if name else ""
        return f"no space left on device{where}; nothing written"
    if not isinstance(err, HitprepError | OSError):
        message = f"{type(err).__name__}: {message} (--debug shows the traceback)"
    return message


if __name__ == "__main__":
    sys.exit(main())
