"""Event display of hitprep image outputs, of any rank, with axes, units and colour bars.

Each image dataset of the output (``[[images]]`` and ``[[ldmx_images]]`` of the job that
wrote it) becomes a row of panels: a 2-D image as it is; LDMX ``xyz`` images one panel per
projection and ``z_split`` one per depth slice; a 3-D image with few bins on its first axis
(the tracker's layers) one slice per bin; anything else its 2-D projections (sums over the
other axes). Axes carry the binned fields with their units and the bin edges the job used;
the title names the file, the event and its truth (labels, energy, mass).

Example:
    >>> import hitprep
    >>> from hitprep.toys.ldmx import write_root
    >>> signal = write_root("signal.root", n_events=10, mass=10.0)
    >>> _ = hitprep.convert(hitprep.load_job("ldmx_xyz"), [signal], "images.h5")
    >>> draw_image_event("images.h5", 3, "event3.png")
    PosixPath('event3.png')
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.errors import ConfigError, FileFormatError
from hitprep.plotting.save import save_figure
from hitprep.plotting.units import axis_label, weight_label

__all__ = [
    "Axis",
    "ImageSpec",
    "Panel",
    "draw_image_event",
    "draw_panel",
    "event_truth",
    "image_specs",
    "panels",
]

#: a first axis with at most this many bins is shown slice by slice (tracker layers)
MAX_SLICES = 12
#: panels per row of the figure
MAX_COLUMNS = 5
#: per-event fields shown as the event's truth, when the output has them
TRUTH_FIELDS = ("label", "labels", "trigger", "particle_type", "is_cc", "energy", "energies",
                "n_muons", "mass", "veto")  # fmt: skip

Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Axis:
    """A binned axis: the field and its bin edges."""

    name: str
    edges: Float


@dataclass(frozen=True)
class Panel:
    """One 2-D picture: ``values[i, j]`` is the bin between ``x.edges[i:i+2]`` and ``y...``."""

    title: str
    values: Float
    x: Axis
    y: Axis


@dataclass(frozen=True)
class ImageSpec:
    """An image dataset: its spatial axes, or (LDMX) one (title, x, y) per channel."""

    name: str
    axes: tuple[Axis, ...]
    channels: tuple[tuple[str, Axis, Axis], ...] = ()
    weights: str | None = None


def _ldmx_spec(f: h5py.File, table: dict[str, Any]) -> ImageSpec:
    name = table["name"]
    edges = {a: np.asarray(f[f"ldmx/{name}/{a}_edges"][:], np.float64) for a in "xyz"}
    x, y, z = (Axis(a, edges[a]) for a in "xyz")
    channels: tuple[tuple[str, Axis, Axis], ...]
    if table["format"] == "xyz":
        channels = (("x–y", x, y), ("y–z", y, z), ("z–x", z, x))
    else:
        bounds = edges["z"]
        channels = tuple(
            (f"z {bounds[i]:.0f}–{bounds[i + 1]:.0f} mm", x, y) for i in range(len(bounds) - 1)
        )
    return ImageSpec(name, (x, y), channels, table.get("weights") or None)


def image_specs(f: h5py.File) -> list[ImageSpec]:
    """The image datasets of a hitprep output, from the job recorded in it."""
    job = json.loads(f.attrs.get("job_resolved", "{}"))
    specs = [
        ImageSpec(
            t["name"],
            tuple(Axis(a, np.asarray(e, np.float64)) for a, e in t["bin_edges"]),
            weights=t.get("weights") or None,
        )
        for t in job.get("images") or []
        if t["name"] in f
    ]
    specs += [_ldmx_spec(f, t) for t in job.get("ldmx_images") or [] if t["name"] in f]
    if not specs:
        msg = (
            "no image datasets (the job recorded in the file has no [[images]] or [[ldmx_images]])"
        )
        raise FileFormatError(f.filename, msg)
    return specs


def _bin_name(lo: float, hi: float) -> str:
    """``3`` for the unit bin [3, 4) of an index (a layer), ``0.5–1`` otherwise."""
    return f"{lo:g}" if hi - lo == 1 and float(lo).is_integer() else f"{lo:g}–{hi:g}"


def _slices(spec: ImageSpec, image: Float) -> list[Panel]:
    first, x, y = spec.axes
    return [
        Panel(f"{spec.name}: {first.name} {_bin_name(lo, hi)}", image[i], x, y)
        for i, (lo, hi) in enumerate(itertools.pairwise(first.edges))
    ]


def _projections(spec: ImageSpec, image: Float) -> list[Panel]:
    panels = []
    for i, j in itertools.combinations(range(image.ndim), 2):
        other = tuple(k for k in range(image.ndim) if k not in (i, j))
        x, y = spec.axes[i], spec.axes[j]
        panels.append(Panel(f"{spec.name}: {x.name}–{y.name}", image.sum(axis=other), x, y))
    return panels


def panels(spec: ImageSpec, image: Float) -> list[Panel]:
    """The 2-D pictures of one event's image (see the module docstring)."""
    if spec.channels:
        return [Panel(f"{spec.name}: {t}", image[..., c], x, y) for c, (t, x, y) in
                enumerate(spec.channels)]  # fmt: skip
    if image.ndim == 1:
        flat = Axis("", np.array([0.0, 1.0]))
        return [Panel(spec.name, image[:, None], spec.axes[0], flat)]
    if image.ndim == 2:
        return [Panel(spec.name, image, spec.axes[0], spec.axes[1])]
    if image.ndim == 3 and image.shape[0] <= MAX_SLICES:
        return _slices(spec, image)
    return _projections(spec, image)


def event_truth(f: h5py.File, event: int) -> str:
    """``label 1, mass 10, ...``: the event's truth fields found in ``y`` or beside it."""
    values: dict[str, Any] = {}
    if "y" in f and f["y"].dtype.names:
        row = f["y"][event]
        values |= {k: row[k] for k in TRUTH_FIELDS if k in f["y"].dtype.names}
    for key in TRUTH_FIELDS:
        if (
            key in f
            and isinstance(f[key], h5py.Dataset)
            and f[key].shape[:1] == f["event_info"].shape
        ):
            values.setdefault(key, np.asarray(f[key][event]).ravel()[0])
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float | np.floating) else f"{k} {v}"
                     for k, v in values.items())  # fmt: skip


def _read(path: Path, event: int) -> tuple[list[tuple[ImageSpec, Float]], str]:
    try:
        with h5py.File(path, "r") as f:
            specs = image_specs(f)
            n = len(f[specs[0].name])
            if not 0 <= event < n:
                msg = f"{path}: event {event} does not exist (the file has {n} events: 0..{n - 1})"
                raise ConfigError(msg)
            images = [(s, np.asarray(f[s.name][event], np.float64)) for s in specs]
            truth = event_truth(f, event) if "event_info" in f else ""
    except OSError as err:
        raise FileFormatError(path, f"cannot read as HDF5: {err}") from err
    return images, truth


def draw_image_event(
    path: str | Path, event: int, save_as: str | Path, *, overwrite: bool = False
) -> Path:
    """Draw event ``event`` of every image dataset of a hitprep output (one row each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_output(save_as, overwrite=overwrite)
    images, truth = _read(Path(path), event)
    rows = [(spec, panels(spec, image)) for spec, image in images]
    n_cols = min(MAX_COLUMNS, max(len(p) for _, p in rows))
    # one row of the figure per n_cols panels of an image; one colour scale per image
    layout = [
        (spec, ps[i : i + n_cols], _scale(ps))
        for spec, ps in rows
        for i in range(0, len(ps), n_cols)
    ]
    width = max(3.4 * n_cols, 6.5)
    fig, axes = plt.subplots(len(layout), n_cols, figsize=(width, 3.0 * len(layout) + 0.4),
                             squeeze=False)  # fmt: skip
    for r, (spec, row, scale) in enumerate(layout):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(row):
                ax.set_visible(False)
                continue
            draw_panel(fig, ax, row[c], weight_label(spec.weights), scale)
    title = f"{Path(path).name}, event {event}" + (f"\n{truth}" if truth else "")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def _scale(panels: list[Panel]) -> tuple[float, float]:
    """Colour range shared by an image's panels: smallest non-zero value to the largest."""
    values = np.concatenate([p.values.ravel() for p in panels])
    filled = values[values != 0]
    if not len(filled):
        return 0.0, 1.0
    lo, hi = float(filled.min()), float(filled.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def draw_panel(
    fig: Any, ax: Any, panel: Panel, label: str, scale: tuple[float, float] | None = None
) -> None:
    """Draw one panel on ``ax``: empty bins blank, axes with units, a colour bar ``label``."""
    shown = np.ma.masked_equal(panel.values.T, 0)  # empty bins blank, so sparse hits stand out
    lo, hi = scale or _scale([panel])
    mesh = ax.pcolormesh(panel.x.edges, panel.y.edges, shown, cmap="viridis", vmin=lo, vmax=hi)
    ax.set_facecolor("#f0f0f0")
    fig.colorbar(mesh, ax=ax, label=label, shrink=0.85)
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(axis_label(panel.x.name), fontsize=8)
    if panel.y.name:
        ax.set_ylabel(axis_label(panel.y.name), fontsize=8)
    else:
        ax.set_yticks([])
    ax.tick_params(labelsize=7)
