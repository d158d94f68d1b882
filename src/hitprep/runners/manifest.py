"""The parts folder of a sharded conversion: shards and the manifest that lists them.

``OUTPUT.parts/`` holds one shard per finished task and ``manifest.jsonl``: a
header line (the job's key), then one line per finished shard (task key, file
name, SHA-256, size, accounting), appended and flushed as each task finishes,
so that an interruption loses at most the tasks still running. A rerun reuses
a shard only when its task key (job, input path/size/mtime, range) is one of
the new run's, the file exists and its checksum matches; everything else in the
folder is deleted. A lock (``flock``) keeps two runs from sharing the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from hitprep.errors import RunnerError
from hitprep.runners.tasks import Task, TaskResult, checksum

__all__ = ["MANIFEST", "PartsFolder", "parts_folder"]

MANIFEST = "manifest.jsonl"
_FORMAT = 1


def parts_folder(output: Path) -> Path:
    """Where the shards of ``output`` live: ``OUTPUT.parts`` beside it."""
    return output.with_name(f"{output.name}.parts")


class PartsFolder:
    """The shards of one output and their manifest; a context manager holding the lock.

    Args:
        folder: the ``.parts`` folder (created if needed).
        job_key: key of the job; a manifest written for another job is discarded.
        resume: reuse valid shards found in the folder (``False``: start empty).
    """

    def __init__(self, folder: Path, job_key: str, *, resume: bool) -> None:
        self.folder = folder
        self.job_key = job_key
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = (folder / ".lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            msg = f"another hitprep run is writing {folder}; wait for it, or stop it"
            raise RunnerError(msg) from None
        except OSError:  # file systems without flock: go on unlocked
            pass
        self.entries: dict[str, dict[str, Any]] = self._load() if resume else {}
        self._journal: IO[str] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        path = self.folder / MANIFEST
        if not path.exists():
            return {}
        entries: dict[str, dict[str, Any]] = {}
        with path.open() as fh:
            lines = fh.read().splitlines()
        for number, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by an interruption: that task is redone
            if number == 0:
                if record.get("format") != _FORMAT or record.get("job") != self.job_key:
                    return {}  # another job (or hitprep) wrote these shards
                continue
            if isinstance(record, dict) and "key" in record:
                entries[record["key"]] = record
        return entries

    def reusable(self, tasks: Iterable[Task]) -> dict[int, dict[str, Any]]:
        """Manifest entries of ``tasks`` whose shard is intact, by task index.

        Deletes every other file of the folder (shards of changed inputs or jobs,
        temporary files of interrupted tasks) and rewrites the manifest with the
        entries kept; later calls to :meth:`record` append to it.
        """
        kept: dict[int, dict[str, Any]] = {}
        for task in tasks:
            entry = self.entries.get(task.key)
            if entry is None or entry.get("shard") != task.shard_name():
                continue
            shard = self.folder / task.shard_name()
            intact = shard.is_file() and shard.stat().st_size == entry.get("size")
            if intact and checksum(shard) == entry.get("sha256"):
                kept[task.index] = entry
        names = {entry["shard"] for entry in kept.values()}
        for path in self.folder.iterdir():
            if path.name not in names and path.name not in {".lock", MANIFEST}:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        self.entries = {entry["key"]: entry for entry in kept.values()}
        tmp = self.folder / f".{MANIFEST}.tmp"
        with tmp.open("w") as fh:
            fh.write(json.dumps({"format": _FORMAT, "job": self.job_key}) + "\n")
            for entry in kept.values():
                fh.write(json.dumps(entry) + "\n")
        tmp.replace(self.folder / MANIFEST)
        self._journal = (self.folder / MANIFEST).open("a")
        return kept

    def shard_path(self, task: Task) -> Path:
        """Where ``task`` writes its shard."""
        return self.folder / task.shard_name()

    def record(self, task: Task, result: TaskResult) -> dict[str, Any]:
        """Add a finished task to the manifest (flushed to disk before returning)."""
        entry = {
            "key": task.key,
            "shard": task.shard_name(),
            "sha256": result.sha256,
            "size": result.size,
            "index": task.index,
            "input": str(task.path),
            "file_index": task.file_index,
            "start": task.start,
            "stop": task.stop,
            "file_events": result.file_events,
            "accounting": result.accounting,
        }
        self.entries[task.key] = entry
        if self._journal is not None:
            self._journal.write(json.dumps(entry) + "\n")
            self._journal.flush()
            os.fsync(self._journal.fileno())
        return entry

    def has_shards(self) -> bool:
        return bool(self.entries)

    def close(self) -> None:
        """Close the manifest and release the lock."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def remove(self) -> None:
        """Delete the folder (its shards are merged into the output, or there are none)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PartsFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._lock.closed:
            self.close()
