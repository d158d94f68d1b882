"""``hitprep display FILE --event N -o PLOT.png``: draw one event of an input or an output.

Image outputs (KM3NeT, LDMX, ACTS: :mod:`hitprep.plotting.images`), graph outputs
(:mod:`hitprep.plotting.graph`) and water-Cherenkov files (:mod:`hitprep.plotting.wcsim_display`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hitprep.commands import add_output_options, plot_file

__all__ = ["add_parser", "draw_file_event", "output_kind", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "display",
        help="draw one event: images, graphs, PMT grids, WCSim events",
        description=(
            "Draw one event with its truth. A hitprep image output (KM3NeT, LDMX, ACTS): every"
            " image dataset, 2-D as it is, higher ranks as slices or projections, with the"
            " binned fields, units and colour bars. A graph output: the nodes in space,"
            " coloured by time. Water Cherenkov: charge and time on the unrolled barrel with"
            " the top and bottom caps, from a WCSim ROOT file, a WCSim dump (.npz with"
            " --trust-pickle, or hitprep's HDF5), a WatChMaL HDF5 file (with --geometry) or a"
            " hitprep PMT-grid output."
        ),
    )
    p.add_argument("file", metavar="FILE", help="input file")
    p.add_argument("--event", type=int, default=0, metavar="N", help="event index (default 0)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=plot_file,
        metavar="PLOT",
        help="plot file (.png, .pdf)",
    )
    p.add_argument("--geometry", metavar="FILE", help="file with the tank (a WCSim file or dump)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="read a DataTools .npz (unpickling runs code from the file)",
    )
    add_output_options(p, replaces="an existing plot", progress=False)
    p.set_defaults(run=run)


def output_kind(path: str | Path) -> str:
    """``images``, ``graph`` or ``wcsim``: which display draws ``path``."""
    import h5py

    with Path(path).open("rb") as fh:
        if fh.read(4) != b"\x89HDF":
            return "wcsim"
    with h5py.File(path, "r") as f:
        if {"barrel", "top", "bottom"} <= set(f) or "hit_pmt" in f:
            return "wcsim"
        job = json.loads(f.attrs.get("job_resolved", "{}"))
    if job.get("images") or job.get("ldmx_images"):
        return "images"
    return "graph" if job.get("graph") else "wcsim"


def draw_file_event(
    path: str | Path,
    event: int,
    save_as: str | Path,
    *,
    geometry: str | None = None,
    trust_pickle: bool = False,
    overwrite: bool = False,
) -> Path:
    """Draw event ``event`` of ``path`` with the display its kind needs (:func:`output_kind`)."""
    kind = output_kind(path)
    if kind == "images":
        from hitprep.plotting.images import draw_image_event

        return draw_image_event(path, event, save_as, overwrite=overwrite)
    if kind == "graph":
        from hitprep.plotting.graph import plot_graph_event

        return plot_graph_event(path, save_as, event=event, overwrite=overwrite)
    from hitprep.plotting.wcsim_display import draw_event, event_images, event_truth_line

    images = event_images(path, event, geometry=geometry, trust_pickle=trust_pickle)
    title = f"{Path(path).name}, event {event}"
    truth = event_truth_line(path, event, trust_pickle=trust_pickle)
    return draw_event(images, save_as, title=title, truth=truth, overwrite=overwrite)


def run(args: argparse.Namespace) -> int:
    from hitprep.atomic import check_output

    check_output(args.output, overwrite=args.overwrite)
    out = draw_file_event(
        args.file,
        args.event,
        args.output,
        geometry=args.geometry,
        trust_pickle=args.trust_pickle,
        overwrite=args.overwrite,
    )
    print(f"event {args.event} of {args.file} -> {out}")
    return 0
