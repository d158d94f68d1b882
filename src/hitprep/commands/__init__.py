"""CLI sub-commands, one module each (``add_parser`` and ``run``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["show_progress"]


def show_progress(args: argparse.Namespace) -> bool:
    """A progress bar unless ``--no-progress`` was given or stderr is not a terminal."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()
