"""hitprep binstats: the bin statistics of real conversions, plotted to a PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.cli import main


def test_binstats_plot(
    small_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "zt.h5"
    assert (
        main(["convert", "km3net_zt", str(small_h5), "-o", str(out), "--detx", str(km3net_detx)])
        == 0
    )
    plot = tmp_path / "stats.png"
    assert main(["binstats", str(out), str(out), "--save-as", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
