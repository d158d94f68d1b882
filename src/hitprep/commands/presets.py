"""``hitprep presets``: list the shipped job presets, show one resolved, write the job schema."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "presets",
        help="list the shipped job presets",
        description=(
            "List the shipped job presets, one line each. --show NAME prints one as a job"
            " file with every key (defaults too) and its description; --schema FILE writes"
            " the JSON schema of job files (for editors: TOML language servers such as Taplo"
            " and Even Better TOML complete and check keys with it)."
        ),
    )
    p.add_argument(
        "--show",
        metavar="NAME",
        help="print a preset (or a job file) resolved, each key with its description",
    )
    p.add_argument("--schema", metavar="FILE", help="write the job files' JSON schema ('-': print)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.config import job_schema, list_presets, load_job

    if args.schema:
        text = json.dumps(job_schema(), indent=2) + "\n"
        if args.schema == "-":
            print(text, end="")
        else:
            Path(args.schema).write_text(text)
        if not args.show:
            return 0
    if args.show:
        print(load_job(args.show).to_toml(), end="")
        return 0
    presets = list_presets()
    width = max(map(len, presets), default=0)
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")
    return 0
