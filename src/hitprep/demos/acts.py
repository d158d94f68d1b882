"""Tracker trigger demo: toy ACTS and TrackML CSV -> per-volume images and trigger labels.

Simulates a toy barrel tracker (``hitprep toy acts``) in both layouts, converts them with the
``acts_barrel_trigger`` preset (barrel selection, (layer, phi, z) images per volume, truth
trigger label) and draws the three volume images of a triggered event.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

__all__ = ["run"]


def run(outdir: Path) -> list[str]:
    from hitprep.config import load_job
    from hitprep.plotting.calo import plot_channels
    from hitprep.plotting.images import Axis
    from hitprep.runners import convert
    from hitprep.toys.acts import write_acts, write_trackml

    outdir.mkdir(parents=True, exist_ok=True)
    clusters = write_acts(outdir / "acts", n_events=200, files=2, seed=1, overwrite=True)
    trackml = outdir / "trackml"
    write_trackml(trackml, n_events=5, seed=2, overwrite=True)
    out = outdir / "acts_trigger.h5"
    summary = convert(load_job("acts_barrel_trigger"), clusters, out, overwrite=True)
    lines = [f"convert acts_barrel_trigger (ACTS CSV): {summary.line()}"]
    with h5py.File(out, "r") as f:
        y = f["y"][:]
        shapes = {v: f[v].shape[1:] for v in ("v0", "v1", "v2")}
        passed = int(np.flatnonzero(y["trigger"])[0]) if y["trigger"].any() else 0
        volumes = {v: f[v][passed] for v in ("v0", "v1", "v2")}
        stats = f["bin_stats"]
        ranges = {
            v: (stats[f"{v}/phi/bin_edges"][:], stats[f"{v}/z/bin_edges"][:]) for v in volumes
        }
    lines.append(
        f"  trigger (>= 3 particles, pT > 2 GeV, >= 7 layers): {y['trigger'].mean():.1%} of"
        f" {len(y)} events pass; images " + ", ".join(f"{k} {s}" for k, s in shapes.items())
    )
    tml = convert(
        load_job("acts_barrel_trigger"), [trackml], outdir / "trackml_trigger.h5", overwrite=True
    )
    lines.append(f"convert acts_barrel_trigger (TrackML): {tml.line()}")
    # phi-z maps of the event, summed over each volume's layers
    rows = {f"event {passed}": np.stack([_padded(v.sum(axis=0)) for v in volumes.values()], -1)}
    plot = plot_channels(
        rows,
        ["pixels (v0)", "short strips (v1)", "long strips (v2)"],
        outdir / "acts_event.png",
        title="toy barrel tracker: hits per (phi, z) bin",
        axes=[
            (Axis("phi", phi), Axis("z", np.linspace(z[0], z[-1], 129)))
            for phi, z in ranges.values()
        ],
        value_label="hits",
        overwrite=True,
    )
    lines.append(f"event picture: {plot}")
    return lines


def _padded(image: np.ndarray) -> np.ndarray:
    """A (phi, z) map stretched along z to 128 columns so the three volumes share one size."""
    return image[:, (np.arange(128) * image.shape[1]) // 128]
