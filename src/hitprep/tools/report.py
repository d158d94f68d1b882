"""``hitprep report``: one self-contained HTML page for a conversion output or a training run.

An output (an HDF5 file written by ``hitprep convert``) gets its provenance, event
accounting, declared layout (:mod:`hitprep.layout`), label balance, bin statistics and a
few event displays (those of ``hitprep display``). A run folder (``hitprep train -o RUN``)
gets its training history and, for each evaluation folder given or found inside it
(``metrics.json``), the metrics and plots. Pictures are PNG data URIs: the page needs no
other file and no network. A section that cannot be drawn holds a one-line note instead.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hitprep.atomic import atomic_path, check_output
from hitprep.errors import FileFormatError
from hitprep.layout import read_layout, role_text

__all__ = ["report", "report_kind"]

Section = tuple[str, str]  # title, HTML body
STYLE = (
    "body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
    "text-align:left;font-size:90%}img{max-width:100%;display:block;margin:.5em 0}"
    ".note{color:#a33}"
)
#: label fields with more distinct values than this are not counted (energies, not classes)
MAX_CLASSES = 50


def report_kind(path: str | Path) -> str:
    """``output`` or ``run``; FileFormatError naming ``path`` when it is neither."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(p, "does not exist")
    if p.is_dir():
        if (p / "history.json").is_file():
            return "run"
        detail = "a folder without history.json: not a training run folder (hitprep train -o)"
        raise FileFormatError(p, detail)
    try:
        with h5py.File(p, "r") as f:
            if "hitprep_version" in f.attrs:
                return "output"
    except OSError as err:
        detail = f"neither a hitprep output (HDF5) nor a training run folder: {err}"
        raise FileFormatError(p, detail) from err
    raise FileFormatError(p, "an HDF5 file without hitprep_version: not a hitprep output")


def report(
    path: str | Path,
    save_as: str | Path,
    *,
    evaluations: Sequence[str | Path] = (),
    events: int = 3,
    overwrite: bool = False,
) -> Path:
    """Write the HTML report of ``path`` (an output or a run folder) to ``save_as``.

    Args:
        path: a ``hitprep convert`` output or a ``hitprep train`` run folder.
        save_as: the HTML file.
        evaluations: ``hitprep evaluate`` folders to show (for a run, default: those in it).
        events: event displays of an output.
        overwrite: replace an existing ``save_as``.

    Raises:
        FileFormatError: ``path`` is neither an output nor a run folder (nothing written).
    """
    check_output(save_as, overwrite=overwrite, inputs=[path])
    kind = report_kind(path)
    with tempfile.TemporaryDirectory(prefix="hitprep-report-") as scratch:
        tmp = Path(scratch)
        if kind == "output":
            sections = output_sections(Path(path), tmp, events)
        else:
            sections = run_sections(Path(path), tmp, [Path(e) for e in evaluations])
        page = _page(f"hitprep report: {Path(path).name}", sections)
    with atomic_path(save_as, overwrite=overwrite, inputs=[path]) as out:
        out.write_text(page, encoding="utf-8")
    return Path(save_as)


def _page(title: str, sections: Iterable[Section]) -> str:
    body = "".join(f"<h2>{html.escape(t)}</h2>\n{b}\n" for t, b in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}</body>\n</html>\n"
    )


def _section(title: str, draw: Callable[[], str]) -> Section:
    """``draw()``'s HTML, or a one-line note saying why it could not be drawn."""
    try:
        return title, draw()
    except Exception as err:  # one section's failure must not cost the whole report
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        return title, f'<p class="note">not drawn: {html.escape(reason)}</p>'


def _table(rows: Iterable[Sequence[Any]], header: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    lines = [f"<tr>{head}</tr>"] if head else []
    for row in rows:
        lines.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return "<table>\n" + "\n".join(lines) + "\n</table>"


def _image(png: Path, alt: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested JSON as (dotted key, value) rows."""
    if isinstance(value, dict):
        if not value:
            return [(prefix, "none")] if prefix else []
        return [r for k, v in value.items() for r in _flat(v, f"{prefix}.{k}" if prefix else k)]
    return [(prefix, value)]


# --- conversion outputs ---------------------------------------------------------------


def output_sections(path: Path, tmp: Path, events: int) -> list[Section]:
    """The sections of a conversion output's report."""
    with h5py.File(path, "r") as f:
        sections = [
            _section("Provenance", lambda: _provenance(f)),
            _section("Event accounting", lambda: _accounting(f)),
            _section("Layout", lambda: _layout(f, path)),
            _section("Label balance", lambda: _labels(f)),
        ]
        has_stats = "bin_stats" in f
    if has_stats:
        sections.append(_section("Bin statistics", lambda: _bin_stats(path, tmp)))
    sections.append(_section("Event displays", lambda: _displays(path, tmp, events)))
    return sections


def _attr(f: h5py.File, key: str) -> str:
    value = f.attrs.get(key, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _provenance(f: h5py.File) -> str:
    rows = [(k, _attr(f, k)) for k in ("hitprep_version", "command", "timestamp")]
    inputs = json.loads(_attr(f, "inputs") or "[]")
    listed = _table(
        [(i.get("path", ""), i.get("events", ""), i.get("size_bytes", "")) for i in inputs],
        ["input", "events", "bytes"],
    )
    return _table(rows) + "\n" + listed


def _accounting(f: h5py.File) -> str:
    if "accounting" not in f.attrs:
        return '<p class="note">the file records no accounting</p>'
    return _table(_flat(json.loads(_attr(f, "accounting"))), ["count", "value"])


def _layout(f: h5py.File, path: Path) -> str:
    layout, datasets = read_layout(f, path)
    rows = [
        (name, datasets[name].shape, _dtype_text(datasets[name].dtype), role_text(entry))
        for name, entry in sorted(layout.entries.items())
    ]
    return _table(rows, ["dataset", "shape", "type", "role"])


def _dtype_text(dtype: np.dtype[Any]) -> str:
    """``float32``, or a record's field names: ``{file_index, entry, ...}``."""
    return "{" + ", ".join(dtype.names) + "}" if dtype.names else str(dtype)


def _labels(f: h5py.File) -> str:
    columns: dict[str, np.ndarray] = {}
    if "y" in f and f["y"].dtype.names:
        y = f["y"][:]
        integer = [n for n in y.dtype.names if np.issubdtype(y.dtype[n], np.integer)]
        columns = {n: y[n] for n in integer if not n.endswith("_id")}  # ids are not classes
    elif "labels" in f:
        columns = {"labels": f["labels"][:]}
    parts = []
    for name, values in columns.items():
        classes, counts = np.unique(values, return_counts=True)
        if len(classes) <= MAX_CLASSES:
            rows = [
                (c, n, f"{100 * n / len(values):.1f}%")
                for c, n in zip(classes, counts, strict=True)
            ]
            parts.append(f"<h3>{html.escape(name)}</h3>\n" + _table(rows, [name, "events", ""]))
    return "\n".join(parts) or '<p class="note">no integer label field (y or labels)</p>'


def _bin_stats(path: Path, tmp: Path) -> str:
    from hitprep.plotting.binstats import plot_bin_stats, read_bin_stats

    png = plot_bin_stats(read_bin_stats([path]), tmp / "binstats.png")
    return _image(png, "bin statistics")


def _displays(path: Path, tmp: Path, events: int) -> str:
    from hitprep.commands.display import draw_file_event

    with h5py.File(path, "r") as f:
        total = json.loads(_attr(f, "accounting") or "{}").get("events_written", events)
    shown = []
    for event in range(min(events, int(total))):
        png = draw_file_event(path, event, tmp / f"event{event}.png", geometry=_tank(path))
        shown.append(_image(png, f"event {event}"))
    return "\n".join(shown) or '<p class="note">the file has no events</p>'


def _tank(path: Path) -> str | None:
    """The first input of a WatChMaL output, which holds the tank its display needs."""
    with h5py.File(path, "r") as f:
        if "hit_pmt" not in f:
            return None
        inputs = json.loads(_attr(f, "inputs") or "[]")
    first = Path(inputs[0]["path"]) if inputs else None
    return str(first) if first is not None and first.is_file() else None


# --- training runs --------------------------------------------------------------------


def run_sections(run: Path, tmp: Path, evaluations: list[Path]) -> list[Section]:
    """The sections of a training run's report: history, then each evaluation."""
    found = evaluations or sorted(p.parent for p in run.glob("*/metrics.json"))
    sections = [_section("Training history", lambda: _history(run, tmp))]
    for folder in found:
        sections.append(_section(f"Evaluation: {folder.name}", partial(_evaluation, folder)))
    if not found:
        note = '<p class="note">no evaluation folder (hitprep evaluate) given or in the run</p>'
        sections.append(("Evaluation", note))
    return sections


def _history(run: Path, tmp: Path) -> str:
    from hitprep.plotting.training import plot_history

    history = json.loads((run / "history.json").read_text())
    best = min(history, key=lambda h: h["val_loss"])["epoch"] if history else None
    (png,) = plot_history(history, tmp / "history", best_epoch=best, formats=("png",))
    keys = list(dict.fromkeys(k for h in history for k in h))
    rows = [[_short(h.get(k, "")) for k in keys] for h in history]
    return _image(png, "training history") + "\n" + _table(rows, keys)


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def _evaluation(folder: Path) -> str:
    metrics = json.loads((folder / "metrics.json").read_text())
    rows = [(k, _short(v)) for k, v in _flat(metrics) if not isinstance(v, list)]
    plots = [_image(p, p.stem) for p in sorted(folder.glob("*.png"))]
    return _table(rows, ["metric", "value"]) + "\n" + "\n".join(plots)
