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

Each section is a typed model (:class:`hitprep.jobmodel.Section`) declared, with what it
builds, by the module that uses it: a stage or representation module lists its
:class:`~hitprep.jobmodel.JobSection` entries in ``JOB_SECTIONS``, and :data:`SECTIONS`
finds them. ``[source]`` and ``[output]`` are declared here.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import pkgutil
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from hitprep.errors import ConfigError, nearest
from hitprep.jobmodel import JobSection, Section, json_schema, plain, table_lines

__all__ = [
    "FLAGS",
    "SECTIONS",
    "Job",
    "JobSection",
    "OutputSection",
    "Section",
    "SourceSection",
    "apply_overrides",
    "check_keys",
    "check_memory",
    "job_schema",
    "lazy_section",
    "list_presets",
    "load_job",
    "register",
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


class SourceSection(Section):
    """``[source]``: which reader opens the inputs, and how many events a chunk holds."""

    format: str = "auto"
    """Input format (a reader of hitprep.sources, e.g. km3net_offline, root_tree, wcsim),
    or "auto" to tell it from each file."""
    step: int = 250
    """Events per chunk: what one read, one pass of the stages and one write hold."""
    tree: str = ""
    """ROOT formats: the TTree to read ("": the format's default)."""
    collections: tuple[str, ...] = ()
    """Collections (hit lists) to read ([]: every one the format knows)."""
    groups: dict[str, Any] = Field(default_factory=dict)
    """root_tree: collections made of listed jagged branches, {name = [branches]} or
    {name = {field = branch}}."""
    trust_pickle: bool = False
    """Formats that can hold pickled objects (WCSim .npz dumps): allow unpickling them.
    Only for files you trust; --trust-pickle sets it."""

    #: keys that are not options of the reader
    _NOT_OPTIONS: ClassVar[tuple[str, ...]] = ("format", "step")
    #: options that allow something: given only to readers that take them
    _PERMISSIONS: ClassVar[tuple[str, ...]] = ("trust_pickle",)

    def reader_options(self, takes: Set[str]) -> dict[str, Any]:
        """The options set in this section for a reader taking options ``takes``.

        Options left at their defaults are not given; a permission (``trust_pickle``) is
        given only to readers that take it, any other option to every reader (one that
        does not take it refuses it, naming the options it takes).
        """
        out = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            if key in self._NOT_OPTIONS or not value:
                continue
            if key not in self._PERMISSIONS or key in takes:
                out[key] = value
        return out

    @model_validator(mode="after")
    def _positive_step(self) -> SourceSection:
        if self.step <= 0:
            msg = "step: must be a positive number of events"
            raise ValueError(msg)
        return self


#: compression filters every HDF5 reader has (h5py built in)
COMPRESSIONS = ("gzip", "lzf", "")


class OutputSection(Section):
    """``[output]``: how the HDF5 datasets are stored."""

    compression: str = "gzip"
    """HDF5 compression filter: "gzip", "lzf" or "" (none)."""
    compression_level: int = 1
    """gzip level 0-9."""
    shuffle: bool = True
    """Byte shuffle before deflate (helps counts; not float features)."""
    bin_stats: bool = True
    """Images: also write per-bin statistics of the hits (bin_stats/)."""

    @model_validator(mode="after")
    def _supported(self) -> OutputSection:
        if self.compression not in COMPRESSIONS:
            msg = (
                f"compression: {self.compression!r} is not supported; use"
                ' "gzip", "lzf" or "" (none)'
            )
            raise ValueError(msg)
        if not 0 <= self.compression_level <= 9:
            msg = f"compression_level: {self.compression_level} is not a gzip level 0-9"
            raise ValueError(msg)
        return self


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str):
        msg = f"{where}: expected a string, got {value!r}"
        raise ConfigError(msg)
    return value


def lazy_section(target: str) -> Validator:
    """A validator that lives in the module that uses the section (``"module:function"``),
    imported only when a job has that section (for sections without a model yet)."""

    def validate(where: str, value: Any) -> Any:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(where, value)

    return validate


#: the sections of every job, and those validated by functions that have no model yet
_CORE = (
    JobSection("description", None, 0, check=_string, always=True),
    JobSection("source", SourceSection, 10, always=True),
    JobSection(
        "writeback", None, 90, check=lazy_section("hitprep.writeback.spec:validate_writeback")
    ),
    JobSection(
        "preprocess", None, 100, check=lazy_section("hitprep.writeback.spec:validate_preprocess")
    ),
    JobSection("model", None, 110, check=lazy_section("hitprep.writeback.spec:validate_models")),
    JobSection("output", OutputSection, 1000, always=True),
)

#: packages whose modules declare job sections in a module-level ``JOB_SECTIONS`` tuple
COMPONENT_PACKAGES = ("hitprep.stages", "hitprep.representations")
#: single modules that declare job sections too
COMPONENT_MODULES = ("hitprep.labels",)


class _Registry(Mapping[str, JobSection]):
    """Job section name -> :class:`~hitprep.jobmodel.JobSection`, in job order.

    The core sections, then every ``JOB_SECTIONS`` of the modules of
    :data:`COMPONENT_PACKAGES` and of :data:`COMPONENT_MODULES` (imported on first use),
    then those given to :meth:`register`.
    """

    def __init__(self) -> None:
        self._found: dict[str, JobSection] | None = None
        self._added: list[JobSection] = []

    def _entries(self) -> dict[str, JobSection]:
        if self._found is None:
            entries = list(_CORE)
            for package in COMPONENT_PACKAGES:
                path = importlib.import_module(package).__path__
                for info in pkgutil.iter_modules(path):
                    module = importlib.import_module(f"{package}.{info.name}")
                    entries += getattr(module, "JOB_SECTIONS", ())
            for name in COMPONENT_MODULES:
                entries += getattr(importlib.import_module(name), "JOB_SECTIONS", ())
            entries += self._added
            names = [e.name for e in entries]
            if len(set(names)) != len(names):
                twice = sorted({n for n in names if names.count(n) > 1})
                msg = f"job sections declared twice: {', '.join(twice)}"
                raise TypeError(msg)
            self._found = {e.name: e for e in sorted(entries, key=lambda e: e.order)}
        return self._found

    def register(self, entry: JobSection) -> None:
        """Add a section declared outside :data:`COMPONENT_PACKAGES` (e.g. by a plug-in)."""
        self._added = [e for e in self._added if e.name != entry.name] + [entry]
        self._found = None

    def __getitem__(self, name: str) -> JobSection:
        return self._entries()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def of_kind(self, kind: str) -> list[JobSection]:
        """The sections that build components of ``kind``, in pipeline order."""
        return [e for e in self._entries().values() if e.kind == kind]


#: every job section, in job order (see :class:`_Registry`)
SECTIONS = _Registry()
#: add a job section declared outside hitprep.stages / hitprep.representations
register = SECTIONS.register


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
    def source(self) -> SourceSection:
        section: SourceSection = self.sections["source"]
        return section

    @property
    def output(self) -> OutputSection:
        section: OutputSection = self.sections["output"]
        return section

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
        for name, entry in SECTIONS.items():
            if name in raw:
                sections[name] = entry.validate(f"{where} [{name}]", raw[name])
            elif entry.always:
                sections[name] = entry.validate(
                    f"{where} [{name}]", "" if entry.model is None else {}
                )
        step = sections["source"].step
        for name, value in sections.items():
            if (fits := SECTIONS[name].fits) is not None:
                fits(f"{where} [{name}]", value, step)
        return cls(sections, text, origin, overrides)

    def resolved_json(self) -> str:
        """The validated job as JSON (for provenance)."""
        return json.dumps(plain(self.sections))

    def with_overrides(self, items: Sequence[str]) -> Job:
        """This job with ``key=value`` items applied (as ``--set``), validated again."""
        if not items:
            return self
        raw = {name: _editable(value) for name, value in self.sections.items()}
        return Job.from_dict(
            apply_overrides(raw, list(items)),
            text=self.text,
            origin=self.origin,
            overrides=(*self.overrides, *items),
        )

    def with_flags(self, **flags: Any) -> Job:
        """This job with command-line flags (:data:`FLAGS`) applied as the keys they set.

        A flag that is ``None`` or ``False`` is not given. A flag whose section the job
        does not have is an error (``--detx`` for a job without ``[calibration]``).
        """
        items = []
        for flag, value in flags.items():
            if value is None or value is False:
                continue
            key = FLAGS[flag]
            section = key.partition(".")[0]
            if self.get(section) is None:
                msg = (
                    f"--{flag.replace('_', '-')} sets {key}; {self.origin or 'the job'} has no"
                    f" [{section}] section"
                )
                raise ConfigError(msg)
            items.append(
                f"{key}={json.dumps(value if isinstance(value, bool | int) else str(value))}"
            )
        return self.with_overrides(items)

    def input_files(self) -> dict[str, tuple[Path, str]]:
        """Files the job's sections make it read: ``"section.key"`` -> (path, what it is)."""
        out = {}
        for name, value in self.sections.items():
            if isinstance(value, Section):
                for key, what in value.input_files.items():
                    if path := getattr(value, key):
                        out[f"{name}.{key}"] = (Path(path), what)
        return out

    def with_files_resolved(self) -> Job:
        """This job with the files it reads as absolute paths (workers elsewhere, e.g. Dask,
        do not share this process's working directory)."""
        sections = dict(self.sections)
        for dotted, (path, _) in self.input_files().items():
            name, _, key = dotted.partition(".")
            sections[name] = sections[name].model_copy(update={key: str(path.resolve())})
        return replace(self, sections=sections)

    def to_toml(self) -> str:
        """The validated job as a TOML job file, every key with its value (defaults too) and
        its documentation as a comment; loading it gives the same job."""
        lines: list[str] = []
        for name, value in self.sections.items():
            if lines:
                lines.append("")
            lines += table_lines(name, value)
        return "\n".join(lines) + "\n"


def _editable(value: Any) -> Any:
    """A validated section's value as a table again (for :meth:`Job.with_overrides`)."""
    if isinstance(value, Section):
        return value.model_dump()
    if isinstance(value, tuple) and all(isinstance(v, Section) for v in value):
        return [v.model_dump() for v in value]
    return copy.deepcopy(value)


#: command-line flags that are sugar for a job key (``--detx F`` = ``--set calibration.detx=F``)
FLAGS = {
    "detx": "calibration.detx",
    "layout": "graph.layout",
    "trust_pickle": "source.trust_pickle",
    "step": "source.step",
}


def job_schema() -> dict[str, Any]:
    """A JSON schema of job files (every section of :data:`SECTIONS`), for editors."""
    return json_schema({name: entry.annotation for name, entry in SECTIONS.items()})


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
