"""Runners: the same output from every runner, resume after a failure, failures named.

Inputs are four 30-event slices of the real km3net-testdata file (different events in
each), converted with the ``km3net_zt`` preset in chunks of 7 events.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hitprep.cli import main
from hitprep.config import Job, load_job
from hitprep.errors import SchedulerError, TaskError
from hitprep.runners import FAILED_REASON, Summary, convert
from hitprep.runners.manifest import MANIFEST, parts_folder
from hitprep.sinks.hdf5 import dataset_names

EVENTS = 30
N_FILES = 4
STEP = 7
#: attributes that differ between runs of the same job on purpose
VOLATILE = {"timestamp", "command"}


def _slice(src: h5py.File, path: Path, first: int, stop: int) -> None:
    """Events ``first`` to ``stop`` of a km3pipe HDF5 file, as a file of their own."""
    idx = src["hits/_indices"][first:stop].copy()
    lo, hi = int(idx["index"][0]), int(idx["index"][-1] + idx["n_items"][-1])
    idx["index"] -= lo
    with h5py.File(path, "w") as dst:
        dst["hits/_indices"] = idx
        for col in ("channel_id", "dom_id", "time", "tot", "triggered"):
            dst[f"hits/{col}"] = src[f"hits/{col}"][lo:hi]
        info = src["event_info"][first:stop]
        dst["event_info"] = info
        tracks = src["mc_tracks"][:]
        dst["mc_tracks"] = tracks[np.isin(tracks["group_id"], info["group_id"])]


@pytest.fixture
def inputs(km3net_h5: Path, tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [folder / f"part{i}.h5" for i in range(N_FILES)]
    with h5py.File(km3net_h5) as src:
        for i, path in enumerate(paths):
            _slice(src, path, EVENTS * i, EVENTS * (i + 1))
    return paths


@pytest.fixture
def job() -> Job:
    return load_job("km3net_zt")


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every dataset (value, dtype, attributes) and the file attributes but the volatile ones."""
    with h5py.File(path) as f:
        data = {
            name: (f[name][()], f[name].dtype, {k: str(v) for k, v in f[name].attrs.items()})
            for name in dataset_names(f)
        }
        attrs = {k: v for k, v in f.attrs.items() if k not in VOLATILE}
    return data, attrs


def _assert_same(a: Path, b: Path) -> None:
    data_a, attrs_a = _read(a)
    data_b, attrs_b = _read(b)
    assert sorted(data_a) == sorted(data_b)
    for name, (value, dtype, attrs) in data_a.items():
        other, other_dtype, other_attrs = data_b[name]
        assert dtype == other_dtype, name
        assert value.shape == other.shape, name
        assert value.tobytes() == other.tobytes(), f"{name} differs between {a} and {b}"
        assert attrs == other_attrs, name
    assert attrs_a == attrs_b


def _convert(job: Job, inputs: list[Path], out: Path, detx: Path, **kw: Any) -> Summary:
    return convert(job, inputs, out, detx=detx, step=STEP, command="hitprep test", **kw)


def _no_partials(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*.partial*")]
    assert left == [], f"temporary files left behind: {left}"


# -- same job, same output -------------------------------------------------------------------


def test_serial_and_processes_give_the_same_output(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    serial = _convert(job, inputs, tmp_path / "serial.h5", km3net_detx)
    assert serial.runner == "direct" and serial.tasks == N_FILES  # no shards, no merge
    sharded = _convert(job, inputs, tmp_path / "sharded.h5", km3net_detx, resume=True)
    assert sharded.runner == "serial" and sharded.tasks == N_FILES
    two = _convert(job, inputs, tmp_path / "two.h5", km3net_detx, workers=2)
    assert two.runner == "processes x2" and two.processes == 2  # this one and a started one
    split = _convert(job, inputs, tmp_path / "split.h5", km3net_detx, workers=2, task_events=13)
    assert split.tasks == N_FILES * 3  # 13 + 13 + 4 entries per file
    for other in ("sharded.h5", "two.h5", "split.h5"):
        _assert_same(tmp_path / "serial.h5", tmp_path / other)
    assert not parts_folder(tmp_path / "two.h5").exists()  # merged, then removed

    with h5py.File(tmp_path / "serial.h5") as f:
        info = f["event_info"][:]
        assert info["file_index"].tolist() == np.repeat(np.arange(N_FILES), EVENTS).tolist()
        assert info["entry"].tolist() == list(range(EVENTS)) * N_FILES
        assert f["x"].shape == (N_FILES * EVENTS, 18, 100)
        assert f["x"].compression == "gzip"
        acc = json.loads(f.attrs["accounting"])
        assert acc["events_read"] == acc["events_written"] == N_FILES * EVENTS
        recorded = json.loads(f.attrs["inputs"])
        assert [r["path"] for r in recorded] == [str(p.resolve()) for p in inputs]
        assert [r["events"] for r in recorded] == [EVENTS] * N_FILES
        merged_hist = f["bin_stats/x/time/hist"][:]
        merged_cut = f["bin_stats/x/pos_z/cut_off"][:]
        edges = f["bin_stats/x/time/bin_edges"][:]
    # bin statistics of the merge are the sums of each input's own
    hists, cuts = [], []
    for i, path in enumerate(inputs):
        one = tmp_path / f"one{i}.h5"
        _convert(job, [path], one, km3net_detx)
        with h5py.File(one) as f:
            hists.append(f["bin_stats/x/time/hist"][:])
            cuts.append(f["bin_stats/x/pos_z/cut_off"][:])
            np.testing.assert_array_equal(f["bin_stats/x/time/bin_edges"][:], edges)
    np.testing.assert_array_equal(merged_hist, np.sum(hists, axis=0))
    np.testing.assert_array_equal(merged_cut, np.sum(cuts, axis=0))
    assert merged_hist.dtype == np.int64


def test_single_task_written_directly_equals_its_shard(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    direct = _convert(job, inputs[:1], tmp_path / "direct.h5", km3net_detx)
    assert direct.runner == "direct"
    sharded = _convert(job, inputs[:1], tmp_path / "sharded.h5", km3net_detx, resume=True)
    assert sharded.runner == "serial"
    _assert_same(tmp_path / "direct.h5", tmp_path / "sharded.h5")
    with h5py.File(tmp_path / "direct.h5") as a, h5py.File(tmp_path / "sharded.h5") as b:
        assert a["x"].chunks == b["x"].chunks  # the merge keeps the shard's layout


def test_progress_shows_the_merge(
    job: Job,
    inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _convert(job, inputs, tmp_path / "s.h5", km3net_detx, resume=True, progress=True)
    err = capsys.readouterr().err
    assert f"merging; {N_FILES - 1} of {N_FILES} shards merged" in err
    assert f"merged {N_FILES} shards in " in err


def test_dask_local_and_external_cluster(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    reference = tmp_path / "serial.h5"
    _convert(job, inputs, reference, km3net_detx)
    local = _convert(job, inputs, tmp_path / "local.h5", km3net_detx, dask=True, workers=2)
    assert local.runner == "dask LocalCluster x2" and local.processes >= 1
    _assert_same(reference, tmp_path / "local.h5")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = _convert(job, inputs, tmp_path / "remote.h5", km3net_detx, scheduler=address)
    assert remote.runner.startswith(f"dask {address}")
    _assert_same(reference, tmp_path / "remote.h5")


def test_graph_offsets_are_shifted_across_shards(
    inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    graph = load_job("km3net_graph")
    merged = tmp_path / "graph.h5"
    _convert(graph, inputs[:3], merged, km3net_detx)
    with h5py.File(merged) as f:
        x, idx = f["x"][:], f["x_indices"][:]
    starts = np.concatenate([[0], np.cumsum(idx["n_items"])[:-1]])
    np.testing.assert_array_equal(idx["index"], starts)
    assert len(x) == idx["n_items"].sum()
    for i, path in enumerate(inputs[:3]):  # each file's rows, as converted on its own
        one = tmp_path / f"graph{i}.h5"
        _convert(graph, [path], one, km3net_detx)
        with h5py.File(one) as f:
            part = idx[EVENTS * i : EVENTS * (i + 1)]
            first = int(part["index"][0])
            np.testing.assert_array_equal(x[first : first + part["n_items"].sum()], f["x"][:])
            np.testing.assert_array_equal(part["n_items"], f["x_indices"]["n_items"])


def test_progress_bar_counts_events_of_all_workers(
    job: Job,
    inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _convert(job, inputs, tmp_path / "out.h5", km3net_detx, workers=2, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{N_FILES * EVENTS}/{N_FILES * EVENTS}" in bar


# -- resume ------------------------------------------------------------------------------------

_FLAKY = """
import os
from pathlib import Path

from hitprep.labels import km3net_mc


def labels(batch):
    marker = Path(os.environ["HITPREP_TEST_FAIL_ONCE"])
    if marker.exists() and int(os.environ["HITPREP_TEST_FAIL_EVENT"]) in batch["event_id"]:
        marker.unlink()
        raise RuntimeError("injected failure")
    return km3net_mc(batch)
"""


@pytest.fixture
def flaky_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[Path]) -> Job:
    """``km3net_zt`` whose labels fail on their first try in the third input."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "flaky_labels.py").write_text(_FLAKY)
    monkeypatch.syspath_prepend(str(hooks))
    marker = tmp_path / "fail-once"
    marker.touch()
    with h5py.File(inputs[2]) as f:
        event = int(f["event_info"]["event_id"][3])
    monkeypatch.setenv("HITPREP_TEST_FAIL_ONCE", str(marker))
    monkeypatch.setenv("HITPREP_TEST_FAIL_EVENT", str(event))
    return load_job("km3net_zt", overrides=["labels.extractor=flaky_labels:labels"])


def test_resume_after_a_failed_task_equals_an_uninterrupted_run(
    flaky_job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "x.h5"
    with pytest.raises(TaskError, match=r"part2\.h5.*injected failure") as info:
        _convert(flaky_job, inputs, out, km3net_detx, workers=2)
    assert [f.task.path for f in info.value.failures] == [inputs[2]]
    assert "--keep-going" in str(info.value) and "for a rerun" in str(info.value)
    assert not out.exists()
    _no_partials(tmp_path)
    manifest = parts_folder(out) / MANIFEST
    finished = [json.loads(line) for line in manifest.read_text().splitlines()[1:]]
    assert finished, "tasks that finished before the failure keep their shards"
    assert inputs[2] not in [Path(e["input"]) for e in finished]

    resumed = _convert(flaky_job, inputs, out, km3net_detx, workers=2)
    assert resumed.resumed == len(finished)
    assert not parts_folder(out).exists()
    reference = tmp_path / "reference.h5"
    _convert(flaky_job, inputs, reference, km3net_detx)  # marker gone: nothing fails
    _assert_same(reference, out)


def test_keep_going_counts_the_events_of_a_failed_range_then_resume_fills_it(
    flaky_job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.h5"
    first = _convert(flaky_job, inputs, out, km3net_detx, keep_going=True, task_events=10)
    assert first.tasks == N_FILES * 3
    assert [(f.task.path, f.task.start, f.task.stop) for f in first.failed] == [(inputs[2], 0, 10)]
    assert "injected failure" in first.failure_lines()[0]
    acc = first.accounting
    assert acc.events_read == N_FILES * EVENTS and acc.events_written == N_FILES * EVENTS - 10
    assert dict(acc.skipped) == {FAILED_REASON: 10}
    with h5py.File(out) as f:
        assert f["x"].shape[0] == N_FILES * EVENTS - 10
        failed = json.loads(f.attrs["failed"])
        assert [(e["file_index"], e["start"], e["stop"]) for e in failed] == [(2, 0, 10)]
        assert [r["events"] for r in json.loads(f.attrs["inputs"])] == [EVENTS] * N_FILES

    again = _convert(flaky_job, inputs, out, km3net_detx, task_events=10, overwrite=True)
    assert again.resumed == N_FILES * 3 - 1 and not again.failed
    reference = tmp_path / "reference.h5"
    _convert(flaky_job, inputs, reference, km3net_detx)
    _assert_same(reference, out)


def test_one_run_at_a_time_per_output(tmp_path: Path) -> None:
    from hitprep.errors import RunnerError
    from hitprep.runners.manifest import PartsFolder

    folder = tmp_path / "x.h5.parts"
    with (
        PartsFolder(folder, "job", resume=True),
        pytest.raises(RunnerError, match="another hitprep run is writing"),
    ):
        PartsFolder(folder, "job", resume=True)
    with PartsFolder(folder, "job", resume=True):  # released
        pass


def test_changed_input_or_job_invalidates_shards(
    job: Job, inputs: list[Path], km3net_h5: Path, km3net_detx: Path, tmp_path: Path
) -> None:
    out = tmp_path / "v.h5"
    first = _convert(job, inputs, out, km3net_detx, virtual=True)
    assert first.resumed == 0
    again = _convert(job, inputs, out, km3net_detx, virtual=True, overwrite=True)
    assert again.resumed == N_FILES  # nothing changed: every shard reused
    with h5py.File(km3net_h5) as src:  # other events in the second input
        _slice(src, inputs[1], 300, 300 + EVENTS)
    changed = _convert(job, inputs, out, km3net_detx, virtual=True, overwrite=True)
    assert changed.resumed == N_FILES - 1
    fresh = tmp_path / "fresh.h5"
    _convert(job, inputs, fresh, km3net_detx)
    _assert_same(fresh, out)
    other = load_job("km3net_zt", overrides=["images.0.dtype=uint32"])
    assert _convert(other, inputs, out, km3net_detx, virtual=True, overwrite=True).resumed == 0
    restart = _convert(other, inputs, out, km3net_detx, virtual=True, overwrite=True, resume=False)
    assert restart.resumed == 0
    shards = sorted(p.name for p in parts_folder(out).glob("*.h5"))
    assert len(shards) == N_FILES  # the old job's shards are gone


def test_virtual_output_reads_from_anywhere(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "v.h5"
    _convert(job, inputs, out, km3net_detx, virtual=True)
    _convert(job, inputs, tmp_path / "plain.h5", km3net_detx)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # shards are found relative to the output, not the cwd
    with h5py.File(out) as f:
        assert f["x"].is_virtual and f["event_info"].is_virtual
        assert f["x"].compression is None
        assert all(Path(s.file_name).parts[0] == "v.h5.parts" for s in f["x"].virtual_sources())
    _assert_same(tmp_path / "plain.h5", out)


# -- failures ----------------------------------------------------------------------------------


def _corrupt(inputs: list[Path]) -> Path:
    bad = inputs[1]
    data = bad.read_bytes()
    bad.write_bytes(data[:512] + b"\0" * (len(data) - 512))  # superblock kept, the rest zeroed
    return bad


def test_corrupt_input_fails_the_job_and_names_it(
    inputs: list[Path], km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _corrupt(inputs)
    out = tmp_path / "out" / "x.h5"
    args = ["convert", "km3net_zt", *map(str, inputs), "-o", str(out), "--detx", str(km3net_detx)]
    assert main([*args, "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(bad) in err and "failed" in err
    assert not out.exists()
    _no_partials(tmp_path)

    assert main([*args, "--keep-going"]) == 3
    captured = capsys.readouterr()
    assert f"{(N_FILES - 1) * EVENTS} written" in captured.out and "1 failed" in captured.out
    failed_lines = [line for line in captured.err.splitlines() if "failed:" in line]
    assert len(failed_lines) == 1 and str(bad) in failed_lines[0]
    with h5py.File(out) as f:
        assert f["x"].shape[0] == (N_FILES - 1) * EVENTS
        assert sorted(set(f["event_info"]["file_index"])) == [0, 2, 3]
        failed = json.loads(f.attrs["failed"])
        assert [(e["file_index"], e["path"]) for e in failed] == [(1, str(bad))]
        recorded = json.loads(f.attrs["inputs"])
        assert [r["events"] for r in recorded] == [EVENTS, None, EVENTS, EVENTS]
    assert parts_folder(out).is_dir()  # kept: a rerun after fixing the input redoes only it


def test_all_tasks_failing_with_keep_going_writes_nothing(
    job: Job, inputs: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    for path in inputs[:2]:
        path.write_bytes(b"not a file of any format")
    out = tmp_path / "x.h5"
    with pytest.raises(TaskError, match="all 2 tasks failed"):
        _convert(job, inputs[:2], out, km3net_detx, keep_going=True)
    assert not out.exists() and not parts_folder(out).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_scheduler_is_one_clear_error(
    job: Job,
    inputs: list[Path],
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "out" / "x.h5"
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        _convert(job, inputs, out, km3net_detx, scheduler=address, scheduler_timeout=1)
    args = ["convert", "km3net_zt", *map(str, inputs), "-o", str(out), "--detx", str(km3net_detx)]
    assert main([*args, "--scheduler", address, "--scheduler-timeout", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and address in err
    assert not out.parent.exists()


def test_runner_options_are_checked(
    job: Job, inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from hitprep.errors import ConfigError

    out = tmp_path / "x.h5"
    with pytest.raises(ConfigError, match="workers must be a positive"):
        convert(job, inputs, out, workers=0)
    with pytest.raises(ConfigError, match="not both"):
        convert(job, inputs, out, dask=True, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="task_events"):
        convert(job, inputs, out, task_events=0)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(ConfigError, match=r"need Dask: pip install 'hitprep\[dask\]'"):
        convert(job, inputs, out, dask=True)
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # nothing written


# -- writeback over many inputs ----------------------------------------------------------------


def _events_tree(path: Path) -> dict[str, Any]:
    import uproot

    with uproot.open(path) as f:
        return {k: v for k, v in f["Events"].arrays(library="np").items()}


def test_writeback_many_inputs_same_outputs_any_runner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hitprep.runners.writeback import writeback_files
    from hitprep.toys.nanoaod import write_toy_nanoaod
    from hitprep.writeback import writeback

    job = load_job("nanoaod_flashsim")
    toys = [write_toy_nanoaod(tmp_path / "in" / f"nano{i}.root", 11 + i, seed=i) for i in range(3)]
    single = tmp_path / "single"
    for toy in toys:
        writeback(job, toy, single / f"{toy.stem}.root", upsample=2)
    serial = writeback_files(job, toys, tmp_path / "serial", upsample=2)
    assert serial.runner == "serial" and serial.events_read == 11 + 12 + 13
    assert serial.events_written == 2 * serial.events_read
    two = writeback_files(job, toys, tmp_path / "two", upsample=2, workers=2)
    assert two.runner == "processes x2"
    for toy in toys:
        expected = _events_tree(single / f"{toy.stem}.root")
        for folder in ("serial", "two"):
            got = _events_tree(tmp_path / folder / f"{toy.stem}.root")
            assert sorted(got) == sorted(expected)
            for name, values in expected.items():
                if values.dtype == object:  # jagged branches
                    assert all(np.array_equal(a, b) for a, b in zip(got[name], values, strict=True))
                else:
                    np.testing.assert_array_equal(got[name], values)

    # a rerun keeps what is done; a corrupt input fails alone with --keep-going
    again = writeback_files(job, toys, tmp_path / "two", upsample=2)
    assert again.resumed == 3
    bad = tmp_path / "in" / "broken.root"
    bad.write_bytes(b"root" + b"\0" * 100)
    args = ["writeback", "nanoaod_flashsim", *map(str, [*toys, bad]), "-o", str(tmp_path / "two")]
    assert main([*args, "--upsample", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    assert main([*args, "--upsample", "2", "--keep-going"]) == 3
    captured = capsys.readouterr()
    assert "3 resumed, 1 failed" in captured.out
    assert str(bad) in captured.err
    assert not (tmp_path / "two" / "broken.root").exists()
