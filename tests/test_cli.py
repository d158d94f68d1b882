"""The command line as a whole: help for every command, the version, and the errors every
command shares (a job with a typo, an unknown preset, an existing output), one line each.

Tests of one command live in ``tests/commands/test_<command>_command.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import no_outputs, one_line_error

from hitprep.cli import main


def test_job_with_typo(small_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[source]\nstpe = 10\n[[images]]\nbin_edges = [["time", [0, 1]]]\n')
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["convert", str(job), str(small_h5), "-o", str(out_dir / "x.h5")]) == 1
    err = one_line_error(capsys)
    assert "'stpe'" in err and "did you mean 'step'" in err
    no_outputs(out_dir)


def test_existing_output_is_kept(
    small_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exists.h5"
    out.write_bytes(b"precious")
    args = ["convert", "km3net_zt", str(small_h5), "-o", str(out), "--detx", str(km3net_detx)]
    assert main(args) == 1
    assert "--overwrite" in one_line_error(capsys)
    assert out.read_bytes() == b"precious"
    assert main([*args, "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"\x89HDF"


def test_unknown_preset(small_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "km3net_tz", str(small_h5), "-o", str(tmp_path / "x.h5")]) == 1
    assert "did you mean 'km3net_zt'" in one_line_error(capsys)


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from hitprep.cli import COMMANDS

    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: hitprep" in capsys.readouterr().out


def test_version_is_the_package_metadata_version(capsys: pytest.CaptureFixture[str]) -> None:
    """hitprep keeps its version as a constant (fast start-up); the metadata is built from it."""
    from importlib.metadata import version

    import hitprep

    assert hitprep.__version__ == version("hitprep")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hitprep {hitprep.__version__}"
