"""``hitprep display FILE --event N -o PLOT.png``: draw one water-Cherenkov event."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "display",
        help="draw a water-Cherenkov event: charge and time on barrel and caps",
        description=(
            "Draw one event's charge and time on the unrolled barrel, with the top and bottom"
            " caps above and below. FILE: a WCSim ROOT file, a WCSim dump (.npz with"
            " --trust-pickle, or hitprep's HDF5), a WatChMaL HDF5 file (with --geometry) or a"
            " hitprep PMT-grid output."
        ),
    )
    p.add_argument("file", metavar="FILE", help="input file")
    p.add_argument("--event", type=int, default=0, metavar="N", help="event index (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="PLOT", help="plot file (.png, .pdf)")
    p.add_argument("--geometry", metavar="FILE", help="file with the tank (a WCSim file or dump)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="read a DataTools .npz (unpickling runs code from the file)",
    )
    add_output_options(p, replaces="an existing plot", progress=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hitprep.atomic import check_output
    from hitprep.plotting.wcsim_display import draw_event, event_images

    check_output(args.output, overwrite=args.overwrite)
    images = event_images(
        args.file, args.event, geometry=args.geometry, trust_pickle=args.trust_pickle
    )
    title = f"{Path(args.file).name}, event {args.event}"
    out = draw_event(images, args.output, title=title, overwrite=args.overwrite)
    print(f"event {args.event} of {args.file} -> {out}")
    return 0
