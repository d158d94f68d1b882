"""The output lifecycle every sink shares: a ``with`` block that leaves no partial file.

A sink writes into a temporary file beside its output; :meth:`commit` renames it into place
and :meth:`abort` deletes it. Leaving the ``with`` block of a sink that is still open (an
error, a signal, a forgotten commit) aborts it, so no half-written output survives.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["OutputLifecycle"]


class OutputLifecycle:
    """Mixin for sinks: ``with`` returns the sink, and its exit aborts one not yet committed."""

    @property
    def is_open(self) -> bool:
        """Whether the temporary file is still open (neither committed nor aborted)."""
        raise NotImplementedError

    def abort(self) -> None:
        """Close and delete the temporary file."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.is_open:
            self.abort()
