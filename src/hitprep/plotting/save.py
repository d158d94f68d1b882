"""Save a matplotlib figure atomically (temporary name, renamed when written) and close it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitprep.atomic import atomic_path

__all__ = ["save_figure"]


def save_figure(fig: Any, out: str | Path, *, dpi: int = 110, close: bool = True) -> Path:
    """Write ``fig`` to ``out`` (format from its suffix); nothing is left behind on error.

    Args:
        fig: a matplotlib figure.
        out: the picture's path (``.png``, ``.pdf``, ...).
        dpi: resolution of raster formats.
        close: close the figure afterwards (also on error).

    Returns:
        ``out`` as a Path.
    """
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return Path(out)
