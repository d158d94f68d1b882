"""Bin-statistics figures of real conversions: a row per image, a column per axis."""

from __future__ import annotations

import struct
from pathlib import Path

from hitprep.cli import main
from hitprep.plotting.binstats import plot_bin_stats, read_bin_stats


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_acts_volumes_make_a_square_grid(tmp_path: Path) -> None:
    assert main(["toy", "acts", "-n", "5", "--files", "1", "-o", str(tmp_path / "in")]) == 0
    out = tmp_path / "trigger.h5"
    argv = ["convert", "acts_barrel_trigger", str(tmp_path / "in" / "clusters_0.csv")]
    assert main([*argv, "-o", str(out), "--no-progress"]) == 0
    stats = read_bin_stats([out])
    assert [(s.image, s.axis) for s in stats[:3]] == [("v0", "layer"), ("v0", "phi"), ("v0", "z")]
    width, height = _png_size(plot_bin_stats(stats, tmp_path / "binstats.png"))
    assert 1.0 < width / height < 1.8  # 3 x 3 panels, not one column of 9


def test_km3net_axes_side_by_side(km3net_h5: Path, km3net_detx: Path, tmp_path: Path) -> None:
    out = tmp_path / "zt.h5"
    argv = ["convert", "km3net_zt", str(km3net_h5), "-o", str(out), "--detx", str(km3net_detx)]
    assert main([*argv, "--no-progress"]) == 0
    png = tmp_path / "binstats.png"
    assert main(["binstats", str(out), "--save-as", str(png)]) == 0
    width, height = _png_size(png)
    assert width > 2 * height  # pos_z and time in one row
    assert main(["binstats", str(out), "--save-as", str(png)]) == 1  # no silent overwrite
