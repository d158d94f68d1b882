"""KM3NeT graph demo: the km3net_graph and km3net_graph_fixed presets on km3net-testdata's
muons, OrcaSong's layout, kNN edges, then shuffle and split of the result, and an event display.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run"]


def run(outdir: Path) -> list[str]:
    import h5py
    import km3net_testdata

    from hitprep.config import load_job
    from hitprep.plotting.graph import plot_graph_event
    from hitprep.runners import convert
    from hitprep.tools.shuffle import shuffle
    from hitprep.tools.split import split

    outdir.mkdir(parents=True, exist_ok=True)
    events = km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5")
    detx = km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx")
    lines = []
    jobs = {
        "km3net_graph.h5": load_job("km3net_graph"),
        "km3net_graph_orcasong.h5": load_job("km3net_graph", overrides=["graph.layout=orcasong"]),
        "km3net_graph_fixed.h5": load_job("km3net_graph_fixed"),
        "km3net_graph_knn.h5": load_job(
            "km3net_graph",
            overrides=[
                "graph.only_triggered=true",
                'graph.edges={kind = "knn", k = 6, features = ["pos_x", "pos_y", "pos_z", "time"],'
                " scale = [1, 1, 1, 0.2]}",
            ],
        ),
    }
    for name, job in jobs.items():
        summary = convert(job, [events], outdir / name, detx=detx, overwrite=True)
        with h5py.File(outdir / name) as f:
            shapes = ", ".join(f"{k} {f[k].shape}" for k in f if k.startswith("x"))
        lines.append(f"{name}: {summary.line().split(';')[0]}; {shapes}")
    shuffled = shuffle(
        outdir / "km3net_graph.h5", outdir / "km3net_graph_shuffled.h5", seed=1, overwrite=True
    )
    lines.append(f"shuffle: {shuffled.line()}")
    parts = split(outdir / "km3net_graph_shuffled.h5", [0.8, 0.1, 0.1], seed=1, overwrite=True)
    lines.append(f"split: {parts.line()}")
    plot = plot_graph_event(
        outdir / "km3net_graph_knn.h5", outdir / "km3net_graph_event.png", overwrite=True
    )
    lines.append(f"event display (triggered hits, 6 nearest neighbours): {plot}")
    return lines
