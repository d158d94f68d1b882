"""``hitprep evaluate MODEL.pt DATA.h5 -o DIR``: ROC, AUC, threshold, rates, plots."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_inference_options, add_output_options, show_progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "evaluate",
        help="judge a trained model: ROC, AUC, best threshold, acceptance, purity",
        description=(
            "Score labelled data with a checkpoint and write DIR/metrics.json (auc, threshold,"
            " accuracy, signal_acceptance, background_suppression, purity; per mass when the"
            " data have a mass field), DIR/roc.png|pdf and DIR/scores.png|pdf."
        ),
    )
    p.add_argument("model", help="checkpoint (best.pt) or training run directory")
    p.add_argument("data", help="HDF5 file with the model's inputs and labels")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--split",
        default="auto",
        choices=("auto", "all", "train", "validation", "test"),
        help="events to judge (auto: the test split of the training file, else all)",
    )
    p.add_argument("--threshold", type=float, help="working point (default: fewest errors)")
    add_inference_options(p)
    add_output_options(p, replaces="DIR/metrics.json")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hitprep.ml.errors import require_torch

    require_torch("evaluate")
    from hitprep.ml.evaluate import evaluate

    report = evaluate(
        args.model,
        args.data,
        args.output,
        split=args.split,
        threshold=args.threshold,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
        overwrite=args.overwrite,
        progress=show_progress(args),
    )
    m = report.metrics
    print(report.line())

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    print(
        f"signal acceptance {fmt(m['signal_acceptance'])}, background suppression"
        f" {fmt(m['background_suppression'])}, purity {fmt(m['purity'])}"
    )
    for mass, per in m.get("per_mass", {}).items():
        print(
            f"mass {mass}: {per['n_events']} events, AUC {fmt(per['auc'])}, signal acceptance"
            f" {fmt(per['signal_acceptance'])}, background suppression"
            f" {fmt(per['background_suppression'])}"
        )
    for path in report.plots:
        print(f"plot: {path}")
    return 0
