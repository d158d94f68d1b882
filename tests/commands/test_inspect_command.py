"""hitprep inspect: the datasets and event count of a real input."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.cli import main


def test_inspect_shows_datasets_and_events(
    small_h5: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(small_h5)]) == 0
    shown = capsys.readouterr().out
    assert "hits/time: (" in shown and "40 events" in shown
