"""Provenance written into every output: who made it, from what, how."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hitprep._version import __version__

__all__ = ["command_line", "input_records", "provenance_attrs", "version"]


def version() -> str:
    """hitprep's version (a constant: asking the package metadata costs ~50 ms of start-up)."""
    return __version__


def command_line() -> str:
    """The command line of this process, shell-quoted."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def input_records(paths: Sequence[Path], events: Sequence[int | None]) -> list[dict[str, Any]]:
    """One record per input: path, size in bytes, number of events.

    ``None`` stands for what is not known: the events of an input that could not be
    read, the size of one that does not exist.
    """
    return [
        {
            "index": i,
            "path": str(p.resolve()),
            "size_bytes": p.stat().st_size if p.exists() else None,
            "events": n,
        }
        for i, (p, n) in enumerate(zip(paths, events, strict=True))
    ]


def provenance_attrs(
    *,
    job_text: str,
    job_resolved: str,
    overrides: Sequence[str],
    inputs: list[dict[str, Any]],
    accounting: dict[str, Any],
    command: str | None = None,
) -> dict[str, str]:
    """File attributes: version, job, command, timestamp, inputs and event accounting."""
    return {
        "hitprep_version": version(),
        "job": job_text,
        "job_resolved": job_resolved,
        "job_overrides": json.dumps(list(overrides)),
        "command": command if command is not None else command_line(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git-describe": f"hitprep-{version()}",  # the key WatChMaL DataTools' files carry
        "inputs": json.dumps(inputs),
        "accounting": json.dumps(accounting),
    }
