"""Outputs appear only when complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.atomic import atomic_path, check_output, final_name, partial_path
from hitprep.errors import ConfigError, OutputExistsError


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


@pytest.mark.parametrize("name", [".", "..", "outdir/"])
def test_output_naming_a_folder_is_an_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "outdir").mkdir()
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        check_output(f"{tmp_path}/{name}", overwrite=True)
    with pytest.raises(ConfigError, match="is a folder"):  # even without a trailing slash
        check_output(tmp_path / "outdir", overwrite=True)


def test_output_never_replaces_a_device_or_an_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        check_output("/dev/null", overwrite=True)
    source = tmp_path / "in.h5"
    source.write_text("data")
    with pytest.raises(ConfigError, match="is also an input"):
        check_output(tmp_path / "." / "in.h5", overwrite=True, inputs=[source])
    assert source.read_text() == "data"


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "a.h5"
    gone = tmp_path / ".a.h5.999999999-0badf00d.partial.h5"  # no such process
    old_style = tmp_path / ".a.h5.1234abcd.partial.h5"  # written before pids were in names
    live = partial_path(out)  # this process: still running
    other = tmp_path / ".b.h5.999999999-0badf00d.partial.h5"  # another output's
    longer = tmp_path / ".a.h5.bak.999999999-0badf00d.partial.bak"  # a.h5.bak's
    for p in (gone, old_style, live, other, longer):
        p.write_text("half")
    with atomic_path(out) as tmp:
        tmp.write_text("done")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["a.h5", live.name, other.name, longer.name])
    assert final_name(live) == out and final_name(out) == out


def test_sigterm_landing_in_a_finalizer_still_stops_the_run() -> None:
    """Python swallows an exception raised in ``__del__`` / a weakref callback; a SIGTERM
    that lands there must still stop the run (it is sent again)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import os, signal
        from hitprep.atomic import handle_termination
        from hitprep.errors import Terminated
        handle_termination()
        class Finalized:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                sum(range(1000))  # the handler raises here, inside the finalizer
        try:
            obj = Finalized()
            del obj
            for _ in range(10_000_000):
                pass
            print("ran to the end")
        except Terminated:
            print("stopped")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "stopped", done.stderr
