"""Helpers of the fault-injection tests: the CLI in a subprocess, its processes, its leftovers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import pytest

from hitprep.sinks.hdf5 import dataset_names

#: the CLI as a subprocess (a crash of h5py must not take pytest down)
HITPREP = [sys.executable, "-m", "hitprep.cli"]


def run_cli(
    args: Sequence[str | Path], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``hitprep ARGS`` in a subprocess; its exit status, stdout and stderr."""
    return subprocess.run(
        [*HITPREP, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False
    )


def _as_from_a_terminal() -> None:
    """In the child: Ctrl-C (SIGINT) does what it does for a user at a terminal. A shell
    script's background job (``cmd &``) starts with SIGINT ignored, and Python then never
    raises KeyboardInterrupt: the signal tests must not depend on how the suite was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(args: Sequence[str | Path]) -> subprocess.Popen[str]:
    """``hitprep ARGS`` started in a subprocess (its own process group), not waited for."""
    return subprocess.Popen(
        [*HITPREP, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_as_from_a_terminal,
    )


def children(pid: int) -> set[int]:
    """Every process descended from ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """The processes of ``pids`` that still run (zombies count as gone)."""
    running = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                running.add(pid)
    return running


def wait_gone(pids: set[int], *, timeout: float = 15) -> set[int]:
    """Wait until every process of ``pids`` has ended; the ones still running."""
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def wait_for(
    folder: Path, pattern: str, *, proc: subprocess.Popen[str], timeout: float = 60
) -> None:
    """Wait until a file matching ``pattern`` appears under ``folder`` (the run is under way)."""
    deadline = time.monotonic() + timeout
    while not any(folder.rglob(pattern)):
        if proc.poll() is not None or time.monotonic() > deadline:
            _out, err = proc.communicate()
            pytest.fail(f"no {pattern} appeared (exit {proc.returncode}): {err}")
        time.sleep(0.01)


def temporaries(folder: Path) -> list[str]:
    """Temporary files of hitprep's writers under ``folder``."""
    return sorted(p.name for p in folder.rglob("*.partial*"))


def same_datasets(a: Path, b: Path) -> None:
    """Assert that two outputs hold the same datasets, byte for byte."""
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert dataset_names(fa) == dataset_names(fb)
        for name in dataset_names(fa):
            assert fa[name].dtype == fb[name].dtype, name
            assert fa[name][()].tobytes() == fb[name][()].tobytes(), name


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (root only; skips otherwise)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
