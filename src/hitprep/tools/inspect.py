"""Describe what hitprep reads or writes: ROOT and HDF5 files (trees, branches, datasets,
shapes, dtypes, attributes, event/hit counts), CSV files and folders, checkpoints and
training runs.

Example:
    >>> from hitprep.tools.inspect import matches
    >>> matches("Jet_pt", "Jet_*"), matches("Muon_pt", "Jet_*"), matches("x", None)
    (True, False, True)
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hitprep.errors import FileFormatError
from hitprep.wording import count_of

__all__ = ["describe", "matches"]

#: a tree with more branches than this is summarised by collection unless a filter is given
COMPACT_BRANCHES = 60
#: attribute values longer than this are cut (job texts, provenance JSON)
ATTR_CHARS = 100
#: attributes shown in the header, not beside each dataset
_FILE_ATTRS = ("hitprep_version", "timestamp", "command")


def matches(name: str, pattern: str | None) -> bool:
    """Whether a dataset or branch name matches a shell-style pattern (no pattern: all)."""
    return pattern is None or fnmatch.fnmatchcase(name, pattern)


def describe(path: str | Path, *, pattern: str | None = None) -> str:
    """A human-readable listing of ``path``.

    Args:
        path: a ROOT or HDF5 file, a CSV file, a checkpoint (``best.pt``), a training run
            folder or a folder of inputs (ACTS / TrackML CSV).
        pattern: list only datasets or branches whose name matches this shell-style pattern
            (``"Jet_*"``); without it, trees of many branches are summarised by collection.

    Raises:
        FileFormatError: no such file, or a kind hitprep does not read.
    """
    p = Path(path)
    if not p.exists():
        raise FileFormatError(p, "no such file")
    if p.is_dir():
        return _describe_folder(p, pattern)
    if p.suffix.lower() == ".csv":
        return _describe_csv(p)
    with p.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF"):
        return _describe_hdf5(p, pattern)
    if magic.startswith(b"root"):
        return _describe_root(p, pattern)
    if magic.startswith(b"PK\x03\x04") and p.suffix in (".pt", ".pth"):
        return _describe_checkpoint(p)
    msg = "not a file hitprep reads (HDF5, ROOT, CSV, a .pt checkpoint or a folder of them)"
    raise FileFormatError(p, msg)


def _describe_folder(path: Path, pattern: str | None) -> str:
    """A run folder (checkpoints, history) or a folder of inputs, file by file."""
    entries = sorted(e for e in path.iterdir() if not e.name.startswith("."))
    lines = [f"{path}/ (folder, {len(entries)} entries)"]
    for entry in entries:
        if entry.is_dir():
            lines.append(f"  {entry.name}/")
        elif entry.name == "history.json":
            lines += [f"  {entry.name}", *_history_lines(entry)]
        elif entry.suffix.lower() in (".csv", ".h5", ".hdf5", ".root", ".pt"):
            body = describe(entry, pattern=pattern).splitlines()
            lines += [f"  {body[0].removeprefix(str(path) + '/')}"]
            lines += [f"  {line}" for line in body[1:]]
        else:
            lines.append(f"  {entry.name} ({entry.stat().st_size:,} bytes)")
    return "\n".join(lines)


def _describe_csv(path: Path) -> str:
    with path.open() as fh:
        header = fh.readline().strip()
        rows = sum(1 for _ in fh)
    columns = header.split(",")
    return (
        f"{path} (CSV, {path.stat().st_size:,} bytes, {rows:,} rows)\n"
        f"  {len(columns)} columns: {', '.join(columns)}"
    )


def _history_lines(path: Path) -> list[str]:
    try:
        history = json.loads(path.read_text())
    except ValueError:
        return ["    (not JSON)"]
    rows = history if isinstance(history, list) else history.get("epochs", [])
    if not rows:
        return ["    no epochs"]
    last = rows[-1]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float))
    return [f"    {count_of(len(rows), 'epoch')}; last: {shown}"]


def _describe_checkpoint(path: Path) -> str:
    from hitprep.ml.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    params = sum(int(t.numel()) for t in ckpt.model.parameters())
    lines = [
        f"{path} (checkpoint, {path.stat().st_size:,} bytes)",
        f"  model: {ckpt.model_name}, {params:,} parameters",
        f"  trained: {count_of(ckpt.epoch, 'epoch')} on {ckpt.config.data.get('path') or '?'}",
        f"  label: {ckpt.config.data.get('label') or ckpt.config.data.get('targets')}",
        f"  inputs: {_attr_text(ckpt.schema)}",
    ]
    return "\n".join(lines)


def _attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    text = " ".join(str(value).split())
    return text if len(text) <= ATTR_CHARS else text[: ATTR_CHARS - 3] + "..."


def _attr_lines(attrs: Any, indent: str) -> list[str]:
    return [f"{indent}@{key}: {_attr_text(attrs[key])}" for key in attrs if key not in _FILE_ATTRS]


def _describe_hdf5(path: Path, pattern: str | None = None) -> str:
    import hdf5plugin  # noqa: F401  (Blosc-compressed km3pipe files)

    lines = [f"{path} (HDF5, {path.stat().st_size:,} bytes)"]
    try:
        with h5py.File(path, "r") as f:
            for key in _FILE_ATTRS:
                if key in f.attrs:
                    lines.append(f"  {key}: {f.attrs[key]}")
            if "accounting" in f.attrs:
                acc = json.loads(f.attrs["accounting"])
                items = ", ".join(f"{n:,} {name}" for name, n in acc.get("items_read", {}).items())
                lines.append(
                    f"  events: {acc['events_read']} read, {acc['events_written']} written,"
                    f" skipped {acc['events_skipped'] or 0}; read: {items or 'no collections'}"
                )

            roles = _layout_lines(f, path, lines)

            def visit(name: str, obj: object) -> None:
                if name.startswith("_i_") or not matches(name, pattern):
                    return
                if isinstance(obj, h5py.Dataset):
                    comp = f", {obj.compression}" if obj.compression else ""
                    role = f"  [{roles[name]}]" if name in roles else ""
                    lines.append(f"  {name}: {obj.shape} {obj.dtype}{comp}{role}")
                    lines.extend(_attr_lines(obj.attrs, "    "))
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


def _layout_lines(f: h5py.File, path: Path, lines: list[str]) -> dict[str, str]:
    """Add how the file's layout is known to ``lines``; each dataset's role, by name."""
    from hitprep.layout import LAYOUT_ATTR, read_layout, role_text

    if "hitprep_version" not in f.attrs and LAYOUT_ATTR not in f.attrs:
        return {}
    try:
        layout, _ = read_layout(f, path)
    except FileFormatError as err:
        lines.append(f"  layout: {err}")
        return {}
    how = "declared" if layout.declared else f"inferred by rules {', '.join(layout.rules)}"
    lines.append(f"  layout: {how}")
    return {name: role_text(entry) for name, entry in layout.entries.items()}


def _describe_root(path: Path, pattern: str | None = None) -> str:
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
                lines.append(f"    entries: {int(obj.num_entries):,}")
                if cls == "TTree":
                    lines.extend(_branch_lines(obj, pattern))
                    if pattern is None:
                        lines.extend(_collection_lines(obj))
                else:  # RNTuple: its top-level fields and their C++ types
                    lines += [
                        f"    {name}: {obj[name].typename}"
                        for name in obj.keys()  # noqa: SIM118 (an RNTuple, not a dict)
                        if matches(name, pattern)
                    ]
    except Exception as err:  # uproot raises many kinds on broken files
        raise FileFormatError(path, f"cannot read as ROOT: {err}") from err
    return "\n".join(lines)


def _branch_lines(tree: Any, pattern: str | None) -> list[str]:
    """Each branch with its type; a tree of many branches without a pattern: a count only."""
    branches = [(n, b) for n, b in tree.iteritems(recursive=True) if matches(n, pattern)]
    if pattern is None and len(branches) > COMPACT_BRANCHES:
        return [
            f"    {len(branches):,} branches (list them with --filter PATTERN, e.g. --filter"
            " 'Jet_*', or --filter '*' for all)"
        ]
    lines = []
    for name, branch in branches:
        try:
            kind = branch.typename
        except Exception:  # uproot cannot describe some streamed objects
            kind = "?"
        lines.append(f"    {name}: {kind}")
    return lines


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
