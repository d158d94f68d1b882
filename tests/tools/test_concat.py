"""concat: events one after another, indices and file indices fixed up, provenance kept."""

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
from hitprep.errors import FileFormatError
from hitprep.tools.concat import concat, merge_accounting


@pytest.fixture
def make_events(tmp_path: Path) -> Callable[..., Path]:
    return events_factory(tmp_path)


def test_concat_round_trip_and_provenance(make_events: Callable[..., Path], tmp_path: Path) -> None:
    a = make_events([3, 0, 5, 2], uid0=0)
    b = make_events([1, 4, 0], uid0=100, hist_offset=10, geometry=2.0)
    out = tmp_path / "c.h5"
    summary = concat([a, b], out, max_ram=200)  # tiny blocks: several per input
    assert summary.events == 7
    assert "geometry/radius" in summary.detail  # differs: dropped and said
    got = read_events(out)
    assert len(got) == 7
    for ev, ref in zip(got[:4], read_events(a), strict=True):
        assert same_event(ref, ev)
    for ev, ref in zip(got[4:], read_events(b), strict=True):
        assert same_event(ref, ev, file_shift=2)  # a has two input records
    with h5py.File(out) as f, h5py.File(a) as fa:
        for name in ("x", "x_indices", "img", "hit_time", "event_info"):
            assert f[name].chunks == fa[name].chunks
            assert f[name].compression == fa[name].compression == "gzip"
        assert list(f["x"].attrs["features"]) == ["uid", "local", "noise"]
        idx = f["x_indices"][:]
        np.testing.assert_array_equal(idx["index"], np.cumsum(idx["n_items"]) - idx["n_items"])
        np.testing.assert_array_equal(f["bin_stats/img/time/hist"][:], 2 * np.arange(5) + 10)
        np.testing.assert_array_equal(f["bin_stats/img/time/cut_off"][:], [12, 14])
        assert "geometry/radius" not in f
        inputs = json.loads(f.attrs["inputs"])
        assert [r["index"] for r in inputs] == [0, 1, 2, 3]
        assert json.loads(f.attrs["accounting"]) == {
            "events_read": 7,
            "events_skipped": {"cut": 4},
        }
        record = json.loads(f.attrs["concat"])
        assert [Path(r["path"]).name for r in record["inputs"]] == [a.name, b.name]
        assert record["inputs"][1]["attrs"]["job"] == "[graph]"
        assert f.attrs["job"] == "[graph]"
        assert "hitprep_version" in f.attrs


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.lists(st.integers(0, 6), max_size=6), min_size=1, max_size=4),
    budget=st.integers(50, 5000),
)
def test_concat_keeps_every_event_once(
    sizes: list[list[int]], budget: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("concat")
    files = [
        write_events(folder / f"{i}.h5", s, uid0=1000 * i, chunks=1) for i, s in enumerate(sizes)
    ]
    out = folder / "out.h5"
    concat(files, out, max_ram=budget)
    expected = [(ev, 2 * i) for i, p in enumerate(files) for ev in read_events(p)]
    got = read_events(out)
    assert len(got) == len(expected)
    for ev, (ref, shift) in zip(got, expected, strict=True):
        assert same_event(ref, ev, file_shift=shift)


def test_incompatible_and_foreign_inputs_fail_without_output(
    make_events: Callable[..., Path], tmp_path: Path
) -> None:
    a = make_events([2, 3])
    b = make_events([1], watchmal=False)
    out = tmp_path / "c.h5"
    with pytest.raises(FileFormatError, match="datasets missing") as err:
        concat([a, b], out)
    assert str(b) in str(err.value)
    with h5py.File(b, "a") as f:
        del f.attrs["hitprep_version"]
    with pytest.raises(FileFormatError, match="not a hitprep output"):
        concat([a, b], out)
    c = make_events([2])
    with h5py.File(c, "a") as f:
        f["x"].attrs["features"] = ["a", "b", "c"]
    with pytest.raises(FileFormatError, match="attribute 'features' differs"):
        concat([a, c], out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file


def test_concat_cli(make_events: Callable[..., Path], tmp_path: Path, capsys: Any) -> None:
    a = make_events([2, 1])
    out = tmp_path / "c.h5"
    assert main(["concat", str(a), str(a), "-o", str(out), "--no-progress"]) == 0
    assert "4 events; 2 inputs" in capsys.readouterr().out
    assert main(["concat", str(a), "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["concat", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "d.h5")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_merge_accounting() -> None:
    assert merge_accounting([{"a": 1, "b": {"c": 2}}, {"a": 2, "b": {"d": 1}}]) == {
        "a": 3,
        "b": {"c": 2, "d": 1},
    }
