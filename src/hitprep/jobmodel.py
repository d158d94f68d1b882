"""Typed job sections: the base model, the one translation of validation errors, docs helpers.

Every section of a job file is a :class:`Section` (a frozen pydantic model that forbids
unknown keys and converts nothing silently: ``"5"`` is not an integer, ``true`` is not a
number). Each key is a typed attribute whose docstring is its documentation: the same text
appears in ``hitprep presets --show``, the JSON schema of the job file and the generated
key reference. A section is validated once, with :func:`validate`::

    >>> from hitprep.jobmodel import Section, validate
    >>> class Output(Section):
    ...     compression: str = "gzip"
    ...     '''HDF5 filter.'''
    ...     compression_level: int = 1
    ...     '''gzip level 0-9.'''
    >>> validate(Output, "job [output]", {"compression_level": 4}).compression_level
    4
    >>> validate(Output, "job [output]", {"compresion": "lzf"})
    Traceback (most recent call last):
    ...
    hitprep.errors.ConfigError: job [output]: unknown key 'compresion'; did you mean \
'compression'? (allowed: compression, compression_level)

Checks across keys are ``model_validator(mode="after")`` methods raising ``ValueError``
with a message that starts with the key (``"step: must be positive"``); the error then
reads ``job [source].step: must be positive``.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import itertools
import json
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from hitprep.errors import ConfigError, nearest

__all__ = [
    "JobSection",
    "Section",
    "describe_error",
    "json_schema",
    "key_docs",
    "model_of",
    "plain",
    "table_lines",
    "toml_lines",
    "validate",
    "validate_list",
]

S = TypeVar("S", bound=BaseModel)

#: pydantic error type -> the kind a user wrote the wrong value for
_KINDS = {
    "int_type": "int",
    "int_parsing": "int",
    "float_type": "float",
    "float_parsing": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "str",
    "tuple_type": "list",
    "list_type": "list",
    "dict_type": "table",
    "model_type": "table",
    "model_attributes_type": "table",
    "none_required": "nothing",
    "callable_type": "function",
    "is_instance_of": "value of the right type",
}


class Section(BaseModel):
    """Base of every job section: frozen, strict, unknown keys are errors.

    A key's documentation is the docstring under its attribute. Item access
    (``section["key"]``, ``section.get("key")``) reads attributes, for code that still
    treats sections as tables.

    Attributes:
        input_files: keys naming files the section makes the job read (key -> what the
            file is, for messages), relative to the working directory: a job records
            them as absolute paths before work goes to other processes, and their
            identity is part of a job's resume key.
    """

    input_files: ClassVar[dict[str, str]] = {}

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        arbitrary_types_allowed=True,
        defer_build=True,  # built when first used: a job builds only its sections' models
    )

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when the section has no such key."""
        return getattr(self, key) if key in type(self).model_fields else default

    def keys(self) -> list[str]:
        """The section's keys (so that ``**section`` and ``dict(section)`` work)."""
        return list(type(self).model_fields)

    def plain(self) -> dict[str, Any]:
        """The section as JSON-ready values (tuples as lists, functions as module:name)."""
        return {key: plain(getattr(self, key)) for key in type(self).model_fields}


def plain(value: Any) -> Any:
    """``value`` as JSON-ready values: sections as tables, tuples as lists, numpy arrays as
    lists, functions as ``module:name``."""
    if isinstance(value, Section):
        return value.plain()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if callable(value):  # a function given from Python (e.g. a label extractor)
        return f"{value.__module__}:{getattr(value, '__qualname__', repr(value))}"
    return value


@functools.cache
def key_docs(model: type[BaseModel]) -> dict[str, str]:
    """The documentation of each key of ``model``: the docstring under its attribute.

    Read from the source when asked (for ``--show``, the schema and the docs), not when the
    model is defined: a job's start-up does not parse the modules that declare sections.
    """
    out: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, Section)) or cls is Section:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                out[stmt.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return out


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples (the models are frozen: their sequences are tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def validate(model_cls: type[S], where: str, raw: Any) -> S:
    """``raw`` (a parsed TOML table, or already a ``model_cls``) validated as ``model_cls``.

    Args:
        model_cls: the section's model.
        where: what the table is, for the message (``"preset km3net_zt [source]"``).
        raw: the table.

    Raises:
        ConfigError: one line naming ``where.key`` and what is wrong; an unknown key with
            the nearest allowed key.
    """
    if isinstance(raw, model_cls):
        return raw
    try:
        return model_cls.model_validate(_tuples(raw))
    except ValidationError as err:
        raise ConfigError(describe_error(model_cls, where, err)) from None


def validate_list(model_cls: type[S], where: str, raw: Any) -> tuple[S, ...]:
    """An array of tables (``[[name]]``), each validated as ``model_cls`` (``where #1``...)."""
    if not isinstance(raw, list | tuple):
        msg = f"{where}: expected [[...]] tables, got {raw!r}"
        raise ConfigError(msg)
    return tuple(validate(model_cls, f"{where} #{i + 1}", item) for i, item in enumerate(raw))


def _lists(value: Any) -> Any:
    """A value as the user wrote it (TOML arrays are lists), for messages."""
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


#: names pydantic gives the members of a union in an error's location
_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "tuple", "dict", "callable"})


def model_of(annotation: Any) -> Any:
    """The model (or mapping) a value of ``annotation`` is made of: through tuples, unions,
    ``Annotated`` and mappings' values."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return model_of(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin in (tuple, list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (found := model_of(arg)) is not None:
                return found
    return None


def _walk(model: Any, loc: Sequence[int | str]) -> tuple[str, Any]:
    """``loc`` as the user writes it (``.key``, `` #1`` for a top-level list item, ``[i]``),
    and the model the last part belongs to (None when not a model). Parts that name a
    union member (pydantic adds them) are dropped."""
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f" #{part + 1}" if i == 0 else f"[{part}]"
            continue
        fields = getattr(model, "model_fields", None)
        if part in _TAGS or "[" in part or part.startswith("function-"):
            continue  # a union member's name
        if fields is not None and part == getattr(model, "__name__", None):
            continue  # a union member that is a model
        if fields is None:
            text += f".{part}"
            continue
        if part not in fields:
            text += f".{part}"
            model = None
            continue
        text += f".{part}"
        model = model_of(fields[part].annotation)
    return text, model


def describe_error(model_cls: type[BaseModel], where: str, err: ValidationError) -> str:
    """One line for the first problem pydantic found (union alternatives merged)."""
    errors = err.errors(include_url=False)
    # unknown keys first, then the deepest: of a union's alternatives, the one that took
    # the value's shape and failed inside says most
    errors.sort(key=lambda e: (e["type"] != "extra_forbidden", -len(e["loc"])))
    first = errors[0]
    loc = first["loc"]
    kind = first["type"]
    if kind == "extra_forbidden":
        path, owner = _walk(model_cls, loc[:-1])
        key = str(loc[-1])
        allowed = list(getattr(owner, "model_fields", {}))
        close = nearest(key, allowed)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{where}{path}: unknown key {key!r}{hint} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        path, _ = _walk(model_cls, loc[:-1])
        return f"{where}{path}: missing required key {loc[-1]!r}"
    path, owner = _walk(model_cls, loc)
    same = [e for e in errors if _walk(model_cls, e["loc"])[0] == path]
    what = _what(same)
    key, sep, rest = what.partition(": ")
    name = key.split("[")[0].split(".")[0]
    if sep and " " not in key and name in getattr(owner, "model_fields", {}):  # names its key
        return f"{where}{path}.{key}: {rest}"
    return f"{where}{path}: {what}"


def _what(errors: list[ErrorDetails]) -> str:
    first = errors[0]
    if first["type"] == "value_error":
        return str((first.get("ctx") or {}).get("error", first["msg"]))
    got = f", got {_lists(first['input'])!r}"
    if first["type"] in ("model_type", "dict_type") and not isinstance(first["input"], dict):
        return f"expected a table{got}"
    kinds = [_KINDS.get(e["type"]) for e in errors]
    if all(kinds):
        return f"expected {'/'.join(dict.fromkeys(k for k in kinds if k))}{got}"
    if first["type"] == "literal_error":
        expected = (first.get("ctx") or {}).get("expected", "")
        return f"expected one of {expected}{got}"
    msg = first["msg"]
    return f"{msg[:1].lower()}{msg[1:]}{got}"


def json_schema(sections: Mapping[str, Any], *, title: str = "hitprep job") -> dict[str, Any]:
    """A JSON schema (draft 2020-12) of a job file whose sections have these annotations
    (a :class:`Section` subclass, ``tuple[Model, ...]`` for an array of tables, ``str`` ...).
    """
    from pydantic import create_model

    fields: dict[str, Any] = {name: (kind | None, None) for name, kind in sections.items()}
    job = create_model("Job", __config__=ConfigDict(extra="forbid"), **fields)
    schema: dict[str, Any] = job.model_json_schema()
    for model in _models(sections.values()):
        found = schema.get("$defs", {}).get(model.__name__, {}).get("properties", {})
        for key, doc in key_docs(model).items():
            if key in found and doc:
                found[key]["description"] = doc
    schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _models(annotations: Iterable[Any]) -> list[type[Section]]:
    """Every section model reachable from ``annotations`` (through keys that are tables)."""
    out: list[type[Section]] = []
    todo = [model_of(a) for a in annotations]
    while todo:
        model = todo.pop()
        if isinstance(model, type) and issubclass(model, Section) and model not in out:
            out.append(model)
            todo += [model_of(f.annotation) for f in model.model_fields.values()]
    return out


def _toml_value(value: Any) -> str:
    value = plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return f"{{{inner}}}" if inner else "{}"
    if isinstance(value, list):
        return f"[{', '.join(_toml_value(v) for v in value)}]"
    return repr(value)


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _doc_line(model: type[BaseModel], key: str) -> str:
    return key_docs(model).get(key, "")


def table_lines(name: str, value: Any) -> Iterator[str]:
    """A section's value as TOML: a model with its keys' documentation as comments, an array
    of models as ``[[name]]`` tables, a plain table (or array of tables) as it is."""
    if isinstance(value, Section):
        yield from toml_lines(name, value)
    elif isinstance(value, tuple | list) and value and all(isinstance(v, Section) for v in value):
        for i, item in enumerate(value):
            if i:
                yield ""
            yield from toml_lines(name, item, array=True)
    elif isinstance(value, Mapping):
        yield f"[{name}]"
        yield from (f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
    elif isinstance(value, tuple | list) and all(isinstance(v, Mapping) for v in value):
        for i, item in enumerate(value):
            if i:
                yield ""
            yield f"[[{name}]]"
            yield from (f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items())
    else:
        yield f"{_toml_key(name)} = {_toml_value(value)}"


def toml_lines(name: str, section: Section, *, array: bool = False) -> Iterator[str]:
    """``section`` as TOML, each key with its documentation as a comment.

    Nested sections are written as sub-tables (``[name.key]``) after the plain keys.
    """
    model = type(section)
    yield f"[[{name}]]" if array else f"[{name}]"
    nested: list[tuple[str, Any]] = []
    for key in model.model_fields:
        value = getattr(section, key)
        if isinstance(value, Section) or (
            isinstance(value, tuple) and value and all(isinstance(v, Section) for v in value)
        ):
            nested.append((key, value))
            continue
        doc = _doc_line(model, key)
        line = f"{key} = {_toml_value(value)}" if value is not None else f"# {key} = (not set)"
        yield f"{line}  # {doc}" if doc else line
    for key, value in nested:
        doc = _doc_line(model, key)
        yield ""
        if doc:
            yield f"# {doc}"
        if isinstance(value, Section):
            yield from toml_lines(f"{name}.{key}", value)
        else:
            for i, item in enumerate(value):
                if i:
                    yield ""
                yield from toml_lines(f"{name}.{key}", item, array=True)


Kind = Literal["job", "stage", "representation"]


@dataclass(frozen=True)
class JobSection:
    """A section of job files and what it builds; a component module declares its own.

    A module of :mod:`hitprep.stages` or :mod:`hitprep.representations` lists its sections
    in a module-level ``JOB_SECTIONS`` tuple; :data:`hitprep.config.SECTIONS` finds them
    (``hitprep.config.register`` adds one from elsewhere, e.g. a plug-in).

    Attributes:
        name: the section's name in job files (``[name]``, or ``[[name]]`` when ``array``).
        model: its options; ``None`` for a section still validated by ``check``.
        order: where the section sits in a job (and its components in the pipeline):
            stages run, and representations write, in this order.
        kind: ``"stage"`` and ``"representation"`` sections build pipeline components.
        build: ``(job, options) -> [components]`` (or ``"module:function"``).
        array: an array of tables, each a ``model``.
        check: ``(where, raw) -> value``, the validator when the model is not all (checks
            across the tables of an array) or a section has no model yet.
        fits: ``(where, value, step)``, raises ConfigError when a chunk of ``step`` events
            of what the section makes would not fit in memory.
        always: in every job, with its defaults, when the file leaves it out.
    """

    name: str
    model: type[Section] | None
    order: int
    kind: Kind = "job"
    build: Callable[..., Sequence[Any]] | str | None = None
    array: bool = False
    check: Callable[[str, Any], Any] | None = None
    fits: Callable[[str, Any, int], None] | None = None
    always: bool = False

    def validate(self, where: str, raw: Any) -> Any:
        """The section's value: a model (a tuple of them for an array of tables)."""
        if self.check is not None:
            return self.check(where, raw)
        if self.model is None:
            msg = f"section {self.name!r} has neither a model nor a check"
            raise TypeError(msg)
        if self.array:
            return validate_list(self.model, where, raw)
        return validate(self.model, where, raw)

    def builder(self) -> Callable[..., Sequence[Any]]:
        """The ``build`` function (imported when given as ``"module:function"``)."""
        if isinstance(self.build, str):
            module, _, name = self.build.partition(":")
            built: Callable[..., Sequence[Any]] = getattr(importlib.import_module(module), name)
            return built
        if self.build is None:
            msg = f"section {self.name!r} builds nothing"
            raise TypeError(msg)
        return self.build

    @property
    def annotation(self) -> Any:
        """The section's type in a job file (for the JSON schema)."""
        if self.model is None:
            return str if self.name == "description" else Any
        return tuple[self.model, ...] if self.array else self.model  # type: ignore[name-defined]
