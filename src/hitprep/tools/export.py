"""Export LDMX hits as one flat table: ``(n_hits, 6)`` rows of [event, hit, x, y, z, E].

The table the LDMX ``root_2_python.py`` script made, written chunk by chunk
(memory bounded by ``step`` events) as:

- ``.npy``: float64 array ``(n_hits, 6)``;
- ``.h5``: dataset ``hits`` (float64, ``(n_hits, 6)``), the file attribute ``columns``
  and the usual provenance attributes (``hitprep_version``, ``inputs``, ``accounting``, ...);
- ``.parquet``: columns ``event``, ``hit`` (int64), ``x``, ``y``, ``z``, ``E`` (float64);
  needs ``pyarrow``.

``event`` is the event number (``eventNumber``), ``hit`` the hit's position in
its event (0, 1, ...), in file order. The output appears only when complete.

Example:
    >>> from hitprep.toys.ldmx import write_root
    >>> signal = write_root("signal.root", n_events=10, mass=10.0)
    >>> export_hits(signal, "signal.npy").hits
    2165
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.atomic import check_output, partial_path
from hitprep.errors import ConfigError
from hitprep.events import counts, flat_column, offsets_from_counts
from hitprep.progress import progress_bar
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.sources.ldmx import LdmxEcalSource

__all__ = ["COLUMNS", "ExportSummary", "export_hits", "hit_table"]

#: the table's columns, in order
COLUMNS = ("event", "hit", "x", "y", "z", "E")
_SUFFIXES = (".npy", ".h5", ".hdf5", ".parquet")


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    output: Path
    events: int
    hits: int
    seconds: float

    def line(self) -> str:
        return f"{self.events} events, {self.hits} hits, {self.seconds:.1f} s -> {self.output}"


def hit_table(batch: ak.Array, *, collection: str = "hits") -> npt.NDArray[np.float64]:
    """The ``(n_hits, 6)`` table of one batch: event number, hit number, x, y, z, E.

    Example:
        >>> from hitprep.events import jagged_from_flat, make_batch
        >>> hits = jagged_from_flat({k: np.arange(3.0) for k in "xyzE"}, [0, 2, 3])
        >>> b = make_batch({"event_id": np.array([7, 9])}, {"hits": hits}, length=2)
        >>> hit_table(b)[:, :2].tolist()
        [[7.0, 0.0], [7.0, 1.0], [9.0, 0.0]]
    """
    hits = batch[collection]
    n = counts(hits)
    out = np.empty((int(n.sum()), len(COLUMNS)), dtype=np.float64)
    out[:, 0] = np.repeat(np.asarray(batch["event_id"], dtype=np.float64), n)
    out[:, 1] = np.arange(len(out)) - np.repeat(offsets_from_counts(n)[:-1], n)
    for i, name in enumerate(COLUMNS[2:], start=2):
        out[:, i] = flat_column(hits, name)
    return out


class _NpyWriter:
    """Rows to a raw scratch file; the ``.npy`` header is written once the row count is known."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.raw = tmp.with_name(tmp.name + ".raw")
        self.fh = self.raw.open("wb")
        self.rows = 0

    def append(self, table: npt.NDArray[np.float64]) -> None:
        self.fh.write(np.ascontiguousarray(table, dtype="<f8").tobytes())
        self.rows += len(table)

    def finish(self, attrs: Mapping[str, str]) -> None:
        self.fh.close()
        header = {"descr": "<f8", "fortran_order": False, "shape": (self.rows, len(COLUMNS))}
        with self.tmp.open("wb") as out, self.raw.open("rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, length=1 << 22)
        self.raw.unlink()

    def close(self) -> None:
        self.fh.close()
        self.raw.unlink(missing_ok=True)


class _H5Writer:
    def __init__(self, tmp: Path) -> None:
        self.sink = HDF5Sink(tmp, overwrite=True, compression="gzip", compression_level=1)

    def append(self, table: npt.NDArray[np.float64]) -> None:
        self.sink.append({"hits": table})

    def finish(self, attrs: Mapping[str, str]) -> None:
        if self.sink.file is not None and "hits" not in self.sink.file:
            self.sink.append({"hits": np.zeros((0, len(COLUMNS)))})
        self.sink.set_attrs({**attrs, "columns": json.dumps(COLUMNS)})
        self.sink.commit()

    def close(self) -> None:
        self.sink.abort()


class _ParquetWriter:
    def __init__(self, tmp: Path) -> None:
        import importlib

        pa = importlib.import_module("pyarrow")  # optional: not a dependency of hitprep
        pq = importlib.import_module("pyarrow.parquet")
        self.pa = pa
        fields = [(c, pa.int64() if c in ("event", "hit") else pa.float64()) for c in COLUMNS]
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(tmp, self.schema)

    def append(self, table: npt.NDArray[np.float64]) -> None:
        cols = [table[:, i].astype(np.int64) if i < 2 else table[:, i] for i in range(len(COLUMNS))]
        self.writer.write_table(self.pa.Table.from_arrays(cols, schema=self.schema))

    def finish(self, attrs: Mapping[str, str]) -> None:
        self.writer.close()

    def close(self) -> None:
        self.writer.close()


def _writer(suffix: str, tmp: Path) -> Any:
    if suffix == ".npy":
        return _NpyWriter(tmp)
    if suffix in (".h5", ".hdf5"):
        return _H5Writer(tmp)
    try:
        return _ParquetWriter(tmp)
    except ImportError as err:
        msg = "writing .parquet needs pyarrow (pip install pyarrow); .npy and .h5 need nothing"
        raise ConfigError(msg) from err


def export_hits(
    input: str | Path,
    output: str | Path,
    *,
    tree: str = "ecalHits",
    branches: Sequence[str] = ("x", "y", "z", "E"),
    event_branch: str = "eventNumber",
    step: int = 1000,
    overwrite: bool = False,
    progress: bool = False,
    command: str | None = None,
) -> ExportSummary:
    """Write the hits of an LDMX hit file as a flat ``(n_hits, 6)`` table.

    Args:
        input: ROOT file with the hit tree.
        output: ``.npy``, ``.h5`` or ``.parquet`` file (the suffix picks the format).
        tree: hit tree (``ecalHits`` or ``hcalHits``).
        branches: the branches holding x, y, z and E, in that order.
        event_branch: branch with the event number.
        step: events per chunk.
        overwrite: replace an existing output.
        progress: progress bar on stderr.
        command: command line recorded in ``.h5`` provenance.

    Raises:
        ConfigError: unknown suffix, bad options, parquet without pyarrow.
        KeyInFileError / FileFormatError: the input lacks the tree or branches, or is broken.
    """
    started = time.perf_counter()
    out = check_output(output, overwrite=overwrite)
    suffix = out.suffix.lower()
    if suffix not in _SUFFIXES:
        msg = f"output {out}: unknown suffix {out.suffix!r}; use one of {', '.join(_SUFFIXES)}"
        raise ConfigError(msg)
    if len(branches) != 4:
        msg = f"branches: give the four branches of x, y, z and E, got {list(branches)}"
        raise ConfigError(msg)
    if step <= 0:
        msg = f"step must be a positive number of events, not {step}"
        raise ConfigError(msg)
    groups = {"hits": dict(zip(COLUMNS[2:], branches, strict=True))}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(out)
    from hitprep.provenance import input_records, provenance_attrs

    with LdmxEcalSource(input, tree=tree, groups=groups, event_branch=event_branch) as src:
        writer = _writer(suffix, tmp)
        hits = 0
        try:
            with progress_bar(total=src.num_events, enabled=progress) as bar:
                for batch in src.iterate(step=step):
                    table = hit_table(batch)
                    writer.append(table)
                    hits += len(table)
                    bar.update(len(batch))
            accounting = {"events_read": src.num_events, "hits_written": hits}
            attrs = provenance_attrs(
                job_text="",
                job_resolved=json.dumps({"export": {"tree": tree, "branches": list(branches)}}),
                overrides=(),
                inputs=input_records([src.path], [src.num_events]),
                accounting=accounting,
                command=command,
            )
            writer.finish(attrs)
            tmp.replace(out)
        except BaseException:
            writer.close()
            raise
        finally:
            tmp.unlink(missing_ok=True)
        events = src.num_events
    return ExportSummary(out, events, hits, time.perf_counter() - started)
