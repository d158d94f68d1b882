"""Training demo: a toy calorimeter sample (signal vs background, with an A' mass), trained,
evaluated and applied in three steps, as ``hitprep train``, ``evaluate`` and ``predict`` do.

The toy (:func:`write_toy_images`) is written in hitprep's output layout: images in
``x`` (N, 20, 20) uint16, labels in ``y`` (``label``, ``mass``, ``event_id``) and
``event_info``. Background events are one broad shower; signal events are two narrow
showers whose separation grows with the mass; background masses are drawn from the
signal masses, so the mass alone tells nothing. Classes are separable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.events import event_index

__all__ = ["run", "toy_images", "write_toy_images"]

TOY_MASSES = (10.0, 50.0, 100.0)


def _showers(
    rng: np.random.Generator,
    centres: npt.NDArray[np.float64],
    sigma: npt.NDArray[np.float64],
    n_deposits: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Gaussian deposits around each event's centre: (event index, (y, x) positions)."""
    idx = event_index(n_deposits)
    pos = centres[idx] + rng.normal(size=(len(idx), 2)) * sigma[idx, None]
    return idx, pos


def toy_images(
    n_events: int,
    *,
    size: int = 20,
    seed: int = 0,
    masses: Sequence[float] = TOY_MASSES,
    signal_fraction: float = 0.5,
) -> dict[str, npt.NDArray[np.generic]]:
    """A toy calorimeter sample, whole arrays at once (no per-event loop).

    Returns:
        ``x`` (n, size, size) uint16 counts, ``label`` (1 signal, 0 background),
        ``mass`` (signal: its own; background: drawn from ``masses``).
    """
    rng = np.random.default_rng(seed)
    label = (rng.random(n_events) < signal_fraction).astype(np.int64)
    mass = rng.choice(np.asarray(masses, dtype=np.float64), size=n_events)
    centre = size / 2 + rng.normal(scale=1.5, size=(n_events, 2))
    energy = rng.poisson(160, size=n_events)
    # background: one broad shower; signal: two narrow ones, separation growing with the mass
    angle = rng.uniform(0, np.pi, size=n_events)
    half = 0.5 * (0.5 + 0.03 * mass) * label
    offset = np.stack([np.sin(angle), np.cos(angle)], axis=1) * half[:, None]
    sigma = np.where(label == 1, 1.6, 2.3)
    n_a = np.where(label == 1, energy // 2, energy)
    n_b = np.where(label == 1, energy - energy // 2, 0)
    idx_a, pos_a = _showers(rng, centre + offset, sigma, n_a)
    idx_b, pos_b = _showers(rng, centre - offset, sigma, n_b)
    n_noise = rng.poisson(25, size=n_events)
    idx_n = event_index(n_noise)
    pos_n = rng.uniform(0, size, size=(len(idx_n), 2))
    idx = np.concatenate([idx_a, idx_b, idx_n])
    pos = np.floor(np.concatenate([pos_a, pos_b, pos_n])).astype(np.int64)
    inside = ((pos >= 0) & (pos < size)).all(axis=1)
    flat = (idx[inside] * size + pos[inside, 0]) * size + pos[inside, 1]
    counts = np.bincount(flat, minlength=n_events * size * size)
    x = counts.reshape(n_events, size, size).astype(np.uint16)
    return {"x": x, "label": label, "mass": mass}


def write_toy_images(
    path: str | Path,
    n_events: int,
    *,
    seed: int = 0,
    size: int = 20,
    overwrite: bool = False,
    compression: str | None = "gzip",
) -> Path:
    """Write :func:`toy_images` as a hitprep output (``x``, ``y``, ``event_info``, provenance)."""
    from hitprep.pipeline import Accounting
    from hitprep.provenance import provenance_attrs
    from hitprep.sinks.hdf5 import HDF5Sink

    toy = toy_images(n_events, seed=seed, size=size)
    y = np.zeros(n_events, dtype=[("label", "i8"), ("mass", "f8"), ("event_id", "i8")])
    y["label"], y["mass"], y["event_id"] = toy["label"], toy["mass"], np.arange(n_events)
    info = np.zeros(
        n_events,
        dtype=[("file_index", "i8"), ("entry", "i8"), ("event_id", "i8"), ("run_id", "i8")],
    )
    info["entry"] = info["event_id"] = np.arange(n_events)
    info["run_id"] = 1
    with HDF5Sink(path, overwrite=overwrite, compression=compression) as sink:
        sink.append({"x": toy["x"], "y": y, "event_info": info})
        accounting = Accounting()
        accounting.events_read = accounting.events_written = n_events
        job = f"toy calorimeter images: {n_events} events, {size}x{size}, seed {seed}"
        sink.set_attrs(
            provenance_attrs(
                job_text=job,
                job_resolved="{}",
                overrides=(),
                inputs=[],
                accounting=accounting.as_dict(),
            )
        )
        return sink.commit()


def run(outdir: Path) -> list[str]:
    from hitprep.ml.config import load_train_config
    from hitprep.ml.evaluate import evaluate
    from hitprep.ml.predict import predict
    from hitprep.ml.train import train

    outdir.mkdir(parents=True, exist_ok=True)
    data = write_toy_images(outdir / "toy_calo.h5", 4000, seed=1, overwrite=True)
    config = load_train_config(
        overrides=[
            f"data.path='{data}'",
            "data.label='label'",
            "data.extras=['mass']",
            "train.epochs=6",
            "train.learning_rate=0.002",
            "train.seed=1",
        ]
    )
    lines: list[str] = []
    result = train(config, outdir / "run", overwrite=True, log=lambda s: None)
    lines.append(f"train {result.schema.describe()}: {result.line()}")
    report = evaluate(result.best, data, outdir / "evaluation", overwrite=True)
    m = report.metrics
    lines.append(
        f"evaluate ({report.split} split, {m['n_events']} events): AUC {m['auc']:.4f},"
        f" threshold {m['threshold']:.3f}, accuracy {m['accuracy']:.3f}, signal acceptance"
        f" {m['signal_acceptance']:.3f}, background suppression {m['background_suppression']:.3f},"
        f" purity {m['purity']:.3f}"
    )
    for mass, per in m.get("per_mass", {}).items():
        lines.append(
            f"  mass {mass}: AUC {per['auc']:.4f}, acceptance {per['signal_acceptance']:.3f}"
        )
    scores = predict(result.best, data, outdir / "scores.h5", overwrite=True)
    lines.append(f"predict: {scores.line()}")
    lines.append(f"history plot: {result.plots[0]}")
    lines.extend(f"plot: {p}" for p in report.plots if p.suffix == ".png")
    lines.append(f"metrics: {report.metrics_path}")
    return lines
