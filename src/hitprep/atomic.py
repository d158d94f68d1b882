"""One output lifecycle: outputs appear only when complete, and nothing is left behind.

Every file hitprep writes goes first to a hidden temporary name beside its target
(``.NAME.<pid>-<random>.partial<suffix>``), is synced to disk and renamed when complete
(:func:`publish`); on error, SIGINT or SIGTERM (:func:`handle_termination` turns SIGTERM
into :class:`~hitprep.errors.Terminated`, an interruption like Ctrl-C) the temporary file
is removed. A temporary left by a run that was killed outright (SIGKILL, power loss) is
removed by the next run that writes the same output (:func:`partial_path`). An output
never replaces a folder, something that is not a regular file (``/dev/null``) or an
input of the same command (:func:`check_output`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from hitprep.errors import ConfigError, OutputExistsError, Terminated

__all__ = [
    "atomic_path",
    "check_output",
    "final_name",
    "handle_termination",
    "partial_path",
    "publish",
    "remove_leftovers",
]

_PARTIAL = ".partial"


def check_output(path: str | Path, *, overwrite: bool, inputs: Iterable[str | Path] = ()) -> Path:
    """Check an output before any work: raise when it cannot or must not be written.

    Args:
        path: the output file.
        overwrite: an existing regular file may be replaced.
        inputs: files the same command reads; the output must be none of them.

    Raises:
        ConfigError: ``path`` names a folder (``.``, ``out/``), something that is not a
            regular file (``/dev/null``), or one of ``inputs``.
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    text = os.fspath(path)
    p = Path(text)
    if text.endswith(("/", os.sep)) or p.name in ("", ".", "..") or p.is_dir():
        msg = f"output {text} is a folder; give a file name, e.g. {p / 'out.h5'}"
        raise ConfigError(msg)
    for source in inputs:
        if _same_file(p, Path(source)):
            msg = f"output {text} is also an input ({source}); choose another output name"
            raise ConfigError(msg)
    if p.exists():
        if not stat.S_ISREG(p.stat().st_mode):
            msg = f"output {text} exists and is not a regular file; choose another output name"
            raise ConfigError(msg)
        if not overwrite:
            raise OutputExistsError(p)
    return p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_leftovers(path: str | Path) -> list[Path]:
    """Remove temporaries of ``path`` left by runs that no longer exist; return them.

    A temporary whose writer (the pid in its name) is still running is kept.
    """
    p = Path(path)
    # .NAME.<pid>-<8 hex>.partial<suffix>, or .NAME.<8 hex>.partial<suffix> (older runs)
    ours = re.compile(rf"\.{re.escape(p.name)}\.(?:(\d+)-)?[0-9a-f]{{8}}{_PARTIAL}")
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for old in p.parent.glob(f".{_glob_escape(p.name)}.*{_PARTIAL}*"):
            match = ours.fullmatch(old.name.removesuffix(p.suffix))
            if match is None or (match.group(1) and _pid_alive(int(match.group(1)))):
                continue  # another output's, or its writer still runs
            with contextlib.suppress(OSError):
                old.unlink()
                removed.append(old)
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def partial_path(path: str | Path) -> Path:
    """A unique hidden temporary name beside ``path`` that keeps its suffix.

    Temporaries of the same output left by killed runs are removed first.

    Example:
        >>> partial_path("out/x.h5").name.startswith(".x.h5.")
        True
    """
    p = Path(path)
    remove_leftovers(p)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return p.with_name(f".{p.name}.{tag}{_PARTIAL}{p.suffix}")


def final_name(temporary: str | Path) -> Path:
    """The output a temporary from :func:`partial_path` becomes (itself if it is none)."""
    t = Path(temporary)
    name = t.name
    if not name.startswith(".") or _PARTIAL not in name:
        return t
    head = name[1:].rsplit(_PARTIAL, 1)[0]  # NAME.<tag>
    return t.with_name(head.rsplit(".", 1)[0])


def _fsync(path: Path, flags: int) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # e.g. a folder on a platform that cannot open one
    try:
        with contextlib.suppress(OSError):  # some file systems cannot sync folders
            os.fsync(fd)
    finally:
        os.close(fd)


def publish(temporary: Path, final: Path) -> Path:
    """Sync ``temporary`` to disk, rename it to ``final``, and sync the folder."""
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    temporary.replace(final)
    _fsync(final.parent, os.O_RDONLY)
    return final


@contextmanager
def atomic_path(
    path: str | Path, *, overwrite: bool = True, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """Yield a temporary path to write; it becomes ``path`` when the block ends normally.

    Args:
        path: the final output.
        overwrite: replace an existing ``path`` (else OutputExistsError before any work).
        inputs: files the writer reads, which ``path`` must not be.

    Example:
        >>> with atomic_path("a.txt") as t:
        ...     _ = t.write_text("done")
        >>> Path("a.txt").read_text()
        'done'
    """
    final = check_output(path, overwrite=overwrite, inputs=inputs)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(final)
    try:
        yield tmp
        publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _resend_lost_signal(unraisable: sys.UnraisableHookArgs) -> None:
    """A Ctrl-C or SIGTERM raised inside a finalizer (``__del__``, a weakref callback) is
    swallowed by Python and the run would go on to the end: send the signal again, shortly
    and from another thread (a handler run inside this hook would be swallowed too), so
    that it is raised in the code that runs next."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        resend = threading.Timer(0.05, os.kill, args=(os.getpid(), signum))
        resend.daemon = True
        resend.start()
    else:
        sys.__unraisablehook__(unraisable)


def handle_termination() -> None:
    """Make SIGTERM (and SIGHUP) raise :class:`Terminated` in the main thread, like Ctrl-C.

    Clean-up code (``finally``, ``with``) then runs as for Ctrl-C: temporaries are
    removed and worker processes stopped. A signal the process was started ignoring
    (``nohup`` ignores SIGHUP) stays ignored; one that lands in a finalizer, where Python
    would swallow it, is sent again. Does nothing outside the main thread.
    """
    sys.unraisablehook = _resend_lost_signal
    with contextlib.suppress(ValueError):  # not the main thread
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, _terminate)
