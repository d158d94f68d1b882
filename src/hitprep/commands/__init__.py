"""CLI sub-commands, one module each (``add_parser`` and ``run``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_inference_options", "add_output_options", "add_set_option", "show_progress"]


def show_progress(args: argparse.Namespace) -> bool:
    """A progress bar unless ``--no-progress`` was given or stderr is not a terminal."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def add_set_option(p: argparse.ArgumentParser, *, example: str, what: str = "job") -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``; ``example`` shows one."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a {what} key, e.g. --set {example}",
    )


def add_output_options(
    p: argparse.ArgumentParser, *, replaces: str = "an existing output", progress: bool = True
) -> None:
    """``--overwrite`` (what it replaces) and, for long commands, ``--no-progress``."""
    p.add_argument("--overwrite", action="store_true", help=f"replace {replaces}")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_inference_options(p: argparse.ArgumentParser) -> None:
    """``--batch-size``, ``--device`` and ``--num-workers`` of the commands that run a model."""
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="events per batch")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda:N")
    p.add_argument("--num-workers", type=int, default=0, metavar="N", help="loader workers")
