"""WatChMaL's datasets read hitprep's output and side files unchanged.

The reading below restates WatChMaL's contract (``watchmal/dataset``): ``CNNDataset``
puts hit ``i`` of an event at ``pmt_image_positions[hit_pmt[i]]`` of an image of
``max + 1`` rows and columns; PointNet and GNN take ``position``/``orientation`` rows by
``hit_pmt``, the CNN's geometry channels ``positions``/``orientations``; ``CNNmPMTDataset``
finds barrel rows (more than 0.7 of the width), ``endcap_size`` (the first barrel row) and
the endcap squares in ``mpmt_image_positions``; the trainer takes ``train_idxs``,
``val_idxs``, ``test_idxs`` from the split npz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from conftest import shared_file

from hitprep.cli import main
from hitprep.detectors.wcsim_geometry import TankGeometry, read_geometry
from hitprep.toys.wcsim import write_dump
from hitprep.watchmal_files import module_geometry, write_side_files

WCSIM = "wcsim/wcsim_10events_2015.root"


@pytest.fixture(scope="module", params=["wcsim", "toy"])
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp(f"watchmal_{request.param}")
    if request.param == "wcsim":
        source = shared_file(WCSIM)
    else:
        source = write_dump(tmp / "toy.h5", 40, seed=7)
    out = tmp / "events.h5"
    args = ["wcsim_watchmal_digi", str(source), "-o", str(out), "--no-progress"]
    assert main(["convert", *args, "--set", "watchmal.side_files=true"]) == 0
    return source, out, tmp


def _hits(out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with h5py.File(out) as f:
        return f["hit_pmt"][:], f["hit_charge"][:], f["event_hits_index"][:]


def test_every_hit_lands_on_its_own_pmts_pixel(converted: Any) -> None:
    _, out, tmp = converted
    positions = np.load(tmp / "events_pmt_image_positions.npz")["pmt_image_positions"]
    geo = read_geometry(converted[0])
    assert positions.shape == (geo.num_pmts, 2)
    assert positions.min() >= 0  # no PMT off the image (WatChMaL would index the last pixel)
    height, width = positions.max(axis=0) + 1  # WatChMaL's data_size
    pixel = positions[:, 0] * width + positions[:, 1]
    assert len(np.unique(pixel)) == geo.num_pmts  # one pixel per PMT
    barrel_rows = [r for r in range(height) if np.count_nonzero(positions[:, 0] == r) == width]
    assert barrel_rows  # CNNDataset's barrel rows: full-width rows exist
    pmt, charge, starts = _hits(out)
    ends = np.append(starts[1:], len(pmt))
    assert len(starts) > 0 and len(pmt) > 0
    for start, end in zip(starts, ends, strict=True):  # CNNDataset.process_data, per event
        hit_pmts = pmt[start:end].astype(np.int64)
        image = np.zeros((height, width), dtype=np.float32)
        image[positions[hit_pmts, 0], positions[hit_pmts, 1]] = charge[start:end]
        # each PMT's pixel holds a charge of its own (the last of its hits, as numpy assigns)
        # and no other pixel is lit: no two PMTs share one
        hit, last = np.unique(hit_pmts[::-1], return_index=True)
        np.testing.assert_array_equal(
            image[positions[hit, 0], positions[hit, 1]], charge[start:end][::-1][last]
        )
        lit = np.zeros((height, width), dtype=bool)
        lit[positions[hit, 0], positions[hit, 1]] = True
        assert lit.sum() == len(hit)
        assert not image[~lit].any()


def test_geometry_npz_equals_the_files_geometry(converted: Any) -> None:
    source, _, tmp = converted
    geo = read_geometry(source)
    with np.load(tmp / "events_geometry.npz") as npz:
        for key in ("position", "positions"):  # PointNet / GNN, and the CNN's channels
            np.testing.assert_array_equal(npz[key], geo.position)
        for key in ("orientation", "orientations"):
            np.testing.assert_array_equal(npz[key], geo.direction)
    again = read_geometry(tmp / "events_geometry.npz")
    np.testing.assert_array_equal(again.tube, geo.tube)
    assert (again.radius, again.length) == (geo.radius, geo.length)
    assert not (tmp / "events_mpmt_image_positions.npz").exists()  # single PMTs only


def test_split_npz_partitions_the_events(converted: Any) -> None:
    _, out, tmp = converted
    prefix = tmp / "split"
    args = ["split", str(out), "--fractions", "0.6,0.2,0.2", "--format", "watchmal"]
    assert main([*args, "-o", str(prefix), "--seed", "3"]) == 0
    with h5py.File(out) as f:
        n = len(f["event_hits_index"])
    with np.load(tmp / "split_idxs.npz") as npz:
        assert sorted(npz.files) == ["test_idxs", "train_idxs", "val_idxs"]
        parts = [npz[k] for k in ("train_idxs", "val_idxs", "test_idxs")]
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))  # each event exactly once
    assert all(len(p) > 0 for p in parts)
    assert len(parts[0]) == round(0.6 * n)


def test_existing_side_files_stop_convert_before_it_runs(converted: Any) -> None:
    source, _, tmp = converted
    out = tmp / "events2.h5"
    (tmp / "events2_geometry.npz").write_bytes(b"keep")
    args = ["convert", "wcsim_watchmal_digi", str(source), "-o", str(out), "--no-progress"]
    assert main([*args, "--set", "watchmal.side_files=true"]) != 0
    assert not out.exists()
    assert (tmp / "events2_geometry.npz").read_bytes() == b"keep"


def _mpmt_tank() -> TankGeometry:
    """A tank of 19-PMT modules: each module centre of a regular tank carries 19 PMTs."""
    centres = TankGeometry.cylinder(
        radius=300.0, length=600.0, rows=6, columns=16, cap_rows=8, axis="y", inset=10.0
    )
    ring = np.array([[0.0, 0.0]] + [[np.cos(a), np.sin(a)] for a in np.arange(18) * np.pi / 9])
    ring *= 12.0  # cm; modules are ~100 cm apart
    positions, directions = [], []
    for p, d in zip(centres.position, centres.direction, strict=True):
        u = np.cross(d, [1.0, 0.0, 0.0] if abs(d[0]) < 0.9 else [0.0, 0.0, 1.0])
        u /= np.linalg.norm(u)
        v = np.cross(d, u)
        positions.append(p + ring[:, :1] * u + ring[:, 1:] * v)
        directions.append(np.repeat(d[None], 19, axis=0))
    n = 19 * centres.num_pmts
    return TankGeometry(
        radius=300.0,
        length=600.0,
        tube=np.arange(1, n + 1, dtype=np.int32),
        position=np.concatenate(positions),
        direction=np.concatenate(directions),
        origin="mPMT tank",
    )


def test_mpmt_image_positions_follow_cnn_mpmt_datasets_layout(tmp_path: Path) -> None:
    geo = _mpmt_tank()
    modules = module_geometry(geo)
    assert modules is not None and modules.num_pmts == geo.num_pmts // 19
    paths = write_side_files(geo, tmp_path)
    assert [p.name for p in paths] == [
        "pmt_image_positions.npz",
        "geometry.npz",
        "mpmt_image_positions.npz",
    ]
    mpmt = np.load(tmp_path / "mpmt_image_positions.npz")["mpmt_image_positions"]
    assert mpmt.shape == (modules.num_pmts, 2)
    height, width = mpmt.max(axis=0) + 1
    assert len(np.unique(mpmt[:, 0] * width + mpmt[:, 1])) == len(mpmt)
    rows, row_counts = np.unique(mpmt[:, 0], return_counts=True)  # CNNmPMTDataset's reading
    barrel_rows = rows[row_counts > 0.7 * width]
    assert len(barrel_rows) == 6
    endcap_size = int(np.min(barrel_rows))
    cols, col_counts = np.unique(mpmt[:, 1], return_counts=True)
    left = int(np.min(cols[col_counts > len(barrel_rows)]))
    top = mpmt[:, 0] < endcap_size
    bottom = mpmt[:, 0] > int(np.max(barrel_rows))
    assert height == 2 * endcap_size + 6
    for cap in (top, bottom):  # every cap module inside its endcap square
        assert cap.sum() > 0
        assert np.all((mpmt[cap, 1] >= left) & (mpmt[cap, 1] < left + endcap_size))
    assert top.sum() + bottom.sum() + 6 * 16 == len(mpmt)


def test_watchmal_files_command_and_bad_input(tmp_path: Path) -> None:
    source = write_dump(tmp_path / "toy.h5", 5, seed=1)
    out = tmp_path / "side"
    assert main(["watchmal-files", str(source), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["geometry.npz", "pmt_image_positions.npz"]
    assert main(["watchmal-files", str(source), "-o", str(out)]) != 0  # exists: --overwrite
    bad = tmp_path / "nogeo.h5"
    with h5py.File(bad, "w") as f:
        f["x"] = np.zeros(3)
    assert main(["watchmal-files", str(bad), "-o", str(tmp_path / "none")]) != 0
    assert not (tmp_path / "none").exists()
