"""Run a conversion job: a map over tasks (input file, entry range), then the output.

This module holds the serial runner; every input is opened and checked
before anything is written, and the output appears only when complete.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.pipeline import Accounting, BuildOptions, Context, Pipeline
from hitprep.provenance import input_records, provenance_attrs
from hitprep.sinks.hdf5 import HDF5Sink, check_output
from hitprep.sources import detect_format, open_source
from hitprep.sources.base import Source

__all__ = ["Summary", "convert"]


@dataclass(frozen=True)
class Summary:
    """What a conversion did."""

    output: Path
    accounting: Accounting
    seconds: float

    def line(self) -> str:
        a = self.accounting
        skipped = sum(a.skipped.values())
        reasons = ", ".join(f"{k}: {v}" for k, v in a.skipped.items())
        why = f" ({reasons})" if reasons else ""
        items = "".join(f" {n} {name};" for name, n in a.items_read.items())
        items += "".join(f" {n} {why} skipped;" for why, n in a.items_skipped.items())
        return (
            f"{a.events_read} events in, {a.events_written} written, {skipped} skipped{why};"
            f"{items} {self.seconds:.1f} s -> {self.output}"
        )


def _open_sources(job: Job, inputs: Sequence[Path]) -> list[Source]:
    options: dict[str, Any] = {}
    if job.source["tree"]:
        options["tree"] = job.source["tree"]
    if job.source["collections"]:
        options["collections"] = job.source["collections"]
    if job.source["groups"]:
        options["groups"] = job.source["groups"]
    sources: list[Source] = []
    try:
        for path in inputs:
            extra = dict(options)
            if job.source["trust_pickle"]:  # only formats that can unpickle take the option
                fmt = job.source["format"]
                if (detect_format(path) if fmt == "auto" else fmt) == "wcsim_npz":
                    extra["trust_pickle"] = True
            sources.append(open_source(path, format=job.source["format"], **extra))
    except BaseException:
        for s in sources:
            s.close()
        raise
    return sources


def convert(
    job: Job,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    detx: str | Path | None = None,
    overwrite: bool = False,
    step: int | None = None,
    progress: bool = False,
    command: str | None = None,
) -> Summary:
    """Convert ``inputs`` into one HDF5 ``output`` as ``job`` says.

    Args:
        job: validated job (see :func:`hitprep.config.load_job`).
        inputs: input files; ``event_info.file_index`` refers to their order.
        output: HDF5 file to write.
        detx: detector file (overrides the job's ``calibration.detx``).
        overwrite: replace an existing output.
        step: events per chunk (overrides the job's ``source.step``).
        progress: show a progress bar on stderr.
        command: command line recorded in the provenance (default: this process's).

    Returns:
        A :class:`Summary` with the event accounting.
    """
    started = time.perf_counter()
    if not inputs:
        msg = "no input files given"
        raise ConfigError(msg)
    out = check_output(output, overwrite=overwrite)
    paths = [Path(p) for p in inputs]
    if any(p.resolve() == out.resolve() for p in paths):
        msg = f"output {out} is also an input"
        raise ConfigError(msg)
    chunk = step or job.source["step"]
    if chunk <= 0:
        msg = f"step must be a positive number of events, not {chunk}"
        raise ConfigError(msg)
    pipeline = Pipeline(job, BuildOptions(detx=Path(detx) if detx else None))
    sources = _open_sources(job, paths)
    try:
        fields = [pipeline.fields_for(s) for s in sources]
        total = sum(s.num_events for s in sources)
        from tqdm import tqdm

        with (
            HDF5Sink(
                out,
                overwrite=overwrite,
                compression=job.output["compression"] or None,
                compression_level=job.output["compression_level"],
            ) as sink,
            tqdm(total=total, unit="ev", disable=not progress, desc=out.name) as bar,
        ):
            for index, (source, wanted) in enumerate(zip(sources, fields, strict=True)):
                for batch in source.iterate(step=chunk, fields=wanted):
                    ctx = Context(str(source.path), index, pipeline.accounting)
                    sink.append(pipeline.run(batch, ctx))
                    bar.update(len(batch))
            pipeline.finish(sink)
            accounting = pipeline.accounting
            sink.set_attrs(
                provenance_attrs(
                    job_text=job.text,
                    job_resolved=job.resolved_json(),
                    overrides=job.overrides,
                    inputs=input_records(paths, [s.num_events for s in sources]),
                    accounting=accounting.as_dict(),
                    command=command,
                )
            )
            sink.commit()
    finally:
        for s in sources:
            s.close()
    return Summary(out, pipeline.accounting, time.perf_counter() - started)
