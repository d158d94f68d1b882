"""hitprep.jobmodel: strict frozen sections, one-line errors naming the key, docs helpers."""

from __future__ import annotations

import doctest

import pytest
from pydantic import model_validator

import hitprep.jobmodel
from hitprep.errors import ConfigError
from hitprep.jobmodel import Section, json_schema, toml_lines, validate, validate_list


class Axis(Section):
    field: str
    """Field binned along this axis."""
    edges: tuple[float, ...] | dict[str, float] = (0.0, 1.0)
    """Bin edges, or {start, stop, bins}."""


class Example(Section):
    step: int = 250
    """Events per chunk."""
    scale: float = 1.0
    """A factor."""
    axes: tuple[Axis, ...] = ()
    """Axes, in order."""

    @model_validator(mode="after")
    def _positive(self) -> Example:
        if self.step <= 0:
            msg = "step: must be a positive number of events"
            raise ValueError(msg)
        return self


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"stpe": 1},
            "job [x]: unknown key 'stpe'; did you mean 'step'? (allowed: step, scale, axes)",
        ),
        ({"step": "5"}, "job [x].step: expected int, got '5'"),
        ({"step": True}, "job [x].step: expected int, got True"),
        ({"scale": False}, "job [x].scale: expected float, got False"),
        ({"step": 0}, "job [x].step: must be a positive number of events"),
        ({"axes": [{"feld": "t"}]}, "job [x].axes[0]: unknown key 'feld'; did you mean 'field'?"),
        ({"axes": [{}]}, "job [x].axes[0]: missing required key 'field'"),
        ({"axes": [{"field": "t", "edges": 3}]}, "job [x].axes[0].edges: expected list/table"),
        ("nope", "job [x]: expected a table, got 'nope'"),
    ],
)
def test_errors_are_one_line_naming_the_key(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(Example, "job [x]", raw)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_values_are_frozen_tuples_and_read_like_tables() -> None:
    section = validate(Example, "job [x]", {"scale": 2, "axes": [{"field": "t", "edges": [1, 2]}]})
    assert section.scale == 2.0 and isinstance(section.scale, float)
    assert section.axes[0].edges == (1.0, 2.0)
    assert section["step"] == 250 and section.get("missing", 7) == 7
    assert dict(section)["scale"] == 2.0
    assert validate(Example, "job [x]", section) is section
    with pytest.raises(ValueError, match="frozen"):
        section.step = 3


def test_array_of_tables_counts_from_one() -> None:
    with pytest.raises(ConfigError, match=r"^job \[axes\] #2: missing required key 'field'"):
        validate_list(Axis, "job [axes]", [{"field": "a"}, {}])


def test_toml_lines_round_trip_with_comments() -> None:
    import tomllib

    section = validate(Example, "job [x]", {"axes": [{"field": "t"}]})
    text = "\n".join(toml_lines("x", section))
    assert "step = 250  # Events per chunk." in text
    assert "[[x.axes]]" in text
    assert validate(Example, "again", tomllib.loads(text)["x"]) == section


def test_json_schema_names_every_key_with_its_doc() -> None:
    schema = json_schema({"x": Example, "description": str})
    x = schema["$defs"]["Example"]
    assert x["additionalProperties"] is False
    assert x["properties"]["step"]["description"] == "Events per chunk."
    assert schema["additionalProperties"] is False


def test_module_docstring_example_runs() -> None:
    assert doctest.testmod(hitprep.jobmodel).failed == 0
