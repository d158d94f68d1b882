"""Toy barrel tracker writing ACTS-style (HEPTrkX) or TrackML CSV files.

Not a physics simulation; a fast, seeded generator with what the trigger
workflow needs:

- **Detector.** A 2 T solenoid; the barrel volumes of the ACTS generic
  detector as numbered in TrackML: volume 8 (pixels, layers 2/4/6/8 at r = 32,
  72, 116, 172 mm, |z| < 490 mm), 13 (short strips, r = 260, 360, 500, 660 mm,
  |z| < 1070 mm) and 17 (long strips, r = 820, 1020 mm, |z| < 1020 mm), plus
  pixel end-cap disks (volumes 7 and 9, |z| = 600 ... 1500 mm) so that a barrel
  selection has something to remove.
- **Particles.** Per event about 40 soft charged particles (pT 0.1 GeV plus an
  exponential of mean 0.6 GeV) and 0 to 5 hard ones (pT above 2 GeV), |eta| < 2,
  on helices from a vertex smeared along z. Low-pT particles curl up before
  the outer layers; forward ones leave the barrel through its ends.
- **Hits.** Helix-cylinder and helix-disk crossings, smeared in r-phi and z;
  4 % of crossings leave a second hit on the same layer (module overlaps), so
  hits and distinct layers differ. About 3 % extra noise hits carry barcode 0.

ACTS layout (``clusters_K.csv``, ``particles_K.csv`` per file K; every file holds
its own range of event ids)::

    evtid,hitid,barcode,volid,layid,x,y,z
    evtid,barcode,vx,vy,vz,p,theta,phi,q        (momentum as p [GeV], theta, phi)

TrackML layout (per event ``event#########-hits.csv``, ``-particles.csv``,
``-truth.csv``) with the columns of the TrackML challenge.

Usage::

    hitprep toy acts -n 1000 --files 4 -o acts_dir
    hitprep toy acts -n 10 --layout trackml -o trackml_dir
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.atomic import atomic_path
from hitprep.config import check_memory
from hitprep.errors import ConfigError, OutputExistsError

__all__ = ["BARREL_LAYERS", "ToyEvents", "cli_main", "simulate", "write_acts", "write_trackml"]

#: (volume_id, layer_id, radius [mm], half length [mm]) of the barrel layers
BARREL_LAYERS: tuple[tuple[int, int, float, float], ...] = (
    (8, 2, 32.0, 490.0),
    (8, 4, 72.0, 490.0),
    (8, 6, 116.0, 490.0),
    (8, 8, 172.0, 490.0),
    (13, 2, 260.0, 1070.0),
    (13, 4, 360.0, 1070.0),
    (13, 6, 500.0, 1070.0),
    (13, 8, 660.0, 1070.0),
    (17, 2, 820.0, 1020.0),
    (17, 4, 1020.0, 1020.0),
)
#: |z| [mm] of the pixel end-cap disks (volume 7 at negative z, 9 at positive z)
ENDCAP_Z: tuple[float, ...] = (600.0, 700.0, 820.0, 960.0, 1100.0, 1300.0, 1500.0)
_ENDCAP_R = (30.0, 175.0)
_FIELD_T = 2.0
_BARCODE_BASE = 1 << 52  # ACTS barcodes are large 64-bit numbers


@dataclass
class ToyEvents:
    """Flat hits and particles of simulated events (one row per hit / particle)."""

    hits: dict[str, npt.NDArray[np.generic]]
    particles: dict[str, npt.NDArray[np.generic]]


def _crossings(
    rng: np.random.Generator,
    pt: npt.NDArray[np.float64],
    eta: npt.NDArray[np.float64],
    phi0: npt.NDArray[np.float64],
    q: npt.NDArray[np.int64],
    vz: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], ...]:
    """Where each particle crosses a layer: (particle, volume, layer, x, y, z) as flat arrays."""
    radius = pt * 1000.0 / (0.3 * _FIELD_T)  # helix radius in mm
    sinh_eta = np.sinh(eta)
    parts, vols, lays, xs, ys, zs = [], [], [], [], [], []
    for volume, layer, r, half in BARREL_LAYERS:  # ten layers: a loop over layers, not events
        reach = r < 2.0 * radius
        alpha = 2.0 * np.arcsin(np.minimum(r / (2.0 * radius), 1.0))
        z = vz + radius * alpha * sinh_eta
        hit = reach & (np.abs(z) < half)
        p = np.flatnonzero(hit)
        extra = p[rng.random(len(p)) < 0.04]  # module overlaps: a second hit on the layer
        p = np.concatenate([p, extra])
        dphi = np.concatenate([np.zeros(len(p) - len(extra)), rng.normal(0.0, 0.004, len(extra))])
        phi = phi0[p] - q[p] * alpha[p] / 2.0 + dphi
        sigma_rphi, sigma_z = (0.02, 0.05) if volume == 8 else (0.05, 0.5)
        phi = phi + rng.normal(0.0, sigma_rphi / r, len(p))
        parts.append(p)
        vols.append(np.full(len(p), volume))
        lays.append(np.full(len(p), layer))
        xs.append(r * np.cos(phi))
        ys.append(r * np.sin(phi))
        zs.append(z[p] + rng.normal(0.0, sigma_z, len(p)))
    for i, zd in enumerate(ENDCAP_Z):
        for volume, sign in ((7, -1.0), (9, 1.0)):
            with np.errstate(divide="ignore", invalid="ignore"):
                s = (sign * zd - vz) / sinh_eta
            alpha = s / radius
            ok = (s > 0) & (alpha < np.pi)
            rd = np.where(ok, 2.0 * radius * np.sin(np.where(ok, alpha, 0.0) / 2.0), 0.0)
            ok &= (rd > _ENDCAP_R[0]) & (rd < _ENDCAP_R[1])
            p = np.flatnonzero(ok)
            phi = phi0[p] - q[p] * alpha[p] / 2.0
            parts.append(p)
            vols.append(np.full(len(p), volume))
            lays.append(np.full(len(p), 2 * (i + 1)))
            xs.append(rd[p] * np.cos(phi))
            ys.append(rd[p] * np.sin(phi))
            zs.append(np.full(len(p), sign * zd) + rng.normal(0.0, 0.05, len(p)))
    return tuple(np.concatenate(a) for a in (parts, vols, lays, xs, ys, zs))


#: memory one simulated event takes (hits and particles; 26 kB measured on 500 events)
_EVENT_BYTES = 26_000


def _check_events(n_events: int) -> None:
    """A count of events that is not negative and whose file fits in memory (simulated whole:
    ~26 kB per event, x3 for temporaries)."""
    if n_events < 0:
        msg = f"number of events must be >= 0, got {n_events}"
        raise ConfigError(msg)
    check_memory("toy acts", 3 * _EVENT_BYTES * n_events, what=f"{n_events:,} events per file")


def simulate(n_events: int, *, seed: int = 0, first_event: int = 0) -> ToyEvents:
    """Simulate ``n_events`` events (ids ``first_event`` ...).

    Returns:
        :class:`ToyEvents`: hits ``evtid, hitid, barcode, volid, layid, x, y, z`` (sorted by
        event, volume and layer; ``hitid`` counts from 1 in each event; noise has barcode 0)
        and particles ``evtid, barcode, vx, vy, vz, px, py, pz, p, theta, phi, q``.

    Example:
        >>> toy = simulate(2, seed=1)
        >>> sorted(set(toy.hits["evtid"].tolist()))
        [0, 1]
    """
    _check_events(n_events)
    rng = np.random.default_rng(seed)
    n_soft = rng.poisson(40.0, n_events)
    n_hard = rng.choice(6, size=n_events, p=[0.3, 0.15, 0.15, 0.2, 0.1, 0.1])
    n_part = n_soft + n_hard
    total = int(n_part.sum())
    evtid = np.repeat(np.arange(first_event, first_event + n_events, dtype=np.int64), n_part)
    start = np.repeat(np.cumsum(n_part) - n_part, n_part)
    local = np.arange(total) - start
    hard = local >= np.repeat(n_soft, n_part)
    pt = np.where(hard, 2.0 + rng.exponential(5.0, total), 0.1 + rng.exponential(0.6, total))
    eta = rng.uniform(-2.0, 2.0, total)
    phi = rng.uniform(-np.pi, np.pi, total)
    q = rng.choice(np.array([-1, 1]), total)
    vx, vy = rng.normal(0.0, 0.015, total), rng.normal(0.0, 0.015, total)
    vz = np.repeat(rng.normal(0.0, 55.0, n_events), n_part)
    barcode = _BARCODE_BASE + (local + 1) * 65536
    theta = 2.0 * np.arctan(np.exp(-eta))
    particles = {
        "evtid": evtid,
        "barcode": barcode.astype(np.int64),
        "vx": vx,
        "vy": vy,
        "vz": vz,
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "p": pt * np.cosh(eta),
        "theta": theta,
        "phi": phi,
        "q": q.astype(np.int64),
    }
    part, vol, lay, x, y, z = _crossings(rng, pt, eta, phi, q, vz)
    # noise: ~3 % extra hits on random barrel layers
    n_noise = rng.poisson(0.03 * max(len(part), 1) / max(n_events, 1), n_events)
    noise_evt = np.repeat(np.arange(first_event, first_event + n_events), n_noise)
    layer_of = rng.integers(0, len(BARREL_LAYERS), len(noise_evt))
    geo = np.array(BARREL_LAYERS)
    phi_n = rng.uniform(-np.pi, np.pi, len(noise_evt))
    r_n = geo[layer_of, 2]
    hits_evt = np.concatenate([evtid[part], noise_evt])
    hits = {
        "evtid": hits_evt.astype(np.int64),
        "barcode": np.concatenate([barcode[part], np.zeros(len(noise_evt))]).astype(np.int64),
        "volid": np.concatenate([vol, geo[layer_of, 0]]).astype(np.int64),
        "layid": np.concatenate([lay, geo[layer_of, 1]]).astype(np.int64),
        "x": np.concatenate([x, r_n * np.cos(phi_n)]),
        "y": np.concatenate([y, r_n * np.sin(phi_n)]),
        "z": np.concatenate([z, rng.uniform(-1, 1, len(noise_evt)) * geo[layer_of, 3]]),
    }
    order = np.lexsort((hits["layid"], hits["volid"], hits["evtid"]))
    hits = {k: v[order] for k, v in hits.items()}
    counts = np.bincount(hits["evtid"] - first_event, minlength=n_events)
    hits["hitid"] = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    return ToyEvents(hits, particles)


_ACTS_HITS = (
    ("evtid", "%d"),
    ("hitid", "%d"),
    ("barcode", "%d"),
    ("volid", "%d"),
    ("layid", "%d"),
    ("x", "%.4f"),
    ("y", "%.4f"),
    ("z", "%.4f"),
)
_ACTS_PARTICLES = (
    ("evtid", "%d"),
    ("barcode", "%d"),
    ("vx", "%.5f"),
    ("vy", "%.5f"),
    ("vz", "%.4f"),
    ("p", "%.6g"),
    ("theta", "%.8f"),
    ("phi", "%.8f"),
    ("q", "%d"),
)


def _write_csv(
    path: Path, columns: dict[str, npt.NDArray[np.generic]], spec: Sequence[tuple[str, str]]
) -> None:
    """Write columns as CSV with a header, under a temporary name renamed when complete."""
    table = np.column_stack([columns[name] for name, _ in spec])
    with atomic_path(path) as tmp:
        np.savetxt(
            tmp,
            table,
            fmt=[f for _, f in spec],
            delimiter=",",
            header=",".join(name for name, _ in spec),
            comments="",
        )


def _check_targets(paths: Sequence[Path], overwrite: bool) -> None:
    for p in paths:
        if p.exists() and not overwrite:
            raise OutputExistsError(p)


def write_acts(
    outdir: str | Path, *, n_events: int, files: int = 1, seed: int = 0, overwrite: bool = False
) -> list[Path]:
    """Write ``files`` pairs ``clusters_K.csv`` / ``particles_K.csv`` of ``n_events`` each.

    Integer columns are written as integers (barcodes exceed float precision).
    Returns the cluster files.
    """
    _check_events(n_events)
    out = Path(outdir)
    clusters = [out / f"clusters_{k}.csv" for k in range(files)]
    particles = [out / f"particles_{k}.csv" for k in range(files)]
    _check_targets([*clusters, *particles], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        state = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        toy = simulate(n_events, seed=state, first_event=k * n_events)
        _write_csv(clusters[k], toy.hits, _ACTS_HITS)
        _write_csv(particles[k], toy.particles, _ACTS_PARTICLES)
    return clusters


_TRACKML_HITS = (
    ("hit_id", "%d"),
    ("x", "%.4f"),
    ("y", "%.4f"),
    ("z", "%.4f"),
    ("volume_id", "%d"),
    ("layer_id", "%d"),
    ("module_id", "%d"),
)
_TRACKML_PARTICLES = (
    ("particle_id", "%d"),
    ("vx", "%.5f"),
    ("vy", "%.5f"),
    ("vz", "%.4f"),
    ("px", "%.8g"),
    ("py", "%.8g"),
    ("pz", "%.8g"),
    ("q", "%d"),
    ("nhits", "%d"),
)
_TRACKML_TRUTH = (
    ("hit_id", "%d"),
    ("particle_id", "%d"),
    ("tx", "%.4f"),
    ("ty", "%.4f"),
    ("tz", "%.4f"),
    ("tpx", "%.6g"),
    ("tpy", "%.6g"),
    ("tpz", "%.6g"),
    ("weight", "%.6g"),
)


def write_trackml(
    outdir: str | Path,
    *,
    n_events: int,
    seed: int = 0,
    first_event: int = 1000,
    overwrite: bool = False,
) -> list[Path]:
    """Write TrackML-style per-event ``-hits``, ``-particles`` and ``-truth`` CSV files.

    Returns the event prefixes (``outdir/event000001000``).
    """
    _check_events(n_events)
    out = Path(outdir)
    toy = simulate(n_events, seed=seed, first_event=first_event)
    ids = np.arange(first_event, first_event + n_events + 1)
    prefixes = [out / f"event{e:09d}" for e in ids[:-1]]
    parts = ("hits", "particles", "truth")
    _check_targets([Path(f"{p}-{part}.csv") for p in prefixes for part in parts], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    h, p = toy.hits, toy.particles
    # the particle row of each hit (barcodes rise within an event); noise: no particle
    key_p, key_h = (
        (np.asarray(t["evtid"], dtype=np.int64) << 32)
        + (np.asarray(t["barcode"], dtype=np.int64) - _BARCODE_BASE)
        for t in (p, h)
    )
    row = np.minimum(np.searchsorted(key_p, key_h), max(len(key_p) - 1, 0))
    matched = (h["barcode"] != 0) & (key_p[row] == key_h) if len(key_p) else h["barcode"] != 0
    nhits = np.bincount(row[matched], minlength=len(key_p))
    weight = np.where(matched, 1.0 / np.maximum(nhits[row], 1), 0.0)
    hit_rows = np.searchsorted(h["evtid"], ids)
    part_rows = np.searchsorted(p["evtid"], ids)
    for i, prefix in enumerate(prefixes):  # the layout has one file triple per event
        hs = slice(hit_rows[i], hit_rows[i + 1])
        ps = slice(part_rows[i], part_rows[i + 1])
        hit = {
            "hit_id": h["hitid"][hs],
            "x": h["x"][hs],
            "y": h["y"][hs],
            "z": h["z"][hs],
            "volume_id": h["volid"][hs],
            "layer_id": h["layid"][hs],
            "module_id": np.zeros(hs.stop - hs.start, dtype=np.int64),
        }
        particle = {k: p[k][ps] for k in ("vx", "vy", "vz", "px", "py", "pz", "q")}
        particle |= {"particle_id": p["barcode"][ps], "nhits": nhits[ps]}
        on = matched[hs]
        truth = {
            "hit_id": h["hitid"][hs],
            "particle_id": h["barcode"][hs],
            "tx": h["x"][hs],
            "ty": h["y"][hs],
            "tz": h["z"][hs],
            "weight": weight[hs],
        }
        truth |= {f"t{k}": np.where(on, p[k][row[hs]], 0.0) for k in ("px", "py", "pz")}
        _write_csv(Path(f"{prefix}-hits.csv"), hit, _TRACKML_HITS)
        _write_csv(Path(f"{prefix}-particles.csv"), particle, _TRACKML_PARTICLES)
        _write_csv(Path(f"{prefix}-truth.csv"), truth, _TRACKML_TRUTH)
    return prefixes


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``hitprep toy acts``: write toy barrel-tracker CSV files."""
    parser = argparse.ArgumentParser(
        prog="hitprep toy acts",
        description=(
            "Simulate a toy barrel tracker (helices in a 2 T solenoid through cylindrical layers,"
            " noise hits) and write ACTS-style clusters_K.csv / particles_K.csv files, or"
            " TrackML per-event CSV files with --layout trackml."
        ),
    )
    parser.add_argument("-n", "--events", type=int, default=100, help="events per file")
    parser.add_argument("-o", "--output", required=True, help="output directory")
    parser.add_argument("--files", type=int, default=1, help="number of ACTS file pairs")
    parser.add_argument("--layout", choices=["acts", "trackml"], default="acts")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    if args.files < 1:
        parser.error("--files must be at least 1")
    if args.layout == "acts":
        written = write_acts(
            args.output,
            n_events=args.events,
            files=args.files,
            seed=args.seed,
            overwrite=args.overwrite,
        )
        print(f"wrote {args.files} x {args.events} events: {', '.join(map(str, written))}")
    else:
        prefixes = write_trackml(
            args.output, n_events=args.events, seed=args.seed, overwrite=args.overwrite
        )
        print(f"wrote {len(prefixes)} TrackML events to {args.output}")
    return 0
