"""Outputs appear only when complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.atomic import atomic_path, partial_path
from hitprep.errors import OutputExistsError


def test_renamed_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "a.txt"
    with atomic_path(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".a.txt.")
        assert tmp.suffix == ".txt"
        tmp.write_text("done")
        assert not out.exists()
    assert out.read_text() == "done"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.txt"]


def test_nothing_left_on_error(tmp_path: Path) -> None:
    out = tmp_path / "b.txt"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "c.txt"
    out.write_text("keep")
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_path(out, overwrite=False):
        pass
    assert out.read_text() == "keep"
    assert partial_path(out) != partial_path(out)  # unique per writer
