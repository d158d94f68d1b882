"""The parts folder of a sharded conversion: shards and the manifest that lists them.

``OUTPUT.parts/`` holds one shard per finished task and ``manifest.jsonl``: a
header line (the job's key), then one line per finished shard (task key, file
name, SHA-256, size, accounting), appended and flushed as each task finishes,
so that an interruption loses at most the tasks still running. A rerun reuses
a shard only when its task key (job, input path/size/mtime, range) is one of
the new run's, the file exists and its checksum matches; everything else in the
folder is deleted. A lock (``flock`` on the folder) keeps two runs from sharing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from hitprep.closing import Closing
from hitprep.errors import RunnerError
from hitprep.runners.tasks import Task, TaskResult, checksum

__all__ = ["MANIFEST", "PartsFolder", "append_entry", "manifest_entry", "parts_folder"]

MANIFEST = "manifest.jsonl"
_FORMAT = 1


def parts_folder(output: Path) -> Path:
    """Where the shards of ``output`` live: ``OUTPUT.parts`` beside it."""
    return output.with_name(f"{output.name}.parts")


def manifest_entry(key: str, name: str, result: TaskResult, **about: Any) -> dict[str, Any]:
    """The manifest line of a finished task's file ``name``."""
    return {
        "key": key,
        "shard": name,
        "sha256": result.sha256,
        "size": result.size,
        **about,
        "file_events": result.file_events,
        "accounting": result.accounting,
    }


def append_entry(manifest: Path, entry: Mapping[str, Any]) -> None:
    """Append one line to a manifest from the process that finished the task (synced).

    A task that records its own output leaves no finished output unrecorded when the
    process that started it is killed before hearing back.
    """
    line = (json.dumps(entry) + "\n").encode()
    fd = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write: lines of concurrent tasks do not interleave
        os.fsync(fd)
    finally:
        os.close(fd)


class PartsFolder(Closing):
    """The shards of one output and their manifest; a context manager holding the lock.

    Args:
        folder: the ``.parts`` folder (created if needed).
        job_key: key of the job; a manifest written for another job is discarded.
        resume: reuse valid shards found in the folder (``False``: start empty).
        manifest: file name of the manifest.
        exclusive: the folder holds nothing but shards, so files that are not reused
            are deleted (``False``: the folder is the user's, e.g. an output folder
            with one file per input; nothing else in it is touched).
    """

    def __init__(
        self,
        folder: Path,
        job_key: str,
        *,
        resume: bool,
        manifest: str = MANIFEST,
        exclusive: bool = True,
    ) -> None:
        self.folder = folder
        self.job_key = job_key
        self.manifest = manifest
        self.exclusive = exclusive
        folder.mkdir(parents=True, exist_ok=True)
        self._lock: int | None = os.open(folder, os.O_RDONLY)  # flock on the folder itself
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            msg = f"another hitprep run is writing {folder}; wait for it, or stop it"
            raise RunnerError(msg) from None
        except OSError:  # file systems without flock: go on unlocked
            pass
        self.entries: dict[str, dict[str, Any]] = self._load() if resume else {}
        self._journal: IO[str] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        path = self.folder / self.manifest
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
        """Manifest entries of ``tasks`` whose shard is intact, by task index."""
        return self.reusable_files({t.index: (t.key, t.shard_name()) for t in tasks})

    def reusable_files(self, wanted: Mapping[int, tuple[str, str]]) -> dict[int, dict[str, Any]]:
        """Manifest entries whose file is intact, by task index.

        Args:
            wanted: task index -> (task key, file name in the folder).

        Deletes every other file of an exclusive folder (shards of changed inputs or
        jobs, temporary files of interrupted tasks) and rewrites the manifest with
        the entries kept; later calls to :meth:`record` append to it.
        """
        kept: dict[int, dict[str, Any]] = {}
        for index, (key, name) in wanted.items():
            entry = self.entries.get(key)
            if entry is None or entry.get("shard") != name:
                continue
            path = self.folder / name
            intact = path.is_file() and path.stat().st_size == entry.get("size")
            if intact and checksum(path) == entry.get("sha256"):
                kept[index] = entry
        if self.exclusive:
            names = {entry["shard"] for entry in kept.values()}
            for path in self.folder.iterdir():
                if path.name not in names and path.name != self.manifest:
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
        self.entries = {entry["key"]: entry for entry in kept.values()}
        tmp = self.folder / f".{self.manifest}.tmp"
        with tmp.open("w") as fh:
            fh.write(json.dumps({"format": _FORMAT, "job": self.job_key}) + "\n")
            for entry in kept.values():
                fh.write(json.dumps(entry) + "\n")
        tmp.replace(self.folder / self.manifest)
        self._journal = (self.folder / self.manifest).open("a")
        return kept

    def shard_path(self, task: Task) -> Path:
        """Where ``task`` writes its shard."""
        return self.folder / task.shard_name()

    def record(self, task: Task, result: TaskResult) -> dict[str, Any]:
        """Add a finished task to the manifest (flushed to disk before returning)."""
        return self.record_file(
            task.key,
            task.shard_name(),
            result,
            index=task.index,
            input=str(task.path),
            file_index=task.file_index,
            start=task.start,
            stop=task.stop,
        )

    def record_file(
        self, key: str, name: str, result: TaskResult, *, journal: bool = True, **about: Any
    ) -> dict[str, Any]:
        """Add a finished task's file ``name`` to the manifest (flushed before returning).

        ``journal=False``: the task appended its line itself (:func:`append_entry`); only
        this run's list of entries is updated.
        """
        entry = manifest_entry(key, name, result, **about)
        self.entries[key] = entry
        if journal and self._journal is not None:
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
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def remove(self) -> None:
        """Delete the folder (its shards are merged into the output, or there are none).

        A folder that is not exclusive loses only its manifest.
        """
        self.close()
        if self.exclusive:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            (self.folder / self.manifest).unlink(missing_ok=True)
