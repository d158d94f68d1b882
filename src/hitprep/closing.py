"""``with obj:`` closes ``obj`` on the way out, error or not (sources, event files, backends).

Leaving by an error, a failure to close is swallowed: the first error is the one reported.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """Mixin: a context manager whose exit calls :meth:`close`."""

    def close(self) -> None:
        """Release what the object holds (default: nothing)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the error on its way is the one to report
            self.close()
