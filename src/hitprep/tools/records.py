"""Shared bits of the dataset tools: sizes (``--max-ram``), summaries, provenance records."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hitprep.errors import ConfigError

__all__ = ["ToolSummary", "json_attr", "parse_size", "tool_record"]

_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes from ``"2GB"``, ``"512MiB"``, ``"1.5g"`` or a plain number of bytes.

    Example:
        >>> parse_size("2GB"), parse_size("1KiB"), parse_size(100)
        (2000000000, 1024, 100)
    """
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE.fullmatch(text)
        if not m or (m.group(3) and not m.group(2)):
            msg = f"cannot read {text!r} as a size; use e.g. 2GB, 512MB, 1.5GiB"
            raise ConfigError(msg)
        base = 1024 if m.group(3) else 1000
        power = "_kmgt".index(m.group(2).lower()) if m.group(2) else 0
        value = int(float(m.group(1)) * base**power)
    if value <= 0:
        msg = f"size must be positive, got {text!r}"
        raise ConfigError(msg)
    return value


def json_attr(value: Any) -> str:
    """JSON for a provenance attribute (numpy scalars as numbers)."""

    def plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, bytes):
            return v.decode(errors="replace")
        if isinstance(v, np.ndarray):
            return v.tolist()
        return str(v)

    return json.dumps(value, default=plain)


@dataclass(frozen=True)
class ToolSummary:
    """What a dataset tool did, for the CLI's one-line summary."""

    outputs: tuple[Path, ...]
    events: int
    seconds: float
    detail: str = ""

    def line(self) -> str:
        where = ", ".join(str(p) for p in self.outputs)
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.events} events{extra}; {self.seconds:.1f} s -> {where}"


def tool_record(name: str, command: str | None, **fields: Any) -> str:
    """JSON provenance of a tool run: the tool, its options, command, time, version."""
    from hitprep.provenance import provenance_attrs

    base = provenance_attrs(
        job_text="", job_resolved="", overrides=(), inputs=[], accounting={}, command=command
    )
    record = {
        "tool": name,
        **fields,
        "command": base["command"],
        "timestamp": base["timestamp"],
        "hitprep_version": base["hitprep_version"],
    }
    return json_attr(record)
