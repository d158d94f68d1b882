"""Job configuration: TOML files (or shipped presets), validated, with errors that name the key.

A job file::

    description = "KM3NeT z-t images"
    [source]
    format = "auto"          # km3net_hdf5 | km3net_offline | root_tree | auto
    step = 250               # events per chunk
    [calibration]
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
    extractor = "km3net_mc"  # or "module:function", or "" for none
    [output]
    compression = "gzip"
    compression_level = 1
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError, nearest

__all__ = ["Job", "apply_overrides", "list_presets", "load_job"]

#: allowed keys per section, with their types and defaults
_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "": {
        "description": (str, ""),
        "source": (dict, {}),
        "calibration": (dict, {}),
        "images": (list, []),
        "labels": (dict, {}),
        "output": (dict, {}),
    },
    "source": {
        "format": (str, "auto"),
        "step": (int, 250),
        "tree": (str, ""),
        "collections": (list, []),
    },
    "calibration": {
        "detx": (str, ""),
        "correct_timeslew": (bool, True),
        "center_time": (bool, True),
        "correct_mc_time": (bool, True),
    },
    "images": {
        "name": (str, "x"),
        "bin_edges": (list, None),
        "weights": (str, ""),
        "dtype": (str, ""),
        "collection": (str, "hits"),
    },
    "labels": {"extractor": (str, "")},
    "output": {
        "compression": (str, "gzip"),
        "compression_level": (int, 1),
        "bin_stats": (bool, True),
    },
}


def _check_section(where: str, section: str, values: dict[str, Any]) -> dict[str, Any]:
    schema = _SCHEMA[section]
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
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            msg = f"{where}.{key}: expected {name}, got {value!r}"
            raise ConfigError(msg)
        out[key] = value
    return out


def _edges(where: str, spec: Any) -> npt.NDArray[np.float64]:
    if isinstance(spec, dict):
        extra = set(spec) - {"start", "stop", "bins"}
        if extra or not {"start", "stop", "bins"} <= set(spec):
            msg = f"{where}: give edges as a list of numbers or {{start, stop, bins}}, got {spec!r}"
            raise ConfigError(msg)
        if not isinstance(spec["bins"], int) or spec["bins"] < 1:
            msg = f"{where}.bins: expected a positive integer, got {spec['bins']!r}"
            raise ConfigError(msg)
        return np.linspace(float(spec["start"]), float(spec["stop"]), spec["bins"] + 1)
    if isinstance(spec, list) and all(isinstance(v, int | float) for v in spec):
        return np.asarray(spec, dtype=np.float64)
    msg = f"{where}: give edges as a list of numbers or {{start, stop, bins}}, got {spec!r}"
    raise ConfigError(msg)


@dataclass(frozen=True)
class ImageConfig:
    name: str
    axes: tuple[tuple[str, npt.NDArray[np.float64]], ...]
    weights: str | None
    dtype: str | None
    collection: str


@dataclass(frozen=True)
class Job:
    """A validated job. ``text`` is the TOML it came from; ``overrides`` the ``--set`` items."""

    description: str
    source: dict[str, Any]
    calibration: dict[str, Any]
    images: tuple[ImageConfig, ...]
    labels: dict[str, Any]
    output: dict[str, Any]
    text: str = ""
    origin: str = ""
    overrides: tuple[str, ...] = field(default=())
    raw: dict[str, Any] = field(default_factory=dict)

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
        top = _check_section(where, "", raw)
        sections = {
            name: _check_section(f"{where} [{name}]", name, top[name])
            for name in ("source", "calibration", "labels", "output")
        }
        if sections["source"]["step"] <= 0:
            msg = f"{where} [source].step: must be a positive number of events"
            raise ConfigError(msg)
        images = []
        for i, table in enumerate(top["images"]):
            at = f"{where} [[images]] #{i + 1}"
            if not isinstance(table, dict):
                msg = f"{at}: expected a table"
                raise ConfigError(msg)
            img = _check_section(at, "images", table)
            axes = []
            for j, pair in enumerate(img["bin_edges"]):
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    msg = f'{at}.bin_edges[{j}]: expected ["field", edges], got {pair!r}'
                    raise ConfigError(msg)
                axes.append((pair[0], _edges(f"{at}.bin_edges[{j}]", pair[1])))
            images.append(
                ImageConfig(
                    img["name"],
                    tuple(axes),
                    img["weights"] or None,
                    img["dtype"] or None,
                    img["collection"],
                )
            )
        names = [im.name for im in images]
        if len(set(names)) != len(names):
            msg = f"{where}: image names must differ, got {names}"
            raise ConfigError(msg)
        return cls(
            top["description"],
            sections["source"],
            sections["calibration"],
            tuple(images),
            sections["labels"],
            sections["output"],
            text,
            origin,
            overrides,
            raw,
        )

    def resolved_json(self) -> str:
        """The validated job as JSON (for provenance)."""
        data = {
            "description": self.description,
            "source": self.source,
            "calibration": self.calibration,
            "labels": self.labels,
            "output": self.output,
            "images": [
                {
                    "name": im.name,
                    "collection": im.collection,
                    "weights": im.weights,
                    "dtype": im.dtype,
                    "bin_edges": [[f, e.tolist()] for f, e in im.axes],
                }
                for im in self.images
            ],
        }
        return json.dumps(data)


def list_presets() -> dict[str, str]:
    """Shipped presets: name -> one-line description."""
    out = {}
    for entry in sorted(resources.files("hitprep.presets").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            raw = tomllib.loads(entry.read_text())
            out[entry.name[: -len(".toml")]] = str(raw.get("description", ""))
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
        presets = list_presets()
        if str(spec) not in presets:
            close = nearest(str(spec), presets)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = f"unknown preset {str(spec)!r}{hint} (presets: {', '.join(presets)})"
            raise ConfigError(msg)
        text = resources.files("hitprep.presets").joinpath(f"{spec}.toml").read_text()
        origin = f"preset {spec}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{origin}: invalid TOML: {err}"
        raise ConfigError(msg) from err
    raw = apply_overrides(raw, overrides)
    return Job.from_dict(raw, text=text, origin=origin, overrides=tuple(overrides))
