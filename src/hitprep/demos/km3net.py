"""KM3NeT demo: km3net-testdata muons -> z-t images (OrcaSong FileBinner parity), bin statistics."""

from __future__ import annotations

from pathlib import Path

__all__ = ["run"]


def run(outdir: Path) -> list[str]:
    import h5py
    import km3net_testdata

    from hitprep.config import load_job
    from hitprep.plotting.binstats import plot_bin_stats, read_bin_stats
    from hitprep.runners import convert

    outdir.mkdir(parents=True, exist_ok=True)
    events = km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5")
    detx = km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx")
    output = outdir / "km3net_zt.h5"
    summary = convert(load_job("km3net_zt"), [events], output, detx=detx, overwrite=True)
    plot = plot_bin_stats(
        read_bin_stats([output]), outdir / "km3net_zt_binstats.png", overwrite=True
    )
    with h5py.File(output, "r") as f:
        x = f["x"]
        shape, total = x.shape, int(x[:].sum())
    return [
        f"convert km3net_zt: {summary.line()}",
        f"images x {shape}, {total:,} hits binned",
        f"bin statistics plot: {plot}",
    ]
