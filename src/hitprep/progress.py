"""Progress bars for long commands; tqdm is imported only when a bar is shown.

Importing tqdm costs 10-30 ms of start-up (it pulls ``unicodedata`` and package metadata),
a noticeable share of a one-file conversion that takes half a second; without a terminal
(batch jobs, pipes, tests) nothing is shown, so nothing is imported.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(nullcontext["ProgressBar"]):
    """A bar that shows nothing: the part of tqdm's interface hitprep uses."""

    def __init__(self, total: int | float | None = None) -> None:
        super().__init__(self)
        self.total = total

    def update(self, n: int | float = 1) -> None:
        """Count ``n`` more done (nothing to show)."""

    def refresh(self) -> None:
        """Redraw (nothing to draw)."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text after the bar, e.g. the merge's progress (nothing to show)."""

    def close(self) -> None:
        """Close (nothing open)."""


def progress_bar(
    *, total: int | float | None, enabled: bool, unit: str = "ev", desc: str | None = None
) -> Any:
    """A tqdm bar when ``enabled``, else a :class:`ProgressBar` that shows nothing.

    Both are context managers with ``update``, ``refresh``, ``set_postfix_str``, ``close``
    and ``total``.
    """
    if not enabled:
        return ProgressBar(total)
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc)
