"""Water-Cherenkov event display: charge and time on the unrolled barrel, caps above and below.

Reads one event from any of:

- a hitprep PMT-grid output (``barrel``, ``top``, ``bottom`` datasets);
- a WatChMaL HDF5 file (``hit_pmt``, ``hit_charge``, ``hit_time``,
  ``event_hits_index``), with the tank from ``geometry=`` (or the file itself);
- a WCSim input hitprep reads (ROOT, DataTools ``.npz``, the HDF5 dump): the
  digits of the first NDigits trigger, as the ``wcsim_watchmal_digi`` preset keeps them.

The images come from :mod:`hitprep.representations.pmt_grid` (one pixel per
PMT position, placed by position). Pixels without a hit stay blank.

Example:
    >>> from hitprep.toys.wcsim import write_dump
    >>> toy = write_dump("toy.h5", 2)
    >>> images = event_images(toy, 0)
    >>> draw_event(images, "event0.png", title="toy.h5 event 0")
    PosixPath('event0.png')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.detectors.wcsim_geometry import TankGeometry, read_geometry
from hitprep.errors import ConfigError, FileFormatError
from hitprep.plotting.save import save_figure

__all__ = ["draw_event", "event_images", "event_truth_line"]

#: PDG id -> particle name in the title
PARTICLES = {22: "γ", 11: "e⁻", -11: "e⁺", 13: "μ⁻", -13: "μ⁺", 111: "π⁰", 211: "π⁺",
             -211: "π⁻", 2212: "p", 2112: "n"}  # fmt: skip

_REGIONS: tuple[Literal["top", "barrel", "bottom"], ...] = ("top", "barrel", "bottom")
_REGION_NAMES = ("top cap", "barrel\n(unrolled)", "bottom cap")
_F = npt.NDArray[np.float32]


def _check_event(event: int, n: int, path: str | Path) -> None:
    if not 0 <= event < n:
        msg = f"{path}: event {event} does not exist (the file has {n} events: 0..{n - 1})"
        raise ConfigError(msg)


def _grids(
    geo: TankGeometry, pmt: npt.NDArray[Any], charge: npt.NDArray[Any], time: npt.NDArray[Any]
) -> dict[str, _F]:
    from hitprep.representations.pmt_grid import PmtGridSection, fill_images, grid_maps

    maps = grid_maps(geo, PmtGridSection(regions=_REGIONS))  # one pixel per PMT position
    if len(pmt) and int(np.max(pmt)) >= geo.num_pmts:
        msg = f"hits on PMT {int(np.max(pmt))}, but the tank has {geo.num_pmts} PMTs"
        raise FileFormatError(geo.origin, msg)
    event = np.zeros(len(pmt), dtype=np.int64)
    values = {"charge": np.asarray(charge, np.float64), "time": np.asarray(time, np.float64)}
    images = fill_images(maps, 1, event, np.asarray(pmt, np.int64), values)
    return {r: images[r][0] for r in _REGIONS}


def event_images(
    path: str | Path,
    event: int,
    *,
    geometry: str | Path | None = None,
    trust_pickle: bool = False,
) -> dict[str, _F]:
    """Barrel, top and bottom images (rows, columns, [charge, time]) of one event.

    Raises:
        ConfigError: no such event, or no tank to place the PMTs.
        FileFormatError: the file is none of the layouts above.
    """
    p = Path(path)
    with p.open("rb") as fh:
        hdf5 = fh.read(4) == b"\x89HDF"
    if hdf5:
        with h5py.File(p, "r") as f:
            if {"barrel", "top", "bottom"} <= set(f):
                _check_event(event, len(f["barrel"]), p)
                return {r: np.asarray(f[r][event], dtype=np.float32) for r in _REGIONS}
            if {"hit_pmt", "event_hits_index"} <= set(f):
                n = len(f["event_hits_index"])
                _check_event(event, n, p)
                starts = np.append(f["event_hits_index"][:], len(f["hit_pmt"]))
                hits = slice(int(starts[event]), int(starts[event + 1]))
                if "hit_charge" not in f:
                    msg = "WatChMaL true-hit files have no charge; display a digitized file"
                    raise FileFormatError(p, msg)
                geo = read_geometry(geometry or p) if geometry or "geometry" in f else None
                if geo is None:
                    msg = f"{p}: a WatChMaL file holds no tank; pass --geometry FILE (a WCSim file)"
                    raise ConfigError(msg)
                return _grids(geo, f["hit_pmt"][hits], f["hit_charge"][hits], f["hit_time"][hits])
    return _source_event(p, event, geometry=geometry, trust_pickle=trust_pickle)


def _source_event(
    path: Path, event: int, *, geometry: str | Path | None, trust_pickle: bool
) -> dict[str, _F]:
    from hitprep.pipeline import Accounting, Context
    from hitprep.sources import detect_format, open_source
    from hitprep.stages.wcsim_hits import TriggerSelection

    fmt = detect_format(path)
    if not fmt.startswith("wcsim"):
        msg = f"not a WCSim file, dump, WatChMaL or PMT-grid output (looks like {fmt})"
        raise FileFormatError(path, msg)
    options = {"trust_pickle": True} if trust_pickle and fmt == "wcsim_npz" else {}
    with open_source(path, format=fmt, **options) as src:
        _check_event(event, src.num_events, path)
        stage = TriggerSelection()
        wanted = [f for f in src.fields() if f.partition(".")[0] in ("digi_hits", "triggers")]
        batch = stage(
            src.read(event, event + 1, fields=wanted), Context(str(path), 0, Accounting())
        )
    try:
        geo = read_geometry(geometry or path)
    except FileFormatError as err:
        msg = f"{path}: no tank to place the PMTs ({err}); pass --geometry FILE"
        raise ConfigError(msg) from err
    hits = batch["hits"][0]
    return _grids(geo, hits["pmt"].to_numpy(), hits["charge"].to_numpy(), hits["time"].to_numpy())


def _truth_text(pid: int, energy: float) -> str:
    name = PARTICLES.get(pid, f"PDG {pid}")
    return f"primary {name}, {energy:.0f} MeV"


def _hdf5_truth(f: h5py.File, event: int) -> str:
    """Truth of a PMT-grid or WatChMaL output: its label (as a particle) and energy."""
    if "labels" not in f:
        return ""
    label = int(f["labels"][event])
    job = json.loads(f.attrs.get("job_resolved", "{}"))
    table = (job.get("wcsim_truth") or {}).get("labels") or {}
    pdgs = [int(pdg) for pdg, value in table.items() if int(value) == label]
    energy = float(np.ravel(f["energies"][event])[0]) if "energies" in f else float("nan")
    if pdgs:
        return _truth_text(pdgs[0], energy)
    return f"label {label}, {energy:.0f} MeV"


def event_truth_line(path: str | Path, event: int, *, trust_pickle: bool = False) -> str:
    """``primary e⁻, 512 MeV``: the event's primary particle and energy, where the file has it.

    WCSim ROOT files: the primary by DataTools' rules from the tracks
    (:func:`hitprep.stages.wcsim_truth.primaries_from_tracks`); dumps: their ``pid`` and
    ``energy``; hitprep outputs: the label (mapped back through the job's label table) and
    ``energies``. An empty string where none of these exist.
    """
    p = Path(path)
    with p.open("rb") as fh:
        hdf5 = fh.read(4) == b"\x89HDF"
    if hdf5:
        with h5py.File(p, "r") as f:
            if "labels" in f or "hitprep_version" in f.attrs:
                return _hdf5_truth(f, event)
    from hitprep.sources import detect_format, open_source
    from hitprep.stages.wcsim_truth import primaries_from_tracks

    fmt = detect_format(p)
    options = {"trust_pickle": True} if trust_pickle and fmt == "wcsim_npz" else {}
    with open_source(p, format=fmt, **options) as src:
        fields = src.fields()
        if {"pid", "energy"} <= set(fields):
            batch = src.read(event, event + 1, fields=["pid", "energy"])
            return _truth_text(int(batch["pid"][0]), float(batch["energy"][0]))
        tracks = [f for f in fields if f.startswith("tracks.")]
        if not tracks:
            return ""
        primary = primaries_from_tracks(src.read(event, event + 1, fields=tracks)["tracks"])
    return _truth_text(int(primary["pid"][0]), float(primary["energy"][0]))


def _stack(images: dict[str, _F], channel: int) -> npt.NDArray[np.float64]:
    """Top cap over the barrel over the bottom cap, centred; NaN around them."""
    parts = [images[r][..., channel].astype(np.float64) for r in _REGIONS]
    width = max(p.shape[1] for p in parts)
    padded = [
        np.pad(p, ((0, 0), ((width - p.shape[1]) // 2, (width - p.shape[1] + 1) // 2)),
               constant_values=np.nan)
        for p in parts
    ]  # fmt: skip
    return np.concatenate(padded)


def _canvas(images: dict[str, _F], channel: int) -> npt.NDArray[np.float64]:
    """One channel's display, blank where no PMT was hit."""
    canvas = _stack(images, channel)
    canvas[~(_stack(images, 0) > 0)] = np.nan
    return canvas


def draw_event(
    images: dict[str, _F],
    save_as: str | Path,
    *,
    title: str = "",
    truth: str = "",
    overwrite: bool = False,
) -> Path:
    """Charge and time panels, the top cap, unrolled barrel and bottom cap labelled, and the
    event's ``truth`` in the title; written under a temporary name, renamed when complete."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_output(save_as, overwrite=overwrite)
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5))
    heights = [images[r].shape[0] for r in _REGIONS]
    centres = np.cumsum(heights) - np.asarray(heights) / 2 - 0.5
    n_hit = int(sum(int((images[r][..., 0] > 0).sum()) for r in _REGIONS))
    total = float(sum(float(images[r][..., 0].sum()) for r in _REGIONS))
    for ax, channel, label, cmap in [
        (axes[0], 0, "charge (p.e.)", "viridis"),
        (axes[1], 1, "time (ns)", "plasma"),
    ]:
        canvas = _canvas(images, channel)
        seen = canvas[np.isfinite(canvas)]
        # times: 2nd-98th percentile, so dark noise does not wash out the ring
        lo, hi = np.percentile(seen, [2, 98]) if channel == 1 and len(seen) else (None, None)
        shown = ax.imshow(
            canvas, cmap=cmap, interpolation="nearest", aspect="equal", vmin=lo, vmax=hi
        )
        fig.colorbar(shown, ax=ax, label=label, shrink=0.8)
        ax.set_title(label.split(" ")[0])
        ax.set_xticks([])
        ax.set_yticks(centres, list(_REGION_NAMES), fontsize=9)
        ax.tick_params(axis="y", length=0)
        for edge in np.cumsum(heights)[:-1] - 0.5:
            ax.axhline(edge, color="0.6", lw=0.6, ls="--")
        ax.set_facecolor("#f2f2f2")
    line = f"{title}: {truth}" if truth else title
    fig.suptitle(f"{line}   ({n_hit} PMTs hit, {total:.0f} p.e.)".strip())
    fig.tight_layout()
    return save_figure(fig, out)
