"""``hitprep mix``: one shuffled training file from LDMX signal (per A' mass) and background."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_output_options, add_set_option, seed, show_progress
from hitprep.errors import ConfigError

__all__ = ["add_parser", "parse_signal", "run"]


def parse_signal(items: list[str]) -> dict[float, list[str]]:
    """``["10=a.root,b.root", "100=c.root"]`` -> ``{10.0: ["a.root", "b.root"], 100.0: [...]}``."""
    out: dict[float, list[str]] = {}
    for item in items:
        mass, sep, files = item.partition("=")
        try:
            value = float(mass)
        except ValueError:
            value = float("nan")
        paths = [f.strip() for f in files.split(",") if f.strip()]
        if not sep or not paths or not value > 0:
            msg = f"--signal {item!r}: expected MASS=FILE[,FILE...] with the A' mass in MeV > 0"
            raise ConfigError(msg)
        if value in out:
            msg = f"--signal: mass {value:g} MeV given twice; list its files in one --signal"
            raise ConfigError(msg)
        out[value] = paths
    return out


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "mix",
        help="mix LDMX signal (per A' mass) and background into one shuffled HDF5 file",
        description=(
            "Take n signal events per A' mass and n_background background events, image them"
            " with a job (default preset ldmx_xyz), add sim (signal: mass in keV, background:"
            " file number), num (event number), label (1/0) and mass (background: drawn from"
            " the signal masses), and write them shuffled with a seed."
        ),
    )
    p.add_argument(
        "--signal",
        action="append",
        default=[],
        required=True,
        metavar="MASS=FILE[,FILE...]",
        help="signal files of one A' mass in MeV (repeat per mass)",
    )
    p.add_argument(
        "--background", nargs="+", required=True, metavar="FILE", help="background files"
    )
    p.add_argument("-n", "--n-signal", type=int, required=True, help="signal events per mass")
    p.add_argument(
        "--n-background",
        type=int,
        help="background events (default: n-signal x number of masses, balanced classes)",
    )
    p.add_argument("-o", "--output", required=True, help="output HDF5 file")
    p.add_argument("--job", default="ldmx_xyz", help="image job or preset (default: ldmx_xyz)")
    add_set_option(p, example="ldmx_images.0.dim=32")
    p.add_argument("--seed", type=seed, default=0, help="seed of background masses and shuffle")
    p.add_argument("--max-ram", default="2GB", help="memory budget of the shuffle (default 2GB)")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.config import load_job
    from hitprep.tools.mix import mix

    summary = mix(
        load_job(args.job, overrides=args.overrides),
        parse_signal(args.signal),
        args.background,
        args.output,
        n_signal=args.n_signal,
        n_background=args.n_background,
        seed=args.seed,
        max_ram=args.max_ram,
        overwrite=args.overwrite,
        progress=show_progress(args),
    )
    print(summary.line())
    return 0
