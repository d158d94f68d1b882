"""``hitprep predict MODEL.pt INPUT.h5 -o SCORES.h5``: scores (or regression predictions)
aligned with the input's events; ``--extra mass=10,50`` scores mass hypotheses."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_inference_options, add_output_options, show_progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "predict",
        help="apply a trained model; write scores aligned with event_info",
        description=(
            "Score every event of INPUT with a checkpoint. SCORES.h5 holds scores (signal"
            " probability), probabilities (per class), row, and the input's event_info, row"
            " for row, so scores join back to the source events. Labels are not needed."
        ),
    )
    p.add_argument("model", help="checkpoint (best.pt) or training run directory")
    p.add_argument("input", help="HDF5 file with the model's inputs")
    p.add_argument("-o", "--output", required=True, metavar="SCORES.h5", help="output file")
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=V[,V...]",
        help=(
            "give an extra input instead of reading it, e.g. --extra mass=10 (files without a"
            " mass field); several values scan hypotheses: one scores column each"
        ),
    )
    add_inference_options(p)
    add_output_options(p)
    p.set_defaults(run=run)


def parse_extras(items: list[str]) -> dict[str, list[float]]:
    """``["mass=10,50"]`` -> ``{"mass": [10.0, 50.0]}``.

    Raises:
        ConfigError: an item that is not NAME=NUMBER[,NUMBER...].
    """
    from hitprep.errors import ConfigError

    out: dict[str, list[float]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        try:
            numbers = [float(v) for v in values.split(",")] if sep and name.strip() else []
        except ValueError:
            numbers = []
        if not numbers:
            msg = f"--extra {item!r}: expected NAME=VALUE or NAME=V1,V2,... (e.g. mass=10,50,100)"
            raise ConfigError(msg)
        out[name.strip()] = numbers
    return out


def run(args: argparse.Namespace) -> int:
    from hitprep.ml.errors import require_torch

    require_torch("predict")
    from hitprep.ml.predict import predict

    summary = predict(
        args.model,
        args.input,
        args.output,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
        extras=parse_extras(args.extra),
        overwrite=args.overwrite,
        progress=show_progress(args),
        command=getattr(args, "command_line", None),
    )
    print(summary.line())
    return 0
