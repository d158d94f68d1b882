"""Writeback over many inputs: the same outputs from any runner, resume, failures named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hitprep.cli import main
from hitprep.config import load_job


def _events_tree(path: Path) -> dict[str, Any]:
    import uproot

    with uproot.open(path) as f:
        return {k: v for k, v in f["Events"].arrays(library="np").items()}


def test_writeback_many_inputs_same_outputs_any_runner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hitprep.runners.writeback import writeback_files
    from hitprep.toys.nanoaod import write_toy_nanoaod
    from hitprep.writeback import writeback

    job = load_job("nanoaod_flashsim")
    toys = [write_toy_nanoaod(tmp_path / "in" / f"nano{i}.root", 11 + i, seed=i) for i in range(3)]
    single = tmp_path / "single"
    for toy in toys:
        writeback(job, toy, single / f"{toy.stem}.root", upsample=2)
    serial = writeback_files(job, toys, tmp_path / "serial", upsample=2)
    assert serial.runner == "serial" and serial.events_read == 11 + 12 + 13
    assert serial.events_written == 2 * serial.events_read
    two = writeback_files(job, toys, tmp_path / "two", upsample=2, workers=2)
    assert two.runner == "processes x2"
    for toy in toys:
        expected = _events_tree(single / f"{toy.stem}.root")
        for folder in ("serial", "two"):
            got = _events_tree(tmp_path / folder / f"{toy.stem}.root")
            assert sorted(got) == sorted(expected)
            for name, values in expected.items():
                if values.dtype == object:  # jagged branches
                    assert all(np.array_equal(a, b) for a, b in zip(got[name], values, strict=True))
                else:
                    np.testing.assert_array_equal(got[name], values)

    # a rerun keeps what is done; a corrupt input fails alone with --keep-going
    again = writeback_files(job, toys, tmp_path / "two", upsample=2)
    assert again.resumed == 3
    bad = tmp_path / "in" / "broken.root"
    bad.write_bytes(b"root" + b"\0" * 100)
    args = ["writeback", "nanoaod_flashsim", *map(str, [*toys, bad]), "-o", str(tmp_path / "two")]
    assert main([*args, "--upsample", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    assert main([*args, "--upsample", "2", "--keep-going"]) == 3
    captured = capsys.readouterr()
    assert "3 resumed, 1 failed" in captured.out
    assert str(bad) in captured.err
    assert not (tmp_path / "two" / "broken.root").exists()
