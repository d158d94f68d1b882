"""Job files: validation errors name the key; overrides; presets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hitprep.config import list_presets, load_job
from hitprep.errors import ConfigError


def test_presets_validate() -> None:
    presets = list_presets()
    assert {"km3net_zt", "km3net_xyzt"} <= set(presets)
    for name, description in presets.items():
        assert description, name
        load_job(name)
    zt = load_job("km3net_zt").get("images")[0]
    assert [f for f, _ in zt.axes] == ["pos_z", "time"]
    np.testing.assert_array_equal(zt.axes[0][1], np.linspace(50, 700, 19))
    np.testing.assert_array_equal(zt.axes[1][1], np.linspace(-250, 1000, 101))
    xyzt = load_job("km3net_xyzt").get("images")[0]
    assert [len(e) - 1 for _, e in xyzt.axes] == [12, 12, 18, 60]


@pytest.mark.parametrize("name", ["km3net_tz", "presets/km3net_zt", "../km3net_zt"])
def test_unknown_preset_names_the_nearest(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_job(name)
    message = str(info.value)
    assert f"unknown preset {name!r}" in message and "km3net_graph_fixed" in message
    if name == "km3net_tz":
        assert "did you mean 'km3net_zt'" in message


def _job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sorce]\n", "unknown section 'sorce'; did you mean 'source'"),
        ("[source]\nstep = 0\n", r"\[source\].step: must be a positive"),
        ("[source]\nstep = true\n", r"step: expected int, got True"),
        ("[[images]]\nname = 'x'\n", "missing required key 'bin_edges'"),
        ("[[images]]\nbin_edges = [['t', [1, 0]]]\n", "at least two finite, increasing numbers"),
        (
            "[[images]]\nbin_edges = [['t', {start = 0, stop = 1}]]\n",
            r"\[images\] #1.bin_edges\[0\]\[1\]: missing required key 'bins'",
        ),
        (
            "[[images]]\nbin_edges = [['t', [0, 1]]]\n[[images]]\nbin_edges = [['t', [0, 1]]]\n",
            "image names must differ",
        ),
        ("[calibration]\ncorrect_timeslw = false\n", "did you mean 'correct_timeslew'"),
        ("[source\n", "invalid TOML"),
    ],
)
def test_bad_jobs(tmp_path: Path, text: str, message: str | None) -> None:
    path = _job(tmp_path, text)
    if message is None:  # edges are checked when the pipeline is built
        from hitprep.pipeline import Pipeline

        with pytest.raises(ValueError, match="strictly increasing"):
            Pipeline(load_job(path))
        return
    with pytest.raises(ConfigError, match=message):
        load_job(path)


def test_overrides(tmp_path: Path) -> None:
    job = load_job(
        "km3net_zt",
        overrides=["source.step=10", "images.0.dtype=uint32", "labels.extractor=mymod:func"],
    )
    assert job.source["step"] == 10
    assert job.get("images")[0].dtype == "uint32"
    assert job.get("labels")["extractor"] == "mymod:func"
    assert job.overrides == (
        "source.step=10",
        "images.0.dtype=uint32",
        "labels.extractor=mymod:func",
    )
    with pytest.raises(ConfigError, match="expected key=value"):
        load_job("km3net_zt", overrides=["source.step"])
    with pytest.raises(ConfigError, match="not an index"):
        load_job("km3net_zt", overrides=["images.3.dtype=uint8"])
    with pytest.raises(ConfigError, match="unknown key 'stepp'"):
        load_job("km3net_zt", overrides=["source.stepp=3"])


def test_flags_are_job_keys(km3net_detx: Path) -> None:
    plain = load_job("km3net_graph")
    job = plain.with_flags(detx=km3net_detx, layout="orcasong", step=50, trust_pickle=None)
    assert job.get("calibration").detx == str(km3net_detx)
    assert job.get("graph").layout == "orcasong" and job.source.step == 50
    assert job.overrides[-1] == "source.step=50"
    same = load_job(
        "km3net_graph",
        overrides=[
            f"calibration.detx={km3net_detx}",
            "graph.layout=orcasong",
            "source.step=50",
        ],
    )
    assert job.resolved_json() == same.resolved_json()
    assert job.input_files() == {"calibration.detx": (km3net_detx, "detector file")}
    assert plain.input_files() == {}
    with pytest.raises(ConfigError, match=r"--layout sets graph.layout; preset km3net_zt has no"):
        load_job("km3net_zt").with_flags(layout="orcasong")
    with pytest.raises(ConfigError, match=r"\[source\].step: must be a positive number"):
        plain.with_flags(step=0)


def test_files_a_job_reads_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    job = load_job("km3net_zt", overrides=["calibration.detx=det.detx"])
    resolved = job.with_files_resolved()
    assert resolved.get("calibration").detx == str(tmp_path / "det.detx")
    assert resolved.get("images")[0].axes[0][0] == "pos_z"  # other sections as they were
    assert resolved.resolved_json() != job.resolved_json()
