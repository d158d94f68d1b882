"""Family 4 (no silent change to data) and family 6 (one line, naming file, key and event).

Each case used to exit 0 with changed data (or a traceback); each is now an error before
any output is written, or is counted.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from fault_helpers import run_cli

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.errors import ConfigError

# -- job values checked before any work ------------------------------------------------------


def _image_job(tmp_path: Path, image: str, extra: str = "") -> Path:
    path = tmp_path / "job.toml"
    path.write_text(f"[[images]]\nbin_edges = [['time', [0, 1, 2]]]\n{image}\n{extra}")
    return path


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ('name = "y"', r"'y' is empty or names a dataset the pipeline writes itself"),
        ('name = "event_info"', "names a dataset the pipeline writes itself"),
        ('name = ""', "is empty"),
        ('dtype = "bool"', r"'bool' cannot hold counts \(bool keeps 0/1"),
        ('dtype = "float16"', "float16 rounds above 2048"),
        ('dtype = "foo"', "'foo' is not a numpy dtype"),
    ],
)
def test_image_values_that_would_change_data_are_refused(
    tmp_path: Path, image: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_job(_image_job(tmp_path, image))


def test_float_and_integer_counts_are_allowed(tmp_path: Path) -> None:
    for dtype in ("uint8", "int32", "float32", "float64"):
        job = load_job(_image_job(tmp_path, f'dtype = "{dtype}"'))
        assert job.get("images")[0].dtype == dtype


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ("[0, 2, 1]", "at least two finite, increasing numbers"),
        ("[0, nan]", "at least two finite, increasing numbers"),
        ("{start = 0, stop = 1, bins = 1000000000000}", r"would take [\d,.]+ GiB of memory"),
    ],
)
def test_bin_edges_checked(tmp_path: Path, edges: str, message: str) -> None:
    path = tmp_path / "job.toml"
    path.write_text(f"[[images]]\nbin_edges = [['time', {edges}]]\n")
    with pytest.raises(ConfigError, match=message):
        load_job(path)


def test_image_chunk_bounded_by_memory(tmp_path: Path) -> None:
    edges = "{start = 0, stop = 1, bins = 100000}"
    path = tmp_path / "job.toml"
    path.write_text(
        f"[source]\nstep = 250\n[[images]]\nbin_edges = [['a', {edges}], ['b', {edges}]]\n"
    )
    with pytest.raises(ConfigError, match=r"a chunk of 250 events of image 'x' .* GiB of memory"):
        load_job(path)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('compression = "zstd"', "'zstd' is not supported"),
        ("compression_level = 99", "99 is not a gzip level 0-9"),
    ],
)
def test_output_settings_h5py_cannot_use(tmp_path: Path, setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_job(_image_job(tmp_path, "", f"[output]\n{setting}\n"))


# -- inputs checked as they are read ---------------------------------------------------------


def _km3net_slice(km3net_h5: Path, path: Path, events: int = 30) -> None:
    """The first ``events`` events of the km3net-testdata file as a file of their own."""
    with h5py.File(km3net_h5) as src, h5py.File(path, "w") as dst:
        idx = src["hits/_indices"][:events]
        hi = int(idx["index"][-1] + idx["n_items"][-1])
        dst["hits/_indices"] = idx
        for col in ("channel_id", "dom_id", "time", "tot", "triggered"):
            dst[f"hits/{col}"] = src[f"hits/{col}"][:hi]
        info = src["event_info"][:events]
        dst["event_info"] = info
        tracks = src["mc_tracks"][:]
        dst["mc_tracks"] = tracks[np.isin(tracks["group_id"], info["group_id"])]


@pytest.mark.parametrize("index", [-5, 10**9])
def test_km3net_indices_outside_the_hits_are_an_error(
    index: int,
    km3net_h5: Path,
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.h5"
    _km3net_slice(km3net_h5, bad)
    with h5py.File(bad, "r+") as f:
        idx = f["hits/_indices"][:]
        idx["index"][10] = index
        f["hits/_indices"][...] = idx
    out = tmp_path / "out.h5"
    args = ["convert", "km3net_zt", str(bad), "--detx", str(km3net_detx), "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hitprep convert: error: {bad}: hits/_indices: event 10 points at")
    assert "outside the" in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.fixture
def wcsim_dump(tmp_path: Path) -> Path:
    path = tmp_path / "toy.h5"
    made = main(["toy", "wcsim", "-n", "5", "-o", str(path), "--no-compression"])
    assert made == 0
    return path


@pytest.mark.parametrize("pmt", [99999, -5])
def test_wcsim_hit_on_a_pmt_the_geometry_lacks(
    pmt: int, wcsim_dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with h5py.File(wcsim_dump, "r+") as f:
        offsets = f["digi_hit_offsets"][:]
        f["digi_hit_pmt"][offsets[2] + 1] = pmt  # a hit of event 2
    out = tmp_path / "out.h5"
    capsys.readouterr()
    assert main(["convert", "wcsim_watchmal_digi", str(wcsim_dump), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert f"{wcsim_dump}: digi_hit_pmt: event 2 has a hit on PMT {pmt}, outside 0.." in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({2: 900}, r"digi_hit_offsets decreases at event 2 \(900 to"),
        ({0: 7}, "digi_hit_offsets starts at 7, not 0"),
    ],
)
def test_wcsim_offsets_that_lose_hits(
    change: dict[int, int],
    message: str,
    wcsim_dump: Path,
    tmp_path: Path,
) -> None:
    with h5py.File(wcsim_dump, "r+") as f:
        for i, value in change.items():
            f["digi_hit_offsets"][i] = value
    out = tmp_path / "out.h5"
    result = run_cli(["convert", "wcsim_watchmal_digi", wcsim_dump, "-o", out])
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(wcsim_dump) in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert not out.exists()


def test_trackml_event_without_its_hits_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "trackml"
    assert main(["toy", "acts", "-n", "3", "--layout", "trackml", "-o", str(folder)]) == 0
    (folder / "event000001001-hits.csv").unlink()
    out = tmp_path / "out.h5"
    capsys.readouterr()
    assert main(["convert", "acts_barrel_trigger", str(folder), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"hitprep convert: error: {folder}: event event000001001 has no"
        " event000001001-hits.csv; it would be lost"
    )
    assert not out.exists()


# -- accounting: every event read is written or counted --------------------------------------


@pytest.fixture
def km3net_slices(km3net_h5: Path, tmp_path: Path) -> list[Path]:
    paths = [tmp_path / f"part{i}.h5" for i in range(3)]
    for path in paths:
        _km3net_slice(km3net_h5, path)
    return paths


def test_keep_going_counts_a_failed_input_under_task_failed(
    km3net_slices: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    from hitprep.runners import FAILED_REASON, convert

    with h5py.File(km3net_slices[1], "r+") as f:  # opens, fails when read
        f["hits/_indices"][0] = (-3, 5)
    out = tmp_path / "out.h5"
    summary = convert(
        load_job("km3net_zt"), km3net_slices, out, detx=km3net_detx, keep_going=True, step=7
    )
    assert [f.task.path for f in summary.failed] == [km3net_slices[1]]
    acc = summary.accounting
    assert (acc.events_read, acc.events_written) == (90, 60)
    assert dict(acc.skipped) == {FAILED_REASON: 30}


def test_concat_of_an_input_whose_accounting_is_unreadable(
    km3net_slices: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    outputs = [tmp_path / f"zt{i}.h5" for i in range(2)]
    for source, out in zip(km3net_slices, outputs, strict=False):
        made = main(
            ["convert", "km3net_zt", str(source), "--detx", str(km3net_detx), "-o", str(out)]
        )
        assert made == 0
    with h5py.File(outputs[1], "r+") as f:
        f.attrs["accounting"] = "{not json"
    joined = tmp_path / "joined.h5"
    result = run_cli(["concat", *outputs, "-o", joined])
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"hitprep concat: error: {outputs[1]}: attribute 'accounting' is not readable JSON;"
        " concat cannot count this input's events"
    )
    assert not joined.exists()


# -- family 6: one line naming file, key and place --------------------------------------------


def test_corrupt_compressed_chunk_names_file_and_dataset(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "corrupt.h5"
    bad.write_bytes(km3net_h5.read_bytes())
    with h5py.File(bad) as f:
        chunk = f["hits/time"].id.get_chunk_info(3)
        start = int(chunk.chunk_offset[0])
    with bad.open("r+b") as fh:  # flip 64 bytes in the middle of the deflated chunk
        fh.seek(chunk.byte_offset + chunk.size // 2)
        block = fh.read(64)
        fh.seek(chunk.byte_offset + chunk.size // 2)
        fh.write(bytes(255 - b for b in block))
    out = tmp_path / "out.h5"
    args = ["convert", "km3net_zt", str(bad), "--detx", str(km3net_detx), "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"hitprep convert: error: {bad}: /hits/time: compressed chunk of items {start} to"
    )
    assert "is corrupt" in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shuffle", "in.h5", "-o", "out.h5", "--seed", "-1"], "expected a non-negative integer"),
        (["split", "in.h5", "--seed", "x"], "expected a non-negative integer, got 'x'"),
        (["binstats", "in.h5", "--save-as", "plot"], "'plot' has no plot suffix; use one of"),
        (["display", "in.h5", "-o", "plot.txt"], "'plot.txt' has no plot suffix"),
    ],
)
def test_option_values_checked_when_parsed(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_byte_string_hit_times(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bytes.h5"
    _km3net_slice(km3net_h5, bad)
    with h5py.File(bad, "r+") as f:
        times = f["hits/time"][:]
        del f["hits/time"]
        f["hits/time"] = times.astype("S12")
    out = tmp_path / "out.h5"
    args = ["convert", "km3net_zt", str(bad), "--detx", str(km3net_detx), "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"hitprep convert: error: {bad}: hits/time holds |S12 values, not numbers"


def test_wcsim_dump_with_a_corrupt_chunk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "toy.h5"
    assert main(["toy", "wcsim", "-n", "20", "-o", str(dump)]) == 0  # compressed
    with h5py.File(dump) as f:
        chunk = f["digi_hit_time"].id.get_chunk_info(0)
    with dump.open("r+b") as fh:
        fh.seek(chunk.byte_offset + chunk.size // 2)
        block = fh.read(32)
        fh.seek(chunk.byte_offset + chunk.size // 2)
        fh.write(bytes(255 - b for b in block))
    out = tmp_path / "out.h5"
    capsys.readouterr()
    assert main(["convert", "wcsim_watchmal_digi", str(dump), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hitprep convert: error: {dump}: digi_hit_time: items 0 to")
    assert "cannot be read" in err and not out.exists()


def test_binstats_of_outputs_with_other_bins(
    km3net_slices: list[Path], km3net_detx: Path, tmp_path: Path
) -> None:
    zt, xyzt = tmp_path / "zt.h5", tmp_path / "xyzt.h5"
    for preset, out in (("km3net_zt", zt), ("km3net_xyzt", xyzt)):
        args = ["convert", preset, km3net_slices[0], "--detx", km3net_detx, "-o", out]
        assert main(list(map(str, args))) == 0
    plot = tmp_path / "stats.png"
    result = run_cli(["binstats", zt, xyzt, "--save-as", plot])
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"hitprep binstats: error: {xyzt}: bin_stats/x/time has other bins than in {zt};"
        " sum outputs of the same job only"
    )
    assert not plot.exists()
