"""Event display of one graph of a graph output: nodes in space coloured by time, with edges."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from hitprep.atomic import check_output
from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.plotting.images import event_truth
from hitprep.plotting.save import save_figure

__all__ = ["plot_graph_event"]


def _names(ds: h5py.Dataset) -> list[str]:
    if "features" in ds.attrs:
        return [str(v) for v in ds.attrs["features"]]
    return [
        str(ds.attrs[f"hit_info_{i}"]) for i in range(ds.shape[-1]) if f"hit_info_{i}" in ds.attrs
    ]


def plot_graph_event(
    path: str | Path,
    save_as: str | Path,
    *,
    event: int = 0,
    name: str = "x",
    overwrite: bool = False,
) -> Path:
    """Draw event ``event`` of graph dataset ``name``: pos_x/pos_y/pos_z, colour = time.

    Jagged (``x_indices``) and fixed-length (``x_mask`` or ``is_valid``) layouts are read;
    edges (``x_edges``) are drawn when present.

    Returns:
        The written image path.

    Raises:
        KeyInFileError: the dataset or a position/time feature is missing.
    """
    out = check_output(save_as, overwrite=overwrite)
    try:
        with h5py.File(path, "r") as f:
            if name not in f:
                raise KeyInFileError(name, file=path, available=list(f), what="dataset")
            ds = f[name]
            names = _names(ds)
            for needed in ("pos_x", "pos_y", "pos_z", "time"):
                if needed not in names:
                    raise KeyInFileError(needed, file=path, available=names, what="feature")
            edges = None
            if f"{name}_indices" in f and ds.ndim == 2:
                idx = f[f"{name}_indices"][event]
                nodes = ds[idx["index"] : idx["index"] + idx["n_items"]]
                if f"{name}_edges" in f:
                    e = f[f"{name}_edges_indices"][event]
                    edges = f[f"{name}_edges"][e["index"] : e["index"] + e["n_items"]]
            else:
                nodes = ds[event]
                valid = f[f"{name}_mask"][event] if f"{name}_mask" in f else nodes[:, -1] > 0
                nodes = nodes[valid]
            truth = event_truth(f, event) if "event_info" in f else ""
    except OSError as err:
        raise FileFormatError(path, f"cannot read as HDF5: {err}") from err
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [names.index(c) for c in ("pos_x", "pos_y", "pos_z")]
    xyz = nodes[:, cols].astype(np.float64)
    time = nodes[:, names.index("time")]
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    if edges is not None and len(edges):
        segments = xyz[edges[:, 0]], xyz[edges[:, 1]]
        for a, b in zip(*segments, strict=True):
            ax.plot(*zip(a, b, strict=True), color="0.8", linewidth=0.3)
    trig = nodes[:, names.index("triggered")] > 0 if "triggered" in names else None
    if trig is not None and trig.any():  # triggered hits in colour, the rest (noise) faint
        ax.scatter(*xyz[~trig].T, s=1, color="0.75", alpha=0.4, label="not triggered")
        points = ax.scatter(*xyz[trig].T, c=time[trig], s=10, cmap="viridis", label="triggered")
        ax.legend(loc="upper left", fontsize=8)
    else:
        points = ax.scatter(*xyz.T, c=time, s=4, cmap="viridis")
    fig.colorbar(points, ax=ax, label="time [ns]", shrink=0.7)
    ax.set_xlabel("pos_x [m]")
    ax.set_ylabel("pos_y [m]")
    ax.set_zlabel("pos_z [m]")
    title = f"{Path(path).name}: event {event}, {len(nodes)} nodes"
    ax.set_title(title + (f"\n{truth}" if truth else ""), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)
