"""Job configuration: TOML files (or shipped presets), validated, with errors that name the key.

A job file is a set of sections. Which sections exist, and how each is
validated, is the registry :data:`SECTIONS`; a section that is absent from the
file is ``None`` in the job (its stage or representation is not built). An
image job::

    description = "KM3NeT z-t images"
    [source]
    format = "auto"          # km3net_hdf5 | km3net_offline | root_tree | ... | auto
    step = 250               # events per chunk
    [calibration]            # KM3NeT: .detx calibration and time centring
    detx = "detector.detx"   # optional; --detx overrides
    correct_timeslew = true
    center_time = true
    correct_mc_time = true
    [[images]]
    name = "x"
    bin_edges = [["pos_z", {start = 50, stop = 700, bins = 18}], ["time", [-250, 0, 1000]]]
    weights = "tot"          # optional
    dtype = "uint16"         # counts never wrap: an overflow is an error
    [labels]
    extractor = "km3net_mc"  # or "module:function"
    [output]
    compression = "gzip"
    compression_level = 1
    shuffle = true           # byte shuffle before deflate (helps counts; not float features)

To add a section, register a validator in :data:`SECTIONS` (``table_section``
covers plain tables of typed keys with defaults).
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, nearest

__all__ = [
    "SECTIONS",
    "ImageConfig",
    "Job",
    "apply_overrides",
    "check_keys",
    "lazy_section",
    "list_presets",
    "load_job",
    "parse_edges",
    "table_section",
]

Schema = dict[str, tuple[type | tuple[type, ...], Any]]
Validator = Callable[[str, Any], Any]


def check_keys(where: str, values: Any, schema: Schema) -> dict[str, Any]:
    """Validate a table against ``{key: (type, default)}``; ``default=None`` means required.

    Raises:
        ConfigError: unknown key (with the nearest allowed one), missing key, wrong type.
    """
    if not isinstance(values, dict):
        msg = f"{where}: expected a table, got {values!r}"
        raise ConfigError(msg)
    for key in values:
        if key not in schema:
            close = nearest(key, schema)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(schema)})"
            raise ConfigError(msg)
    out: dict[str, Any] = {}
    for key, (kind, default) in schema.items():
        if key not in values:
            if default is None:
                msg = f"{where}: missing required key {key!r}"
                raise ConfigError(msg)
            out[key] = copy.deepcopy(default)
            continue
        value = values[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool):  # TOML booleans are not numbers
            ok = bool in kinds
        elif isinstance(value, int) and float in kinds and int not in kinds:
            value, ok = float(value), True
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = "/".join(k.__name__ for k in kinds)
            msg = f"{where}.{key}: expected {names}, got {value!r}"
            raise ConfigError(msg)
        out[key] = value
    return out


def table_section(schema: Schema) -> Validator:
    """Validator of a plain ``[section]`` table with typed keys and defaults."""

    def validate(where: str, value: Any) -> dict[str, Any]:
        return check_keys(where, value, schema)

    return validate


def parse_edges(where: str, spec: Any) -> npt.NDArray[np.float64]:
    """Bin edges from a list of numbers or ``{start, stop, bins}`` (``np.linspace``)."""
    if isinstance(spec, dict):
        if set(spec) != {"start", "stop", "bins"}:
            msg = f"{where}: give edges as a list of numbers or {{start, stop, bins}}, got {spec!r}"
            raise ConfigError(msg)
        if not isinstance(spec["bins"], int) or isinstance(spec["bins"], bool) or spec["bins"] < 1:
            msg = f"{where}.bins: expected a positive integer, got {spec['bins']!r}"
            raise ConfigError(msg)
        check_memory(f"{where}.bins", (spec["bins"] + 1) * 8, what="its bin edges")
        edges = np.linspace(float(spec["start"]), float(spec["stop"]), spec["bins"] + 1)
        return _increasing(where, edges)
    if isinstance(spec, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in spec
    ):
        return _increasing(where, np.asarray(spec, dtype=np.float64))
    msg = f"{where}: give edges as a list of numbers or {{start, stop, bins}}, got {spec!r}"
    raise ConfigError(msg)


def _increasing(where: str, edges: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``edges`` when finite and strictly increasing (at least two), else ConfigError."""
    if len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        shown = np.array2string(edges, threshold=8)
        msg = f"{where}: bin edges must be at least two finite, increasing numbers, got {shown}"
        raise ConfigError(msg)
    return edges


def memory_bytes() -> int:
    """This machine's physical memory in bytes (0 where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(where: str, n_bytes: float, *, what: str) -> None:
    """Raise ConfigError when ``n_bytes`` exceed half of this machine's memory.

    The message says how much memory the setting would take, before anything is allocated.
    """
    total = memory_bytes()
    if total and n_bytes > total / 2:
        msg = (
            f"{where}: {what} would take {n_bytes / 2**30:,.1f} GiB of memory; this machine"
            f" has {total / 2**30:,.1f} GiB (at most half of it may go to one array)"
        )
        raise ConfigError(msg)


#: datasets the pipeline writes itself: no image may take their name
RESERVED_NAMES = ("y", "event_info", "bin_stats")

#: dtypes that hold counts exactly (float32/64 up to 2**24 / 2**53, checked as written)
_COUNT_KINDS = "uif"


def _image_dtype(where: str, dtype: str, *, weighted: bool) -> str | None:
    """The image's dtype, checked: numpy knows it, and counts fit it (no bool, no float16)."""
    if not dtype:
        return None
    try:
        kind = np.dtype(dtype)
    except TypeError:
        msg = f"{where}.dtype: {dtype!r} is not a numpy dtype (e.g. uint16, uint32, float32)"
        raise ConfigError(msg) from None
    if kind.kind not in _COUNT_KINDS or kind == np.float16:
        use = "weights" if weighted else "counts"
        msg = (
            f"{where}.dtype: {dtype!r} cannot hold {use} (bool keeps 0/1, float16 rounds above"
            " 2048); use an integer type (uint16, uint32, int64) or float32/float64"
        )
        raise ConfigError(msg)
    return dtype


def _image_name(where: str, name: str) -> str:
    if not name or name.strip() != name or name.split("/")[0] in RESERVED_NAMES:
        msg = (
            f"{where}.name: {name!r} is empty or names a dataset the pipeline writes itself"
            f" ({', '.join(RESERVED_NAMES)}); choose another name"
        )
        raise ConfigError(msg)
    return name


@dataclass(frozen=True)
class ImageConfig:
    """One ``[[images]]`` table."""

    name: str
    axes: tuple[tuple[str, npt.NDArray[np.float64]], ...]
    weights: str | None
    dtype: str | None
    collection: str


_IMAGE_SCHEMA: Schema = {
    "name": (str, "x"),
    "bin_edges": (list, None),
    "weights": (str, ""),
    "dtype": (str, ""),
    "collection": (str, "hits"),
}


def _images(where: str, value: Any) -> tuple[ImageConfig, ...]:
    if not isinstance(value, list):
        msg = f"{where}: expected [[images]] tables"
        raise ConfigError(msg)
    images = []
    for i, table in enumerate(value):
        at = f"{where} #{i + 1}"
        img = check_keys(at, table, _IMAGE_SCHEMA)
        axes = []
        for j, pair in enumerate(img["bin_edges"]):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                msg = f'{at}.bin_edges[{j}]: expected ["field", edges], got {pair!r}'
                raise ConfigError(msg)
            axes.append((pair[0], parse_edges(f"{at}.bin_edges[{j}]", pair[1])))
        if not axes:
            msg = f"{at}.bin_edges: needs at least one axis"
            raise ConfigError(msg)
        dtype = _image_dtype(at, img["dtype"], weighted=bool(img["weights"]))
        images.append(
            ImageConfig(
                _image_name(at, img["name"]),
                tuple(axes),
                img["weights"] or None,
                dtype,
                img["collection"],
            )
        )
    names = [im.name for im in images]
    if len(set(names)) != len(names):
        msg = f"{where}: image names must differ, got {names}"
        raise ConfigError(msg)
    return tuple(images)


#: compression filters every HDF5 reader has (h5py built in)
COMPRESSIONS = ("gzip", "lzf", "")


def _check_output(where: str, output: dict[str, Any]) -> None:
    """``[output]`` settings that h5py supports, checked before any work."""
    if output["compression"] not in COMPRESSIONS:
        msg = (
            f"{where}.compression: {output['compression']!r} is not supported; use"
            ' "gzip", "lzf" or "" (none)'
        )
        raise ConfigError(msg)
    if not 0 <= output["compression_level"] <= 9:
        msg = f"{where}.compression_level: {output['compression_level']} is not a gzip level 0-9"
        raise ConfigError(msg)


def _check_chunk(where: str, image: ImageConfig, step: int) -> None:
    """A chunk of ``step`` events of ``image`` fits in memory (else the size it would take)."""
    cells = float(np.prod([len(edges) - 1 for _, edges in image.axes], dtype=np.float64))
    itemsize = np.dtype(image.dtype or ("float32" if image.weights else "uint16")).itemsize
    what = f"a chunk of {step} events of image {image.name!r} ({cells:,.0f} bins each)"
    check_memory(where, cells * itemsize * step, what=what)


def _check_padded_sizes(where: str, sections: dict[str, Any], step: int) -> None:
    """Fixed-length graphs and LDMX images of a chunk fit in memory (``[graph]``,
    ``[[ldmx_images]]`` tables as their validators return them)."""
    graph = sections.get("graph")
    if isinstance(graph, dict) and graph.get("fixed_length") and graph.get("max_n_hits"):
        row = len(graph["features"]) * np.dtype(graph["dtype"]).itemsize + 1  # + mask
        what = f"a chunk of {step} events of {graph['max_n_hits']:,} padded nodes"
        check_memory(f"{where} [graph].max_n_hits", graph["max_n_hits"] * row * step, what=what)
    for i, table in enumerate(sections.get("ldmx_images", ())):
        dim = int(table["dim"])
        channels = 3 if table["format"] == "xyz" else int(table["depth"])
        itemsize = np.dtype(table["dtype"] or "float32").itemsize
        what = f"a chunk of {step} events of {dim} x {dim} x {channels} images"
        at = f"{where} [ldmx_images] #{i + 1}.dim"
        check_memory(at, float(dim) * dim * channels * itemsize * step, what=what)


def lazy_section(target: str) -> Validator:
    """A validator that lives in the module that uses the section (``"module:function"``),
    imported only when a job has that section: those modules build on this one."""

    def validate(where: str, value: Any) -> Any:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(where, value)

    return validate


#: job section -> validator(where, value) -> validated value; order = order of stages
SECTIONS: dict[str, Validator] = {
    "description": lambda where, v: _string(where, v),
    "source": table_section(
        {
            "format": (str, "auto"),
            "step": (int, 250),
            "tree": (str, ""),
            "collections": (list, []),
            "groups": (dict, {}),
            "trust_pickle": (bool, False),
        }
    ),
    "calibration": table_section(
        {
            "detx": (str, ""),
            "correct_timeslew": (bool, True),
            "center_time": (bool, True),
            "correct_mc_time": (bool, True),
        }
    ),
    "barrel": lazy_section("hitprep.stages.barrel:check_section"),
    "trigger": lazy_section("hitprep.stages.trigger:check_section"),
    "images": _images,
    "graph": lazy_section("hitprep.representations.graph:check_graph_section"),
    "ldmx_images": lazy_section("hitprep.representations.ldmx:check_section"),
    "labels": lazy_section("hitprep.labels:check_section"),
    "writeback": lazy_section("hitprep.writeback.spec:validate_writeback"),
    "preprocess": lazy_section("hitprep.writeback.spec:validate_preprocess"),
    "model": lazy_section("hitprep.writeback.spec:validate_models"),
    "wcsim_hits": lazy_section("hitprep.stages.wcsim_hits:check_section"),
    "wcsim_truth": lazy_section("hitprep.stages.wcsim_truth:check_section"),
    "watchmal": lazy_section("hitprep.representations.watchmal:check_section"),
    "pmt_grid": lazy_section("hitprep.representations.pmt_grid:check_section"),
    "output": table_section(
        {
            "compression": (str, "gzip"),
            "compression_level": (int, 1),
            "shuffle": (bool, True),
            "bin_stats": (bool, True),
        }
    ),
}

#: sections every job has (filled with defaults when absent)
_ALWAYS = ("description", "source", "output")


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str):
        msg = f"{where}: expected a string, got {value!r}"
        raise ConfigError(msg)
    return value


@dataclass(frozen=True)
class Job:
    """A validated job: ``sections`` maps each present section to its validated value.

    ``text`` is the TOML it came from, ``origin`` where that was, ``overrides``
    the ``--set`` items applied.
    """

    sections: dict[str, Any]
    text: str = ""
    origin: str = ""
    overrides: tuple[str, ...] = field(default=())

    def get(self, name: str) -> Any:
        """A section's validated value, or None when the job does not have it."""
        return self.sections.get(name)

    @property
    def description(self) -> str:
        return str(self.sections["description"])

    @property
    def source(self) -> dict[str, Any]:
        return dict(self.sections["source"])

    @property
    def output(self) -> dict[str, Any]:
        return dict(self.sections["output"])

    @classmethod
    def from_dict(
        cls,
        raw: dict[str, Any],
        *,
        text: str = "",
        origin: str = "",
        overrides: tuple[str, ...] = (),
    ) -> Job:
        """Validate a parsed job table."""
        where = origin or "job"
        for key in raw:
            if key not in SECTIONS:
                close = nearest(key, SECTIONS)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                msg = f"{where}: unknown section {key!r}{hint} (allowed: {', '.join(SECTIONS)})"
                raise ConfigError(msg)
        sections: dict[str, Any] = {}
        for name, validate in SECTIONS.items():
            if name in raw:
                sections[name] = validate(f"{where} [{name}]", raw[name])
            elif name in _ALWAYS:
                sections[name] = validate(f"{where} [{name}]", "" if name == "description" else {})
        if sections["source"]["step"] <= 0:
            msg = f"{where} [source].step: must be a positive number of events"
            raise ConfigError(msg)
        _check_output(f"{where} [output]", sections["output"])
        step = sections["source"]["step"]
        for i, image in enumerate(sections.get("images", ())):
            _check_chunk(f"{where} [images] #{i + 1}", image, step)
        _check_padded_sizes(where, sections, step)
        return cls(sections, text, origin, overrides)

    def resolved_json(self) -> str:
        """The validated job as JSON (for provenance)."""

        def plain(value: Any) -> Any:
            if isinstance(value, np.ndarray):
                return value.tolist()
            if isinstance(value, ImageConfig):
                return {
                    "name": value.name,
                    "collection": value.collection,
                    "weights": value.weights,
                    "dtype": value.dtype,
                    "bin_edges": [[f, e.tolist()] for f, e in value.axes],
                }
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if callable(value):  # a function given from Python (e.g. a label extractor)
                return f"{value.__module__}:{getattr(value, '__qualname__', repr(value))}"
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return json.dumps(plain(self.sections))


#: the shipped job files (package data)
PRESETS = Path(__file__).with_name("presets")


def list_presets() -> dict[str, str]:
    """Shipped presets: name -> one-line description."""
    out = {}
    for entry in sorted(PRESETS.glob("*.toml")):
        raw = tomllib.loads(entry.read_text())
        out[entry.stem] = str(raw.get("description", ""))
    return out


def _set_dotted(raw: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        msg = f"--set {item!r}: expected key=value, e.g. source.step=100"
        raise ConfigError(msg)
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    target: Any = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                msg = f"--set {key}: {part!r} is not an index of a list of {len(target)}"
                raise ConfigError(msg)
            target = target[int(part)]
        else:
            target = target.setdefault(part, {})
        if not isinstance(target, dict | list):
            msg = f"--set {key}: {part!r} is not a table"
            raise ConfigError(msg)
    if isinstance(target, list):
        msg = f"--set {key}: give an index into the list, e.g. images.0.dtype"
        raise ConfigError(msg)
    target[parts[-1]] = parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key=value`` items (dotted keys, TOML values) to a copy of a job table."""
    out = copy.deepcopy(raw)
    for item in overrides:
        _set_dotted(out, item)
    return out


def load_job(spec: str | Path, *, overrides: list[str] | tuple[str, ...] = ()) -> Job:
    """Load a job from a TOML path or a preset name, apply overrides, and validate.

    Raises:
        ConfigError: unknown preset or file, TOML syntax error, bad key or value.
    """
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            msg = f"job file {path} not found"
            raise ConfigError(msg)
        text, origin = path.read_text(), str(path)
    else:
        preset = PRESETS / f"{spec}.toml"
        if path.name != str(spec) or not preset.is_file():
            presets = sorted(p.stem for p in PRESETS.glob("*.toml"))
            close = nearest(str(spec), presets)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"unknown preset {str(spec)!r}{hint} (presets: {', '.join(presets)})"
            raise ConfigError(msg)
        text = preset.read_text()
        origin = f"preset {spec}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{origin}: invalid TOML: {err}"
        raise ConfigError(msg) from err
    raw = apply_overrides(raw, overrides)
    return Job.from_dict(raw, text=text, origin=origin, overrides=tuple(overrides))
