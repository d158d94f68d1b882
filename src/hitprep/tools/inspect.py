"""Describe a ROOT or HDF5 file: trees, branches, datasets, shapes, dtypes, event/hit counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hitprep.errors import FileFormatError

__all__ = ["describe"]


def describe(path: str | Path) -> str:
    """A human-readable listing of ``path`` (ROOT or HDF5).

    Raises:
        FileFormatError: the file is neither, or is unreadable.
    """
    p = Path(path)
    if not p.exists():
        raise FileFormatError(p, "no such file")
    with p.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF"):
        return _describe_hdf5(p)
    if magic.startswith(b"root"):
        return _describe_root(p)
    raise FileFormatError(p, "neither HDF5 nor ROOT (unknown file signature)")


def _describe_hdf5(path: Path) -> str:
    import hdf5plugin  # noqa: F401  (Blosc-compressed km3pipe files)

    lines = [f"{path} (HDF5, {path.stat().st_size:,} bytes)"]
    try:
        with h5py.File(path, "r") as f:
            for key in ("hitprep_version", "timestamp", "command"):
                if key in f.attrs:
                    lines.append(f"  {key}: {f.attrs[key]}")
            if "accounting" in f.attrs:
                acc = json.loads(f.attrs["accounting"])
                items = ", ".join(f"{n:,} {name}" for name, n in acc.get("items_read", {}).items())
                lines.append(
                    f"  events: {acc['events_read']} read, {acc['events_written']} written,"
                    f" skipped {acc['events_skipped'] or 0}; read: {items or 'no collections'}"
                )

            def visit(name: str, obj: object) -> None:
                if name.startswith("_i_"):
                    return
                if isinstance(obj, h5py.Dataset):
                    comp = f", {obj.compression}" if obj.compression else ""
                    lines.append(f"  {name}: {obj.shape} {obj.dtype}{comp}")
                    if (
                        name.endswith("_indices")
                        and obj.dtype.names
                        and "n_items" in obj.dtype.names
                    ):
                        n_items = obj.fields("n_items")[:]
                        lines.append(
                            f"    -> {len(n_items)} events, {int(np.sum(n_items)):,} items"
                        )

            f.visititems(visit)
    except OSError as err:
        raise FileFormatError(path, f"cannot read as HDF5: {err}") from err
    return "\n".join(lines)


def _describe_root(path: Path) -> str:
    import uproot

    lines = [f"{path} (ROOT, {path.stat().st_size:,} bytes)"]
    try:
        with uproot.open(path) as f:
            for key, cls in f.classnames().items():
                lines.append(f"  {key}: {cls}")
                if cls == "TObjString" and key.startswith("hitprep_provenance"):
                    lines.extend(_provenance_lines(str(f[key])))
                if cls not in ("TTree", "ROOT::RNTuple"):
                    continue
                obj = f[key]
                lines.append(f"    entries: {obj.num_entries}")
                if cls == "TTree":
                    for name, branch in obj.iteritems(recursive=True):
                        try:
                            kind = branch.typename
                        except Exception:  # uproot cannot describe some streamed objects
                            kind = "?"
                        lines.append(f"    {name}: {kind}")
                    lines.extend(_collection_lines(obj))
                else:
                    for name in obj:
                        lines.append(f"    {name}")
    except Exception as err:  # uproot raises many kinds on broken files
        raise FileFormatError(path, f"cannot read as ROOT: {err}") from err
    return "\n".join(lines)


def _collection_lines(tree: Any) -> list[str]:
    """NanoAOD-style summary: each counter with its branches and number of objects."""
    members: dict[str, list[str]] = {}
    for branch in tree.branches:
        count = branch.count_branch
        if count is not None:
            members.setdefault(count.name, []).append(branch.name)
    if not members:
        return []
    lines = ["    collections (counter: objects, branches):"]
    totals = tree.arrays(list(members), library="np", array_cache=None)
    for counter, branches in members.items():
        objects = int(np.sum(totals[counter], dtype=np.int64))
        kind = tree[counter].typename
        plural = "branch" if len(branches) == 1 else "branches"
        lines.append(f"      {counter} ({kind}): {objects:,} objects, {len(branches)} {plural}")
    return lines


def _provenance_lines(text: str) -> list[str]:
    """hitprep's provenance string in a ROOT output (JSON), summarised."""
    try:
        prov = json.loads(text)
        acc = json.loads(prov.get("accounting", "{}"))
    except (ValueError, TypeError):
        return ["    (not JSON)"]
    keys = ("hitprep_version", "timestamp", "command")
    lines = [f"    {k}: {prov[k]}" for k in keys if k in prov]
    if acc:
        objects = ", ".join(f"{n:,} {c}" for c, n in acc.get("objects_written", {}).items())
        lines.append(
            f"    events: {acc.get('events_read')} read, {acc.get('events_written')} written,"
            f" skipped {acc.get('events_skipped') or 0}; objects: {objects or 'none'}"
        )
    return lines
