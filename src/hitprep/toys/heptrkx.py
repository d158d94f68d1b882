"""The toy barrel tracker (:mod:`hitprep.toys.acts`) written as HEPTrkX ACTS dumps.

Each file pair ``clusters_K.csv`` / ``particles_K.csv`` holds ``n_events`` events
as blocks of Python list literals separated by blank lines (see
:mod:`hitprep.sources.heptrkx`)::

    [hitid, barcode, volid, layid, [lx, ly], [ex, ey], [gx, gy, gz], [[ch0, ch1, q], ...],
     [dx, dy, dz], [e1, e2]]
    [barcode, [vx, vy, vz], [p, theta, phi], q]

The local positions, errors, channels and directions are filler (the reader keeps
only ids and global positions). ``comments=True`` starts each file with a ``#``
line and puts a comment line and extra blank lines between some blocks, as
hand-edited dumps have. The format cannot hold an event without hits or without
particles (it would be no block): such toy events are left out, and the event ids
the reader gives are the block numbers.

Usage::

    hitprep toy heptrkx -n 1000 --files 4 -o dumps/
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.atomic import atomic_path
from hitprep.errors import OutputExistsError
from hitprep.toys.acts import ToyEvents, simulate

__all__ = ["cli_main", "hit_lines", "particle_lines", "write_dumps", "write_events"]

Table = dict[str, npt.NDArray[np.generic]]


def hit_lines(hits: Table, rng: np.random.Generator) -> list[str]:
    """One literal list per hit (columns as :func:`hitprep.toys.acts.simulate` gives them)."""
    n = len(hits["hitid"])
    n_chans = rng.integers(1, 4, n)
    chans = rng.integers(0, 1000, (n, 3))
    direction = rng.normal(0.0, 1.0, (n, 3)).round(4)
    cols = zip(
        hits["hitid"].tolist(),
        hits["barcode"].tolist(),
        hits["volid"].tolist(),
        hits["layid"].tolist(),
        hits["x"].tolist(),
        hits["y"].tolist(),
        hits["z"].tolist(),
        n_chans.tolist(),
        chans.tolist(),
        direction.tolist(),
        strict=True,
    )
    out = []
    for hid, bc, vol, lay, x, y, z, nc, ch, d in cols:
        chan = ", ".join(f"[{ch[0] + i}, {ch[1]}, {ch[2] / 1000}]" for i in range(nc))
        out.append(
            f"[{hid}, {bc}, {vol}, {lay}, [{x / 10:.4f}, {y / 10:.4f}], [0.01, 0.05],"
            f" [{x:.4f}, {y:.4f}, {z:.4f}], [{chan}], [{d[0]}, {d[1]}, {d[2]}], [0.001, 0.002]]"
        )
    return out


def particle_lines(particles: Table) -> list[str]:
    """One literal list per particle: ``[barcode, [vx, vy, vz], [p, theta, phi], q]``."""
    cols = (particles[k].tolist() for k in ("barcode", "vx", "vy", "vz", "p", "theta", "phi", "q"))
    return [
        f"[{bc}, [{vx:.5f}, {vy:.5f}, {vz:.4f}], [{p!r}, {th!r}, {ph!r}], {q}]"
        for bc, vx, vy, vz, p, th, ph, q in zip(*cols, strict=True)
    ]


def _blocks(lines: list[str], event: npt.NDArray[np.int64], *, comments: bool, what: str) -> str:
    """Lines grouped into blocks by ``event`` (sorted), blank lines between blocks."""
    cuts = np.flatnonzero(np.diff(event)) + 1
    bounds = [0, *cuts.tolist(), len(lines)]
    parts = [f"# HEPTrkX-style {what} dump (hitprep toy)\n"] if comments else []
    for i in range(len(bounds) - 1):
        if comments and i % 3 == 1:
            parts.append("\n\n# next events\n\n")
        parts.append("\n".join(lines[bounds[i] : bounds[i + 1]]) + "\n\n")
    return "".join(parts)


def write_events(
    clusters: Path, particles: Path, toy: ToyEvents, *, seed: int, comments: bool = False
) -> None:
    """Write simulated events as one dump pair (events without hits or particles left out)."""
    h, p = toy.hits, toy.particles
    h_evt, p_evt = np.asarray(h["evtid"]), np.asarray(p["evtid"])
    both = np.intersect1d(h_evt, p_evt)
    hk, pk = np.isin(h_evt, both), np.isin(p_evt, both)
    hits = {k: np.asarray(v)[hk] for k, v in h.items()}
    parts = {k: np.asarray(v)[pk] for k, v in p.items()}
    rng = np.random.default_rng(seed)
    text_h = _blocks(hit_lines(hits, rng), h_evt[hk], comments=comments, what="clusters")
    text_p = _blocks(particle_lines(parts), p_evt[pk], comments=comments, what="particles")
    for path, text in ((clusters, text_h), (particles, text_p)):
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)


def write_dumps(
    outdir: str | Path,
    *,
    n_events: int,
    files: int = 1,
    seed: int = 0,
    comments: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``files`` dump pairs of ``n_events`` toy events each; returns the cluster files."""
    out = Path(outdir)
    clusters = [out / f"clusters_{k}.csv" for k in range(files)]
    particles = [out / f"particles_{k}.csv" for k in range(files)]
    for path in (*clusters, *particles):
        if path.exists() and not overwrite:
            raise OutputExistsError(path)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        state = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        toy = simulate(n_events, seed=state, first_event=k * n_events)
        write_events(clusters[k], particles[k], toy, seed=state, comments=comments)
    return clusters


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``hitprep toy heptrkx``: write toy HEPTrkX ACTS dumps."""
    parser = argparse.ArgumentParser(
        prog="hitprep toy heptrkx",
        description=(
            "Simulate the toy barrel tracker and write HEPTrkX ACTS dumps: clusters_K.csv /"
            " particles_K.csv of Python list literals, events as blocks between blank lines."
        ),
    )
    parser.add_argument("-n", "--events", type=int, default=100, help="events per file")
    parser.add_argument("-o", "--output", required=True, help="output directory")
    parser.add_argument("--files", type=int, default=1, help="number of file pairs")
    parser.add_argument("--comments", action="store_true", help="add # lines, extra blank lines")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    if args.files < 1:
        parser.error("--files must be at least 1")
    written = write_dumps(
        args.output,
        n_events=args.events,
        files=args.files,
        seed=args.seed,
        comments=args.comments,
        overwrite=args.overwrite,
    )
    print(f"wrote {len(written)} dump pairs to {args.output}")
    return 0
