"""Plot per-axis bin statistics of image outputs (hit distribution, edges, cut-off fractions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.plotting.save import save_figure
from hitprep.plotting.units import axis_label

__all__ = ["AxisStats", "plot_bin_stats", "read_bin_stats"]


@dataclass
class AxisStats:
    """Summed statistics of one image axis."""

    image: str
    axis: str
    hist: npt.NDArray[np.float64]
    hist_bin_edges: npt.NDArray[np.float64]
    bin_edges: npt.NDArray[np.float64]
    cut_off: npt.NDArray[np.float64]


def read_bin_stats(paths: Sequence[str | Path]) -> list[AxisStats]:
    """Read and sum ``bin_stats/<image>/<axis>`` over several outputs."""
    found: dict[tuple[str, str], AxisStats] = {}
    for path in paths:
        try:
            with h5py.File(path, "r") as f:
                if "bin_stats" not in f:
                    group = "bin_stats"
                    raise KeyInFileError(group, file=path, available=list(f), what="group")
                for image, group in f["bin_stats"].items():
                    for axis, data in group.items():
                        key = (image, axis)
                        hist = data["hist"][:].astype(np.float64)
                        cut = data["cut_off"][:].astype(np.float64)
                        if key in found and (
                            found[key].hist.shape != hist.shape
                            or not np.array_equal(found[key].bin_edges, data["bin_edges"][:])
                        ):
                            msg = (
                                f"bin_stats/{image}/{axis} has other bins than in"
                                f" {paths[0]}; sum outputs of the same job only"
                            )
                            raise FileFormatError(path, msg)
                        if key in found:
                            found[key].hist += hist
                            found[key].cut_off += cut
                        else:
                            found[key] = AxisStats(
                                image,
                                axis,
                                hist,
                                data["hist_bin_edges"][:],
                                data["bin_edges"][:],
                                cut,
                            )
        except OSError as err:
            raise FileFormatError(path, f"cannot read as HDF5: {err}") from err
    return list(found.values())


def plot_bin_stats(
    stats: Sequence[AxisStats], save_as: str | Path, *, overwrite: bool = False
) -> Path:
    """A grid of panels, a row per image and a column per axis: hits per fine bin (the field's
    unit on the axis), the image's bin edges and the fractions cut off below and above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_output(save_as, overwrite=overwrite)
    # one row per image, one column per axis: ACTS' 3 volumes x 3 axes is a 3 x 3 grid
    images = list(dict.fromkeys(s.image for s in stats)) or [""]
    n_cols = max([sum(s.image == im for s in stats) for im in images] + [1])
    fig, axes = plt.subplots(
        len(images), n_cols, figsize=(4.2 * n_cols, 3.0 * len(images) + 0.3), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_visible(False)
    for r, image in enumerate(images):
        for ax, s in zip(axes[r], [s for s in stats if s.image == image], strict=False):
            ax.set_visible(True)
            _panel(ax, s)
    fig.tight_layout()
    return save_figure(fig, out)


def _panel(ax: Any, s: AxisStats) -> None:
    """Hits per fine bin, the image's bin edges, and the fractions cut off below and above."""
    ax.stairs(s.hist, s.hist_bin_edges, fill=True, alpha=0.6, label="hits")
    for edge in s.bin_edges:
        ax.axvline(edge, color="grey", lw=0.5, alpha=0.6)
    total = s.hist.sum() + s.cut_off.sum()
    frac = s.cut_off / total if total else s.cut_off
    ax.set_title(
        f"{s.image}: {s.axis}\ncut off {100 * frac[0]:.2f}% below, {100 * frac[1]:.2f}% above",
        fontsize=9,
    )
    ax.set_xlabel(axis_label(s.axis))
    ax.set_ylabel("hits per bin")
    ax.tick_params(labelsize=8)
