"""Cylindrical water-Cherenkov tank geometry: PMT positions, orientations and places on the tank.

PMT index ``i`` (0-based, WatChMaL's ``hit_pmt``) is WCSim tube number ``i + 1``.
PMTs are placed on the barrel or a cap **by position** (whichever surface is
nearer), never by WCSim's cylinder-location flag, which is wrong for tanks whose
axis is not the one the flag assumes.

Example:
    >>> geo = TankGeometry.cylinder(radius=100.0, length=200.0, rows=4, columns=8, cap_rows=6)
    >>> geo.num_pmts, geo.infer_axis()
    (64, 'y')
    >>> np.bincount(geo.regions("y")).tolist()  # barrel, top, bottom
    [32, 16, 16]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, FileFormatError

__all__ = [
    "AXES",
    "BARREL",
    "BOTTOM",
    "TOP",
    "TankGeometry",
    "cluster_positions",
    "read_geometry",
]

BARREL, TOP, BOTTOM = 0, 1, 2
AXES = {"x": 0, "y": 1, "z": 2}
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


def cluster_positions(values: npt.ArrayLike, *, tolerance: float) -> tuple[_I64, _F64]:
    """Group nearly equal values: each value's group (sorted by value) and the group means.

    Args:
        values: 1-d coordinates (e.g. heights of barrel PMTs).
        tolerance: a gap larger than this between sorted values starts a new group.

    Returns:
        ``(group, centres)``: int64 group of each value, float64 mean of each group.

    Example:
        >>> cluster_positions([0.0, 10.1, 0.2, 9.9], tolerance=1.0)[0].tolist()
        [0, 1, 0, 1]
    """
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    order = np.argsort(v, kind="stable")
    new = np.concatenate([[0], (np.diff(v[order]) > tolerance).astype(np.int64)])
    group = np.empty(len(v), dtype=np.int64)
    group[order] = np.cumsum(new)
    centres = np.bincount(group, weights=v) / np.bincount(group)
    return group, centres


@dataclass(frozen=True, eq=False)
class TankGeometry:
    """PMTs of a cylindrical tank; row ``i`` is PMT index ``i`` (tube number ``tube[i]``).

    Args:
        radius: tank (cylinder) radius in cm.
        length: tank length along its axis in cm.
        tube: int32 tube numbers (WCSim: 1..N in order).
        position: (N, 3) PMT positions in cm.
        direction: (N, 3) unit vectors the PMTs face.
        cyl_loc: WCSim's cylinder-location flag per PMT (kept for reference; -1 unknown).
        pmt_radius: PMT radius in cm (0 if unknown).
        offset: tank centre in global coordinates.
        origin: where the geometry came from (file name), for messages.
    """

    radius: float
    length: float
    tube: npt.NDArray[np.int32]
    position: _F64
    direction: _F64
    cyl_loc: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    pmt_radius: float = 0.0
    offset: _F64 = field(default_factory=lambda: np.zeros(3))
    origin: str = ""

    @property
    def num_pmts(self) -> int:
        return len(self.tube)

    # -- checks -------------------------------------------------------------------
    def check(self) -> None:
        """Raise FileFormatError unless tube numbers are 1..N and directions are unit vectors."""
        where = self.origin or "geometry"
        n = self.num_pmts
        if self.position.shape != (n, 3) or self.direction.shape != (n, 3):
            msg = f"PMT arrays disagree: {n} tubes, positions {self.position.shape}"
            raise FileFormatError(where, f"{msg}, directions {self.direction.shape}")
        expected = np.arange(1, n + 1, dtype=np.int64)
        if not np.array_equal(self.tube, expected):
            bad = int(np.flatnonzero(self.tube != expected)[0])
            msg = f"PMT row {bad} has tube number {int(self.tube[bad])}, expected {bad + 1}"
            raise FileFormatError(where, msg)
        norm = np.linalg.norm(self.direction, axis=1)
        if n and not np.allclose(norm, 1.0, atol=1e-3):
            bad = int(np.argmax(np.abs(norm - 1.0)))
            msg = f"PMT {bad} (tube {bad + 1}) direction has length {norm[bad]:.4f}, not 1"
            raise FileFormatError(where, msg)

    # -- cylindrical coordinates ----------------------------------------------------
    def axis_index(self, axis: str) -> int:
        """0, 1 or 2 for ``"x"``, ``"y"``, ``"z"``; ``"auto"`` infers the axis from positions."""
        name = self.infer_axis() if axis == "auto" else axis
        if name not in AXES:
            msg = f"tank axis must be one of x, y, z or auto, not {axis!r}"
            raise ConfigError(msg)
        return AXES[name]

    def infer_axis(self) -> str:
        """The coordinate along which PMTs span the tank's length (the others span its radius).

        Raises:
            ConfigError: no coordinate fits, or several do (give the axis in the job).
        """
        p = self.position - self.offset
        fits = []
        for name, k in AXES.items():
            others = [j for j in range(3) if j != k]
            r = np.hypot(p[:, others[0]], p[:, others[1]])
            if r.max() <= self.radius * 1.02 and np.abs(p[:, k]).max() <= self.length / 2 * 1.02:
                fits.append(name)
        if len(fits) != 1:
            found = ", ".join(fits) or "none"
            msg = (
                f"{self.origin or 'geometry'}: cannot infer the tank axis from PMT positions"
                f" (axes that fit radius {self.radius:g} and length {self.length:g}: {found});"
                " set it in the job"
            )
            raise ConfigError(msg)
        return fits[0]

    def cylindrical(self, axis: str = "auto") -> tuple[_F64, _F64, _F64]:
        """``(height, radius, phi)`` of each PMT about the tank axis.

        ``phi`` runs counter-clockwise seen from the top, starting at the next
        axis in cyclic order (for axis y: phi = atan2(x, z)).
        """
        k = self.axis_index(axis)
        p = self.position - self.offset
        a, b = p[:, (k + 1) % 3], p[:, (k + 2) % 3]
        return p[:, k].copy(), np.hypot(a, b), np.arctan2(a, b)

    def regions(self, axis: str = "auto") -> npt.NDArray[np.int8]:
        """BARREL, TOP or BOTTOM per PMT, by the nearer tank surface."""
        h, r, _ = self.cylindrical(axis)
        to_wall = r.max() - r
        to_cap = np.abs(h).max() - np.abs(h)
        out = np.full(self.num_pmts, BARREL, dtype=np.int8)
        cap = to_cap < to_wall
        out[cap & (h > 0)] = TOP
        out[cap & (h <= 0)] = BOTTOM
        return out

    # -- construction -------------------------------------------------------------------
    @classmethod
    def cylinder(
        cls,
        *,
        radius: float,
        length: float,
        rows: int,
        columns: int,
        cap_rows: int,
        axis: str = "y",
        inset: float = 0.0,
    ) -> TankGeometry:
        """A regular tank: ``rows`` × ``columns`` barrel PMTs, a square lattice on each cap.

        Cap PMTs are the points of a ``cap_rows`` × ``cap_rows`` lattice that lie
        inside the cap's disc. PMTs sit ``inset`` cm inside the walls and face inwards.
        Order: barrel (row by row from the bottom), top cap, bottom cap.
        """
        k = AXES[axis]
        half = length / 2 - inset
        r_wall = radius - inset
        pitch_h = 2 * half / rows
        h = -half + pitch_h * (np.arange(rows) + 0.5)
        phi = 2 * np.pi * (np.arange(columns) + 0.5) / columns - np.pi
        hh, pp = (g.ravel() for g in np.meshgrid(h, phi, indexing="ij"))
        barrel = np.stack([hh, r_wall * np.sin(pp), r_wall * np.cos(pp)], axis=1)
        barrel_dir = np.stack([np.zeros_like(pp), -np.sin(pp), -np.cos(pp)], axis=1)
        pitch_c = 2 * r_wall / cap_rows
        c = -r_wall + pitch_c * (np.arange(cap_rows) + 0.5)
        ca, cb = (g.ravel() for g in np.meshgrid(c, c, indexing="ij"))
        inside = np.hypot(ca, cb) <= r_wall - pitch_c / 2
        ca, cb = ca[inside], cb[inside]
        m = len(ca)
        top = np.stack([np.full(m, half), ca, cb], axis=1)
        bottom = np.stack([np.full(m, -half), ca, cb], axis=1)
        top_dir = np.tile([-1.0, 0.0, 0.0], (m, 1))
        bottom_dir = np.tile([1.0, 0.0, 0.0], (m, 1))
        local = np.concatenate([barrel, top, bottom])
        local_dir = np.concatenate([barrel_dir, top_dir, bottom_dir])
        # local columns are (height, next axis, next-but-one axis) -> global x, y, z
        perm = [(j - k) % 3 for j in range(3)]
        n = len(local)
        flag = np.concatenate([np.full(len(barrel), 1), np.full(m, 0), np.full(m, 2)])
        return cls(
            radius=float(radius),
            length=float(length),
            tube=np.arange(1, n + 1, dtype=np.int32),
            position=np.ascontiguousarray(local[:, perm]),
            direction=np.ascontiguousarray(local_dir[:, perm]),
            cyl_loc=flag.astype(np.int32),
            origin=f"cylinder(radius={radius:g}, length={length:g})",
        )

    # -- storage ---------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, Any]:
        """Flat arrays and scalars for storage (HDF5 group or npz)."""
        return {
            "tube_no": self.tube,
            "position": self.position,
            "orientation": self.direction,
            "cyl_loc": self.cyl_loc,
            "radius": np.float64(self.radius),
            "length": np.float64(self.length),
            "pmt_radius": np.float64(self.pmt_radius),
            "offset": self.offset,
        }

    @classmethod
    def from_arrays(cls, arrays: Any, *, origin: str = "") -> TankGeometry:
        """Inverse of :meth:`to_arrays` (any mapping of name -> array, e.g. an h5py group)."""
        need = ["position", "orientation", "radius", "length"]
        missing = [k for k in need if k not in arrays]
        if missing:
            msg = f"geometry lacks {', '.join(missing)} (has: {', '.join(sorted(arrays))})"
            raise FileFormatError(origin or "geometry", msg)
        position = np.asarray(arrays["position"], dtype=np.float64)
        n = len(position)
        tube = arrays["tube_no"] if "tube_no" in arrays else np.arange(1, n + 1)
        cyl = arrays["cyl_loc"] if "cyl_loc" in arrays else np.full(n, -1)
        geo = cls(
            radius=float(np.asarray(arrays["radius"])),
            length=float(np.asarray(arrays["length"])),
            tube=np.asarray(tube, dtype=np.int32),
            position=position,
            direction=np.asarray(arrays["orientation"], dtype=np.float64),
            cyl_loc=np.asarray(cyl, dtype=np.int32),
            pmt_radius=float(np.asarray(arrays.get("pmt_radius", 0.0))),
            offset=np.asarray(arrays.get("offset", np.zeros(3)), dtype=np.float64),
            origin=origin,
        )
        geo.check()
        return geo

    def __repr__(self) -> str:
        return (
            f"<TankGeometry {self.origin!r} radius={self.radius:g} length={self.length:g}"
            f" pmts={self.num_pmts}>"
        )


def read_geometry(path: str | Path) -> TankGeometry:
    """The tank geometry stored in a file: WCSim ROOT (``wcsimGeoT``), a hitprep WCSim dump
    or grid output (``geometry`` group), or an ``.npz`` of :meth:`TankGeometry.to_arrays`.

    Results are cached per file (path, size and modification time).

    Raises:
        FileFormatError: the file holds no geometry this function knows.
    """
    p = Path(path)
    if not p.exists():
        msg = "no such file"
        raise FileFormatError(p, msg)
    stat = p.stat()
    return _read_geometry(str(p.resolve()), stat.st_size, stat.st_mtime_ns)


_GEOMETRY_KEYS = ("tube_no", "position", "orientation", "cyl_loc", "radius", "length",
                  "pmt_radius", "offset")  # fmt: skip


@functools.lru_cache(maxsize=8)
def _read_geometry(path: str, size: int, mtime: int) -> TankGeometry:
    del size, mtime  # cache keys only
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"root"):
        from hitprep.sources.wcsim import read_wcsim_geometry

        return read_wcsim_geometry(path)
    if magic.startswith(b"\x89HDF"):
        import h5py

        with h5py.File(path, "r") as f:
            if "geometry" not in f:
                msg = "has no 'geometry' group (not a hitprep WCSim dump or grid file)"
                raise FileFormatError(path, msg)
            group = f["geometry"]
            return TankGeometry.from_arrays({k: group[k][()] for k in group}, origin=path)
    if magic.startswith(b"PK"):
        with np.load(path, allow_pickle=False) as npz:
            names = [k for k in npz.files if k in _GEOMETRY_KEYS]
            if not {"position", "orientation", "radius", "length"} <= set(names):
                msg = f"has no tank geometry (arrays: {', '.join(npz.files)})"
                raise FileFormatError(path, msg)
            return TankGeometry.from_arrays({k: npz[k] for k in names}, origin=path)
    msg = "not a ROOT, HDF5 or .npz file with a tank geometry"
    raise FileFormatError(path, msg)
