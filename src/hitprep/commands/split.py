"""``hitprep split IN.h5 --fractions 0.8,0.1,0.1 [--by FIELD] [--seed S] [--files]``."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, seed

__all__ = ["add_parser", "run"]


def _numbers(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError as err:
        msg = f"expected comma-separated numbers, e.g. 0.8,0.1,0.1, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from err


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "split",
        help="split a hitprep output into train/val/test (index files or files)",
        description=(
            "Split the events of a hitprep output by fractions, in a seeded random order."
            " Writes one index file per part (<prefix>_<name>.index.h5, dataset 'index'),"
            " or with --files one hitprep output per part (<prefix>_<name>.h5). With --by"
            " (run, file or any event_info field) no group straddles two parts."
        ),
    )
    p.add_argument("input", help="hitprep HDF5 output")
    p.add_argument(
        "--fractions", required=True, type=_numbers, help="shares that add up to 1, e.g. 0.8,0.2"
    )
    p.add_argument("--names", help="part names, comma-separated (default train,val,test)")
    p.add_argument("--by", help="keep groups whole: run, file, event or an event_info field")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random order (default 0)")
    p.add_argument("--files", action="store_true", help="write the events, not index files")
    p.add_argument("-o", "--prefix", help="output prefix (default: the input without .h5)")
    p.add_argument("--max-ram", default="1GB", help="memory per block of events (--files)")
    p.add_argument(
        "--format",
        choices=["hitprep", "watchmal"],
        default="hitprep",
        help="watchmal: one <prefix>_idxs.npz with train_idxs/val_idxs/test_idxs (WatChMaL's)",
    )
    add_output_options(p, replaces="existing outputs", progress=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.tools.split import split

    if args.format == "watchmal":
        from hitprep.watchmal_split import write_split_indices

        names = args.names.split(",") if args.names else None
        path, sizes = write_split_indices(
            args.input, args.fractions, names=names, by=args.by, seed=args.seed,
            prefix=args.prefix, overwrite=args.overwrite,
        )  # fmt: skip
        print(f"{path}: " + ", ".join(f"{k}_idxs: {n}" for k, n in sizes.items()))
        return 0
    summary = split(
        args.input,
        args.fractions,
        names=args.names.split(",") if args.names else None,
        by=args.by,
        seed=args.seed,
        files=args.files,
        prefix=args.prefix,
        overwrite=args.overwrite,
        max_ram=args.max_ram,
    )
    print(summary.line())
    return 0
