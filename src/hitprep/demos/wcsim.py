"""Water-Cherenkov demo: a toy tank sample -> WatChMaL HDF5 and PMT-grid images, one event drawn.

Simulates 2000 toy events (e−, μ−, γ; ``hitprep toy wcsim``), converts them with the
``wcsim_watchmal_digi`` and ``wcsim_grid`` presets, reads the WatChMaL file back the way
WatChMaL does (memory-mapped hit arrays, ``event_hits_index``) and checks it against the
images, and draws the event with the most light (``hitprep display``). When the real WCSim
file of the shared test data sits beside the checkout, it is converted and drawn too.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

__all__ = ["run"]

_REAL = Path(__file__).resolve().parents[3].parent / "shared/data/wcsim/wcsim_10events_2015.root"


def run(outdir: Path) -> list[str]:
    from hitprep.config import load_job
    from hitprep.plotting.wcsim_display import draw_event, event_images
    from hitprep.runners import convert
    from hitprep.toys.wcsim import write_dump

    outdir.mkdir(parents=True, exist_ok=True)
    toy = write_dump(outdir / "toy_wcsim.h5", 2000, seed=1, overwrite=True)
    watchmal = outdir / "watchmal_digi.h5"
    digi = convert(load_job("wcsim_watchmal_digi"), [toy], watchmal, overwrite=True)
    grid_path = outdir / "wcsim_grid.h5"
    grid = convert(load_job("wcsim_grid"), [toy], grid_path, overwrite=True)
    with h5py.File(watchmal, "r") as f, h5py.File(grid_path, "r") as g:
        starts = np.append(f["event_hits_index"][:], f["hit_pmt"].shape[0])
        ds = f["hit_charge"]
        charge = np.memmap(watchmal, mode="r", dtype=ds.dtype, shape=ds.shape,
                           offset=ds.id.get_offset())  # fmt: skip
        per_event = np.add.reduceat(charge, starts[:-1]) * (np.diff(starts) > 0)
        images = sum(g[r][:, ..., 0].reshape(len(starts) - 1, -1).sum(axis=1)
                     for r in ("barrel", "top", "bottom"))  # fmt: skip
        agree = np.allclose(per_event, images, rtol=1e-4)
        labels = np.bincount(f["labels"][:], minlength=3)
        veto = float(f["veto"][:].mean())
        shapes = {r: g[r].shape[1:] for r in ("barrel", "top", "bottom")}
    brightest = int(np.argmax(per_event))
    plot = draw_event(event_images(toy, brightest), outdir / "toy_event.png",
                      title=f"toy event {brightest}", overwrite=True)  # fmt: skip
    lines = [
        f"toy sample: {toy}",
        f"convert wcsim_watchmal_digi: {digi.line()}",
        f"  labels gamma/e/mu: {labels[0]}/{labels[1]}/{labels[2]}; veto {100 * veto:.1f}%;"
        f" memory-mapped hits {'match' if agree else 'DO NOT match'} the grid images",
        f"convert wcsim_grid: {grid.line()}",
        "  images " + ", ".join(f"{r} {s}" for r, s in shapes.items()),
        f"event display: {plot}",
    ]
    if _REAL.exists():
        real_out = outdir / "wcsim_real_watchmal.h5"
        real = convert(load_job("wcsim_watchmal_digi"), [_REAL], real_out, overwrite=True)
        real_plot = draw_event(event_images(_REAL, 0), outdir / "wcsim_real_event0.png",
                               title="WCSim (2015), event 0", overwrite=True)  # fmt: skip
        lines += [f"real WCSim file: {real.line()}", f"event display: {real_plot}"]
    return lines
