"""LDMX demo: toy ECal files -> xyz and z_split images, a mixed signal/background sample.

Simulates background and A' signal at two masses (``hitprep toy ldmx``), converts them with
the ``ldmx_xyz`` and ``ldmx_zsplit`` presets, exports one file as the flat hit table, mixes
a balanced shuffled training file (``hitprep mix``) and draws the mean signal and background
images of the mix.
"""

from __future__ import annotations

from pathlib import Path

import h5py

__all__ = ["run"]


def run(outdir: Path) -> list[str]:
    from hitprep.config import load_job
    from hitprep.plotting.calo import plot_channels
    from hitprep.plotting.images import image_specs
    from hitprep.runners import convert
    from hitprep.tools.export import export_hits
    from hitprep.tools.mix import mix
    from hitprep.toys.ldmx import write_root

    outdir.mkdir(parents=True, exist_ok=True)
    bkg = write_root(outdir / "background.root", n_events=600, seed=1, overwrite=True)
    signal = {
        m: write_root(
            outdir / f"signal_{m:g}MeV.root", n_events=300, mass=m, seed=2 + i, overwrite=True
        )
        for i, m in enumerate((10.0, 500.0))
    }
    lines = [f"toy files: {bkg.name}, " + ", ".join(p.name for p in signal.values())]
    for preset in ("ldmx_xyz", "ldmx_zsplit"):
        out = outdir / f"{preset}.h5"
        summary = convert(load_job(preset), [bkg, *signal.values()], out, overwrite=True)
        with h5py.File(out, "r") as f:
            shape = f["image"].shape
        lines.append(f"convert {preset}: {summary.line()}; image {shape}")
    table = export_hits(signal[10.0], outdir / "signal_10MeV_hits.npy", overwrite=True)
    lines.append(f"export: {table.line()} (rows: event, hit, x, y, z, E)")
    mixed = outdir / "mixed_xyz.h5"
    mixed_summary = mix(
        load_job("ldmx_xyz"),
        {m: [p] for m, p in signal.items()},
        [bkg],
        mixed,
        n_signal=250,
        seed=7,
        overwrite=True,
    )
    lines.append(f"mix: {mixed_summary.line()}")
    with h5py.File(mixed, "r") as f:
        label = f["label"][:]
        images = f["image"][:]
        mass = f["mass"][:]
        (spec,) = image_specs(f)  # the projections' axes: x-y, y-z, z-x in mm
    rows = {
        "background": images[label == 0].mean(axis=0),
        "signal 10 MeV": images[(label == 1) & (mass == 10.0)].mean(axis=0),
        "signal 500 MeV": images[(label == 1) & (mass == 500.0)].mean(axis=0),
    }
    energy = {k: float(v[..., 0].sum()) for k, v in rows.items()}
    lines.append(
        "mean visible energy per event [MeV]: "
        + ", ".join(f"{k} {e:.1f}" for k, e in energy.items())
    )
    plot = plot_channels(
        rows,
        ["x-y", "y-z", "z-x"],
        outdir / "ldmx_mean_images.png",
        title="toy LDMX ECal: mean xyz images",
        axes=[(x, y) for _, x, y in spec.channels],
        value_label="mean E per event [MeV]",
        overwrite=True,
    )
    lines.append(f"mean images: {plot}")
    return lines
