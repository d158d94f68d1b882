"""``hitprep split ... --format watchmal``: WatChMaL's split file, one npz of event indices.

WatChMaL's trainer reads ``np.load(split_path)[split_key]`` with ``split_key`` one of
``train_idxs``, ``val_idxs``, ``test_idxs`` (its data loader configs): rows of the HDF5
file to sample. The parts are the ones :func:`hitprep.tools.split.split` makes (same
seeded order, fractions and ``by`` groups), written as ``<name>_idxs`` (sorted int64) in
``<prefix>_idxs.npz``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hitprep.atomic import atomic_path
from hitprep.errors import ConfigError
from hitprep.tools.eventfile import EventFile
from hitprep.tools.split import ALIASES, _group_keys, assign, default_names

__all__ = ["write_split_indices"]


def write_split_indices(
    input: str | Path,
    fractions: Sequence[float],
    *,
    names: Sequence[str] | None = None,
    by: str | None = None,
    seed: int = 0,
    prefix: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[Path, dict[str, int]]:
    """Write ``<prefix>_idxs.npz``; returns its path and the events of each part.

    Raises:
        ConfigError: bad fractions or names, or a part that would get no events.
    """
    labels = list(names) if names else default_names(len(fractions))
    if len(labels) != len(fractions) or len(set(labels)) != len(labels):
        msg = f"names: give {len(fractions)} different names, one per fraction, got {labels}"
        raise ConfigError(msg)
    src_path = Path(input)
    out = Path(f"{Path(prefix) if prefix else src_path.with_suffix('')}_idxs.npz")
    with EventFile(src_path, purpose="split") as src:
        keys = _group_keys(src, ALIASES.get(by, by) if by else None)
    part = assign(keys, fractions, seed=seed)
    sizes = np.bincount(part, minlength=len(labels))
    if len(part) and (sizes == 0).any():
        empty = labels[int(np.argmin(sizes))]
        msg = f"split {empty!r} would get no events of {src_path}; change the fractions"
        raise ConfigError(msg)
    arrays: dict[str, Any] = {
        f"{name}_idxs": np.flatnonzero(part == k) for k, name in enumerate(labels)
    }
    with atomic_path(out, overwrite=overwrite, inputs=[src_path]) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)
    return out, {name: int(n) for name, n in zip(labels, sizes, strict=True)}
