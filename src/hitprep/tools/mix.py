"""Mix LDMX signal (one file set per A' mass) and background into one shuffled training file.

For each A' mass, the first ``n_signal`` events of its files (in the order
given); then the first ``n_background`` events of the background files. Every
event goes through the job's pipeline (its ``[[ldmx_images]]``, or any other
representation) and gets:

========== ========================================================================
dataset    content
========== ========================================================================
``sim``    signal: the A' mass in keV; background: the background file's number
           (0, 1, ... in the order given); int64
``num``    the event's number in its file (``eventNumber``); int64, so no wrap
``label``  1 signal, 0 background (int8)
``mass``   A' mass [MeV]: signal its own, background drawn uniformly from the
           signal masses with the seed (float64)
images     as the job names them (``image`` in the ``ldmx_*`` presets)
``event_info`` input file index (into the ``inputs`` attribute), entry, event id
========== ========================================================================

``n_background`` defaults to ``n_signal`` times the number of masses, so the
classes are balanced, and the background's masses follow the signal's. The
events are then shuffled with the seed by :func:`hitprep.tools.shuffle.shuffle`
(out of core), and the output appears only when complete. The file attribute
``mix`` records masses, files, counts and the seed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.pipeline import Context, Pipeline
from hitprep.provenance import input_records, provenance_attrs
from hitprep.runners.tasks import open_input
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.tools.shuffle import shuffle

__all__ = ["MixSummary", "mix"]


@dataclass(frozen=True)
class MixSummary:
    """What a mix wrote."""

    output: Path
    signal: dict[float, int]
    background: int
    seconds: float

    def line(self) -> str:
        per_mass = ", ".join(f"{m:g} MeV: {n}" for m, n in self.signal.items())
        return (
            f"{sum(self.signal.values())} signal ({per_mass}) + {self.background} background"
            f" events, shuffled; {self.seconds:.1f} s -> {self.output}"
        )


@dataclass(frozen=True)
class _Part:
    """One input file and how many of its first events to take."""

    path: Path
    take: int
    label: int
    sim: int
    mass: float  # signal mass; NaN for background (drawn later)


def _plan(
    job: Job,
    signal: Mapping[float, Sequence[Path]],
    background: Sequence[Path],
    n_signal: int,
    n_background: int,
) -> list[_Part]:
    """Which events to take from which file; errors name what is missing."""

    def take(paths: Sequence[Path], n: int, what: str, **part: Any) -> list[_Part]:
        sizes = []
        for p in paths:
            with open_input(job, p) as s:
                sizes.append(s.num_events)
        if sum(sizes) < n:
            held = ", ".join(f"{p} ({k})" for p, k in zip(paths, sizes, strict=True))
            msg = f"{what}: {n} events asked for, but its files hold {sum(sizes)}: {held}"
            raise ConfigError(msg)
        out, left = [], n
        for i, (p, size) in enumerate(zip(paths, sizes, strict=True)):
            if left == 0:
                break
            k = min(size, left)
            sim = part["sim"] if part["sim"] is not None else i
            out.append(_Part(p, k, part["label"], sim, part["mass"]))
            left -= k
        return out

    parts: list[_Part] = []
    for mass in sorted(signal):
        keV = round(mass * 1000)
        parts += take(signal[mass], n_signal, f"A' mass {mass:g} MeV", label=1, sim=keV, mass=mass)
    parts += take(background, n_background, "background", label=0, sim=None, mass=np.nan)
    return parts


def mix(
    job: Job,
    signal: Mapping[float, Sequence[str | Path]],
    background: Sequence[str | Path],
    output: str | Path,
    *,
    n_signal: int,
    n_background: int | None = None,
    seed: int = 0,
    max_ram: str | int = "2GB",
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> MixSummary:
    """Build one shuffled HDF5 training file from signal files per mass and background files.

    Args:
        job: the image job (e.g. ``load_job("ldmx_xyz")``).
        signal: A' mass [MeV] -> its files.
        background: background files.
        output: HDF5 file to write.
        n_signal: signal events per mass.
        n_background: background events (default: ``n_signal`` x number of masses).
        seed: seed of the background masses and of the shuffle.
        max_ram: memory budget of the shuffle.
        overwrite: replace an existing output.
        progress: progress bars on stderr.
        command: command line recorded in the provenance.

    Raises:
        ConfigError: no masses or background, bad counts, too few events in a file set.
    """
    started = time.perf_counter()
    out = check_output(output, overwrite=overwrite)
    masses, bkg, n_bkg = _check_inputs(out, signal, background, n_signal, n_background)
    pipeline = Pipeline(job)
    parts = _plan(job, masses, bkg, n_signal, n_bkg)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    bkg_mass = rng.choice(np.array(sorted(masses)), size=n_bkg)
    unshuffled = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.unshuffled.h5")
    try:
        compression = job.output["compression"] or None
        level = job.output["compression_level"]
        with HDF5Sink(unshuffled, compression=compression, compression_level=level) as sink:
            _append_parts(job, pipeline, parts, bkg_mass, sink)
            pipeline.finish(sink, extra_rows=_COLUMNS)
            record = {
                "seed": seed,
                "signal": {f"{m:g}": [str(p) for p in v] for m, v in masses.items()},
                "background": [str(p) for p in bkg],
                "n_signal_per_mass": n_signal,
                "n_background": n_bkg,
            }
            attrs = provenance_attrs(
                job_text=job.text,
                job_resolved=job.resolved_json(),
                overrides=job.overrides,
                inputs=input_records([p.path for p in parts], [p.take for p in parts]),
                accounting=pipeline.accounting.as_dict(),
                command=command,
            )
            sink.set_attrs({**attrs, "mix": json.dumps(record)})
            sink.commit()
        shuffle(unshuffled, out, seed=seed, max_ram=max_ram, overwrite=overwrite, progress=progress)
    finally:
        unshuffled.unlink(missing_ok=True)
    counts = {m: n_signal for m in sorted(masses)}
    return MixSummary(out, counts, n_bkg, time.perf_counter() - started)


def _check_inputs(
    out: Path,
    signal: Mapping[float, Sequence[str | Path]],
    background: Sequence[str | Path],
    n_signal: int,
    n_background: int | None,
) -> tuple[dict[float, list[Path]], list[Path], int]:
    """Signal files per mass, background files and the background count, checked."""
    masses = {float(m): [Path(p) for p in paths] for m, paths in signal.items()}
    bkg = [Path(p) for p in background]
    if not masses or not bkg or not all(masses.values()):
        msg = "mix needs signal files for at least one A' mass and background files"
        raise ConfigError(msg)
    if any(not m > 0 for m in masses):
        msg = f"A' masses must be positive (MeV), got {sorted(masses)}"
        raise ConfigError(msg)
    n_bkg = n_signal * len(masses) if n_background is None else n_background
    if n_signal < 1 or n_bkg < 1:
        msg = f"event counts must be >= 1, got {n_signal} signal per mass, {n_bkg} background"
        raise ConfigError(msg)
    if any(p.resolve() == out.resolve() for p in [*bkg, *(q for v in masses.values() for q in v)]):
        msg = f"output {out} is also an input"
        raise ConfigError(msg)
    return masses, bkg, n_bkg


def _append_parts(
    job: Job,
    pipeline: Pipeline,
    parts: list[_Part],
    bkg_mass: npt.NDArray[np.float64],
    sink: HDF5Sink,
) -> None:
    """Each part's events through the pipeline into ``sink``, with their mix columns;
    background events take their drawn masses in order."""
    drawn = 0
    for index, part in enumerate(parts):
        with open_input(job, part.path) as src:
            wanted = pipeline.fields_for(src)
            ctx = Context(str(src.path), index, pipeline.accounting)
            step = job.source["step"]
            for batch in src.iterate(step=step, stop=part.take, fields=wanted):
                arrays = pipeline.run(batch, ctx)
                n = len(batch)
                if len(arrays["event_info"]) != n:
                    msg = "mix needs a job whose stages keep every event"
                    raise ConfigError(msg)
                if part.label:
                    mass = np.full(n, part.mass)
                else:
                    mass, drawn = bkg_mass[drawn : drawn + n], drawn + n
                arrays |= _columns(batch, part, mass)
                sink.append(arrays)


_COLUMNS = ("sim", "num", "label", "mass")


def _columns(batch: Any, part: _Part, mass: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[Any]]:
    n = len(batch)
    number = "event_id" if "event_id" in batch.fields else "entry"
    return {
        "sim": np.full(n, part.sim, dtype=np.int64),
        "num": np.asarray(batch[number], dtype=np.int64),
        "label": np.full(n, part.label, dtype=np.int8),
        "mass": np.asarray(mass, dtype=np.float64),
    }
