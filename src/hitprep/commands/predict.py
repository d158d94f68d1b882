"""``hitprep predict MODEL.pt INPUT.h5 -o SCORES.h5``: scores aligned with the input's events."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import show_progress

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
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="events per batch")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda:N")
    p.add_argument("--num-workers", type=int, default=0, metavar="N", help="loader workers")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


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
        overwrite=args.overwrite,
        progress=show_progress(args),
        command=getattr(args, "command_line", None),
    )
    print(summary.line())
    return 0
