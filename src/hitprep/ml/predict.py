"""Apply a trained model to a file and write scores aligned with its events.

The output holds, row for row with the input: ``scores`` (signal probability) and
``probabilities`` (one column per class) of a classifier, or ``predictions`` (one
column per target column, in the file's units: ``log10:`` undone, directions as unit
vectors; the ``columns`` attribute names them) of a regression; ``row`` (the input row)
and a copy of the input's ``event_info`` (or WatChMaL's ``event_ids``), so results join
back to the source events.

Extra inputs (a mass-parametrized model's ``mass``) can be given instead of read:
``extras={"mass": [10.0]}`` scores every event at mass 10 (the file needs no mass field);
``{"mass": [10.0, 50.0, 100.0]}`` scans the hypotheses: ``scores`` then has one column
per value (``probabilities``/``predictions`` one more axis), and the attribute ``scan``
names the extra and its values.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output
from hitprep.errors import ConfigError
from hitprep.ml.checkpoint import load_checkpoint
from hitprep.ml.data import open_dataset
from hitprep.ml.device import pick_device
from hitprep.ml.h5io import open_h5
from hitprep.ml.inference import Outputs, run_model
from hitprep.ml.loader import make_loader
from hitprep.ml.schema import Schema, check_compatible
from hitprep.ml.tasks import Task
from hitprep.provenance import command_line, version
from hitprep.sinks.hdf5 import HDF5Sink

__all__ = ["PredictionSummary", "predict"]

#: per-event identifiers copied from the input, when present
ID_DATASETS = ("event_info", "event_ids")


@dataclass(frozen=True)
class PredictionSummary:
    """What :func:`predict` wrote."""

    output: Path
    n_events: int
    seconds: float
    copied: tuple[str, ...]

    def line(self) -> str:
        ids = f", with {', '.join(self.copied)}" if self.copied else ""
        return f"{self.n_events} events scored in {self.seconds:.1f} s{ids} -> {self.output}"


def predict(
    model: str | Path,
    data: str | Path,
    output: str | Path,
    *,
    batch_size: int = 256,
    device: str = "auto",
    num_workers: int = 0,
    extras: Mapping[str, Sequence[float]] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> PredictionSummary:
    """Score every event of ``data`` with checkpoint ``model``; write ``output`` (HDF5).

    Labels are not needed. The output appears only when complete.

    Args:
        extras: values of extra inputs instead of the file's (one value each, or several
            for one of them: a scan of hypotheses).

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
        SchemaMismatchError: the data do not fit the model's inputs.
        ConfigError: an extra the model does not take, or more than one extra scanned.
    """
    started = time.perf_counter()
    out = check_output(output, overwrite=overwrite)
    torch_device = pick_device(device)
    ckpt = load_checkpoint(model, device=torch_device)
    given = {k: [float(v) for v in vs] for k, vs in (extras or {}).items()}
    scanned = [k for k, vs in given.items() if len(vs) > 1]
    if len(scanned) > 1 or any(not vs for vs in given.values()):
        msg = f"--extra: give one value per extra input, or several for one only (got {given})"
        raise ConfigError(msg)
    fixed = {k: vs[0] for k, vs in given.items()}
    ds = open_dataset(
        ckpt.config.data,
        path=data,
        labels=False,
        fixed_extras=fixed,
        edges=ckpt.schema.uses_edges,
    )
    check_compatible(ckpt.schema, ds.schema(), file=str(data))
    loader = make_loader(ds, batch_size=batch_size, num_workers=num_workers)
    schema = ckpt.schema
    task = Task(schema, loss=ckpt.config.train["loss"])
    scan = (scanned[0], given[scanned[0]]) if scanned else None
    runs: list[Outputs] = []
    for value in scan[1] if scan else [None]:
        if scan and value is not None:
            ds.set_extra(scan[0], value)
        runs.append(run_model(ckpt.model, loader, torch_device, task=task, progress=progress))
    copied: list[str] = []
    with HDF5Sink(out, overwrite=overwrite) as sink:
        sink.append({**_results(schema, runs, stacked=scan is not None), "row": runs[0].rows})
        with open_h5(data) as f:
            for name in ID_DATASETS:
                obj = f.get(name)
                if isinstance(obj, h5py.Dataset) and obj.shape[:1] == (ds.n_file_rows,):
                    sink.append({name: obj[:][runs[0].rows]})
                    copied.append(name)
        sink.set_attrs(
            {
                "hitprep_version": version(),
                "command": command if command is not None else command_line(),
                "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "model": str(ckpt.path),
                "model_name": ckpt.model_name,
                "input": str(Path(data).resolve()),
                "schema": schema.to_json(),
                **_task_attrs(schema),
                **({"extras": json.dumps(fixed)} if fixed else {}),
                **({"scan": json.dumps({scan[0]: scan[1]})} if scan else {}),
            }
        )
        sink.commit()
    return PredictionSummary(out, len(runs[0].rows), time.perf_counter() - started, tuple(copied))


def _file_units(schema: Schema, values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Regression outputs with ``log10:`` targets back in the file's units."""
    out = values.copy()
    start = 0
    for t in schema.targets:
        if t.how == "log10":
            out[:, start : start + t.size] = 10.0 ** out[:, start : start + t.size]
        start += t.size
    return out


def _results(schema: Schema, runs: list[Outputs], *, stacked: bool) -> dict[str, npt.NDArray[Any]]:
    """The datasets of each run (one per hypothesis: stacked along axis 1 for a scan)."""

    def join(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        return np.stack(parts, axis=1) if stacked else parts[0]

    if schema.is_regression:
        return {"predictions": join([_file_units(schema, r.values) for r in runs])}
    return {
        "scores": join([r.scores(schema.signal_index).astype(np.float32) for r in runs]),
        "probabilities": join([r.values.astype(np.float32) for r in runs]),
    }


def _task_attrs(schema: Schema) -> dict[str, Any]:
    if schema.is_regression:
        columns = [c for t in schema.targets for c in t.columns]
        return {
            "targets": json.dumps([t.name for t in schema.targets]),
            "columns": json.dumps(columns),
        }
    return {
        "classes": json.dumps(list(schema.classes)),
        "signal": int(schema.classes[schema.signal_index]),
    }
