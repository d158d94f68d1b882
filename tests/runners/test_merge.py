"""Shards -> one output: a merge equals the shard, graph offsets are shifted, virtual outputs
read their shards from anywhere, progress shows the merge."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from runner_helpers import EVENTS, N_FILES, assert_same, run_convert

from hitprep.config import Job, load_job

pytest_plugins = ["runner_fixtures"]  # inputs, job, flaky_job


def test_single_task_written_directly_equals_its_shard(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    direct = run_convert(job, inputs[:1], tmp_path / "direct.h5", km3net_detx)
    assert direct.runner == "direct"
    sharded = run_convert(job, inputs[:1], tmp_path / "sharded.h5", km3net_detx, resume=True)
    assert sharded.runner == "serial"
    assert_same(tmp_path / "direct.h5", tmp_path / "sharded.h5")
    with h5py.File(tmp_path / "direct.h5") as a, h5py.File(tmp_path / "sharded.h5") as b:
        assert a["x"].chunks == b["x"].chunks  # the merge keeps the shard's layout


def test_progress_shows_the_merge(
    job: Job,
    inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_convert(job, inputs, tmp_path / "s.h5", km3net_detx, resume=True, progress=True)
    err = capsys.readouterr().err
    assert f"merging; {N_FILES - 1} of {N_FILES} shards merged" in err
    assert f"merged {N_FILES} shards in " in err


def test_graph_offsets_are_shifted_across_shards(
    inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    graph = load_job("km3net_graph")
    merged = tmp_path / "graph.h5"
    run_convert(graph, inputs[:3], merged, km3net_detx)
    with h5py.File(merged) as f:
        x, idx = f["x"][:], f["x_indices"][:]
    starts = np.concatenate([[0], np.cumsum(idx["n_items"])[:-1]])
    np.testing.assert_array_equal(idx["index"], starts)
    assert len(x) == idx["n_items"].sum()
    for i, path in enumerate(inputs[:3]):  # each file's rows, as converted on its own
        one = tmp_path / f"graph{i}.h5"
        run_convert(graph, [path], one, km3net_detx)
        with h5py.File(one) as f:
            part = idx[EVENTS * i : EVENTS * (i + 1)]
            first = int(part["index"][0])
            np.testing.assert_array_equal(x[first : first + part["n_items"].sum()], f["x"][:])
            np.testing.assert_array_equal(part["n_items"], f["x_indices"]["n_items"])


def test_virtual_output_reads_from_anywhere(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "v.h5"
    run_convert(job, inputs, out, km3net_detx, virtual=True)
    run_convert(job, inputs, tmp_path / "plain.h5", km3net_detx)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # shards are found relative to the output, not the cwd
    with h5py.File(out) as f:
        assert f["x"].is_virtual and f["event_info"].is_virtual
        assert f["x"].compression is None
        assert all(Path(s.file_name).parts[0] == "v.h5.parts" for s in f["x"].virtual_sources())
    assert_same(tmp_path / "plain.h5", out)
