"""Train / validation / test rows: from fractions with a seed, or from index files.

Index files (as ``hitprep split`` writes them, or made by hand) hold row
numbers of the data file: ``.npy``, ``.txt`` or ``.h5`` (one split per file; in
HDF5 the dataset ``index`` or the file's only dataset), or ``.npz`` / ``.h5``
with datasets ``train``, ``validation`` or ``val``, and ``test`` (all splits in
one file). ``split.index`` may also be the prefix ``hitprep split`` used:
``PREFIX_train.index.h5``, ``PREFIX_val.index.h5``, ``PREFIX_test.index.h5``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError

__all__ = ["SPLITS", "fraction_split", "split_rows"]

SPLITS = ("train", "validation", "test")
_ALIASES = {"train": ("train", "training"), "validation": ("validation", "val", "valid")}

Rows = npt.NDArray[np.int64]


def fraction_split(n_rows: int, fractions: list[float], *, seed: int) -> dict[str, Rows]:
    """Random split of ``range(n_rows)`` by fractions (train, validation, test), seeded.

    Each split's rows are sorted (cheaper reads); loaders shuffle them.

    Example:
        >>> parts = fraction_split(10, [0.8, 0.1, 0.1], seed=1)
        >>> [len(parts[s]) for s in SPLITS]
        [8, 1, 1]
    """
    perm = np.random.default_rng(seed).permutation(n_rows).astype(np.int64)
    n_train = round(fractions[0] * n_rows)
    n_val = round(fractions[1] * n_rows)
    if fractions[2] == 0:
        n_val = n_rows - n_train
    parts = np.split(perm, [n_train, n_train + n_val])
    return {name: np.sort(part) for name, part in zip(SPLITS, parts, strict=True)}


def split_rows(n_rows: int, split: dict[str, Any]) -> dict[str, Rows]:
    """The rows of each split as the ``[split]`` table says.

    Raises:
        ConfigError: index files are given only in part.
        FileFormatError: an index file is unreadable, holds rows outside the data,
            repeats a row, or shares rows between splits.
    """
    files = {name: split[name] for name in SPLITS if split.get(name)}
    if split.get("index") and not Path(split["index"]).is_file() and not files:
        found = _prefixed(str(split["index"]))
        if found:
            files, split = found, {**split, "index": ""}
    if split.get("index"):
        if files:
            msg = "[split]: give either index or train/validation/test files, not both"
            raise ConfigError(msg)
        parts = _read_combined(Path(split["index"]))
        source = {name: split["index"] for name in parts}
    elif files:
        if "train" not in files or "validation" not in files:
            msg = "[split]: index files need at least train and validation"
            raise ConfigError(msg)
        parts = {name: _read_single(Path(path)) for name, path in files.items()}
        source = files
    else:
        return fraction_split(n_rows, split["fractions"], seed=split["seed"])
    parts.setdefault("test", np.zeros(0, dtype=np.int64))
    source.setdefault("test", "")
    for name, rows in parts.items():
        if len(rows) and (rows.min() < 0 or rows.max() >= n_rows):
            detail = f"{name} rows must lie in [0, {n_rows}), found {rows.min()}..{rows.max()}"
            raise FileFormatError(source[name], detail)
        if len(np.unique(rows)) != len(rows):
            raise FileFormatError(source[name], f"{name} rows repeat")
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            both = np.intersect1d(parts[a], parts[b])
            if len(both):
                shown = ", ".join(str(r) for r in both[:5])
                detail = f"{len(both)} rows are in both {a} and {b} (e.g. {shown})"
                raise FileFormatError(source[a] or source[b], detail)
    return {name: np.sort(parts[name]) for name in SPLITS}


def _prefixed(prefix: str) -> dict[str, str]:
    """``hitprep split`` index files ``PREFIX_<part>.index.h5`` that exist, by split."""
    found: dict[str, str] = {}
    for name in SPLITS:
        for alias in _ALIASES.get(name, (name,)):
            path = Path(f"{prefix}_{alias}.index.h5")
            if path.is_file():
                found[name] = str(path)
                break
    return found


def _as_rows(path: Path, name: str, values: Any) -> Rows:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        detail = f"{name}: expected a 1-D array of row numbers, got shape {arr.shape} {arr.dtype}"
        raise FileFormatError(path, detail)
    return arr.astype(np.int64)


def _read_single(path: Path) -> Rows:
    if not path.is_file():
        raise FileFormatError(path, "no such index file")
    try:
        if path.suffix == ".npy":
            return _as_rows(path, "rows", np.load(path, allow_pickle=False))
        if path.suffix == ".txt":
            return _as_rows(path, "rows", np.loadtxt(path, dtype=np.int64, ndmin=1))
        if path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                names = [k for k, v in f.items() if isinstance(v, h5py.Dataset)]
                if "index" in names:
                    names = ["index"]
                if len(names) != 1:
                    detail = f"expected one dataset of row numbers, found {names}"
                    raise FileFormatError(path, detail)
                return _as_rows(path, names[0], f[names[0]][:])
    except (OSError, ValueError) as err:
        if isinstance(err, FileFormatError):
            raise
        raise FileFormatError(path, f"cannot read row numbers: {err}") from err
    raise FileFormatError(path, "index files are .npy, .txt, .npz or .h5")


def _read_combined(path: Path) -> dict[str, Rows]:
    if not path.is_file():
        raise FileFormatError(path, "no such index file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                found = {k: z[k] for k in z.files}
        elif path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                found = {k: v[:] for k, v in f.items() if isinstance(v, h5py.Dataset)}
        else:
            raise FileFormatError(path, "a combined index file is .npz or .h5")
    except (OSError, ValueError) as err:
        if isinstance(err, FileFormatError):
            raise
        raise FileFormatError(path, f"cannot read row numbers: {err}") from err
    parts: dict[str, Rows] = {}
    for name in SPLITS:
        key = next((k for k in _ALIASES.get(name, (name,)) if k in found), None)
        if key is None:
            if name == "test":
                continue
            raise KeyInFileError(name, file=path, available=found, what="split")
        parts[name] = _as_rows(path, key, found[key])
    return parts
