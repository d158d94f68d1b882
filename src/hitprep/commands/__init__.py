"""CLI sub-commands, one module each (``add_parser`` and ``run``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = [
    "PLOT_SUFFIXES",
    "add_inference_options",
    "add_output_options",
    "add_set_option",
    "plot_file",
    "seed",
    "show_progress",
]

#: file types matplotlib writes
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff")


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


def seed(text: str) -> int:
    """``--seed``: a non-negative integer (numpy's generators take no negative seed)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a non-negative integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def plot_file(text: str) -> str:
    """A plot's file name: its suffix says the file type matplotlib writes."""
    suffix = Path(text).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        msg = f"{text!r} has no plot suffix; use one of {', '.join(PLOT_SUFFIXES)}"
        raise argparse.ArgumentTypeError(msg)
    return text
