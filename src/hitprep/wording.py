"""Words in summaries and messages: counts with their noun in the right number."""

from __future__ import annotations

__all__ = ["count_of"]


def count_of(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one.

    Example:
        >>> count_of(1, "epoch"), count_of(2, "process"), count_of(1200, "event")
        ('1 epoch', '2 processes', '1,200 events')
    """
    plural = word + ("es" if word.endswith(("s", "sh", "ch", "x")) else "s")
    return f"{n:,} {word if n == 1 else plural}"
