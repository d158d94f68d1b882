"""split: every event in exactly one part, fractions kept, groups whole, index files or files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hitprep_files import events_factory, read_events, same_event
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.cli import main
from hitprep.errors import ConfigError, KeyInFileError
from hitprep.tools.split import assign, split


@pytest.fixture
def make_events(tmp_path: Path) -> Callable[..., Path]:
    return events_factory(tmp_path)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 500),
    fractions=st.lists(st.integers(1, 20), min_size=2, max_size=5),
    seed=st.integers(0, 1000),
    n_groups=st.one_of(st.none(), st.integers(1, 40)),
)
def test_assign_properties(n: int, fractions: list[int], seed: int, n_groups: int | None) -> None:
    f = np.asarray(fractions, dtype=float) / sum(fractions)
    keys = np.arange(n) if n_groups is None else np.arange(n) * 7919 % n_groups
    part = assign(keys, f, seed=seed)
    assert part.shape == (n,)
    assert ((part >= 0) & (part < len(f))).all()
    np.testing.assert_array_equal(part, assign(keys, f, seed=seed))  # seeded: repeats
    for key in np.unique(keys):  # no group straddles two parts
        assert len(np.unique(part[keys == key])) == 1
    if n_groups is None:  # per event: fractions within one event
        sizes = np.bincount(part, minlength=len(f))
        assert (np.abs(sizes - f * n) <= 1).all()


def test_index_files(make_events: Callable[..., Path], tmp_path: Path) -> None:
    src = make_events([2] * 40)
    summary = split(src, [0.5, 0.25, 0.25], seed=1, prefix=tmp_path / "s")
    assert "train: 20, val: 10, test: 10" in summary.detail
    parts = []
    for name in ("train", "val", "test"):
        with h5py.File(tmp_path / f"s_{name}.index.h5") as f:
            index = f["index"][:]
            info = json.loads(f.attrs["split"])
        assert (np.diff(index) > 0).all()
        assert info["part"] == name and info["seed"] == 1
        parts.append(index)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(40))


def test_files_by_run_keep_groups_whole(make_events: Callable[..., Path], tmp_path: Path) -> None:
    src = make_events([3, 0, 2, 5, 1, 4, 2, 2, 1, 3, 0, 6], runs=4)
    split(src, [0.5, 0.5], by="run", seed=2, files=True, prefix=tmp_path / "p", max_ram=100)
    events = {int(ev["event_info"]["event_id"]): ev for ev in read_events(src)}
    seen: list[int] = []
    runs: list[set[int]] = []
    for name in ("train", "test"):
        path = tmp_path / f"p_{name}.h5"
        got = read_events(path)
        ids = [int(ev["event_info"]["event_id"]) for ev in got]
        assert ids == sorted(ids)  # input order kept
        for ev in got:
            assert same_event(events[int(ev["event_info"]["event_id"])], ev)
        seen += ids
        runs.append({int(ev["event_info"]["run_id"]) for ev in got})
        with h5py.File(path) as f:
            record = json.loads(f.attrs["split"])
            assert record["by"] == "run_id"
            # bin counts over all events would be counted twice by a later concat: dropped
            assert "bin_stats/img/time/hist" in record["dropped_summaries"]
            assert "bin_stats/img/time/hist" not in f
            assert "bin_stats/img/time/bin_edges" in f  # identical summaries are copied
    assert sorted(seen) == list(range(12))
    assert not runs[0] & runs[1]


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"fractions": [0.8, 0.3]}, ConfigError, "add up to 1"),
        ({"fractions": [1.0]}, ConfigError, "two or more"),
        ({"fractions": [0.5, 0.5], "names": ["a"]}, ConfigError, "one per fraction"),
        ({"fractions": [0.5, 0.5], "by": "runn"}, KeyInFileError, "'run_id'"),
        ({"fractions": [0.98, 0.01, 0.01], "by": "run"}, ConfigError, "no events"),
    ],
)
def test_bad_splits_write_nothing(
    options: dict[str, Any],
    error: type[Exception],
    words: str,
    make_events: Callable[..., Path],
    tmp_path: Path,
) -> None:
    src = make_events([1] * 10, runs=3)
    fractions = options.pop("fractions")
    with pytest.raises(error, match=words):
        split(src, fractions, prefix=tmp_path / "s", **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_split_cli(make_events: Callable[..., Path], tmp_path: Path, capsys: Any) -> None:
    src = make_events([1] * 20)
    code = main(["split", str(src), "--fractions", "0.8,0.2", "--names", "fit,check"])
    assert code == 0
    assert "fit: 16, check: 4" in capsys.readouterr().out
    assert (src.parent / f"{src.stem}_fit.index.h5").exists()
    assert main(["split", str(src), "--fractions", "0.8,0.2", "--names", "fit,check"]) == 1
    assert "exists" in capsys.readouterr().err
