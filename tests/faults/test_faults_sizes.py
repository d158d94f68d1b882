"""Family 5: sizes that cannot fit in memory are refused before anything is allocated.

The message says how much memory the setting would take. Before, each of these reached
numpy's allocator (a MemoryError traceback, or a machine swapping until the kernel killed
the process).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.errors import ConfigError

GIB = r"would take [\d,.]+ GiB of memory; this machine has [\d,.]+ GiB"


@pytest.mark.parametrize(
    ("preset", "override", "where"),
    [
        ("ldmx_xyz", "ldmx_images.0.dim=1000000", r"\[ldmx_images\] #1.dim: a chunk of"),
        ("km3net_graph_fixed", "graph.max_n_hits=100000000", r"\[graph\].max_n_hits: a chunk"),
        (
            "km3net_zt",
            "images.0.bin_edges=[['time', {start=0, stop=1, bins=1000000000000}]]",
            r"bins: its bin edges",
        ),
    ],
)
def test_sizes_bounded_by_memory(preset: str, override: str, where: str) -> None:
    with pytest.raises(ConfigError, match=f"{where}.* {GIB}"):
        load_job(preset, overrides=[override])


def test_upsample_bounded_by_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hitprep.toys.nanoaod import write_toy_nanoaod

    toy = write_toy_nanoaod(tmp_path / "toy.root", 20, seed=1)
    out = tmp_path / "up.root"
    args = ["writeback", "nanoaod_flashsim", str(toy), "-o", str(out), "--upsample", str(10**12)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hitprep writeback: error: upsample: the per-event offsets of")
    assert len(err.splitlines()) == 1 and "GiB of memory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.root"]


def test_acts_toy_bounded_by_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hitprep.cli import main

    out = tmp_path / "acts"
    assert main(["toy", "acts", "-n", "100000000000", "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "100,000,000,000 events per file would take" in err and "GiB" in err
    assert not out.exists()
