"""``hitprep evaluate MODEL.pt DATA.h5 -o DIR``: classifiers (ROC, AUC, working points,
confusion matrix) and regressions (bias, resolution, angular errors), with plots."""

from __future__ import annotations

import argparse
from typing import Any

from hitprep.commands import add_inference_options, add_output_options, show_progress

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "evaluate",
        help="judge a trained model: ROC, working points, confusion matrix; or resolutions",
        description=(
            "Score labelled data with a checkpoint and write DIR/metrics.json and plots."
            " Classifiers: the binary view of the --signal class (auc, threshold, accuracy,"
            " signal_acceptance, background_suppression, purity), working_points (background"
            " rejection at --efficiencies, signal efficiency at --backgrounds), confusion"
            " matrix, one-vs-rest AUC per class, and all of it per --group value (mass when"
            " present); roc, roc_log, scores, confusion, roc_per_class, roc_per_FIELD plots."
            " Regressions: per target bias, resolution (68%% and RMS, absolute and relative)"
            " in bins of the true value against the training-mean baseline, angular errors"
            " of directions; regression_COLUMN and direction_TARGET plots."
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
    p.add_argument(
        "--signal",
        metavar="CLASS",
        help="class value or name judged as signal in the binary view (default: the model's)",
    )
    p.add_argument(
        "--group",
        default="auto",
        metavar="FIELD",
        help="break metrics down by this y field (auto: mass when present; none: no breakdown)",
    )
    p.add_argument(
        "--efficiencies",
        type=_fractions,
        default=(0.5, 0.9),
        metavar="E[,E...]",
        help="signal efficiencies for background rejection (default 0.5,0.9)",
    )
    p.add_argument(
        "--backgrounds",
        type=_fractions,
        default=(0.01, 0.001),
        metavar="B[,B...]",
        help="background efficiencies for the signal efficiency (default 0.01,0.001)",
    )
    add_inference_options(p)
    add_output_options(p, replaces="DIR/metrics.json")
    p.set_defaults(run=run)


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(0.0 < v <= 1.0 for v in values):
        msg = f"expected comma-separated fractions in (0, 1], got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return values


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _print_classifier(m: dict[str, Any]) -> None:
    view = m["view"]
    print(
        f"{view}: signal acceptance {_fmt(m['signal_acceptance'])}, background suppression"
        f" {_fmt(m['background_suppression'])}, purity {_fmt(m['purity'])}"
    )
    for point in m["working_points"]["at_signal"]:
        print(
            f"{view}: at signal efficiency {point['target']:g}: background efficiency"
            f" {_fmt(point['background_efficiency'])},"
            f" rejection {_fmt(point['background_rejection'])}"
        )
    for point in m["working_points"]["at_background"]:
        print(
            f"{view}: at background efficiency {point['target']:g}: signal efficiency"
            f" {_fmt(point['signal_efficiency'])}"
        )
    if len(m["classes"]) > 2:
        aucs = ", ".join(f"{c['name']} {_fmt(c['auc'])}" for c in m["per_class"].values())
        print(f"multi-class accuracy {m['multiclass_accuracy']:.4f}; one-vs-rest AUC: {aucs}")
    field = m.get("group_field")
    for value, per in m.get(f"per_{field}", {}).items():
        rejections = [
            f"rejection {_fmt(p['background_rejection'])} at {p['target']:g}"
            for p in per.get("working_points", {}).get("at_signal", [])
        ]
        print(
            f"{view}, {field} {value}: {per['n_events']} events, AUC {_fmt(per['auc'])}"
            + (f", {', '.join(rejections)}" if rejections else "")
        )


def _print_regression(m: dict[str, Any]) -> None:
    for name, found in m["targets"].items():
        if found["kind"] == "direction":
            print(
                f"{name}: angular error median {found['angle_median']:.2f} deg,"
                f" 68% {found['angle_68']:.2f} deg ({found['n_events']} events)"
            )
            continue
        for c in found["columns"]:
            rel = c.get("relative_sigma68")
            rel_text = f" ({rel:.4f} relative)" if rel is not None else ""
            improvement = c["improvement"]
            better = f", {improvement:.2f}x better" if improvement else ""
            print(
                f"{c['column']}: bias {c['bias']:.4g}, resolution {c['sigma68']:.4g}{rel_text},"
                f" rms {c['rms']:.4g}; training-mean baseline {c['baseline_sigma68']:.4g}{better}"
            )


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
        signal=args.signal,
        group=args.group,
        efficiencies=args.efficiencies,
        backgrounds=args.backgrounds,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
        overwrite=args.overwrite,
        progress=show_progress(args),
    )
    print(report.line())
    if "targets" in report.metrics:
        _print_regression(report.metrics)
    else:
        _print_classifier(report.metrics)
    for path in report.plots:
        print(f"plot: {path}")
    return 0
