"""hitprep presets: the shipped presets are listed."""

from __future__ import annotations

import pytest

from hitprep.cli import main


def test_presets_lists_the_shipped_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out
    assert "km3net_zt" in listed and "km3net_xyzt" in listed
