"""What one writeback did: events in and out, objects made, values fixed or skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WritebackSummary"]


@dataclass
class WritebackSummary:
    """What a writeback did: events in and out, objects made, values fixed or skipped.

    Example:
        >>> s = WritebackSummary(Path("out.root"), events_read=3, events_written=6, upsample=2)
        >>> s.objects["Jet"] += 9
        >>> print(s.line())
        3 events in, 6 written (2 copies, blocks), 0 skipped; 9 Jet; 0.0 s -> out.root
    """

    output: Path
    events_read: int = 0
    events_written: int = 0
    upsample: int = 1
    order: str = "blocks"
    objects: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    nonfinite: Counter[str] = field(default_factory=Counter)
    trees_copied: dict[str, int] = field(default_factory=dict)
    not_copied: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "events_written": self.events_written,
            "upsample": self.upsample,
            "order": self.order,
            "objects_written": dict(self.objects),
            "events_skipped": dict(self.skipped),
            "nonfinite_values": dict(self.nonfinite),
            "trees_copied": dict(self.trees_copied),
            "branches_not_copied": dict(self.not_copied),
        }

    def line(self) -> str:
        skipped = sum(self.skipped.values())
        why = ", ".join(f"{k}: {v}" for k, v in self.skipped.items())
        copies = f" ({self.upsample} copies, {self.order})" if self.upsample > 1 else ""
        objects = "".join(f" {n:,} {name};" for name, n in self.objects.items())
        bad = sum(self.nonfinite.values())
        nonfinite = f" {bad:,} non-finite values;" if bad else ""
        trees = "".join(f" {name} copied;" for name in self.trees_copied)
        return (
            f"{self.events_read:,} events in, {self.events_written:,} written{copies}, "
            f"{skipped} skipped{f' ({why})' if why else ''};{objects}{nonfinite}{trees}"
            f" {self.seconds:.1f} s -> {self.output}"
        )
