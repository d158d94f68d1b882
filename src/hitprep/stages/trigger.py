"""Truth-based track trigger label (HEPTrkX), whole chunks at once.

An event passes when at least ``tracks`` particles each have ``pT > pt`` (GeV,
strictly greater) and hits on at least ``layers`` distinct barrel layers
(hits, not layers, are what the reference's ``groupby(['evtid', 'barcode'])``
counted distinct over: two hits of one particle on one layer count once).
The stage of the ``[trigger]`` section reads ``barrel.layer`` and
``barrel.particle`` (from the ``[barrel]`` stage) and ``particles.pt``, and adds
the event fields ``trigger`` (bool) and ``n_trigger_tracks``.

Instead of the reference's groupby / apply / merge, it marks a boolean
(particle, layer) table and sums its rows: linear in the number of hits, no
sort, no loop over events.

Job section::

    [trigger]
    tracks = 3     # at least this many particles ...
    pt = 2.0       # ... with pT above this [GeV] ...
    layers = 7     # ... each on at least this many distinct barrel layers

Write the label with ``[labels] extractor = "hitprep.stages.trigger:trigger_labels"``.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic import model_validator

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.events import counts, event_index, flat_column, offsets_from_counts
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Stage

__all__ = [
    "JOB_SECTIONS",
    "TriggerLabel",
    "TriggerSection",
    "build_stages",
    "distinct_layers",
    "trigger_decision",
    "trigger_labels",
]

IntArray = npt.NDArray[np.int64]


def distinct_layers(
    hit_particle: IntArray, hit_layer: IntArray, n_particles: int, *, n_layers: int | None = None
) -> IntArray:
    """Number of distinct layers each particle has hits on.

    Args:
        hit_particle: global particle index of each hit (-1: no particle).
        hit_layer: layer of each hit (0 .. n_layers - 1).
        n_particles: number of particles.
        n_layers: number of layers (default: largest layer + 1).

    Example:
        >>> distinct_layers(np.array([0, 0, 0, 1, -1]), np.array([3, 3, 4, 0, 5]), 2).tolist()
        [2, 1]
    """
    if n_layers is None:
        n_layers = int(hit_layer.max()) + 1 if len(hit_layer) else 1
    # hits without a particle mark a spare last row, so no hit needs to be filtered out
    row = np.where(hit_particle >= 0, hit_particle, n_particles)
    seen = np.zeros((n_particles + 1, n_layers), dtype=bool)
    seen[row, hit_layer] = True
    out: IntArray = np.count_nonzero(seen[:n_particles], axis=1).astype(np.int64)
    return out


def trigger_decision(
    batch: ak.Array,
    *,
    tracks: int = 3,
    pt: float = 2.0,
    layers: int = 7,
    collection: str = "barrel",
) -> tuple[npt.NDArray[np.bool_], IntArray]:
    """Per event: whether it passes, and how many particles pass the pT and layer cuts."""
    hits = batch[collection]
    particles = batch["particles"]
    n_part = counts(particles)
    first = offsets_from_counts(n_part)[:-1]
    n_hits = counts(hits)
    local = flat_column(hits, "particle").astype(np.int64)
    layer = flat_column(hits, "layer").astype(np.int64)
    glob = np.where(local >= 0, np.repeat(first, n_hits) + local, -1)
    n_layers = distinct_layers(glob, layer, int(n_part.sum()))
    good = (flat_column(particles, "pt") > pt) & (n_layers >= layers)
    n_good = np.bincount(event_index(n_part)[good], minlength=len(n_part)).astype(np.int64)
    return n_good >= tracks, n_good


class TriggerLabel(Stage):
    """The ``[trigger]`` stage: event fields ``trigger`` and ``n_trigger_tracks``."""

    provides = frozenset({"trigger", "n_trigger_tracks"})

    def __init__(
        self, *, tracks: int = 3, pt: float = 2.0, layers: int = 7, collection: str = "barrel"
    ) -> None:
        if tracks < 0 or layers < 1 or not np.isfinite(pt):
            msg = (
                f"[trigger] needs tracks >= 0, layers >= 1, finite pt; got {tracks}, {layers}, {pt}"
            )
            raise ConfigError(msg)
        self.tracks, self.pt, self.layers, self.collection = tracks, pt, layers, collection
        self.required = frozenset({f"{collection}.layer", f"{collection}.particle", "particles.pt"})
        self.missing_hint = "add a [barrel] section before [trigger]"

    def __call__(self, batch: ak.Array, ctx: Context) -> ak.Array:
        passed, n_good = trigger_decision(
            batch, tracks=self.tracks, pt=self.pt, layers=self.layers, collection=self.collection
        )
        batch = ak.with_field(batch, passed, "trigger")
        return ak.with_field(batch, n_good, "n_trigger_tracks")


def trigger_labels(batch: ak.Array) -> dict[str, npt.NDArray[np.generic]]:
    """Label extractor: ``event_id``, ``trigger``, ``n_trigger_tracks``, ``n_particles``.

    Use it as ``[labels] extractor = "hitprep.stages.trigger:trigger_labels"``
    after a ``[trigger]`` section.
    """
    names = set(ak.fields(batch))
    if "trigger" not in names:
        msg = "the trigger_labels extractor needs the [trigger] section in the job"
        raise ConfigError(msg)
    out: dict[str, npt.NDArray[np.generic]] = {}
    if "event_id" in names:
        out["event_id"] = np.asarray(batch["event_id"], dtype=np.int64)
    out["trigger"] = np.asarray(batch["trigger"], dtype=bool)
    out["n_trigger_tracks"] = np.asarray(batch["n_trigger_tracks"], dtype=np.int64)
    if "particles" in names:
        out["n_particles"] = counts(batch["particles"])
    return out


class TriggerSection(Section):
    """``[trigger]``: the event passes when enough particles pass pT and layer cuts."""

    tracks: int = 3
    """Particles that must pass for the event to pass."""
    pt: float = 2.0
    """A particle passes above this transverse momentum (GeV) ..."""
    layers: int = 7
    """... with hits on at least this many distinct layers."""
    collection: str = "barrel"
    """The hit collection with fields layer and particle (made by [barrel])."""

    @model_validator(mode="after")
    def _usable(self) -> TriggerSection:
        TriggerLabel(**dict(self))  # its checks
        return self


def build_stages(job: Job, options: BuildOptions) -> list[TriggerLabel]:
    """The trigger stage of a job with a ``[trigger]`` section."""
    return [TriggerLabel(**dict(job.get("trigger")))]


JOB_SECTIONS = (JobSection("trigger", TriggerSection, 40, kind="stage", build=build_stages),)
