"""A new representation in one module: ``[radial_profile]``, hits per radius bin.

For each event, the number of hits (or the sum of a weight field) in ``bins`` equal
shells of the distance ``r = sqrt(x² + y² + z²)`` from the origin, up to ``max_radius``;
hits beyond it are not counted. Written as the dataset ``name`` (events x bins, float32).
The module declares the section's model, the representation and its builder, and
registers the section: that is all a job needs to use it::

    [radial_profile]
    bins = 10
    max_radius = 5.0
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic import model_validator

from hitprep.config import Job, register
from hitprep.events import counts, event_index, flat_column
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Representation

__all__ = ["JOB_SECTIONS", "RadialProfile", "RadialProfileSection", "build_representations"]


class RadialProfileSection(Section):
    """``[radial_profile]``: hits per shell of distance from the origin, per event."""

    name: str = "radial_profile"
    """Output dataset name."""
    collection: str = "hits"
    """The hit collection (fields x, y, z)."""
    bins: int = 10
    """Number of equal shells."""
    max_radius: float
    """Outer radius of the last shell; hits beyond it are not counted."""
    weights: str = ""
    """Field summed per shell ("": count hits)."""

    @model_validator(mode="after")
    def _positive(self) -> RadialProfileSection:
        if self.bins < 1:
            msg = f"bins: must be at least 1, got {self.bins}"
            raise ValueError(msg)
        if not self.max_radius > 0:
            msg = f"max_radius: must be positive, got {self.max_radius}"
            raise ValueError(msg)
        return self


class RadialProfile(Representation):
    """Batch -> ``{name: (events, bins) float32}`` (see the module docstring)."""

    def __init__(self, section: RadialProfileSection) -> None:
        self.section = section
        fields = ["x", "y", "z", *([section.weights] if section.weights else [])]
        self.required = frozenset(f"{section.collection}.{f}" for f in fields)

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        sec = self.section
        hits = batch[sec.collection]
        xyz = [flat_column(hits, c) for c in "xyz"]
        shell = np.floor(np.sqrt(sum(c * c for c in xyz)) / sec.max_radius * sec.bins)
        inside = shell < sec.bins
        cell = event_index(counts(hits))[inside] * sec.bins + shell[inside].astype(np.int64)
        weights = flat_column(hits, sec.weights)[inside] if sec.weights else None
        total = np.bincount(cell, weights=weights, minlength=len(batch) * sec.bins)
        return {sec.name: total.reshape(len(batch), sec.bins).astype(np.float32)}

    def empty(self) -> dict[str, npt.NDArray[Any]]:
        return {self.section.name: np.zeros((0, self.section.bins), dtype=np.float32)}


def build_representations(job: Job, options: BuildOptions) -> list[RadialProfile]:
    """The representation of a job with a ``[radial_profile]`` section."""
    del options
    return [RadialProfile(job.get("radial_profile"))]


#: in src/hitprep/representations/ this tuple is all it takes: SECTIONS finds it there
JOB_SECTIONS = (
    JobSection(
        "radial_profile",
        RadialProfileSection,
        145,  # after [watchmal], before [pmt_grid]
        kind="representation",
        build=build_representations,
    ),
)
for _entry in JOB_SECTIONS:  # outside hitprep (a plug-in, this example): register it
    register(_entry)
