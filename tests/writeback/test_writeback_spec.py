"""The writeback job sections as typed models: validated once, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.config import Job, load_job
from hitprep.errors import ConfigError
from hitprep.writeback.spec import ModelSection, WritebackSection, WritebackSpec


def test_the_preset_sections_are_typed_models() -> None:
    job = load_job("nanoaod_flashsim")
    section = job.get("writeback")
    assert isinstance(section, WritebackSection)
    assert section.event_fields == ("run", "luminosityBlock", "event")
    models = job.get("model")
    assert [type(m) for m in models] == [ModelSection, ModelSection]
    muons = models[1]
    assert muons.where == "[[model]] Muon"
    assert muons.select == {"pdgId": (13, -13), "status": (1,)}  # numbers as written


def test_the_spec_is_put_together_from_the_validated_sections() -> None:
    job = load_job("nanoaod_flashsim", overrides=["writeback.upsample=3", "source.step=500"])
    spec = WritebackSpec.from_job(job)
    assert all(a is b for a, b in zip(spec.models, job.get("model"), strict=True))
    assert (spec.upsample, spec.step, spec.tree, spec.seed) == (3, 500, "Events", 2015)
    assert [t.op for t in spec.chain("Jet", "pt")] == ["log"]
    assert spec.chain("Jet", "eta") == ()
    assert spec.origin == job.origin


def test_defaults_are_filled_and_dtypes_named() -> None:
    raw = {
        "writeback": {"fill_value": 1},
        "model": {"collection": "Jet", "generator": "m:f", "dtypes": {"pt": "f4"}},
    }
    job = Job.from_dict(raw)
    (model,) = job.get("model")
    assert model.conditioning == "Jet"  # the output collection by default
    assert model.dtypes == {"pt": "float32"}
    assert job.get("writeback").fill_value == 1.0
    assert isinstance(job.get("writeback").fill_value, float)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"upsample": 0}, r"^writeback\.upsample: must be a positive integer, got 0$"),
        ({"order": "random"}, r"^writeback\.order: expected one of blocks, adjacent, got"),
        ({"step": 0}, r"^writeback\.step: must be a positive number of events, got 0$"),
        ({"seed": -2}, r"^writeback\.seed: must be a non-negative integer, got -2$"),
        ({"upsample": "2"}, r"^writeback\.upsample: expected int, got '2'$"),
    ],
)
def test_options_are_checked_as_the_job_keys_are(options: dict[str, object], message: str) -> None:
    spec = WritebackSpec.from_job(load_job("nanoaod_flashsim"))
    with pytest.raises(ConfigError, match=message):
        spec.with_options(**options)


def test_options_replace_the_job_values() -> None:
    spec = WritebackSpec.from_job(load_job("nanoaod_flashsim"))
    assert spec.with_options(upsample=None) is spec
    changed = spec.with_options(upsample=4, order="adjacent", seed=7, step=100)
    assert (changed.upsample, changed.order, changed.seed, changed.step) == (4, "adjacent", 7, 100)
    assert changed.models == spec.models


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"writeback": {"event_fields": ["run", 3]}},
            r"job\.toml \[writeback\]\.event_fields\[1\]: expected str, got 3",
        ),
        (
            {"writeback": {"copy_trees": ["Runs", "Runs"]}},
            r"\[writeback\]\.copy_trees: names repeat in \['Runs', 'Runs'\]",
        ),
        (
            {"writeback": {"compression": "gzip"}},
            r"job\.toml \[writeback\]: compression 'gzip': expected <algorithm>",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f", "select": {"pdgId": True}}]},
            r"\[model\] #1\.select\.pdgId: expected a list of allowed numbers, got True",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f"}, {"collection": "Mu"}]},
            r"\[model\] #2: missing required key 'generator'",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f", "noize": 1}]},
            r"\[model\] #1: unknown key 'noize'; did you mean 'noise'\?",
        ),
    ],
)
def test_errors_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Job.from_dict(raw, origin="job.toml")


def test_a_job_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wb.toml"
    path.write_text('[writeback]\norder = "shuffled"\n')
    with pytest.raises(ConfigError, match=r"wb\.toml.*\[writeback\]\.order: expected one of"):
        load_job(str(path))
