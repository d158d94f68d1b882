"""Checks shared by the command-line tests: one error line, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The captured stderr, asserted to be one line without a traceback."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def no_outputs(folder: Path) -> None:
    """``folder`` is empty: no output or temporary file was left behind."""
    assert [p.name for p in folder.iterdir()] == [], "output or temporary file left behind"
