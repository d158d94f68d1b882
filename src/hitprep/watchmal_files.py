"""WatChMaL's side files: PMT image positions, detector geometry and split indices.

WatChMaL's datasets read, beside the HDF5 hits (facts from its ``watchmal/dataset``):

- ``CNNDataset``: ``np.load(pmt_positions_file)["pmt_image_positions"]``, one
  (row, column) per PMT index; the image is ``max + 1`` rows and columns and each hit's
  charge and time go to its PMT's pixel. Its position/orientation channels read
  ``positions`` and ``orientations`` from ``geometry_file``.
- ``PointNetDataset``, ``GNNDataset``, ``PointNetMPMTDataset``: ``position`` and
  ``orientation`` (one row per PMT index) from ``geometry_file``.
- ``CNNmPMTDataset``: ``mpmt_image_positions``, one (row, column) per module
  (PMT index // 19); barrel rows span the image width, caps sit in squares of
  ``endcap_size`` rows above and below, ``endcap_size`` = the first barrel row.
- the trainer: ``np.load(split_path)[split_key]`` with keys ``train_idxs``,
  ``val_idxs``, ``test_idxs``: event rows of the HDF5 file.

Files written by :func:`write_side_files` (``hitprep watchmal-files``, or ``convert``
with ``[watchmal] side_files = true``): ``pmt_image_positions.npz``,
``geometry.npz`` and, for multi-PMT geometries, ``mpmt_image_positions.npz``.
The event-display image is the whole detector: the top cap's lattice in a square above
the barrel, the barrel unrolled (rows by height, top first; columns by angle), the
bottom cap below, each centred on the image width. Every PMT gets a pixel of its own
(an error names two PMTs that would share one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.atomic import atomic_path, check_output
from hitprep.config import Job
from hitprep.detectors.wcsim_geometry import TankGeometry, read_geometry
from hitprep.errors import ConfigError

__all__ = [
    "SIDE_FILES",
    "event_display_positions",
    "geometry_arrays",
    "job_side_files",
    "module_geometry",
    "side_file_arrays",
    "write_side_files",
]

SIDE_FILES = ("pmt_image_positions", "geometry", "mpmt_image_positions")
_I = npt.NDArray[np.int64]


def event_display_positions(geo: TankGeometry, axis: str = "auto") -> _I:
    """(N, 2) int64 (row, column) of every PMT in the whole-detector image.

    Raises:
        ConfigError: two PMTs land on one pixel (the message names them).
    """
    from hitprep.representations.pmt_grid import GridMap, barrel_map, cap_map

    barrel = barrel_map(geo, axis)
    top, bottom = cap_map(geo, "top", axis), cap_map(geo, "bottom", axis)
    cap = max(top.shape[0], bottom.shape[0])
    width = max(barrel.shape[1], cap)
    rows_above = {"top": 0, "barrel": cap, "bottom": cap + barrel.shape[0]}
    out = np.full((geo.num_pmts, 2), -1, dtype=np.int64)
    for name, m in (("top", top), ("barrel", barrel), ("bottom", bottom)):
        on = m.pixel >= 0
        row, col = np.divmod(m.pixel[on], max(m.shape[1], 1))
        shift_rows = (cap - m.shape[0]) // 2 if name != "barrel" else 0
        out[on, 0] = rows_above[name] + shift_rows + row
        out[on, 1] = (width - m.shape[1]) // 2 + col
    missing = np.flatnonzero(out[:, 0] < 0)
    if len(missing):
        msg = f"{geo.origin or 'geometry'}: PMT {int(missing[0])} is on no tank surface"
        raise ConfigError(msg)
    height = 2 * cap + barrel.shape[0]
    whole = GridMap("event display", (height, width), out[:, 0] * width + out[:, 1])
    whole.check()
    return out


def module_geometry(geo: TankGeometry, per_module: int = 19) -> TankGeometry | None:
    """The modules of a multi-PMT geometry as one 'PMT' each, or None without modules.

    A geometry has modules when its PMTs come in consecutive blocks of ``per_module``
    (PMT index // ``per_module``) whose PMTs lie closer to their module's centre than
    half the distance between neighbouring module centres.
    """
    n = geo.num_pmts
    if per_module < 2 or n == 0 or n % per_module:
        return None
    pos = geo.position.reshape(-1, per_module, 3)
    centre = pos.mean(axis=1)
    spread = float(np.linalg.norm(pos - centre[:, None, :], axis=2).max())
    if len(centre) < 2:
        return None
    from scipy.spatial import cKDTree

    gap = float(np.min(cKDTree(centre).query(centre, k=2)[0][:, 1]))
    if not spread < gap / 2:
        return None
    direction = geo.direction.reshape(-1, per_module, 3).mean(axis=1)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return TankGeometry(
        radius=geo.radius,
        length=geo.length,
        tube=np.arange(1, len(centre) + 1, dtype=np.int32),
        position=centre,
        direction=direction,
        pmt_radius=max(geo.pmt_radius, spread),
        offset=geo.offset,
        origin=f"{geo.origin} (modules of {per_module})",
    )


def geometry_arrays(geo: TankGeometry) -> dict[str, Any]:
    """The geometry npz: PointNet's ``position``/``orientation``, the CNN's plural names."""
    out = geo.to_arrays()
    out["positions"] = geo.position
    out["orientations"] = geo.direction
    return out


def side_file_arrays(
    geo: TankGeometry, *, axis: str = "auto", per_module: int = 19
) -> dict[str, dict[str, Any]]:
    """File stem -> arrays of each side file for ``geo``."""
    files: dict[str, dict[str, Any]] = {
        "pmt_image_positions": {"pmt_image_positions": event_display_positions(geo, axis)},
        "geometry": geometry_arrays(geo),
    }
    modules = module_geometry(geo, per_module)
    if modules is not None:
        files["mpmt_image_positions"] = {
            "mpmt_image_positions": event_display_positions(modules, axis)
        }
    return files


def write_side_files(
    geometry: str | Path | TankGeometry,
    outdir: str | Path,
    *,
    axis: str = "auto",
    per_module: int = 19,
    overwrite: bool = False,
    prefix: str = "",
) -> list[Path]:
    """Write the side files of ``geometry`` (a file :func:`read_geometry` reads) to ``outdir``
    as ``<prefix><name>.npz``.

    Returns:
        The paths written (each appears only when complete).
    """
    geo = geometry if isinstance(geometry, TankGeometry) else read_geometry(geometry)
    files = side_file_arrays(geo, axis=axis, per_module=per_module)
    out = Path(outdir)
    paths = [out / f"{prefix}{stem}.npz" for stem in files]
    sources = [] if isinstance(geometry, TankGeometry) else [geometry]
    for path in paths:  # every conflict reported before anything is written
        check_output(path, overwrite=overwrite, inputs=sources)
    for path, arrays in zip(paths, files.values(), strict=True):
        with atomic_path(path, overwrite=overwrite, inputs=sources) as tmp, tmp.open("wb") as fh:
            np.savez(fh, **arrays)
    return paths


def job_side_files(
    job: Job, inputs: Sequence[str | Path], output: str | Path, *, overwrite: bool = False
) -> Callable[[], list[Path]]:
    """For ``convert``: what writes ``<output stem>_<name>.npz`` beside ``output`` when the
    job asks (``[watchmal] side_files = true``), from ``[pmt_grid] geometry`` or the first
    input. Existing side files are an error now, before the conversion runs."""
    section = job.get("watchmal") or {}
    if not section.get("side_files") or not inputs:
        return list
    grid = job.get("pmt_grid") or {}
    source = grid.get("geometry") or inputs[0]
    out = Path(output)
    prefix = f"{out.stem}_"
    for stem in SIDE_FILES:
        check_output(out.parent / f"{prefix}{stem}.npz", overwrite=overwrite)

    def write() -> list[Path]:
        axis = grid.get("axis", "auto")
        per_module = grid.get("pmts_per_module", 19)
        return write_side_files(
            source, out.parent, axis=axis, per_module=per_module, overwrite=True, prefix=prefix
        )

    return write
