"""MkDocs hook: the CLI and job-file reference pages, generated from the code at build time.

- ``reference/cli.md``: every sub-command's ``--help``, from :func:`hitprep.cli.build_parser`.
- ``reference/jobs.md``: every job section of :data:`hitprep.config.SECTIONS` with its keys,
  types, defaults and documentation, from the section's model
  (:class:`hitprep.jobmodel.Section`: a key's docstring is its documentation), and the presets
  that use it. A section without a model yet is described from its validator (run on an
  empty table and on every shipped preset's table while :func:`hitprep.config.check_keys`
  calls are recorded).

The pages exist only in the built site (``mkdocs build``); ``tests/test_docs.py`` builds them
too, so a parser or validator that stops working fails the tests, not just the docs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from hitprep import config as jobs
from hitprep.cli import build_parser
from hitprep.commands.toy import TOYS
from hitprep.jobmodel import JobSection, Section, key_docs, model_of, plain

__all__ = ["cli_reference", "jobs_reference", "on_files"]

#: width of the generated --help text
COLUMNS = "96"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@contextlib.contextmanager
def _columns() -> Iterator[None]:
    """argparse wraps help text at ``$COLUMNS``: a fixed width for the pages."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _help(parser: argparse.ArgumentParser) -> str:
    with _columns():
        return parser.format_help().rstrip()


def cli_reference() -> str:
    """Markdown of ``hitprep --help`` and each sub-command's ``--help``."""
    parser = build_parser()
    commands = _subcommands(parser)
    lines = [
        "# CLI reference",
        "",
        "Generated from the argument parsers (`hitprep.cli.build_parser`) when the site is built;",
        "`hitprep COMMAND --help` prints the same. Job keys can be set on any converting command",
        "with `--set section.key=value` (see the [job-file reference](jobs.md)).",
        "",
        "```text",
        _help(parser),
        "```",
        "",
    ]
    for name, sub in commands.items():
        lines += [f"## hitprep {name}", "", "```text", _help(sub), "```", ""]
        if name == "toy":
            for toy in TOYS:
                lines += [f"### hitprep toy {toy}", "", "```text", _toy_help(toy), "```", ""]
    return "\n".join(lines)


def _toy_help(name: str) -> str:
    """A toy's ``--help`` (each toy parses its own options)."""
    module, _, function = TOYS[name].partition(":")
    text = io.StringIO()
    with _columns(), contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        getattr(importlib.import_module(module), function)(["--help"])
    return text.getvalue().rstrip()


@contextlib.contextmanager
def _recording_check_keys() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record the ``(where, schema)`` of every :func:`jobs.check_keys` call."""
    target = jobs.check_keys.__code__
    calls: list[tuple[str, dict[str, Any]]] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is target:
            calls.append((frame.f_locals["where"], dict(frame.f_locals["schema"])))

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)


def _presets() -> dict[str, dict[str, Any]]:
    return {
        path.stem: tomllib.loads(path.read_text()) for path in sorted(jobs.PRESETS.glob("*.toml"))
    }


def _probe(validate: Callable[[str, Any], Any], where: str, value: Any) -> None:
    with contextlib.suppress(Exception):  # required keys missing: the schema is recorded anyway
        validate(where, value)


def _type_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
    names |= {"list": "array", "dict": "table"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("|", "\\|")


def _default(value: Any) -> str:
    if value is None:
        return "**required**"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`' if value else '`""` (none)'
    return f"`{value!r}`"


_HEADER = re.compile(r"^\s*\[\[?\s*([\w.]+)\s*\]\]?")
_KEY = re.compile(r"^\s*(\w+)\s*=[^#]*#\s*(.+?)\s*$")


def _key_comments(texts: list[str]) -> dict[tuple[str, str], str]:
    """``(table, key) -> comment`` from ``key = value  # comment`` lines of TOML texts (the
    shipped presets and the job example in :mod:`hitprep.config`): the first one wins."""
    found: dict[tuple[str, str], str] = {}
    for text in texts:
        table = ""
        for line in text.splitlines():
            if header := _HEADER.match(line):
                table = header.group(1)
            elif key := _KEY.match(line):
                found.setdefault((table, key.group(1)), key.group(2))
    return found


def _section_schemas(name: str, presets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sub-table path (``""`` for the section itself) -> schema, for one section without a
    model."""
    validate = jobs.SECTIONS[name].check
    assert validate is not None
    tag = f"[{name}]"
    with _recording_check_keys() as calls:
        empties: tuple[Any, ...] = ({}, [{}])  # a table, or an array of tables
        for empty in empties:
            _probe(validate, tag, empty)
        for raw in presets.values():
            if name in raw:
                _probe(validate, tag, raw[name])
    out: dict[str, dict[str, Any]] = {}
    for where, schema in calls:
        sub = re.sub(r" #\d+", "", where[len(tag) :]).lstrip(".")
        out.setdefault(sub, schema)
    return out


def _comment_texts() -> list[str]:
    """Job examples with comments: hitprep.config's and the presets."""
    presets = [path.read_text() for path in sorted(jobs.PRESETS.glob("*.toml"))]
    return [jobs.__doc__ or "", *presets]


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _json_type(prop: dict[str, Any]) -> str:
    """A JSON-schema property as the type a job file gives (``string``, ``array of number``)."""
    if "enum" in prop:
        return " | ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "anyOf" in prop:
        kinds = [_json_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds))
    if "$ref" in prop:
        return "table"
    kind = prop.get("type", "")
    if kind == "array":
        items = prop.get("items") or {}
        if "prefixItems" in prop or "prefixItems" in items:
            return "array"
        inner = _json_type(items) if items else ""
        return f"array of {inner}" if inner and inner != "array" else "array"
    return {"object": "table"}.get(kind, kind or "any")


def _model_default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = plain(field.get_default(call_default_factory=True))
    if value is None:
        return "not set"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return _default(value)


def _model_rows(model: type[Section]) -> list[str]:
    props = model.model_json_schema()["properties"]
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    docs = key_docs(model)
    for key, field in model.model_fields.items():
        doc = docs.get(key, "")
        rows.append(
            f"| `{key}` | {_cell(_json_type(props[key]))} | {_cell(_model_default(field))} |"
            f" {_cell(doc)} |"
        )
    return rows


def _nested(model: type[Section]) -> dict[str, type[Section]]:
    """Sub-tables of a model (``key -> model``), depth first, as ``a.b`` paths."""
    out: dict[str, type[Section]] = {}
    for key, field in model.model_fields.items():
        inner = model_of(field.annotation)
        if isinstance(inner, type) and issubclass(inner, Section):
            out[key] = inner
            out.update({f"{key}.{k}": m for k, m in _nested(inner).items()})
    return out


def _model_section(entry: JobSection) -> list[str]:
    assert entry.model is not None
    lines = [_first_paragraph(entry.model.__doc__), "", *_model_rows(entry.model), ""]
    for path, model in _nested(entry.model).items():
        lines += [f"### `{entry.name}.{path}`", "", _first_paragraph(model.__doc__), ""]
        lines += [*_model_rows(model), ""]
    return lines


def _legacy_section(name: str, presets: dict[str, dict[str, Any]]) -> list[str]:
    comments = _key_comments(_comment_texts())
    schemas = _section_schemas(name, presets)
    if not schemas:
        return ["A free-form table; see the guide and the presets that use it.", ""]
    lines: list[str] = []
    for sub, schema in schemas.items():
        if sub:
            lines += [f"### `{name}.{sub}`", ""]
        table = f"{name}.{sub}" if sub else name
        lines += ["| key | type | default | note |", "|---|---|---|---|"]
        lines += [
            f"| `{key}` | {_type_name(kind)} | {_default(default)} |"
            f" {_cell(comments.get((table, key), ''))} |"
            for key, (kind, default) in schema.items()
        ]
        lines.append("")
    return lines


def jobs_reference() -> str:
    """Markdown of every job section, its keys, types, defaults and the presets using it."""
    presets = _presets()
    lines = [
        "# Job-file reference",
        "",
        "Generated from the job sections' models (`hitprep.config.SECTIONS`) when the site is",
        "built. A job is a TOML file (or a shipped preset: `hitprep presets`) made of these",
        "sections; a section left out is not built, except `[source]` and `[output]`, which",
        "take their defaults. Unknown keys are errors naming the nearest allowed key; values",
        'are not converted (`"5"` is not an integer). Any key can be overridden on the command',
        "line: `--set source.step=100 --set images.0.dtype=uint32`.",
        "`hitprep presets --show NAME` prints a preset with every key and its description;",
        "`hitprep presets --schema FILE` writes the JSON schema of job files for editors.",
        "",
    ]
    for name, entry in jobs.SECTIONS.items():
        if name == "description":
            lines += ["## `description`", "", "One line shown by `hitprep presets` (string).", ""]
            continue
        lines += [f"## `[[{name}]]`" if entry.array else f"## `[{name}]`", ""]
        if entry.model is not None:
            lines += _model_section(entry)
        else:
            lines += _legacy_section(name, presets)
        used = [p for p, raw in presets.items() if name in raw]
        if used:
            lines += ["Used by the presets " + ", ".join(f"`{p}`" for p in used) + ".", ""]
    return "\n".join(lines)


#: generated page -> its builder
PAGES = {"reference/cli.md": cli_reference, "reference/jobs.md": jobs_reference}


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated pages to the site."""
    from mkdocs.structure.files import File

    for uri, build in PAGES.items():
        files.append(File.generated(config, uri, content=build()))
    return files
