"""The ``[pmt_grid]`` job section: PMT-grid images of a cylindrical tank.

Regions (datasets, each (N, rows, columns, channels), channels last):

- ``barrel``: the barrel unrolled, rows by height (top row first) and columns
  by angle about the tank axis. By default one pixel per PMT ring and column,
  found by clustering the PMT positions; ``barrel_shape = [rows, columns]`` bins
  them onto a fixed grid instead (e.g. ``[88, 168]`` like IWCD's single-PMT
  ``event_data``).
- ``top``, ``bottom``: the caps on square grids, one pixel per lattice place
  by default, or ``cap_size`` pixels a side.
- ``mpmt``: the 2-D mPMT layout, module × ``pmts_per_module`` (PMT index //
  n, PMT index % n).

Channels: ``charge`` (sum over a PMT's hits) and ``time`` (earliest hit;
0 where no hit). PMTs are placed on barrel or caps **by position** (see
:mod:`hitprep.detectors.wcsim_geometry`), never by WCSim's cylinder-location
flag. Two PMTs landing on one pixel is an error naming both, never a silent
overwrite. The summary ``pmt_grid/<region>_pixel`` gives each PMT's flat pixel
(−1: not in the region); ``pmt_image_positions`` (row, column of every PMT in
the whole-detector image: top cap, unrolled barrel, bottom cap; see
:func:`hitprep.watchmal_files.event_display_positions`) serves WatChMaL's CNN datasets;
``geometry/`` holds the tank.

The tank comes from each input file (WCSim ROOT, hitprep dump) or from
``geometry = "file"``; all inputs must share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic import model_validator

from hitprep.config import Job
from hitprep.detectors.wcsim_geometry import (
    BARREL,
    BOTTOM,
    TOP,
    TankGeometry,
    cluster_positions,
    read_geometry,
)
from hitprep.errors import ConfigError
from hitprep.events import counts, event_index, flat_column
from hitprep.jobmodel import JobSection, Section
from hitprep.layout import Entry, side
from hitprep.pipeline import BuildOptions, Context, Representation
from hitprep.sinks.hdf5 import HDF5Sink

__all__ = [
    "JOB_SECTIONS",
    "REGIONS",
    "GridMap",
    "PmtGridRepresentation",
    "PmtGridSection",
    "barrel_map",
    "build_representations",
    "cap_map",
    "fill_images",
    "grid_maps",
    "mpmt_map",
]

REGIONS = ("barrel", "top", "bottom", "mpmt")
CHANNELS = ("charge", "time")
_I = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GridMap:
    """Where each PMT lands on one region's grid: flat pixel index, −1 off the grid."""

    region: str
    shape: tuple[int, int]
    pixel: _I

    def check(self) -> None:
        """Raise ConfigError when two PMTs share a pixel."""
        on = np.flatnonzero(self.pixel >= 0)
        order = on[np.argsort(self.pixel[on], kind="stable")]
        same = np.flatnonzero(np.diff(self.pixel[order]) == 0)
        if len(same):
            a, b = int(order[same[0]]), int(order[same[0] + 1])
            row, col = divmod(int(self.pixel[a]), self.shape[1])
            msg = (
                f"pmt_grid {self.region}: {len(same)} PMTs share a pixel with another, e.g."
                f" PMTs {a} and {b} (tubes {a + 1}, {b + 1}) at row {row}, column {col} of"
                f" {self.shape[0]} x {self.shape[1]}; use a larger grid, or the default"
                " (one pixel per PMT position)"
            )
            raise ConfigError(msg)


class PmtGridSection(Section):
    """``[pmt_grid]``: per-event images of PMT charge and time on 2-d grids of the tank."""

    regions: tuple[Literal["barrel", "top", "bottom", "mpmt"], ...] = ("barrel", "top", "bottom")
    """The grids written (one dataset each): the unrolled barrel, the end caps, or mPMT
    modules."""
    channels: tuple[Literal["charge", "time"], ...] = ("charge", "time")
    """Image channels, in order."""
    axis: str = "auto"
    """The tank's axis, x, y or z ("auto": from the geometry)."""
    geometry: str = ""
    """File to read the PMT positions from ("": the input itself)."""
    barrel_shape: tuple[int, ...] = ()
    """Barrel grid [rows, columns] ([]: one pixel per PMT position)."""
    cap_size: int = 0
    """End-cap grid side (0: from the PMT spacing)."""
    pmts_per_module: int = 19
    """mPMT: PMTs per module."""

    @model_validator(mode="after")
    def _consistent(self) -> PmtGridSection:
        for key in ("regions", "channels"):
            values = getattr(self, key)
            if not values or len(set(values)) != len(values):
                allowed = REGIONS if key == "regions" else CHANNELS
                msg = f"{key}: choose distinct values from {', '.join(allowed)}, got {list(values)}"
                raise ValueError(msg)
        shape = self.barrel_shape
        if shape and not (len(shape) == 2 and all(v > 0 for v in shape)):
            msg = f"barrel_shape: expected [rows, columns] of positive integers, got {list(shape)}"
            raise ValueError(msg)
        if self.cap_size < 0 or self.pmts_per_module < 1:
            msg = "cap_size must be >= 0 and pmts_per_module >= 1"
            raise ValueError(msg)
        return self


def _tolerance(geo: TankGeometry) -> float:
    """Distance below which two PMT coordinates are the same ring, column or lattice line."""
    return max(geo.pmt_radius, 1.0)


def barrel_map(geo: TankGeometry, axis: str = "auto", *, shape: Sequence[int] = ()) -> GridMap:
    """Barrel PMTs unrolled: rows by height (top first), columns by angle."""
    h, r, phi = geo.cylindrical(axis)
    on = np.flatnonzero(geo.regions(axis) == BARREL)
    pixel = np.full(geo.num_pmts, -1, dtype=np.int64)
    if len(on) == 0:
        return GridMap("barrel", (0, 0), pixel)
    # start the angle at the widest gap between PMT columns, so no column is split
    angles = np.sort(phi[on])
    gaps = np.diff(np.concatenate([angles, [angles[0] + 2 * np.pi]]))
    seam = angles[(int(np.argmax(gaps)) + 1) % len(angles)]
    turned = np.mod(phi[on] - seam, 2 * np.pi)
    if shape:
        rows, cols = int(shape[0]), int(shape[1])
        top, span = h[on].max(), np.ptp(h[on]) or 1.0
        row = np.rint((top - h[on]) / span * (rows - 1)).astype(np.int64)
        col = np.rint(turned / (2 * np.pi) * cols).astype(np.int64) % cols
    else:
        tol = _tolerance(geo)
        row, ring = cluster_positions(-h[on], tolerance=tol)
        col, column = cluster_positions(turned * r[on].mean(), tolerance=tol)
        rows, cols = len(ring), len(column)
    pixel[on] = row * cols + col
    return GridMap("barrel", (rows, cols), pixel)


def cap_map(geo: TankGeometry, region: str, axis: str = "auto", *, size: int = 0) -> GridMap:
    """``top`` or ``bottom`` cap PMTs on a square grid."""
    k = geo.axis_index(axis)
    on = np.flatnonzero(geo.regions(axis) == (TOP if region == "top" else BOTTOM))
    pixel = np.full(geo.num_pmts, -1, dtype=np.int64)
    if len(on) == 0:
        return GridMap(region, (size, size), pixel)
    p = geo.position[on] - geo.offset
    a, b = p[:, (k + 1) % 3], p[:, (k + 2) % 3]
    if size:
        reach = max(np.abs(a).max(), np.abs(b).max(), 1e-9)
        ia = np.clip(((a + reach) / (2 * reach) * size).astype(np.int64), 0, size - 1)
        ib = np.clip(((b + reach) / (2 * reach) * size).astype(np.int64), 0, size - 1)
    else:
        tol = _tolerance(geo)
        ia, lines_a = cluster_positions(a, tolerance=tol)
        ib, lines_b = cluster_positions(b, tolerance=tol)
        size = max(len(lines_a), len(lines_b))
        ia += (size - len(lines_a)) // 2
        ib += (size - len(lines_b)) // 2
    pixel[on] = ia * size + ib
    return GridMap(region, (size, size), pixel)


def mpmt_map(geo: TankGeometry, *, per_module: int = 19) -> GridMap:
    """Module × PMT-in-module: PMT index // n, PMT index % n."""
    modules = -(-geo.num_pmts // per_module)
    return GridMap("mpmt", (modules, per_module), np.arange(geo.num_pmts, dtype=np.int64))


def grid_maps(geo: TankGeometry, section: PmtGridSection) -> dict[str, GridMap]:
    """The checked maps of every configured region."""
    maps: dict[str, GridMap] = {}
    for region in section.regions:
        if region == "barrel":
            m = barrel_map(geo, section.axis, shape=section.barrel_shape)
        elif region == "mpmt":
            m = mpmt_map(geo, per_module=section.pmts_per_module)
        else:
            m = cap_map(geo, region, section.axis, size=section.cap_size)
        m.check()
        maps[region] = m
    return maps


def fill_images(
    maps: dict[str, GridMap],
    n_events: int,
    event: _I,
    pmt: _I,
    values: dict[str, npt.NDArray[Any]],
    channels: Sequence[str] = CHANNELS,
) -> dict[str, npt.NDArray[np.float32]]:
    """(N, rows, columns, channels) float32 images of flat hits, one per region.

    ``charge`` sums a pixel's hits; ``time`` takes the earliest (0 without hits).
    """
    out: dict[str, npt.NDArray[np.float32]] = {}
    for region, m in maps.items():
        size = m.shape[0] * m.shape[1]
        pix = m.pixel[pmt]
        on = pix >= 0
        flat = event[on] * size + pix[on]
        planes = []
        for channel in channels:
            if channel == "charge":
                plane = np.bincount(flat, weights=values["charge"][on], minlength=n_events * size)
            else:
                plane = np.full(n_events * size, np.inf)
                np.minimum.at(plane, flat, values["time"][on])
                plane[np.isinf(plane)] = 0.0
            planes.append(plane.reshape(n_events, *m.shape).astype(np.float32))
        out[region] = np.stack(planes, axis=-1)
    return out


class PmtGridRepresentation(Representation):
    """Images of collection ``hits`` (``pmt``, ``charge``, ``time``) on PMT grids."""

    def __init__(self, section: PmtGridSection) -> None:
        self.section = section
        self.channels: tuple[str, ...] = tuple(section.channels)
        self.required = frozenset({"hits.pmt", *(f"hits.{c}" for c in self.channels)})
        self.missing_hint = "add a [wcsim_hits] section (true hits have no charge)"
        self.geometry: TankGeometry | None = None
        self.maps: dict[str, GridMap] = {}

    def _maps(self, source: str) -> dict[str, GridMap]:
        geo = read_geometry(self.section.geometry or source)
        if self.geometry is None:
            self.geometry, self.maps = geo, grid_maps(geo, self.section)
        elif geo.num_pmts != self.geometry.num_pmts or not np.allclose(
            geo.position, self.geometry.position
        ):
            msg = (
                f"pmt_grid: {source} has another tank ({geo.num_pmts} PMTs) than the first"
                f" input ({self.geometry.num_pmts} PMTs); convert them separately"
            )
            raise ConfigError(msg)
        return self.maps

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        maps = self._maps(ctx.source)
        hits = batch["hits"]
        pmt = flat_column(hits, "pmt").astype(np.int64)
        if len(pmt) and (pmt.min() < 0 or pmt.max() >= len(next(iter(maps.values())).pixel)):
            bad = int(pmt.max() if pmt.max() >= 0 else pmt.min())
            msg = f"pmt_grid: {ctx.source} has hits on PMT {bad}, outside the tank's PMTs"
            raise ConfigError(msg)
        values = {c: flat_column(hits, c).astype(np.float64) for c in self.channels}
        images = fill_images(
            maps, len(batch), event_index(counts(hits)), pmt, values, self.channels
        )
        return dict(images)

    def finish(self, sink: HDF5Sink) -> None:
        if self.geometry is None:
            return
        for region, m in self.maps.items():
            sink.write(f"pmt_grid/{region}_pixel", m.pixel, attrs={"shape": list(m.shape)})
        from hitprep.watchmal_files import event_display_positions

        # every PMT on its own pixel of the whole-detector image WatChMaL's CNN reads
        rc = event_display_positions(self.geometry, self.section.axis)
        sink.write("pmt_image_positions", rc)
        for key, value in self.geometry.to_arrays().items():
            sink.write(f"geometry/{key}", value)

    def roles(self, rows: Sequence[str], whole: Sequence[str]) -> dict[str, Entry]:
        """The pixel maps, ``pmt_image_positions`` and the geometry are side data."""
        out = super().roles(rows, whole)
        out.update(dict.fromkeys(whole, side()))
        return out

    def empty(self) -> dict[str, npt.NDArray[Any]]:
        shapes = {r: m.shape for r, m in self.maps.items()}
        return {
            r: np.zeros((0, *shapes.get(r, (0, 0)), len(self.channels)), np.float32)
            for r in self.section.regions
        }


def build_representations(job: Job, options: BuildOptions) -> Sequence[Representation]:
    """The PMT-grid representation of a job with a ``[pmt_grid]`` section."""
    del options
    if job.get("wcsim_hits") is None:
        msg = f"{job.origin or 'job'}: [pmt_grid] images hits; add a [wcsim_hits] section"
        raise ConfigError(msg)
    return [PmtGridRepresentation(job.get("pmt_grid"))]


JOB_SECTIONS = (
    JobSection("pmt_grid", PmtGridSection, 150, kind="representation", build=build_representations),
)
