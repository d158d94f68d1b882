"""Toy water-Cherenkov detector: a cylindrical tank with PMTs, writing a WCSim event dump (HDF5).

Not a physics simulation; a fast, seeded photon-level generator with the
features the WatChMaL workflow needs:

- **Tank.** A cylinder (axis y, WatChMaL's convention) with PMTs in rows ×
  columns on the barrel and on a square lattice on each cap
  (:meth:`~hitprep.detectors.wcsim_geometry.TankGeometry.cylinder`).
- **Particles.** e−, μ− and γ from a vertex uniform in a fiducial cylinder,
  isotropic, kinetic energy uniform in a range. A μ emits Cherenkov light
  along its range (2 MeV/cm) with a small angular spread and a cone that
  narrows as it slows: a **sharp-edged, filled ring**. An e− showers: light
  from a gamma-distributed depth profile with a wide angular spread: a
  **fuzzy ring**. A γ first travels an exponential conversion distance, then
  showers as an e+e− pair: two showers sharing its energy, a few degrees
  apart, so its ring starts later and is a little fuzzier than an e−'s
  (e and γ look nearly alike, as in the real tanks). Each particle's
  direction is smeared by multiple scattering (a muon by
  13.6 MeV / p · sqrt(range / X0), a shower by a few degrees). 80 % of muons
  decay: a Michel electron in a second trigger.
- **Resolution.** The photon count is Poisson in the emitting track length
  (∝ energy): a stochastic term ∝ 1/sqrt(E); each particle's light yield also
  varies by 2 % (water and PMT calibration: the constant term).
- **Detection.** Each photon is traced to the wall; the PMT of the cell it
  lands in sees it with the tank's efficiency (lattice cells outside the cap
  disc have none). A digit per PMT and trigger: charge = Σ gains (mean 1 p.e.),
  time = first photon + 1 ns jitter + WCSim's 950 ns offset. Dark noise adds
  single-p.e. digits uniformly in the trigger window.
- **Truth.** WCSim's track conventions: a generator track (flag −1, m = 0,
  E = p; for a γ it carries the γ), then the Geant4 primaries (flag 0, parent
  0; for a γ the e− and e+). Every photon is a true hit (parent = track id of
  its primary, −1 for dark noise).

The file is the pickle-free dump :class:`~hitprep.sources.wcsim_dump.WCSimH5Source`
reads (DataTools ``.npz`` field names, flat arrays + ``<family>_offsets``) with
the tank in ``geometry/``. Events are simulated and written a chunk at a time.

Usage::

    hitprep toy wcsim -n 1000 -o toy.h5
    hitprep toy wcsim -n 100000 -o big.h5 --particles mu --energy 100 600 --no-true-hits
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.detectors.wcsim_geometry import TankGeometry
from hitprep.errors import ConfigError
from hitprep.events import offsets_from_counts
from hitprep.progress import progress_bar
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.sources.wcsim_dump import DUMP_FORMAT

__all__ = ["PARTICLES", "ToyTank", "cli_main", "simulate", "write_dump"]

#: particle name -> PDG code
PARTICLES = {"e": 11, "mu": 13, "gamma": 22}
_MASS = {11: 0.511, 13: 105.658, 22: 0.0}
_C = 29.9792458  # cm/ns
_N_WATER = 1.34
_DEDX = 2.0  # MeV/cm
_MU_THRESHOLD = 54.0  # MeV kinetic: Cherenkov threshold of a muon in water
_CONVERSION = 47.0  # cm, mean gamma conversion distance in water
_X0 = 36.1  # cm, radiation length of water
_YIELD_SPREAD = 0.02  # relative spread of a particle's light yield (the constant term)
_SHOWER_SCATTER = np.radians(3.0)  # spread of a shower's axis about its particle's direction
_PAIR_OPENING = np.radians(4.0)  # spread of each of a gamma's e+ e- showers about the gamma
_TIME_OFFSET = 950.0  # ns, WCSim's digit time offset
_F = npt.NDArray[np.float64]
_I = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ToyTank:
    """Tank dimensions, PMT layout and detection parameters."""

    radius: float = 400.0
    length: float = 600.0
    rows: int = 32
    columns: int = 80
    cap_rows: int = 30
    pe_per_cm: float = 3.0
    efficiency: float = 1.0
    dark_rate_khz: float = 8.0
    window_ns: float = 1500.0
    attenuation_cm: float = 8000.0
    geometry: TankGeometry = field(init=False, repr=False)
    _cap_lookup: _I = field(init=False, repr=False)

    def __post_init__(self) -> None:
        geo = TankGeometry.cylinder(
            radius=self.radius,
            length=self.length,
            rows=self.rows,
            columns=self.columns,
            cap_rows=self.cap_rows,
            axis="y",
        )
        object.__setattr__(self, "geometry", geo)
        # lattice cell (i * cap_rows + j) -> index among the cap's PMTs, -1 outside the disc
        pitch = 2 * self.radius / self.cap_rows
        c = -self.radius + pitch * (np.arange(self.cap_rows) + 0.5)
        ca, cb = (g.ravel() for g in np.meshgrid(c, c, indexing="ij"))
        inside = np.hypot(ca, cb) <= self.radius - pitch / 2
        lookup = np.full(len(ca), -1, dtype=np.int64)
        lookup[inside] = np.arange(int(inside.sum()))
        object.__setattr__(self, "_cap_lookup", lookup)

    @property
    def n_barrel(self) -> int:
        return self.rows * self.columns

    @property
    def n_cap(self) -> int:
        return int((self._cap_lookup >= 0).sum())

    def pmt_at(self, point: _F) -> _I:
        """PMT index of the wall cell each point (N, 3; on the wall) lies in; -1 for none."""
        h, a, b = point[:, 1], point[:, 2], point[:, 0]  # axis y: (y, z, x) as in cylinder()
        half = self.length / 2
        on_cap = np.abs(h) >= half - 1e-6
        row = np.clip(((h + half) / self.length * self.rows).astype(np.int64), 0, self.rows - 1)
        phi = np.arctan2(a, b)
        col = ((phi + np.pi) / (2 * np.pi) * self.columns).astype(np.int64) % self.columns
        out = row * self.columns + col
        pitch = 2 * self.radius / self.cap_rows
        i = np.clip(((a + self.radius) / pitch).astype(np.int64), 0, self.cap_rows - 1)
        j = np.clip(((b + self.radius) / pitch).astype(np.int64), 0, self.cap_rows - 1)
        cap = self._cap_lookup[i * self.cap_rows + j]
        first = np.where(h > 0, self.n_barrel, self.n_barrel + self.n_cap)
        return np.where(on_cap, np.where(cap >= 0, first + cap, -1), out)

    def to_wall(self, start: _F, direction: _F) -> tuple[_F, _F]:
        """Where rays from ``start`` along unit ``direction`` leave the tank, and their lengths."""
        half = self.length / 2
        ph, pa, pb = start[:, 1], start[:, 2], start[:, 0]
        dh, da, db = direction[:, 1], direction[:, 2], direction[:, 0]
        qa = da**2 + db**2
        pd = pa * da + pb * db
        disc = np.maximum(pd**2 - qa * (pa**2 + pb**2 - self.radius**2), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_wall = np.where(qa > 1e-12, (-pd + np.sqrt(disc)) / qa, np.inf)
            t_cap = np.where(dh > 0, (half - ph) / dh, np.where(dh < 0, (-half - ph) / dh, np.inf))
        t = np.maximum(np.minimum(t_wall, t_cap), 0.0)
        end = start + direction * t[:, None]
        end[:, 1] = np.where(t_cap <= t_wall, np.sign(dh) * half, end[:, 1])
        return end, t


def _isotropic(rng: np.random.Generator, n: int) -> _F:
    cos = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    sin = np.sqrt(1 - cos**2)
    return np.stack([sin * np.cos(phi), cos, sin * np.sin(phi)], axis=1)


def _rotate_cone(axis: _F, theta: _F, phi: _F) -> _F:
    """Unit vectors at angle ``theta`` from ``axis`` (per row), azimuth ``phi``."""
    helper = np.where(np.abs(axis[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(axis, u)
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    out: _F = ct * axis + st * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
    return out


def _scattered(
    rng: np.random.Generator, direction: _F, kinetic: _F, muon: npt.NDArray[np.bool_]
) -> _F:
    """The axes light is emitted about: each particle's direction smeared by multiple
    scattering (a muon: the Highland angle over its range, halved for the mean direction of
    the track; a shower: a few degrees)."""
    momentum = np.sqrt(kinetic**2 + 2 * kinetic * _MASS[13])
    track = np.maximum(kinetic / _DEDX, 1.0)
    highland = 13.6 / momentum * np.sqrt(track / _X0) / 2
    spread = np.where(muon, np.minimum(highland, 0.3), _SHOWER_SCATTER)
    theta = np.abs(rng.normal(0.0, 1.0, len(kinetic))) * spread
    return _rotate_cone(direction, theta, rng.uniform(0, 2 * np.pi, len(kinetic)))


@dataclass
class _Light:
    """Emitters of one chunk: per emitting particle its event, start, direction, energy, kind."""

    event: list[_I] = field(default_factory=list)
    start: list[_F] = field(default_factory=list)
    direction: list[_F] = field(default_factory=list)
    kinetic: list[_F] = field(default_factory=list)
    muon: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    t0: list[_F] = field(default_factory=list)
    trigger: list[_I] = field(default_factory=list)

    def add(
        self,
        event: _I,
        start: _F,
        direction: _F,
        kinetic: _F,
        *,
        muon: bool,
        t0: _F,
        trigger: int,
    ) -> None:
        self.event.append(event)
        self.start.append(start)
        self.direction.append(direction)
        self.kinetic.append(kinetic)
        self.muon.append(np.full(len(event), muon))
        self.t0.append(t0)
        self.trigger.append(np.full(len(event), trigger, dtype=np.int64))

    def photons(self, tank: ToyTank, rng: np.random.Generator) -> dict[str, Any]:
        """Detected photons: event, trigger, pmt, absolute time (ns, before the offset)."""
        ev, start = np.concatenate(self.event), np.concatenate(self.start)
        dirn = np.concatenate(self.direction)
        kin, muon = np.concatenate(self.kinetic), np.concatenate(self.muon)
        t0, trig = np.concatenate(self.t0), np.concatenate(self.trigger)
        emitting = np.where(muon, np.maximum(kin - _MU_THRESHOLD, 0.0) / _DEDX, kin / _DEDX)
        light_yield = np.clip(rng.normal(1.0, _YIELD_SPREAD, len(ev)), 0.5, 1.5)
        n = rng.poisson(tank.pe_per_cm * emitting * light_yield)
        owner = np.repeat(np.arange(len(ev)), n)
        # depth along the track: uniform for muons, shower profile (gamma distribution) for e
        shower = 10.0 + 8.0 * np.log1p(kin / 50.0)
        depth = np.where(
            muon[owner],
            rng.uniform(0, 1, len(owner)) * emitting[owner],
            rng.gamma(2.5, 1.0, len(owner)) * shower[owner] / 2.5,
        )
        # muons slow down: the cone narrows near the end of the range (cos = 1 / (n beta))
        remaining = np.maximum(kin[owner] - depth * _DEDX, 1e-3)
        mass = np.where(muon[owner], _MASS[13], _MASS[11])
        gamma = 1 + remaining / mass
        beta = np.sqrt(1 - 1 / gamma**2)
        cos_c = np.clip(1 / (_N_WATER * beta), -1, 1)
        spread = np.where(muon[owner], np.radians(1.5), np.radians(14.0))
        axis = _rotate_cone(
            dirn[owner],
            np.abs(rng.normal(0, 1, len(owner))) * spread,
            rng.uniform(0, 2 * np.pi, len(owner)),
        )
        photon_dir = _rotate_cone(axis, np.arccos(cos_c), rng.uniform(0, 2 * np.pi, len(owner)))
        origin = start[owner] + dirn[owner] * depth[:, None]
        inside = (np.hypot(origin[:, 0], origin[:, 2]) < tank.radius) & (
            np.abs(origin[:, 1]) < tank.length / 2
        )
        end, path = tank.to_wall(origin, photon_dir)
        keep = inside & (
            rng.uniform(0, 1, len(owner)) < tank.efficiency * np.exp(-path / tank.attenuation_cm)
        )
        pmt = tank.pmt_at(end)
        keep &= pmt >= 0
        time = t0[owner] + depth / _C + path * _N_WATER / _C + rng.normal(0, 1.0, len(owner))
        return {
            "event": ev[owner][keep],
            "trigger": trig[owner][keep],
            "pmt": pmt[keep],
            "time": time[keep],
        }


def simulate(
    n_events: int,
    *,
    tank: ToyTank | None = None,
    particles: Sequence[str] = ("e", "mu", "gamma"),
    energy: tuple[float, float] = (100.0, 1000.0),
    seed: int = 0,
    chunk: int = 2000,
    true_hits: bool = True,
) -> Iterator[dict[str, npt.NDArray[Any]]]:
    """Simulate events a chunk at a time; each chunk is a dict of dump arrays.

    Per-event arrays: ``event_id``, ``pid``, ``position`` (n, 3), ``direction``,
    ``energy`` (total, MeV). Per family (``digi_hit``, ``true_hit``, ``track``,
    ``trigger``): flat arrays and ``<family>_counts`` per event.
    """
    tank = tank or ToyTank()
    unknown = [p for p in particles if p not in PARTICLES]
    if unknown or not particles:
        msg = f"unknown particles {unknown}; choose from {', '.join(PARTICLES)}"
        raise ConfigError(msg)
    lo, hi = energy
    if not 0 < lo <= hi:
        msg = f"energy range must satisfy 0 < min <= max, got {energy}"
        raise ConfigError(msg)
    codes = np.array([PARTICLES[p] for p in particles])
    rng = np.random.default_rng(seed)
    for first in range(0, max(n_events, 1), chunk):  # an empty sample still has its arrays
        n = min(chunk, n_events - first)
        yield _chunk(first, n, tank, codes, (lo, hi), rng, true_hits=true_hits)


def _chunk(
    first: int,
    n: int,
    tank: ToyTank,
    codes: npt.NDArray[np.int64],
    energy: tuple[float, float],
    rng: np.random.Generator,
    *,
    true_hits: bool,
) -> dict[str, npt.NDArray[Any]]:
    pid = rng.choice(codes, n)
    kin = rng.uniform(*energy, n)
    r = (tank.radius - 50) * np.sqrt(rng.uniform(0, 1, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    vertex = np.stack(
        [r * np.cos(phi), rng.uniform(-1, 1, n) * (tank.length / 2 - 50), r * np.sin(phi)], axis=1
    )
    direction = _isotropic(rng, n)
    mass = np.select([pid == 11, pid == 13], [_MASS[11], _MASS[13]], 0.0)
    events = np.arange(n)
    light = _Light()
    is_mu, is_g = pid == 13, pid == 22
    zeros = np.zeros(n)
    # gamma: converts after an exponential distance, then showers as an e+ e- pair
    conv = np.where(is_g, rng.exponential(_CONVERSION, n), 0.0)
    shower_start = vertex + direction * conv[:, None]
    split = rng.uniform(0.2, 0.8, n)  # the electron's share of a gamma's energy
    axis = _scattered(rng, direction, kin, is_mu)
    is_e = pid == 11
    light.add(events[is_e], shower_start[is_e], axis[is_e], kin[is_e],
              muon=False, t0=conv[is_e] / _C, trigger=0)  # fmt: skip
    for share in (split, 1.0 - split):
        pair = _rotate_cone(direction, np.abs(rng.normal(0, _PAIR_OPENING, n)),
                            rng.uniform(0, 2 * np.pi, n))  # fmt: skip
        light.add(events[is_g], shower_start[is_g], pair[is_g], (kin * share)[is_g],
                  muon=False, t0=conv[is_g] / _C, trigger=0)  # fmt: skip
    light.add(events[is_mu], vertex[is_mu], axis[is_mu], kin[is_mu], muon=True,
              t0=zeros[is_mu], trigger=0)  # fmt: skip
    stop = np.where(
        is_mu[:, None],
        vertex + direction * (kin / _DEDX)[:, None],
        shower_start + direction * (15.0 + 10.0 * np.log1p(kin / 50.0))[:, None],
    )
    # Michel electrons: 80 % of muons, if they stop inside the tank; a second trigger
    inside = (np.hypot(stop[:, 0], stop[:, 2]) < tank.radius) & (
        np.abs(stop[:, 1]) < tank.length / 2
    )
    michel = is_mu & inside & (rng.uniform(0, 1, n) < 0.8)
    decay_t = rng.exponential(2197.0, n) + 1500.0
    michel_e = rng.uniform(10, 53, n)
    michel_dir = _isotropic(rng, n)
    light.add(events[michel], stop[michel], michel_dir[michel], michel_e[michel], muon=False,
              t0=zeros[michel], trigger=1)  # fmt: skip
    ph = light.photons(tank, rng)
    out: dict[str, npt.NDArray[Any]] = {
        "event_id": (first + events).astype(np.int32),
        "pid": pid.astype(np.int32),
        # like DataTools: a gamma's position is where its e+ e- pair starts
        "position": np.where(is_g[:, None], shower_start, vertex).astype(np.float32),
        "direction": direction.astype(np.float32),
        "energy": (kin + mass).astype(np.float32),
    }
    n_trig = 1 + michel.astype(np.int64)
    trigger_time = np.zeros(int(n_trig.sum()))
    trigger_time[offsets_from_counts(n_trig)[:-1][michel] + 1] = decay_t[michel]
    out["trigger_counts"] = n_trig
    out["trigger_time"] = trigger_time.astype(np.float32)
    out["trigger_type"] = np.zeros(len(trigger_time), dtype=np.int32)
    out.update(_digits(ph, tank, rng, michel))
    primaries = _Primaries(pid, kin, mass, vertex, direction, shower_start, stop)
    out.update(_tracks(primaries, split, michel, michel_e, michel_dir))
    if true_hits:
        order = np.argsort(ph["event"], kind="stable")
        out["true_hit_counts"] = np.bincount(ph["event"], minlength=n)
        out["true_hit_pmt"] = ph["pmt"][order].astype(np.int32)
        abs_time = ph["time"] + np.where(ph["trigger"] == 1, decay_t[ph["event"]], 0.0)
        out["true_hit_time"] = abs_time[order].astype(np.float32)
        out["true_hit_parent"] = np.ones(len(order), dtype=np.int32)
    return out


def _digits(
    ph: dict[str, Any], tank: ToyTank, rng: np.random.Generator, second: npt.NDArray[np.bool_]
) -> dict[str, npt.NDArray[Any]]:
    """One digit per (event, trigger, PMT): summed gains, first time; plus dark noise.

    ``second`` marks the events that have a second trigger (a Michel electron).
    """
    n, n_pmt = len(second), tank.geometry.num_pmts
    mean_dark = tank.dark_rate_khz * 1e-6 * tank.window_ns * n_pmt
    n_dark = rng.poisson(mean_dark, (n, 2)) * np.stack([np.ones(n, bool), second], axis=1)
    slot = np.repeat(np.arange(2 * n), n_dark.ravel())
    n_noise = len(slot)
    event = np.concatenate([ph["event"], slot // 2])
    trig = np.concatenate([ph["trigger"], slot % 2])
    pmt = np.concatenate([ph["pmt"], rng.integers(0, n_pmt, n_noise)])
    noise_time = rng.uniform(-400.0, tank.window_ns - 400.0, n_noise)
    time = np.concatenate([ph["time"], noise_time])
    key = (event * 2 + trig) * n_pmt + pmt
    order = np.argsort(key, kind="stable")
    key, time = key[order], time[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else key
    gains = np.clip(rng.normal(1.0, 0.3, len(key)), 0.05, None)
    charge = np.add.reduceat(gains, starts) if len(key) else np.zeros(0)
    earliest = np.minimum.reduceat(time, starts) if len(key) else np.zeros(0)
    first = key[starts]
    trigger_slot = first // n_pmt
    return {
        "digi_hit_counts": np.bincount(trigger_slot // 2, minlength=n),
        "digi_hit_pmt": (first % n_pmt).astype(np.int32),
        "digi_hit_charge": charge.astype(np.float32),
        "digi_hit_time": (earliest + _TIME_OFFSET).astype(np.float32),
        "digi_hit_trigger": (trigger_slot % 2).astype(np.int32),
    }


@dataclass(frozen=True)
class _Primaries:
    pid: _I
    kinetic: _F
    mass: _F
    vertex: _F
    direction: _F
    shower_start: _F
    stop: _F


def _tracks(
    p: _Primaries,
    split: _F,
    michel: npt.NDArray[np.bool_],
    michel_e: _F,
    michel_dir: _F,
) -> dict[str, npt.NDArray[Any]]:
    """WCSim-style track lists: generator track, primaries (e- e+ for a gamma, the e- taking
    ``split`` of its energy), Michel electron."""
    n = len(p.pid)
    is_g = p.pid == 22
    momentum = np.sqrt(p.kinetic**2 + 2 * p.kinetic * p.mass)
    blocks: list[tuple[npt.NDArray[np.bool_], dict[str, Any]]] = [
        # generator track: m = 0, E = p; for a gamma it is the gamma itself
        (np.ones(n, bool), {"id": 0, "pid": p.pid, "flag": -1, "energy": momentum,
                            "start": p.vertex, "stop": p.vertex, "dir": p.direction, "parent": 0}),
        (~is_g, {"id": 1, "pid": p.pid, "flag": 0, "energy": p.kinetic + p.mass,
                 "start": p.vertex, "stop": p.stop, "dir": p.direction, "parent": 0}),
        (is_g, {"id": 1, "pid": 11, "flag": 0, "energy": p.kinetic * split + _MASS[11],
                "start": p.shower_start, "stop": p.stop, "dir": p.direction, "parent": 0}),
        (is_g, {"id": 2, "pid": -11, "flag": 0, "energy": p.kinetic * (1 - split) + _MASS[11],
                "start": p.shower_start, "stop": p.stop, "dir": p.direction, "parent": 0}),
        (michel, {"id": 3, "pid": 11, "flag": 0, "energy": michel_e + _MASS[11], "start": p.stop,
                  "stop": p.stop + michel_dir * 10.0, "dir": michel_dir, "parent": 13}),
    ]  # fmt: skip
    event = np.concatenate([np.flatnonzero(mask) for mask, _ in blocks])
    order = np.argsort(event, kind="stable")

    def column(name: str, dtype: Any) -> npt.NDArray[Any]:
        parts = [
            np.asarray(cols[name])[mask] if np.ndim(cols[name]) else np.full(mask.sum(), cols[name])
            for mask, cols in blocks
        ]
        return np.concatenate(parts)[order].astype(dtype)

    return {
        "track_counts": np.bincount(event, minlength=n),
        "track_id": column("id", np.int32),
        "track_pid": column("pid", np.int32),
        "track_flag": column("flag", np.int32),
        "track_energy": column("energy", np.float32),
        "track_start_position": column("start", np.float32),
        "track_stop_position": column("stop", np.float32),
        "track_dir": column("dir", np.float32),
        "track_parent": column("parent", np.int32),
        "track_start_time": np.zeros(len(event), dtype=np.float32),
    }


def write_dump(
    path: str | Path,
    n_events: int,
    *,
    tank: ToyTank | None = None,
    particles: Sequence[str] = ("e", "mu", "gamma"),
    energy: tuple[float, float] = (100.0, 1000.0),
    seed: int = 0,
    chunk: int = 2000,
    true_hits: bool = True,
    overwrite: bool = False,
    compression: str | None = "gzip",
    progress: bool = False,
) -> Path:
    """Simulate ``n_events`` and write them as a WCSim dump (see :mod:`hitprep.sources.wcsim_dump`).

    The file appears only when complete (written under a temporary name).
    """
    if n_events < 0:
        msg = f"number of events must be >= 0, not {n_events}"
        raise ConfigError(msg)
    tank = tank or ToyTank()
    totals = dict.fromkeys(("digi_hit", "true_hit", "track", "trigger"), 0)
    first_chunk = True
    with (
        HDF5Sink(path, overwrite=overwrite, compression=compression) as sink,
        progress_bar(total=n_events, enabled=progress, desc=Path(path).name) as bar,
    ):
        for part in simulate(n_events, tank=tank, particles=particles, energy=energy, seed=seed,
                             chunk=chunk, true_hits=true_hits):  # fmt: skip
            arrays = {k: v for k, v in part.items() if not k.endswith("_counts")}
            arrays["root_file"] = np.full(len(part["pid"]), str(path), dtype=h5py.string_dtype())
            for family in totals:
                counts = part.get(f"{family}_counts")
                if counts is None:
                    continue
                offsets = offsets_from_counts(counts) + totals[family]
                # the leading 0 is written once, with the first chunk
                arrays[f"{family}_offsets"] = offsets if first_chunk else offsets[1:]
                totals[family] = int(offsets[-1])
            first_chunk = False
            sink.append(arrays)
            bar.update(len(part["pid"]))
        for key, value in tank.geometry.to_arrays().items():
            sink.write(f"geometry/{key}", value)
        sink.set_attrs({"hitprep_format": DUMP_FORMAT, "generator": "hitprep.toys.wcsim",
                        "seed": seed, "particles": ",".join(particles)})  # fmt: skip
        return sink.commit()


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``hitprep toy wcsim``: write a toy water-Cherenkov sample."""
    parser = argparse.ArgumentParser(
        prog="hitprep toy wcsim",
        description=(
            "Simulate a toy water-Cherenkov tank (e-, mu-, gamma Cherenkov rings with charge,"
            " time and dark noise) and write a WCSim event dump (HDF5, DataTools field names)"
            " that `hitprep convert` reads."
        ),
    )
    parser.add_argument("-n", "--events", type=int, default=1000, help="number of events")
    parser.add_argument("-o", "--output", required=True, help="output HDF5 file")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--particles", default="e,mu,gamma", help="comma-separated: e, mu, gamma (default: all)"
    )
    parser.add_argument(
        "--energy", nargs=2, type=float, default=(100.0, 1000.0), metavar=("MIN", "MAX"),
        help="kinetic energy range in MeV (default: 100 1000)",
    )  # fmt: skip
    parser.add_argument("--no-true-hits", action="store_true", help="leave out true photon hits")
    parser.add_argument("--no-compression", action="store_true", help="write uncompressed")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    written = write_dump(
        args.output,
        args.events,
        particles=[p.strip() for p in args.particles.split(",") if p.strip()],
        energy=(args.energy[0], args.energy[1]),
        seed=args.seed,
        true_hits=not args.no_true_hits,
        overwrite=args.overwrite,
        compression=None if args.no_compression else "gzip",
        progress=sys.stderr.isatty(),
    )
    print(f"wrote {args.events} toy water-Cherenkov events to {written}")
    return 0
