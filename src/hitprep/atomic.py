"""Outputs that appear only when complete.

Every file hitprep writes goes first to a hidden temporary name beside its target and is
renamed when complete; on error the temporary file is removed, so no half-written output
is ever left behind, and an existing output is replaced only when asked to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hitprep.errors import OutputExistsError

__all__ = ["atomic_path", "check_output", "partial_path"]


def check_output(path: str | Path, *, overwrite: bool) -> Path:
    """Raise OutputExistsError early, before any work, when ``path`` exists."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(p)
    return p


def partial_path(path: str | Path) -> Path:
    """A unique hidden temporary name beside ``path`` that keeps its suffix.

    Example:
        >>> partial_path("out/x.h5").name.startswith(".x.h5.")
        True
    """
    p = Path(path)
    return p.with_name(f".{p.name}.{uuid.uuid4().hex[:8]}.partial{p.suffix}")


@contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; it becomes ``path`` when the block ends normally.

    Args:
        path: the final output.
        overwrite: replace an existing ``path`` (else OutputExistsError before any work).

    Example:
        >>> with atomic_path(tmp / "a.txt") as t:  # doctest: +SKIP
        ...     t.write_text("done")
    """
    final = check_output(path, overwrite=overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(final)
    try:
        yield tmp
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
