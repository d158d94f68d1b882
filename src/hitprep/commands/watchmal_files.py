"""``hitprep watchmal-files GEOMETRY -o DIR``: WatChMaL's side files for a tank."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "watchmal-files",
        help="write WatChMaL's side files (PMT image positions, geometry npz)",
        description=(
            "Write the files WatChMaL's datasets read beside the HDF5 hits:"
            " pmt_image_positions.npz (one row, column per PMT in a whole-detector"
            " event-display image: top cap, barrel unrolled, bottom cap; CNNDataset),"
            " geometry.npz (position/orientation for PointNet and GNN, positions/orientations"
            " for the CNN's geometry channels) and, for multi-PMT geometries,"
            " mpmt_image_positions.npz (CNNmPMTDataset). GEOMETRY: a WCSim ROOT file, a"
            " hitprep WCSim dump or output with a geometry group, or a geometry .npz."
        ),
    )
    p.add_argument("geometry", help="file holding the tank geometry")
    p.add_argument("-o", "--outdir", required=True, help="directory for the .npz files")
    p.add_argument("--axis", default="auto", help="tank axis: x, y, z or auto (default)")
    p.add_argument(
        "--pmts-per-module", type=int, default=19, help="PMTs per mPMT module (default 19)"
    )
    add_output_options(p, replaces="existing side files", progress=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.watchmal_files import write_side_files

    paths = write_side_files(
        args.geometry,
        args.outdir,
        axis=args.axis,
        per_module=args.pmts_per_module,
        overwrite=args.overwrite,
    )
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
