"""shuffle: a seeded permutation of every per-event and jagged dataset, in or out of core."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hitprep_files import events_factory, read_events, same_event, write_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitprep.cli import main
from hitprep.errors import FileFormatError, HitprepError
from hitprep.tools.eventfile import EventFile
from hitprep.tools.shuffle import permutation, shuffle


@pytest.fixture
def make_events(tmp_path: Path) -> Callable[..., Path]:
    return events_factory(tmp_path)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(0, 8), max_size=30),
    seed=st.integers(0, 2**31),
    budget=st.sampled_from([1200, 4000, 10**9]),
)
def test_shuffle_permutes_every_dataset_alike(
    sizes: list[int], seed: int, budget: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("shuffle")
    src = write_events(folder / "in.h5", sizes, chunks=3)
    out = folder / "out.h5"
    summary = shuffle(src, out, seed=seed, max_ram=budget)
    events = read_events(src)
    got = read_events(out)
    perm = permutation(len(sizes), seed)
    assert len(got) == len(events)
    for p, ev in enumerate(got):
        assert same_event(events[perm[p]], ev)
    total = EventFile(src).event_bytes().sum()
    assert ("2 passes" in summary.detail) == (total > budget // 3)
    assert sorted(f.name for f in folder.iterdir()) == ["in.h5", "out.h5"]  # no scratch left


def test_shuffle_keeps_layout_and_records_provenance(
    make_events: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_events([4, 1, 0, 6, 2, 5, 3] * 5)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    shuffle(src, a, seed=5, max_ram="2KB")
    shuffle(src, b, seed=5, max_ram="1GB")
    with h5py.File(a) as fa, h5py.File(b) as fb, h5py.File(src) as fs:
        for name in fs:
            if isinstance(fs[name], h5py.Dataset):
                np.testing.assert_array_equal(fa[name][:], fb[name][:])  # same in or out of core
                assert fa[name].chunks == fs[name].chunks
                assert fa[name].compression == fs[name].compression
        info = json.loads(fa.attrs["shuffle"])
        assert (info["seed"], info["passes"]) == (5, 2)
        assert json.loads(fb.attrs["shuffle"])["passes"] == 1
        assert fa.attrs["job"] == fs.attrs["job"]
        np.testing.assert_array_equal(fa["bin_stats/img/time/hist"][:], np.arange(5))
        assert sorted(fa["event_info"]["event_id"]) == list(range(35))
        assert not np.array_equal(fa["event_info"]["event_id"], np.arange(35))


def test_shuffle_refuses_foreign_files_and_huge_events(
    make_events: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_events([2, 300, 1])
    out = tmp_path / "out.h5"
    with pytest.raises(HitprepError, match="event 1 alone takes"):
        shuffle(src, out, max_ram=2000)
    foreign = tmp_path / "orcasong.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros((3, 2), np.float32)
        f.attrs["orcasong"] = "4.8.7"
    with pytest.raises(FileFormatError, match=r"not a hitprep output \(an OrcaSong"):
        shuffle(foreign, out)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(FileFormatError, match="cannot open as HDF5"):
        shuffle(text, out)
    broken = make_events([2, 3])
    with h5py.File(broken, "a") as f:
        idx = f["x_indices"][:]
        idx["index"][1] += 1
        f["x_indices"][:] = idx
    with pytest.raises(FileFormatError, match=r"x_indices.*not stored in event order"):
        shuffle(broken, out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert not out.exists()


def test_shuffle_cli(make_events: Callable[..., Path], tmp_path: Path, capsys: Any) -> None:
    src = make_events([1, 2, 3])
    out = tmp_path / "s.h5"
    code = main(["shuffle", str(src), "-o", str(out), "--seed", "3", "--max-ram", "1KB"])
    assert code == 0
    assert "seed 3, 2 passes" in capsys.readouterr().out
    assert main(["shuffle", str(src), "-o", str(out), "--max-ram", "lots"]) == 1
    assert "cannot read 'lots' as a size" in capsys.readouterr().err
