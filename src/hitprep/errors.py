"""Error classes. Each subclasses a builtin and carries the context a user needs to act.

The CLI prints ``str(error)`` on one line; messages therefore name the file, the
key and the event where one is known.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "CalibrationError",
    "ConfigError",
    "CountOverflowError",
    "FileFormatError",
    "HitprepError",
    "KeyInFileError",
    "ModelError",
    "OutputExistsError",
    "RunnerError",
    "SchedulerError",
    "TaskError",
    "Terminated",
]


class HitprepError(Exception):
    """Base class of every error hitprep raises on purpose."""


def nearest(key: str, available: Iterable[str], *, n: int = 5) -> list[str]:
    """Return the names in ``available`` closest to ``key`` (best first)."""
    names = list(available)
    close = difflib.get_close_matches(key, names, n=n, cutoff=0.5)
    if not close:
        lowered = key.lower()
        close = [name for name in names if lowered in name.lower()][:n]
    return close


class KeyInFileError(HitprepError, KeyError):
    """A key (branch, dataset, field, column) is missing from a file.

    The message lists the nearest existing names, like uproot's; with
    ``list_all=True`` it lists every existing name as well (for short lists
    such as a file's collections).
    """

    def __init__(
        self,
        key: str,
        *,
        file: str | Path | None = None,
        available: Iterable[str] = (),
        what: str = "key",
        list_all: bool = False,
    ) -> None:
        self.key = key
        self.file = None if file is None else str(file)
        self.available = sorted(set(available))
        close = nearest(key, self.available)
        where = f" in {self.file}" if self.file else ""
        msg = f"{what} {key!r} not found{where}"
        if close:
            msg += f"; did you mean: {', '.join(repr(c) for c in close)}?"
        elif self.available:
            shown = ", ".join(repr(a) for a in self.available[:12])
            more = " ..." if len(self.available) > 12 else ""
            msg += f"; available: {shown}{more}"
        if list_all and close and self.available:
            msg += f" (available: {', '.join(self.available)})"
        elif list_all and len(self.available) > 12:
            msg = msg.removesuffix(" ...") + ", " + ", ".join(map(repr, self.available[12:]))
        super().__init__(msg)
        self.message = msg

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.message


class FileFormatError(HitprepError, ValueError):
    """A file cannot be read as the format it should have (truncated, corrupt, other format)."""

    def __init__(self, file: str | Path, detail: str) -> None:
        self.file = str(file)
        self.detail = detail
        super().__init__(f"{self.file}: {detail}")


class ConfigError(HitprepError, ValueError):
    """A job configuration is invalid; the message names the key and what is allowed."""


class CalibrationError(HitprepError, LookupError):
    """Hits refer to detector elements the geometry file does not have."""


class CountOverflowError(HitprepError, OverflowError):
    """A count does not fit the requested dtype; nothing is wrapped around."""


class ModelError(HitprepError, ValueError):
    """A generator model failed, or returned output of the wrong shape or type."""


class OutputExistsError(HitprepError, FileExistsError):
    """The output exists and ``--overwrite`` was not given."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(f"{self.path} exists; pass --overwrite to replace it")


class RunnerError(HitprepError, RuntimeError):
    """A conversion could not run as asked (its output folder is busy, shards do not merge)."""


class TaskError(RunnerError):
    """Tasks of a conversion failed; ``failures`` holds each one (its input, range and reason)."""

    def __init__(self, message: str, failures: Sequence[object] = ()) -> None:
        self.failures = tuple(failures)
        super().__init__(message)


class SchedulerError(HitprepError, ConnectionError):
    """A Dask scheduler cannot be reached, or has no workers."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP): handled like Ctrl-C.

    ``exit_code`` is the shell's code for that signal (143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"terminated by signal {signum}")
