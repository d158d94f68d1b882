"""Family 3: an output never replaces an input of the same command, a folder or a device."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hitprep.cli import main


@pytest.fixture
def detx(km3net_detx: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "det.detx"
    shutil.copyfile(km3net_detx, copy)
    return copy


def _convert(km3net_h5: Path, detx: Path, out: str) -> list[str]:
    return ["convert", "km3net_zt", str(km3net_h5), "--detx", str(detx), "-o", out, "--overwrite"]


def test_output_onto_the_detector_file_is_refused(
    km3net_h5: Path, detx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = detx.read_bytes()
    assert main(_convert(km3net_h5, detx, str(detx))) == 1
    err = capsys.readouterr().err
    reason = f"output {detx} is also an input ({detx}); choose another output name"
    assert err.strip() == f"hitprep convert: error: {reason}"
    assert detx.read_bytes() == before


def test_output_onto_the_job_file_is_refused(
    km3net_h5: Path, detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.toml"
    job.write_text('preset = "km3net_zt"\n')
    args = ["convert", str(job), str(km3net_h5), "-o", str(job), "--overwrite"]
    assert main(args) == 1
    assert "is also an input" in capsys.readouterr().err
    assert job.read_text() == 'preset = "km3net_zt"\n'


@pytest.mark.parametrize("name", [".", "outdir/", "outdir"])
def test_output_naming_a_folder_is_one_clear_line(
    name: str,
    km3net_h5: Path,
    detx: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outdir").mkdir()
    assert main(_convert(km3net_h5, detx, name)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hitprep convert: error: output {name} is a folder; give a file name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det.detx", "outdir"]
    assert list((tmp_path / "outdir").iterdir()) == []


def test_output_onto_a_device_is_refused(
    km3net_h5: Path, detx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_convert(km3net_h5, detx, "/dev/null")) == 1
    assert "/dev/null exists and is not a regular file" in capsys.readouterr().err
    assert not Path("/dev/null").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "{model}", "{data}", "-o", "{data}", "--overwrite"],
        ["writeback", "nanoaod_flashsim", "{data}", "-o", "{data}", "--overwrite"],
        ["shuffle", "{data}", "-o", "{data}", "--overwrite"],
    ],
)
def test_output_onto_the_data_a_command_reads_is_refused(
    args: list[str], km3net_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "mix.h5"
    shutil.copyfile(km3net_h5, data)
    model = tmp_path / "best.pt"
    model.write_bytes(b"weights")
    filled = [a.format(model=model, data=data) for a in args]
    assert main(filled) == 1
    assert f"output {data} is also an input ({data})" in capsys.readouterr().err
    assert data.read_bytes() == km3net_h5.read_bytes()


def test_python_api_refuses_the_detector_file_as_output(km3net_h5: Path, detx: Path) -> None:
    from hitprep.config import load_job
    from hitprep.errors import ConfigError
    from hitprep.runners import convert

    before = detx.read_bytes()
    with pytest.raises(ConfigError, match="is the detector file"):
        convert(load_job("km3net_zt"), [km3net_h5], detx, detx=detx, overwrite=True)
    assert detx.read_bytes() == before
