"""Pictures of image datasets: class-averaged LDMX images and tracker volume images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.plotting.images import Axis, Panel, draw_panel
from hitprep.plotting.save import save_figure

__all__ = ["plot_channels"]


def plot_channels(
    rows: Mapping[str, npt.NDArray[np.floating] | npt.NDArray[np.integer]],
    channel_names: Sequence[str],
    save_as: str | Path,
    *,
    title: str = "",
    axes: Sequence[tuple[Axis, Axis]] | None = None,
    value_label: str = "value",
    overwrite: bool = False,
) -> Path:
    """One row of panels per entry of ``rows`` (an image ``(h, w, channels)``), one per channel,
    each with its axes and a colour bar.

    Args:
        rows: label -> image with channels last (e.g. the mean signal and background image).
        channel_names: one title per channel.
        save_as: PNG to write.
        title: figure title.
        axes: per channel, the binned fields along the image's first and second dimension
            (names with units, bin edges); default: bin numbers.
        value_label: what a pixel holds (the colour bars' label), e.g. ``"E [MeV]"``.
        overwrite: replace an existing file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_output(save_as, overwrite=overwrite)
    n_rows, n_cols = len(rows), len(channel_names)
    fig, grid = plt.subplots(
        n_rows, n_cols, figsize=(3.4 * n_cols, 2.9 * n_rows + 0.4), squeeze=False
    )
    for r, (label, image) in enumerate(rows.items()):
        values = np.asarray(image, dtype=np.float64)
        for c, name in enumerate(channel_names):
            x, y = axes[c] if axes else _bin_axes(values.shape[:2])
            panel = Panel(f"{label}: {name}", values[..., c], x, y)
            draw_panel(fig, grid[r, c], panel, value_label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)


def _bin_axes(shape: tuple[int, ...]) -> tuple[Axis, Axis]:
    return (Axis("bin", np.arange(shape[0] + 1.0)), Axis("bin", np.arange(shape[1] + 1.0)))
