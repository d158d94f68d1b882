"""Toy LDMX ECal: a layered silicon-tungsten calorimeter writing the ``ecalHits`` ROOT layout.

Not a physics simulation; a fast, seeded generator with the features the
LDMX workflow needs:

- **Geometry.** 34 silicon layers behind tungsten absorbers (0.5, 1 and 1.5
  radiation lengths in three sections, 40 X0 in all), the front face at
  z = 240 mm, square 5 mm cells over +-250 mm in x and y. Hits sit at cell
  centres and layer planes.
- **Background** (the photo-nuclear sample that passes a missing-energy
  trigger): a 4 GeV electron radiates a hard photon (55-95 % of the beam
  energy) and recoils with a small transverse momentum (a few MeV, with a
  tail); the electron showers electromagnetically (longitudinal
  gamma-distribution profile, core + halo transverse profile, Moliere radius
  9.3 mm), displaced by the magnet. The photon interacts photo-nuclearly:
  most of its energy goes to neutrons and is not seen. In 30 % of events
  nothing of it is seen at all (all-neutral final states: such an event is
  a lone recoil shower, as a signal event is); otherwise a deeper, broader
  hadronic deposit with a small visible fraction and zero to three
  penetrating MIP tracks.
- **Signal** (A' of mass ``mass`` MeV): the A' takes most of the beam energy
  invisibly; the recoil electron's energy falls and its transverse momentum
  (hence its angle and displacement at the ECal face) grows with the mass, so
  heavy A's are easier to tell from background than light ones.
- **Resolution.** Each shower deposit is sampled with exponential
  fluctuations (a stochastic term of about 6 %/sqrt(E/GeV)) and each shower
  has a 1.5 % calibration spread (the constant term); the back leaks.
- Each event adds a few low-energy noise hits. Deposits in one cell are
  summed; the hits of an event are written in random order (LDMX files are
  not sorted).

The tree has ``eventNumber`` (int32) and ``x``, ``y``, ``z`` [mm] and ``E``
[MeV] (float32 lists, one entry per hit). uproot writes a counter branch per
list (``nx``, ``ny``, ...), which readers ignore.

Usage::

    hitprep toy ldmx -n 1000 -o background.root
    hitprep toy ldmx --mass 10 -n 1000 -o signal_10MeV.root
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.atomic import atomic_path
from hitprep.errors import ConfigError, OutputExistsError
from hitprep.events import jagged_from_flat, offsets_from_counts

__all__ = [
    "BEAM_ENERGY",
    "EcalGeometry",
    "cli_main",
    "ldmx_sw_hits",
    "simulate",
    "write_ldmx_sw",
    "write_root",
]

#: beam energy [MeV] (LDMX phase 1)
BEAM_ENERGY = 4000.0
_CRITICAL_ENERGY = 8.0  # MeV, tungsten
_MOLIERE_RADIUS = 9.3  # mm, tungsten
_X0_MM = 3.5  # mm, tungsten radiation length
_SAMPLING = 0.012  # fraction of shower energy seen in silicon
_MIP = 0.13  # MeV, a minimum-ionising particle in 0.5 mm silicon
_SPOT = 4.0  # MeV of shower energy per simulated deposit
_CONSTANT_TERM = 0.015  # relative spread of each shower's visible energy (calibration)
_INVISIBLE_PN = 0.3  # photo-nuclear events with nothing visible (all-neutral final states)


@dataclass(frozen=True)
class EcalGeometry:
    """Layer planes and cells of the toy ECal."""

    z_front: float = 240.0
    cell: float = 5.0
    half_width: float = 250.0
    absorbers: tuple[float, ...] = (0.5,) * 6 + (1.0,) * 10 + (1.5,) * 18  # X0 per layer

    @property
    def n_layers(self) -> int:
        return len(self.absorbers)

    @property
    def depth_x0(self) -> npt.NDArray[np.float64]:
        """Radiation lengths in front of each layer's silicon."""
        return np.cumsum(np.asarray(self.absorbers, dtype=np.float64))

    @property
    def layer_z(self) -> npt.NDArray[np.float64]:
        """z of each silicon layer [mm]: absorber plus 6 mm of silicon, PCB and air per layer."""
        pitch = np.asarray(self.absorbers, dtype=np.float64) * _X0_MM + 6.0
        return self.z_front + np.cumsum(pitch)


@dataclass
class _Deposits:
    """Flat energy deposits of a chunk of events (before summing per cell)."""

    event: list[npt.NDArray[np.int64]]
    layer: list[npt.NDArray[np.int64]]
    x: list[npt.NDArray[np.float64]]
    y: list[npt.NDArray[np.float64]]
    energy: list[npt.NDArray[np.float64]]

    def add(
        self,
        event: npt.NDArray[np.int64],
        layer: npt.NDArray[np.int64],
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        energy: npt.NDArray[np.float64],
    ) -> None:
        self.event.append(event)
        self.layer.append(layer)
        self.x.append(x)
        self.y.append(y)
        self.energy.append(energy)


def _em_showers(
    rng: np.random.Generator,
    out: _Deposits,
    geom: EcalGeometry,
    event: npt.NDArray[np.int64],
    energy: npt.NDArray[np.float64],
    x0: npt.NDArray[np.float64],
    y0: npt.NDArray[np.float64],
    slope_x: npt.NDArray[np.float64],
    slope_y: npt.NDArray[np.float64],
) -> None:
    """Electromagnetic showers starting at the ECal face at (x0, y0) with direction slopes."""
    n_spots = np.maximum(1, (energy / _SPOT).astype(np.int64))
    shower = np.repeat(np.arange(len(energy)), n_spots)
    e = energy[shower]
    t_max = np.maximum(np.log(e / _CRITICAL_ENERGY) - 0.5, 0.3)
    b = 0.5
    depth = rng.gamma(b * t_max + 1.0, 1.0 / b)  # radiation lengths
    layer = np.searchsorted(geom.depth_x0, depth)
    inside = layer < geom.n_layers  # the rest leaks out of the back
    scale = np.where(rng.random(len(e)) < 0.85, 0.25, 1.2) * _MOLIERE_RADIUS
    radius = rng.gamma(2.0, 1.0, len(e)) * scale * (1.0 + depth / 15.0)
    angle = rng.uniform(0.0, 2.0 * np.pi, len(e))
    layer, shower, radius, angle = layer[inside], shower[inside], radius[inside], angle[inside]
    dz = geom.layer_z[layer] - geom.z_front
    x = x0[shower] + slope_x[shower] * dz + radius * np.cos(angle)
    y = y0[shower] + slope_y[shower] * dz + radius * np.sin(angle)
    spot = energy[shower] / n_spots[shower]
    calibration = rng.normal(1.0, _CONSTANT_TERM, len(energy))[shower]
    seen = spot * _SAMPLING * rng.exponential(1.0, len(spot)) * calibration
    out.add(event[shower], layer, x, y, seen)


def _hadronic(
    rng: np.random.Generator,
    out: _Deposits,
    geom: EcalGeometry,
    event: npt.NDArray[np.int64],
    energy: npt.NDArray[np.float64],
) -> None:
    """Photo-nuclear deposits: deeper, broader, mostly invisible (neutrons), with zero to three
    penetrating MIP tracks; in a fraction ``_INVISIBLE_PN`` of events nothing at all."""
    seen_any = rng.random(len(energy)) >= _INVISIBLE_PN
    visible = np.where(seen_any, energy * 0.5 * rng.beta(1.0, 3.0, len(energy)), 0.0)
    n_spots = np.where(seen_any, np.maximum(1, (visible / (2 * _SPOT)).astype(np.int64)), 0)
    source = np.repeat(np.arange(len(energy)), n_spots)
    start = rng.exponential(6.0, len(energy))[source]
    depth = start + rng.gamma(1.5, 8.0, len(source))
    layer = np.searchsorted(geom.depth_x0, depth)
    inside = layer < geom.n_layers
    radius = rng.gamma(2.0, 12.0, len(source))
    angle = rng.uniform(0.0, 2.0 * np.pi, len(source))
    spot = (visible / np.maximum(n_spots, 1))[source] * _SAMPLING * rng.gamma(2.0, 0.5, len(source))
    out.add(
        event[source][inside],
        layer[inside],
        (radius * np.cos(angle))[inside],
        (radius * np.sin(angle))[inside],
        spot[inside],
    )
    # zero to three MIP tracks per visible interaction, from a random layer to the back
    n_tracks = np.where(seen_any, rng.integers(0, 4, len(energy)), 0)
    track = np.repeat(np.arange(len(energy)), n_tracks)
    first = rng.integers(0, geom.n_layers // 2, len(track))
    slope_x = rng.normal(0.0, 0.3, len(track))
    slope_y = rng.normal(0.0, 0.3, len(track))
    steps = geom.n_layers - first
    seg = np.repeat(np.arange(len(track)), steps)
    layer = first[seg] + (np.arange(len(seg)) - offsets_from_counts(steps)[:-1][seg])
    dz = geom.layer_z[layer] - geom.layer_z[first[seg]]
    x = slope_x[seg] * dz + rng.normal(0.0, 5.0, len(track))[seg]
    y = slope_y[seg] * dz + rng.normal(0.0, 5.0, len(track))[seg]
    e_mip = _MIP * rng.gamma(6.0, 1.0 / 6.0, len(seg))
    out.add(event[track][seg], layer, x, y, e_mip)


def _recoil(
    rng: np.random.Generator,
    out: _Deposits,
    geom: EcalGeometry,
    electron: npt.NDArray[np.float64],
    pt: npt.NDArray[np.float64],
) -> None:
    """The recoil electron's shower: energy ``electron``, transverse momentum scale ``pt``
    [MeV] (its angle ~ pt / E), bent towards -x by the magnet, starting upstream of the face."""
    n = len(electron)
    theta = np.minimum(np.abs(rng.normal(0.0, pt / electron)), 0.7)
    psi = rng.uniform(0.0, 2.0 * np.pi, n)
    slope = np.tan(theta)
    bend = -np.clip(8000.0 / electron, 5.0, 150.0)
    _em_showers(
        rng,
        out,
        geom,
        np.arange(n, dtype=np.int64),
        electron,
        bend + geom.z_front * slope * np.cos(psi),
        geom.z_front * slope * np.sin(psi),
        slope * np.cos(psi),
        slope * np.sin(psi),
    )


def _recoil_fraction(rng: np.random.Generator, mass: float, n: int) -> npt.NDArray[np.float64]:
    """Fraction of the beam energy the recoil electron keeps, falling with the A' mass."""
    mean = 0.08 + 0.3 * np.exp(-mass / 150.0)
    concentration = 12.0
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, n)


def simulate(
    n_events: int,
    *,
    mass: float | None = None,
    seed: int = 0,
    beam_energy: float = BEAM_ENERGY,
    first_event: int = 1,
    geometry: EcalGeometry | None = None,
) -> ak.Array:
    """Simulate events; returns records ``eventNumber`` and ``hits`` (``x, y, z, E``).

    Args:
        n_events: number of events.
        mass: A' mass [MeV] for signal; ``None``: photo-nuclear background.
        seed: random seed (same seed, same events).
        beam_energy: electron beam energy [MeV].
        first_event: ``eventNumber`` of the first event.
        geometry: ECal geometry (default :class:`EcalGeometry`).

    Example:
        >>> events = simulate(3, mass=10.0, seed=1)
        >>> len(events), sorted(events.hits.fields)
        (3, ['E', 'x', 'y', 'z'])
    """
    if n_events < 0:
        msg = f"number of events must be >= 0, got {n_events}"
        raise ConfigError(msg)
    if mass is not None and not mass > 0:
        msg = f"A' mass must be positive (MeV), got {mass}"
        raise ConfigError(msg)
    geom = geometry or EcalGeometry()
    rng = np.random.default_rng(seed)
    n = n_events
    event = np.arange(n, dtype=np.int64)
    dep = _Deposits([], [], [], [], [])
    if mass is None:
        photon = beam_energy * rng.uniform(0.55, 0.95, n)
        # brem recoils: a few MeV of transverse momentum, with a tail that mimics a light A'
        _recoil(rng, dep, geom, beam_energy - photon, 2.5 + rng.exponential(6.0, n))
        _hadronic(rng, dep, geom, event, photon)
    else:
        electron = beam_energy * _recoil_fraction(rng, mass, n)
        _recoil(rng, dep, geom, electron, np.full(n, 0.5 * (mass + 5.0)))
    # electronic noise: a few low-energy hits anywhere
    n_noise = rng.poisson(3.0, n)
    noisy = np.repeat(event, n_noise)
    total = len(noisy)
    dep.add(
        noisy,
        rng.integers(0, geom.n_layers, total),
        rng.uniform(-geom.half_width, geom.half_width, total),
        rng.uniform(-geom.half_width, geom.half_width, total),
        rng.exponential(0.03, total),
    )
    return _to_hits(rng, dep, geom, n, first_event)


def _to_hits(
    rng: np.random.Generator, dep: _Deposits, geom: EcalGeometry, n: int, first_event: int
) -> ak.Array:
    """Sum deposits per (event, layer, cell) and shuffle each event's hits."""
    event = np.concatenate(dep.event)
    layer = np.concatenate(dep.layer)
    x = np.concatenate(dep.x)
    y = np.concatenate(dep.y)
    energy = np.concatenate(dep.energy)
    n_cells = round(2 * geom.half_width / geom.cell)
    ix = np.floor((x + geom.half_width) / geom.cell).astype(np.int64)
    iy = np.floor((y + geom.half_width) / geom.cell).astype(np.int64)
    ok = (ix >= 0) & (ix < n_cells) & (iy >= 0) & (iy < n_cells)
    key = ((event * geom.n_layers + layer) * n_cells + ix) * n_cells + iy
    cells, inverse = np.unique(key[ok], return_inverse=True)
    summed = np.bincount(inverse, weights=energy[ok], minlength=len(cells))
    iy_c = cells % n_cells
    ix_c = (cells // n_cells) % n_cells
    layer_c = (cells // (n_cells * n_cells)) % geom.n_layers
    event_c = cells // (n_cells * n_cells * geom.n_layers)
    order = np.lexsort((rng.random(len(cells)), event_c))  # events in order, hits shuffled
    columns = {
        "x": ((ix_c + 0.5) * geom.cell - geom.half_width)[order].astype(np.float32),
        "y": ((iy_c + 0.5) * geom.cell - geom.half_width)[order].astype(np.float32),
        "z": geom.layer_z[layer_c][order].astype(np.float32),
        "E": summed[order].astype(np.float32),
    }
    counts = np.bincount(event_c, minlength=n)
    hits = jagged_from_flat(columns, offsets_from_counts(counts))
    numbers = np.arange(first_event, first_event + n, dtype=np.int64)
    return ak.zip({"eventNumber": numbers.astype(np.int32), "hits": hits}, depth_limit=1)


def write_root(
    path: str | Path,
    *,
    n_events: int,
    mass: float | None = None,
    seed: int = 0,
    tree: str = "ecalHits",
    chunk: int = 1000,
    first_event: int = 1,
    overwrite: bool = False,
) -> Path:
    """Simulate ``n_events`` and write them as an LDMX-style ROOT file (atomically).

    Args:
        path: output ``.root`` file.
        n_events: number of events.
        mass: A' mass [MeV] for signal; ``None``: background.
        seed: random seed; chunk ``i`` uses ``seed + i`` mixed into its own stream.
        tree: tree name (``ecalHits``; ``hcalHits`` for an HCal-like file).
        chunk: events simulated and written at a time (bounds memory).
        first_event: ``eventNumber`` of the first event.
        overwrite: replace an existing file.

    Returns:
        The path written.
    """
    import uproot

    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(out)
    if chunk <= 0:
        msg = f"chunk must be a positive number of events, got {chunk}"
        raise ConfigError(msg)
    with atomic_path(out) as tmp, uproot.recreate(tmp) as f:
        f.mktree(
            tree,
            {
                "eventNumber": np.int32,
                "x": "var * float32",
                "y": "var * float32",
                "z": "var * float32",
                "E": "var * float32",
            },
        )
        for i, first in enumerate(range(0, n_events, chunk)):
            size = min(chunk, n_events - first)
            seq = np.random.SeedSequence([seed, i])
            part = simulate(
                size,
                mass=mass,
                seed=int(seq.generate_state(1)[0]),
                first_event=first_event + first,
            )
            hits = part["hits"]
            f[tree].extend(
                {
                    "eventNumber": np.asarray(part["eventNumber"]),
                    "x": hits["x"],
                    "y": hits["y"],
                    "z": hits["z"],
                    "E": hits["E"],
                }
            )
    return out


def ldmx_sw_hits(part: ak.Array, geometry: EcalGeometry | None = None) -> ak.Array:
    """Simulated hits as ldmx-sw ``EcalHit`` members: ``xpos_ ypos_ zpos_ energy_
    amplitude_ time_ id_``; ``id_`` packed as ldmx-sw's ``EcalID`` (subdetector 5 in bits
    26-31, layer in 17-22, module 0, the cell in 0-11)."""
    geom = geometry or EcalGeometry()
    hits = part["hits"]
    n = ak.num(hits, axis=1)
    flat = {k: ak.to_numpy(ak.flatten(hits[k])) for k in ("x", "y", "z", "E")}
    mid = (geom.layer_z[1:] + geom.layer_z[:-1]) / 2
    layer = np.searchsorted(mid, flat["z"]).astype(np.int64)
    n_cells = round(2 * geom.half_width / geom.cell)
    ix = np.floor((flat["x"] + geom.half_width) / geom.cell).astype(np.int64)
    iy = np.floor((flat["y"] + geom.half_width) / geom.cell).astype(np.int64)
    cell = (ix * n_cells + iy) & 0xFFF
    members = {
        "xpos_": flat["x"],
        "ypos_": flat["y"],
        "zpos_": flat["z"],
        "energy_": flat["E"],
        "amplitude_": flat["E"],
        "time_": np.zeros(len(cell), dtype=np.float32),
        "id_": ((5 << 26) | (layer << 17) | cell).astype(np.int32),
    }
    return ak.zip({k: ak.unflatten(v, n) for k, v in members.items()})


def write_ldmx_sw(
    path: str | Path,
    *,
    n_events: int,
    mass: float | None = None,
    seed: int = 0,
    pass_name: str = "valid",
    chunk: int = 1000,
    first_event: int = 1,
    overwrite: bool = False,
) -> Path:
    """The events :func:`write_root` writes (same arguments, same seeds), in ldmx-sw's layout.

    Tree ``LDMX_Events`` (a TTree, via ``mktree`` / ``extend``) with
    ``EventHeader.eventNumber_`` and the collection ``EcalRecHits_<pass_name>`` as
    branches ``.xpos_ .ypos_ .zpos_ .energy_ .amplitude_ .time_ .id_`` sharing the
    counter ``EcalRecHits_<pass_name>_`` (ldmx-sw nests them under the collection's
    branch; the names are the same).
    """
    import uproot

    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(out)
    if chunk <= 0:
        msg = f"chunk must be a positive number of events, got {chunk}"
        raise ConfigError(msg)
    coll = f"EcalRecHits_{pass_name}"
    with atomic_path(out) as tmp, uproot.recreate(tmp) as f:
        for i, first in enumerate(range(0, n_events, chunk)):
            seq = np.random.SeedSequence([seed, i])
            size = min(chunk, n_events - first)
            part = simulate(
                size, mass=mass, seed=int(seq.generate_state(1)[0]), first_event=first_event + first
            )
            data = {
                "EventHeader.eventNumber_": np.asarray(part["eventNumber"]),
                coll: ldmx_sw_hits(part),
            }
            if i == 0:
                types = {
                    k: (v.dtype if isinstance(v, np.ndarray) else v.type) for k, v in data.items()
                }
                f.mktree(
                    "LDMX_Events",
                    types,
                    field_name=lambda outer, inner: f"{outer}.{inner}",
                    counter_name=lambda counted: f"{counted}_",
                )
            f["LDMX_Events"].extend(data)
    return out


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``hitprep toy ldmx``: write a toy LDMX ECal ROOT file."""
    parser = argparse.ArgumentParser(
        prog="hitprep toy ldmx",
        description=(
            "Simulate a toy LDMX silicon-tungsten ECal and write a ROOT file with tree ecalHits"
            " (eventNumber; x, y, z [mm], E [MeV] per hit). Without --mass: photo-nuclear"
            " background; with --mass: A' signal of that mass."
        ),
    )
    parser.add_argument("--mass", type=float, help="A' mass in MeV (signal); omit for background")
    parser.add_argument("-n", "--events", type=int, default=1000, help="number of events")
    parser.add_argument("-o", "--output", required=True, help="output ROOT file")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--tree", default="ecalHits", help="tree name (default: ecalHits)")
    parser.add_argument(
        "--layout",
        choices=["flat", "ldmx-sw"],
        default="flat",
        help="flat: the ecalHits tree (x y z E); ldmx-sw: LDMX_Events with EcalRecHits_valid.*",
    )
    parser.add_argument("--first-event", type=int, default=1, help="first eventNumber")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    write = write_ldmx_sw if args.layout == "ldmx-sw" else partial(write_root, tree=args.tree)
    written = write(
        args.output,
        n_events=args.events,
        mass=args.mass,
        seed=args.seed,
        first_event=args.first_event,
        overwrite=args.overwrite,
    )
    kind = "background" if args.mass is None else f"signal, A' mass {args.mass:g} MeV"
    print(f"wrote {args.events} events ({kind}) to {written}")
    return 0
