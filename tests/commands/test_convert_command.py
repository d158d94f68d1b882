"""hitprep convert: images, labels and provenance from the real km3net-testdata file; `--set` and
custom jobs; one clear error per kind of bad input (truncated HDF5 or ROOT, missing branch,
missing or broken detx), non-zero exit, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_helpers import no_outputs, one_line_error

from hitprep.cli import main


def test_convert_writes_images_labels_and_provenance(
    small_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "zt.h5"
    code = main(
        [
            "convert",
            "km3net_zt",
            str(small_h5),
            str(small_h5),
            "-o",
            str(out),
            "--detx",
            str(km3net_detx),
            "--step",
            "7",
        ]
    )
    assert code == 0
    line = capsys.readouterr().out
    assert "80 events in, 80 written, 0 skipped" in line
    with h5py.File(out) as f:
        assert f["x"].shape == (80, 18, 100) and f["x"].dtype == np.uint16
        assert f["x"].compression == "gzip"
        np.testing.assert_array_equal(f["x"][:40], f["x"][40:])
        info = f["event_info"][:]
        assert info["file_index"].tolist() == [0] * 40 + [1] * 40
        assert info["entry"].tolist() == list(range(40)) * 2
        assert f["y"].shape == (80,) and "energy" in f["y"].dtype.names
        acc = json.loads(f.attrs["accounting"])
        assert acc["events_read"] == 80 and acc["events_written"] == 80
        inputs = json.loads(f.attrs["inputs"])
        assert [i["events"] for i in inputs] == [40, 40]
        assert inputs[0]["size_bytes"] == small_h5.stat().st_size
        assert "km3net_zt" in f.attrs["command"] and "[[images]]" in f.attrs["job"]
        assert f["bin_stats/x/time/cut_off"].shape == (2,)


def test_set_overrides_and_custom_job(small_h5: Path, km3net_detx: Path, tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        """
[source]
step = 5
[calibration]
[[images]]
name = "zt_tot"
weights = "tot"
bin_edges = [["pos_z", [50, 300, 700]], ["time", {start = -100, stop = 500, bins = 6}]]
"""
    )
    out = tmp_path / "custom.h5"
    assert (
        main(
            [
                "convert",
                str(job),
                str(small_h5),
                "-o",
                str(out),
                "--detx",
                str(km3net_detx),
                "--set",
                "images.0.dtype=float64",
                "--set",
                "output.compression=lzf",
            ]
        )
        == 0
    )
    with h5py.File(out) as f:
        assert f["zt_tot"].shape == (40, 2, 6) and f["zt_tot"].dtype == np.float64
        assert f["zt_tot"].compression == "lzf"
        assert "y" not in f


def test_truncated_input(
    small_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "in" / "cut.h5"
    data = small_h5.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(
        ["convert", "km3net_zt", str(cut), "-o", str(out_dir / "x.h5"), "--detx", str(km3net_detx)]
    )
    assert code == 1
    assert str(cut) in one_line_error(capsys)
    no_outputs(out_dir)


def test_missing_branch_lists_nearest(
    small_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(
        [
            "convert",
            "km3net_zt",
            str(small_h5),
            "-o",
            str(out_dir / "x.h5"),
            "--detx",
            str(km3net_detx),
            "--set",
            'images.0.weights="totx"',
        ]
    )
    assert code == 1
    err = one_line_error(capsys)
    assert "'hits.totx'" in err and "'hits.tot'" in err
    no_outputs(out_dir)


def test_uncalibrated_positions_ask_for_detx(
    small_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["convert", "km3net_zt", str(small_h5), "-o", str(out_dir / "x.h5")]) == 1
    assert "--detx" in one_line_error(capsys)
    no_outputs(out_dir)


@pytest.mark.parametrize("how", ["flag", "job key"])
def test_missing_detx_names_the_key(
    how: str, small_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    missing = tmp_path / "nowhere.detx"
    given = ["--detx", str(missing)] if how == "flag" else ["--set", f"calibration.detx={missing}"]
    args = ["convert", "km3net_zt", str(small_h5), "-o", str(out_dir / "x.h5"), *given]
    assert main(args) == 1
    err = one_line_error(capsys)
    assert "calibration.detx" in err and str(missing) in err and "does not exist" in err
    no_outputs(out_dir)


def test_detx_lacking_a_dom(
    small_h5: Path, km3net_detx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with h5py.File(small_h5) as f:
        first_dom = int(f["hits/dom_id"][0])
    lines = km3net_detx.read_text().splitlines(keepends=True)
    kept: list[str] = []
    skip = 0
    for line in lines:
        fields = line.split()
        if skip:
            skip -= 1
            continue
        if len(fields) == 4 and fields[0] == str(first_dom):
            skip = int(fields[3])
            continue
        kept.append(line)
    header = kept[3].split()
    kept[3] = f"{int(header[0]) - 1}\n"
    bad = tmp_path / "in" / "bad.detx"
    bad.write_text("".join(kept))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(
        ["convert", "km3net_zt", str(small_h5), "-o", str(out_dir / "x.h5"), "--detx", str(bad)]
    )
    assert code == 1
    err = one_line_error(capsys)
    assert str(first_dom) in err and str(bad) in err
    no_outputs(out_dir)


@pytest.mark.parametrize("inputs", [1, 2])
def test_malformed_detx_fails_the_job(
    small_h5: Path,
    km3net_detx: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    inputs: int,
) -> None:
    """The detx is parsed in the background while the first chunk is read; its error still
    ends the job with one line and no output, for one input and for several (not per task)."""
    lines = km3net_detx.read_text().splitlines(keepends=True)
    lines[7] = lines[7].replace(".", ",", 1)  # a PMT line with a token that is not a number
    bad = tmp_path / "in" / "bad.detx"
    bad.write_text("".join(lines))
    copies = [small_h5]
    for i in range(1, inputs):
        copies.append(small_h5.with_name(f"copy{i}.h5"))
        copies[-1].write_bytes(small_h5.read_bytes())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ["convert", "km3net_zt", *map(str, copies), "-o", str(out_dir / "x.h5")]
    assert main([*args, "--detx", str(bad)]) == 1
    err = one_line_error(capsys)
    assert str(bad) in err and "line 8" in err and "task" not in err
    no_outputs(out_dir)


def test_truncated_root_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    km3net_testdata = pytest.importorskip("km3net_testdata")
    offline = Path(km3net_testdata.data_path("offline/km3net_offline.root"))
    detx = km3net_testdata.data_path("detx/km3net_offline.detx")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert (
        main(["convert", "km3net_zt", str(offline), "-o", str(out_dir / "ok.h5"), "--detx", detx])
        == 0
    )
    with h5py.File(out_dir / "ok.h5") as f:
        assert f["x"].shape == (10, 18, 100)
        assert int(f["x"][:].sum()) > 0
    (out_dir / "ok.h5").unlink()
    capsys.readouterr()
    cut = tmp_path / "cut.root"
    cut.write_bytes(offline.read_bytes()[:30_000])
    assert (
        main(["convert", "km3net_zt", str(cut), "-o", str(out_dir / "x.h5"), "--detx", detx]) == 1
    )
    assert str(cut) in one_line_error(capsys)
    no_outputs(out_dir)
