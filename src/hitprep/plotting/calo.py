"""Pictures of image datasets: class-averaged LDMX images and tracker volume images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.plotting.save import save_figure

__all__ = ["plot_channels"]


def plot_channels(
    rows: Mapping[str, npt.NDArray[np.floating] | npt.NDArray[np.integer]],
    channel_names: Sequence[str],
    save_as: str | Path,
    *,
    title: str = "",
    overwrite: bool = False,
) -> Path:
    """One row of panels per entry of ``rows`` (an image ``(h, w, channels)``), one per channel.

    Args:
        rows: label -> image with channels last (e.g. the mean signal and background image).
        channel_names: one title per channel.
        save_as: PNG to write.
        title: figure title.
        overwrite: replace an existing file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_output(save_as, overwrite=overwrite)
    n_rows, n_cols = len(rows), len(channel_names)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.5 * n_rows), squeeze=False)
    for r, (label, image) in enumerate(rows.items()):
        for c, name in enumerate(channel_names):
            ax = axes[r, c]
            ax.imshow(np.asarray(image)[..., c].T, origin="lower", cmap="viridis", aspect="auto")
            ax.set_title(f"{label}: {name}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)
