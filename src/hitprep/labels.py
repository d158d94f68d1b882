"""Label extractors: event batch -> named per-event arrays (the ``y`` table).

Built in: ``km3net_mc`` (MC truth of KM3NeT files). Any function that takes the
batch and returns a mapping of names to arrays with one value per event works too:
``"module:function"``, ``"path/to/file.py:function"`` (as writeback generators are
given) or, from Python, the function itself.

An extractor says what it reads with :func:`reads` (``@reads("mc_tracks")``): those
collections are read whole. One that says nothing is given every collection the
source has, so that a function wrapping ``km3net_mc`` still gets ``mc_tracks``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic.json_schema import SkipJsonSchema

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.events import counts, event_index, flat_column, offsets_from_counts
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Representation

__all__ = [
    "ALL_COLLECTIONS",
    "EXTRACTORS",
    "JOB_SECTIONS",
    "Extractor",
    "LabelRepresentation",
    "LabelsSection",
    "build_representations",
    "km3net_mc",
    "load_extractor",
    "reads",
    "to_structured",
]

Extractor = Callable[[ak.Array], Mapping[str, npt.ArrayLike]]
#: what an extractor that declares nothing reads: every collection of the source
ALL_COLLECTIONS = frozenset({"*"})
F = TypeVar("F", bound=Callable[..., Any])


def reads(*collections: str) -> Callable[[F], F]:
    """Declare the collections an extractor reads (read whole from the source).

    Example:
        >>> @reads("mc_tracks")
        ... def energy(batch):
        ...     return {"energy": km3net_mc(batch)["energy"]}
        >>> sorted(energy.collections)
        ['mc_tracks']
    """

    def mark(func: F) -> F:
        func.collections = frozenset(collections)  # type: ignore[attr-defined]
        return func

    return mark


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


@reads("mc_tracks")
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


def load_extractor(spec: str | Extractor) -> Extractor:
    """A function given as such, a built-in by name, ``module:function`` or ``file.py:function``."""
    if callable(spec):
        return spec
    if spec in EXTRACTORS:
        return EXTRACTORS[spec]
    module, sep, name = spec.rpartition(":")
    if not sep or not module or not name:
        msg = (
            f"labels.extractor {spec!r} is neither a built-in ({', '.join(EXTRACTORS)})"
            " nor 'module:function' nor 'file.py:function'"
        )
        raise ConfigError(msg)
    try:
        from hitprep.writeback.generator import _import_function  # (imports uproot)

        func: Any = _import_function(spec, None)  # (the loader writeback generators use)
    except ConfigError as err:
        msg = f"labels.extractor {spec!r} cannot be loaded: {err}"
        raise ConfigError(msg) from err
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

    def __init__(self, spec: str | Extractor) -> None:
        self.extractor = load_extractor(spec)
        self.spec = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
        self.collections = frozenset(getattr(self.extractor, "collections", ALL_COLLECTIONS))

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        return {"y": to_structured(self.extractor(batch), n_events=len(batch), source=self.spec)}


class LabelsSection(Section):
    """``[labels]``: the ``y`` table of per-event labels, from an extractor."""

    extractor: str | SkipJsonSchema[Callable[..., Any]]
    """A built-in extractor (km3net_mc), "module:function" or "path/to/file.py:function";
    from Python, the function itself."""


def build_representations(job: Job, options: BuildOptions) -> list[LabelRepresentation]:
    """The label representation of a job with a ``[labels]`` section."""
    return [LabelRepresentation(job.get("labels").extractor)]


JOB_SECTIONS = (
    JobSection("labels", LabelsSection, 80, kind="representation", build=build_representations),
)
