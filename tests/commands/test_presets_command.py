"""hitprep presets: the shipped presets are listed, shown resolved, and described by a schema."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from hitprep.cli import main
from hitprep.config import PRESETS, SECTIONS, list_presets, load_job


def test_presets_lists_the_shipped_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out
    assert "km3net_zt" in listed and "km3net_xyzt" in listed


def test_show_prints_the_resolved_job_with_each_keys_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["presets", "--show", "km3net_zt"]) == 0
    text = capsys.readouterr().out
    assert "step = 250  # Events per chunk" in text  # a default the preset leaves out
    assert "[calibration]\ndetx = " in text and "[[images]]" in text
    job = tmp_path / "job.toml"
    job.write_text(text)  # what --show prints is a job file giving the same job
    assert load_job(job).resolved_json() == load_job("km3net_zt").resolved_json()


def test_schema_names_every_section_and_key(tmp_path: Path) -> None:
    out = tmp_path / "job.schema.json"
    assert main(["presets", "--schema", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(SECTIONS)
    source = schema["$defs"]["SourceSection"]
    assert source["additionalProperties"] is False
    assert source["properties"]["step"] == {
        "default": 250,
        "description": "Events per chunk: what one read, one pass of the stages and one write"
        " hold.",
        "title": "Step",
        "type": "integer",
    }
    images = schema["properties"]["images"]["anyOf"][0]
    assert images["items"] == {"$ref": "#/$defs/ImageSection"}
    for name in list_presets():  # every key of every preset is in the schema
        raw = tomllib.loads((PRESETS / f"{name}.toml").read_text())
        for section, table in raw.items():
            entry = SECTIONS[section]
            if entry.model is None or not isinstance(table, dict):
                continue
            assert set(table) <= set(schema["$defs"][entry.model.__name__]["properties"])
