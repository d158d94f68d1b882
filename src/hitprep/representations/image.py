"""n-d histogram images of a hit collection, one per event, for whole chunks at once.

Hitprep bins like OrcaSong's ``ImageMaker`` (``np.histogramdd`` per event), but
computes a flat (event, bin) index for the whole chunk and counts it with one
``np.bincount``. Counts never wrap: OrcaSong stores ``uint8`` and silently wraps
at 256; hitprep checks every count against the image dtype and raises
:class:`~hitprep.errors.CountOverflowError` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.config import Job, check_memory
from hitprep.errors import ConfigError, CountOverflowError
from hitprep.events import counts, event_index, flat_column
from hitprep.jobmodel import JobSection, validate_list
from hitprep.layout import Entry, summary
from hitprep.pipeline import BuildOptions, Context, Representation
from hitprep.representations.binning import bin_index, check_edges
from hitprep.representations.image_section import ImageSection
from hitprep.sinks.hdf5 import HDF5Sink

__all__ = [
    "JOB_SECTIONS",
    "BinStats",
    "ImageRepresentation",
    "ImageSection",
    "ImageSpec",
    "build_representations",
    "make_images",
]

#: largest number of (event, bin) cells counted in one bincount call
_MAX_CELLS = 1 << 24


@dataclass(frozen=True)
class ImageSpec:
    """One image per event.

    Attributes:
        name: output dataset name (``x`` for the first image by convention).
        axes: ``(field, edges)`` pairs; fields of ``collection``.
        weights: optional field whose values are summed instead of counting hits.
        dtype: output dtype; counts must fit it (checked), weights default to float32.
        collection: the jagged collection binned.
    """

    name: str
    axes: tuple[tuple[str, npt.NDArray[np.float64]], ...]
    weights: str | None = None
    dtype: str = "uint16"
    collection: str = "hits"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for _, e in self.axes)

    @property
    def fields(self) -> list[str]:
        names = [f for f, _ in self.axes]
        return [*names, self.weights] if self.weights else names

    @classmethod
    def build(
        cls,
        name: str,
        axes: Sequence[tuple[str, npt.ArrayLike]],
        *,
        weights: str | None = None,
        dtype: str | None = None,
        collection: str = "hits",
    ) -> ImageSpec:
        """Validated spec; ``dtype`` defaults to uint16 for counts, float32 for weights."""
        checked = tuple((f, check_edges(f, e)) for f, e in axes)
        if not checked:
            msg = f"image {name!r} needs at least one axis"
            raise ValueError(msg)
        chosen = dtype or ("float32" if weights else "uint16")
        np.dtype(chosen)  # raises TypeError on nonsense
        return cls(name, checked, weights, chosen, collection)


@dataclass
class BinStats:
    """Per-axis hit distributions over a whole job, like OrcaSong's ``BinningStatsMaker``.

    For each axis: a histogram of the hits inside every *other* axis' range, on
    a finer grid (``res_increase`` sub-bins per bin; time keeps its own edges),
    and the counts of hits below the first and above the last edge.
    """

    spec: ImageSpec
    res_increase: int = 5
    hist: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    hist_bin_edges: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    cut_off: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, edges in self.spec.axes:
            fine = (
                edges
                if name == "time"
                else np.linspace(edges[0], edges[-1], (len(edges) - 1) * self.res_increase + 1)
            )
            self.hist_bin_edges[name] = fine
            self.hist[name] = np.zeros(len(fine) - 1, dtype=np.int64)
            self.cut_off[name] = np.zeros(2, dtype=np.int64)

    def update(
        self,
        columns: dict[str, npt.NDArray[Any]],
        indices: dict[str, npt.NDArray[np.int64]],
    ) -> None:
        """Add one chunk's flat hit columns, given their image bin indices per axis."""
        inside = {
            name: (indices[name] >= 0) & (indices[name] < len(edges) - 1)
            for name, edges in self.spec.axes
        }
        for name, edges in self.spec.axes:
            v = columns[name]
            below = int(np.count_nonzero(v < edges[0]))
            above = int(np.count_nonzero(v > edges[-1]))
            self.cut_off[name] += [below, above]
            keep = np.ones(len(v), dtype=bool)
            for other, mask in inside.items():
                if other != name:
                    keep &= mask
            fine = self.hist_bin_edges[name]
            idx = indices[name][keep] if fine is edges else bin_index(v[keep], fine)
            ok = (idx >= 0) & (idx < len(fine) - 1)
            self.hist[name] += np.bincount(idx[ok], minlength=len(fine) - 1)


def make_images(
    batch: ak.Array, spec: ImageSpec, *, stats: BinStats | None = None
) -> npt.NDArray[np.generic]:
    """Histogram each event's hits into an image.

    Args:
        batch: event batch with ``spec.collection``.
        spec: axes, weights and dtype.
        stats: optional accumulator of per-axis bin statistics.

    Returns:
        Array of shape ``(len(batch), *spec.shape)`` and dtype ``spec.dtype``.

    Raises:
        CountOverflowError: a bin's count exceeds what ``spec.dtype`` holds.
    """
    hits = batch[spec.collection]
    n_hits = counts(hits)
    n_events = len(n_hits)
    columns = {f: flat_column(hits, f) for f in spec.fields}
    indices = {name: bin_index(columns[name], edges) for name, edges in spec.axes}
    if stats is not None:
        stats.update(columns, indices)
    shape = spec.shape
    n_bins = int(np.prod(shape))
    flat_bin = np.zeros(int(n_hits.sum()), dtype=np.int64)
    valid = np.ones(len(flat_bin), dtype=bool)
    for (name, _), size in zip(spec.axes, shape, strict=True):
        idx = indices[name]
        valid &= (idx >= 0) & (idx < size)
        flat_bin *= size
        flat_bin += idx
    cell = event_index(n_hits) * n_bins + flat_bin
    cell = cell[valid]
    weights = columns[spec.weights][valid].astype(np.float64) if spec.weights else None
    dtype = np.dtype(spec.dtype)
    out = np.zeros((n_events, *shape), dtype=dtype)
    flat_out = out.reshape(n_events, n_bins)
    events_per_pass = max(1, _MAX_CELLS // max(n_bins, 1))
    for first in range(0, n_events, events_per_pass):
        last = min(first + events_per_pass, n_events)
        lo, hi = np.searchsorted(cell, [first * n_bins, last * n_bins])
        part = cell[lo:hi] - first * n_bins
        w = None if weights is None else weights[lo:hi]
        summed = np.bincount(part, weights=w, minlength=(last - first) * n_bins)
        _check_fits(summed, dtype, spec, batch, first)
        flat_out[first:last] = summed.reshape(last - first, n_bins)
    return out


def _check_fits(
    summed: npt.NDArray[np.generic],
    dtype: np.dtype[np.generic],
    spec: ImageSpec,
    batch: ak.Array,
    first: int,
) -> None:
    if summed.size == 0 or dtype.kind not in "uif" or (dtype.kind == "f" and spec.weights):
        return
    exact = {2: 2**11, 4: 2**24, 8: 2**53}.get(dtype.itemsize, 0) if dtype.kind == "f" else 0
    limit = exact or int(np.iinfo(dtype).max)  # type: ignore[type-var]
    top = int(np.argmax(summed))
    if summed[top] > limit:
        n_bins = int(np.prod(spec.shape))
        event, flat = divmod(top, n_bins)
        entry = int(batch["entry"][first + event]) if "entry" in ak.fields(batch) else first + event
        bin_nd = np.unravel_index(flat, spec.shape)
        msg = (
            f"image {spec.name!r}: event entry {entry}, bin {tuple(int(b) for b in bin_nd)} holds"
            f" {summed[top]:g}, more than {dtype.name} can ({limit}); set dtype to a wider type"
        )
        raise CountOverflowError(msg)


class ImageRepresentation(Representation):
    """The ``[[images]]`` of a job: one dataset per image, plus ``bin_stats`` at the end."""

    missing_hint = "positions and directions come from calibration: give --detx"

    def __init__(self, spec: ImageSpec, *, bin_stats: bool = True) -> None:
        self.spec = spec
        self.stats = BinStats(spec) if bin_stats else None
        self.required = frozenset(f"{spec.collection}.{f}" for f in spec.fields)
        if not any(f.startswith(("pos_", "dir_")) for f in spec.fields):
            self.missing_hint = ""  # the calibration hint only helps with positions

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        return {self.spec.name: make_images(batch, self.spec, stats=self.stats)}

    def empty(self) -> dict[str, npt.NDArray[Any]]:
        return {self.spec.name: np.zeros((0, *self.spec.shape), dtype=self.spec.dtype)}

    def finish(self, sink: HDF5Sink) -> None:
        if self.stats is None:
            return
        for axis, edges in self.spec.axes:
            base = f"bin_stats/{self.spec.name}/{axis}"
            sink.write(f"{base}/hist", self.stats.hist[axis])
            sink.write(f"{base}/hist_bin_edges", self.stats.hist_bin_edges[axis])
            sink.write(f"{base}/bin_edges", edges)
            sink.write(f"{base}/cut_off", self.stats.cut_off[axis], attrs={"order": "below, above"})

    def roles(self, rows: Sequence[str], whole: Sequence[str]) -> dict[str, Entry]:
        """Bin statistics: ``hist`` and ``cut_off`` add up; edges must agree."""
        out = super().roles(rows, whole)
        out.update({n: summary("sum") for n in whole if n.endswith(("/hist", "/cut_off"))})
        return out


def build_representations(job: Job, options: BuildOptions) -> list[ImageRepresentation]:
    """One representation per ``[[images]]`` table."""
    bin_stats = bool(job.output["bin_stats"])
    return [
        ImageRepresentation(
            ImageSpec.build(
                im.name, im.axes, weights=im.weights, dtype=im.dtype, collection=im.collection
            ),
            bin_stats=bin_stats,
        )
        for im in job.get("images")
    ]


def check_images(where: str, value: object) -> tuple[ImageSection, ...]:
    """Validate ``[[images]]``: each table, and names that differ."""
    images = validate_list(ImageSection, where, value)
    names = [im.name for im in images]
    if len(set(names)) != len(names):
        msg = f"{where}: image names must differ, got {names}"
        raise ConfigError(msg)
    return images


def check_chunks(where: str, images: tuple[ImageSection, ...], step: int) -> None:
    """A chunk of ``step`` events of each image fits in memory (else the size it would take)."""
    for i, image in enumerate(images):
        cells = float(np.prod([len(edges) - 1 for _, edges in image.axes], dtype=np.float64))
        itemsize = np.dtype(image.dtype or ("float32" if image.weights else "uint16")).itemsize
        what = f"a chunk of {step} events of image {image.name!r} ({cells:,.0f} bins each)"
        check_memory(f"{where} #{i + 1}", cells * itemsize * step, what=what)


JOB_SECTIONS = (
    JobSection(
        "images",
        ImageSection,
        50,
        kind="representation",
        build=build_representations,
        array=True,
        check=check_images,
        fits=check_chunks,
    ),
)
