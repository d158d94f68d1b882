"""Apply a trained model to a file and write scores aligned with its events.

The output holds, row for row with the input: ``scores`` (signal probability),
``probabilities`` (one column per class), ``row`` (the input row) and a copy
of the input's ``event_info`` (or WatChMaL's ``event_ids``), so scores join back
to the source events.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from hitprep.atomic import check_output
from hitprep.ml.checkpoint import load_checkpoint
from hitprep.ml.data import open_dataset
from hitprep.ml.device import pick_device
from hitprep.ml.h5io import open_h5
from hitprep.ml.inference import run_model
from hitprep.ml.loader import make_loader
from hitprep.ml.schema import check_compatible
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
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> PredictionSummary:
    """Score every event of ``data`` with checkpoint ``model``; write ``output`` (HDF5).

    Labels are not needed. The output appears only when complete.

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
        SchemaMismatchError: the data do not fit the model's inputs.
    """
    started = time.perf_counter()
    out = check_output(output, overwrite=overwrite)
    torch_device = pick_device(device)
    ckpt = load_checkpoint(model, device=torch_device)
    ds = open_dataset(ckpt.config.data, path=data, labels=False)
    check_compatible(ckpt.schema, ds.schema(), file=str(data))
    loader = make_loader(ds, batch_size=batch_size, num_workers=num_workers)
    outputs = run_model(ckpt.model, loader, torch_device, progress=progress)
    schema = ckpt.schema
    copied: list[str] = []
    with HDF5Sink(out, overwrite=overwrite) as sink:
        sink.append(
            {
                "scores": outputs.scores(schema.signal_index).astype(np.float32),
                "probabilities": outputs.probabilities.astype(np.float32),
                "row": outputs.rows,
            }
        )
        with open_h5(data) as f:
            for name in ID_DATASETS:
                obj = f.get(name)
                if isinstance(obj, h5py.Dataset) and obj.shape[:1] == (ds.n_file_rows,):
                    sink.append({name: obj[:][outputs.rows]})
                    copied.append(name)
        sink.set_attrs(
            {
                "hitprep_version": version(),
                "command": command if command is not None else command_line(),
                "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "model": str(ckpt.path),
                "model_name": ckpt.model_name,
                "input": str(Path(data).resolve()),
                "classes": json.dumps(list(schema.classes)),
                "signal": int(schema.classes[schema.signal_index]),
                "schema": schema.to_json(),
            }
        )
        sink.commit()
    return PredictionSummary(out, len(outputs.rows), time.perf_counter() - started, tuple(copied))
