"""Words in summaries and messages: counts with their noun in the right number."""

from __future__ import annotations

__all__ = ["count_of"]

#: words whose ``-ch`` is said as ``k``: their plural is ``-chs``
_HARD_CH = frozenset({"epoch", "stomach", "monarch"})


def count_of(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one.

    A word ending in a hissing sound takes ``-es`` (process, batch, box); ``-ch`` said as ``k``
    (epoch) takes ``-s``.

    Example:
        >>> count_of(1, "epoch"), count_of(6, "epoch"), count_of(2, "process")
        ('1 epoch', '6 epochs', '2 processes')
        >>> count_of(1200, "event"), count_of(3, "batch")
        ('1,200 events', '3 batches')
    """
    hissing = word.endswith(("s", "sh", "x", "z")) or (word.endswith("ch") and word not in _HARD_CH)
    plural = word + ("es" if hissing else "s")
    return f"{n:,} {word if n == 1 else plural}"
