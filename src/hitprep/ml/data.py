"""Build the right dataset for a file from the ``[data]`` table: images, graphs or WatChMaL hits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy.typing as npt

from hitprep.errors import ConfigError
from hitprep.ml.datasets import EventDataset
from hitprep.ml.graphs import GraphDataset, is_graph
from hitprep.ml.h5io import column_names, open_h5
from hitprep.ml.images import ImageDataset
from hitprep.ml.targets import parse_target
from hitprep.ml.watchmal import WatchmalDataset, is_watchmal

__all__ = ["default_inputs", "detect_kind", "open_dataset", "resolve_label"]

#: label fields tried, in order, when none is given
LABEL_CANDIDATES = ("label", "labels", "class", "target", "is_signal", "trigger")


def detect_kind(f: h5py.File, inputs: Sequence[str]) -> str:
    """``watchmal`` (jagged PMT hits), ``graph`` (nodes with a mask or offsets) or ``images``."""
    if not inputs and is_watchmal(f):
        return "watchmal"
    names = list(inputs) or ["x"]
    if len(names) == 1 and is_graph(f, names[0]):
        return "graph"
    return "images"


#: per-event datasets that are never image inputs
NOT_IMAGES = frozenset({"y", "event_info", "positions", "angles", "directions", "energies"})


def default_inputs(f: h5py.File) -> list[str]:
    """Image inputs when none are named: ``x`` if present, else every top-level image dataset.

    An image dataset is numeric, has one row per event and at least two per-event axes of
    size two or more (``image`` of LDMX mixing, ``barrel``/``top``/``bottom`` PMT grids,
    ACTS ``v0``/``v1``/``v2``), so per-event vectors such as ``positions`` (N, 1, 3) are not.
    """
    if isinstance(f.get("x"), h5py.Dataset):
        return ["x"]
    found = []
    for name, obj in f.items():
        if not isinstance(obj, h5py.Dataset) or name in NOT_IMAGES or obj.dtype.names:
            continue
        if obj.dtype.kind in "biuf" and sum(s >= 2 for s in obj.shape[1:]) >= 2:
            found.append(name)
    return sorted(found)


def resolve_label(f: h5py.File, requested: str) -> str:
    """The label field: ``requested``, else the first of :data:`LABEL_CANDIDATES` present.

    Raises:
        ConfigError: none given and none found; lists the fields the file has.
    """
    if requested:
        return requested
    names = column_names(f)
    for candidate in LABEL_CANDIDATES:
        if candidate in names:
            return candidate
    shown = ", ".join(names) or "none"
    msg = (
        f"{f.filename}: no label field given and none of {', '.join(LABEL_CANDIDATES)} found;"
        f" pass --label FIELD (fields of y and 1-D datasets: {shown})"
    )
    raise ConfigError(msg)


def open_dataset(
    data: Mapping[str, Any],
    *,
    path: str | Path | None = None,
    rows: npt.ArrayLike | None = None,
    labels: bool = True,
    classes: Sequence[int] | None = None,
    in_memory: bool | str | None = None,
    fixed_extras: Mapping[str, float] | None = None,
    edges: bool = True,
) -> EventDataset:
    """The dataset the ``[data]`` table describes, over ``path`` (default ``data["path"]``).

    Args:
        data: validated ``[data]`` table (:class:`hitprep.ml.config.TrainConfig`).
        path: data file (overrides ``data["path"]``).
        rows: file rows to serve (a split).
        labels: read the label field, or the regression targets when ``data["targets"]``
            names some (False for prediction).
        classes: class values (default ``data["classes"]``, else all in the file).
        in_memory: overrides ``data["in_memory"]``.
        fixed_extras: extra inputs given a value instead of read from the file.
        edges: read a graph's stored edges (only a model that uses them needs them).

    Raises:
        ConfigError: no data file, a kind that does not fit the file, missing options.
        KeyInFileError: a named dataset or field is not in the file (with the nearest names).
    """
    file = Path(path or data["path"])
    if not str(file) or str(file) == ".":
        msg = "no data file: give --data FILE.h5 or data.path in the training config"
        raise ConfigError(msg)
    inputs = list(data["inputs"])
    with open_h5(file) as f:
        kind = data["kind"] if data["kind"] != "auto" else detect_kind(f, inputs)
        if kind == "images" and not inputs:
            inputs = default_inputs(f)
        label = None
        if labels and not data["targets"]:
            default = "labels" if kind == "watchmal" and not data["label"] else data["label"]
            label = resolve_label(f, default)
    wanted = classes if classes is not None else (list(data["classes"]) or None)
    targets = [parse_target(t) for t in data["targets"]] if labels else []
    common: dict[str, Any] = {
        "targets": targets,
        "fixed_extras": fixed_extras,
        "rows": rows,
        "label": label,
        "classes": wanted,
        "extras": tuple(data["extras"]),
        "in_memory": data["in_memory"] if in_memory is None else in_memory,
    }
    if kind == "images":
        return ImageDataset(file, inputs=inputs, channels=data["channels"], **common)
    if kind == "graph":
        if len(inputs) > 1:
            msg = f"data.inputs: a graph has one node dataset, got {inputs}"
            raise ConfigError(msg)
        return GraphDataset(
            file,
            nodes=inputs[0] if inputs else "x",
            features=data["features"],
            mask=data["mask"],
            offsets=data["offsets"],
            max_nodes=data["max_nodes"],
            edges=edges,
            **common,
        )
    if not data["pmt_map"]:
        msg = (
            f"{file}: WatChMaL hits need a PMT map to make grid images: set data.pmt_map"
            " (.npz with pmt_image_positions, .npy, or FILE.h5:DATASET)"
        )
        raise ConfigError(msg)
    return WatchmalDataset(
        file,
        pmt_map=data["pmt_map"],
        channels=data["grid_channels"],
        pmts_per_pixel=data["pmts_per_pixel"],
        **common,
    )
