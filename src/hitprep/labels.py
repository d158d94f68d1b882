"""Label extractors: event batch -> named per-event arrays (the ``y`` table).

Built in: ``km3net_mc`` (MC truth of KM3NeT files). Any function
``module:function`` that takes the batch and returns a mapping of names to
arrays with one value per event works too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.events import counts, event_index, flat_column, offsets_from_counts
from hitprep.pipeline import BuildOptions, Context, Representation

__all__ = [
    "EXTRACTORS",
    "Extractor",
    "LabelRepresentation",
    "build_representations",
    "km3net_mc",
    "load_extractor",
    "to_structured",
]

Extractor = Callable[[ak.Array], Mapping[str, npt.ArrayLike]]

_EVENT_FIELDS = ("event_id", "run_id", "group_id")
_TRACK_FIELDS = (
    "type",
    "energy",
    "dir_x",
    "dir_y",
    "dir_z",
    "pos_x",
    "pos_y",
    "pos_z",
    "time",
    "bjorkeny",
    "is_cc",
)


def km3net_mc(batch: ak.Array) -> dict[str, npt.NDArray[np.generic]]:
    """MC truth per event from ``mc_tracks``: the first track (the primary) and the muon bundle.

    Returns:
        ``event_id``, ``run_id``, ``group_id`` (those the file has); the first track's
        ``particle_type``, ``energy``, ``dir_*``, ``pos_*``, ``time``, ``bjorkeny``,
        ``is_cc`` (NaN / -1 when an event has no track); ``n_mc_tracks``;
        ``n_muons`` and ``muon_energy_sum`` over tracks with ``|type| == 13``.
        The track time is in the same frame as the hits after ``correct_mc_time``
        (not centred, as in OrcaSong).
    """
    fields = ak.fields(batch)
    out: dict[str, npt.NDArray[np.generic]] = {
        name: np.asarray(batch[name]) for name in _EVENT_FIELDS if name in fields
    }
    if "mc_tracks" not in fields:
        return out
    tracks = batch["mc_tracks"]
    n = counts(tracks)
    first = offsets_from_counts(n)[:-1]
    has = n > 0
    track_fields = ak.fields(tracks)
    for name in _TRACK_FIELDS:
        if name not in track_fields:
            continue
        col = flat_column(tracks, name)
        key = "particle_type" if name == "type" else name
        if col.dtype.kind in "iu":
            values = np.full(len(n), -1, dtype=np.int64)
        else:
            values = np.full(len(n), np.nan, dtype=np.float64)
        values[has] = col[first[has]]
        out[key] = values
    out["n_mc_tracks"] = n
    if "type" in track_fields:
        is_muon = np.abs(flat_column(tracks, "type")) == 13
        idx = event_index(n)
        out["n_muons"] = np.bincount(idx[is_muon], minlength=len(n)).astype(np.int64)
        if "energy" in track_fields:
            energy = flat_column(tracks, "energy")[is_muon]
            out["muon_energy_sum"] = np.bincount(idx[is_muon], weights=energy, minlength=len(n))
    return out


EXTRACTORS: dict[str, Extractor] = {"km3net_mc": km3net_mc}


def load_extractor(spec: str) -> Extractor:
    """A built-in extractor by name, or ``module:function`` imported by the user's request."""
    if spec in EXTRACTORS:
        return EXTRACTORS[spec]
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        msg = (
            f"labels.extractor {spec!r} is neither a built-in ({', '.join(EXTRACTORS)})"
            " nor 'module:function'"
        )
        raise ConfigError(msg)
    try:
        func = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        msg = f"labels.extractor {spec!r} cannot be loaded: {err}"
        raise ConfigError(msg) from err
    if not callable(func):
        msg = f"labels.extractor {spec!r} is not callable"
        raise ConfigError(msg)
    extractor: Extractor = func
    return extractor


def to_structured(
    labels: Mapping[str, npt.ArrayLike], *, n_events: int, source: str
) -> npt.NDArray[np.void]:
    """Pack per-event label arrays into one structured array (the ``y`` dataset).

    Raises:
        ConfigError: a label is not one number per event (names the extractor ``source``).
    """
    columns: dict[str, npt.NDArray[np.generic]] = {}
    for name, value in labels.items():
        arr = np.asarray(value)
        if arr.ndim != 1 or len(arr) != n_events or arr.dtype.kind not in "biuf":
            msg = (
                f"label extractor {source!r} returned {name!r} with shape {arr.shape} and dtype"
                f" {arr.dtype}; expected {n_events} numbers (one per event)"
            )
            raise ConfigError(msg)
        columns[name] = arr
    dtype = np.dtype([(name, col.dtype) for name, col in columns.items()])
    out = np.empty(n_events, dtype=dtype)
    for name, col in columns.items():
        out[name] = col
    return out


class LabelRepresentation(Representation):
    """The ``[labels]`` section: the extractor's arrays as the structured dataset ``y``."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.extractor = load_extractor(spec)
        if spec == "km3net_mc":
            self.collections = frozenset({"mc_tracks"})

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        return {"y": to_structured(self.extractor(batch), n_events=len(batch), source=self.spec)}


def build_representations(job: Job, options: BuildOptions) -> list[LabelRepresentation]:
    """The label representation of a job with a ``[labels]`` section."""
    return [LabelRepresentation(job.get("labels")["extractor"])]
