"""PMT-grid images: maps from PMT positions, collisions reported, charge and time channels."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest

from hitprep.config import load_job
from hitprep.detectors.wcsim_geometry import TankGeometry, read_geometry
from hitprep.errors import ConfigError
from hitprep.jobmodel import validate
from hitprep.representations.pmt_grid import (
    GridMap,
    PmtGridSection,
    barrel_map,
    cap_map,
    fill_images,
    grid_maps,
    mpmt_map,
)
from hitprep.runners import convert
from hitprep.sources.wcsim_dump import WCSimH5Source
from hitprep.toys.wcsim import ToyTank, write_dump


@pytest.fixture(scope="module")
def real_geometry(shared_data: Path) -> TankGeometry:
    path = shared_data / "wcsim" / "wcsim_10events_2015.root"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return read_geometry(path)


def test_real_tank_one_pixel_per_pmt(real_geometry: TankGeometry) -> None:
    maps = grid_maps(real_geometry, check_section("g", {"regions": ["barrel", "top", "bottom"]}))
    assert maps["barrel"].shape == (84, 327)
    assert maps["top"].shape == maps["bottom"].shape == (102, 102)
    on = {r: int((m.pixel >= 0).sum()) for r, m in maps.items()}
    assert on == {"barrel": 27468, "top": 8280, "bottom": 8280}
    # every PMT is on exactly one grid
    placed = sum((m.pixel >= 0).astype(int) for m in maps.values())
    assert np.all(placed == 1)
    # rows run from the top of the barrel down; columns by angle
    h, _, phi = real_geometry.cylindrical("z")
    b = maps["barrel"].pixel
    row, col = np.divmod(b[b >= 0], 327)
    assert np.corrcoef(row, -h[b >= 0])[0, 1] > 0.999
    seam = phi[b >= 0][col == 0].mean()
    turned = np.mod(phi[b >= 0] - seam + 1e-3, 2 * np.pi)
    assert np.corrcoef(col, turned)[0, 1] > 0.999


def test_collisions_are_reported(real_geometry: TankGeometry) -> None:
    with pytest.raises(ConfigError, match=r"pmt_grid barrel: \d+ PMTs share a pixel.*PMTs \d+ and"):
        grid_maps(real_geometry, check_section("g", {"barrel_shape": [40, 200]}))
    with pytest.raises(ConfigError, match="pmt_grid top"):
        cap_map(real_geometry, "top", size=50).check()


def test_fixed_barrel_grid_like_iwcd() -> None:
    tank = ToyTank(rows=88, columns=168, cap_rows=10)
    m = barrel_map(tank.geometry, "y", shape=[88, 168])
    m.check()
    assert m.shape == (88, 168)
    assert np.array_equal(np.sort(m.pixel[m.pixel >= 0]), np.arange(88 * 168))


def test_mpmt_layout() -> None:
    geo = TankGeometry.cylinder(radius=100, length=200, rows=4, columns=19, cap_rows=6)
    m = mpmt_map(geo, per_module=19)
    assert m.shape == (-(-geo.num_pmts // 19), 19)
    assert m.pixel[20] == 20  # module 1, PMT 1
    m.check()


def test_fill_images_sums_charge_and_takes_first_time() -> None:
    grid = GridMap("barrel", (2, 2), np.array([0, 1, 2, 3, -1]))
    event = np.array([0, 0, 0, 1, 1, 1])
    pmt = np.array([1, 1, 3, 0, 4, 2])  # PMT 4 is on no grid
    values = {"charge": np.array([1.0, 2.0, 5.0, 7.0, 9.0, 1.5]),
              "time": np.array([30.0, 10.0, 4.0, 8.0, 1.0, 2.0])}  # fmt: skip
    img = fill_images({"barrel": grid}, 2, event, pmt, values)["barrel"]
    assert img.shape == (2, 2, 2, 2)
    assert img.dtype == np.float32
    assert img[0, :, :, 0].tolist() == [[0.0, 3.0], [0.0, 5.0]]
    assert img[0, :, :, 1].tolist() == [[0.0, 10.0], [0.0, 4.0]]
    assert img[1, :, :, 0].tolist() == [[7.0, 0.0], [1.5, 0.0]]
    only_time = fill_images({"barrel": grid}, 2, event, pmt, values, ["time"])["barrel"]
    assert only_time.shape == (2, 2, 2, 1)


def test_section_validation() -> None:
    with pytest.raises(ConfigError, match=r"^g\.regions\[1\]: expected one of 'barrel', 'top'"):
        check_section("g", {"regions": ["barrel", "side"]})
    with pytest.raises(ConfigError, match=r"^g\.regions: choose distinct values"):
        check_section("g", {"regions": ["barrel", "barrel"]})
    with pytest.raises(ConfigError, match=r"^g\.barrel_shape: expected \[rows, columns\]"):
        check_section("g", {"barrel_shape": [10]})


def test_grid_preset_on_toy(tmp_path: Path) -> None:
    toy = write_dump(tmp_path / "toy.h5", 60, seed=31)
    out = tmp_path / "grid.h5"
    convert(
        load_job("wcsim_grid", overrides=['pmt_grid.regions=["barrel", "top", "bottom", "mpmt"]']),
        [toy],
        out,
    )
    tank = ToyTank()
    with WCSimH5Source(toy) as src:
        batch = src.read(0, 60)
    digi = batch["digi_hits"][batch["digi_hits"]["trigger"] == 0]
    with h5py.File(out, "r") as f:
        assert f["barrel"].shape == (60, tank.rows, tank.columns, 2)
        assert f["top"].shape == (60, 28, 28, 2)
        assert f["mpmt"].shape[1:] == (-(-tank.geometry.num_pmts // 19), 19, 2)
        assert f["labels"].shape == (60,)
        assert "hit_pmt" not in f
        charge = sum(
            f[r][:, ..., 0].reshape(60, -1).sum(axis=1) for r in ["barrel", "top", "bottom"]
        )
        np.testing.assert_allclose(charge, ak.sum(digi["charge"], axis=1).to_numpy(), rtol=1e-5)
        np.testing.assert_allclose(
            f["mpmt"][:, ..., 0].reshape(60, -1).sum(axis=1), charge, rtol=1e-5
        )
        # the earliest time of each event appears in its images
        first = ak.min(digi["time"], axis=1).to_numpy()
        times = np.concatenate(
            [f[r][:, ..., 1].reshape(60, -1) for r in ["barrel", "top", "bottom"]], axis=1
        )
        np.testing.assert_allclose(np.where(times > 0, times, np.inf).min(axis=1), first, rtol=1e-6)
        positions = f["pmt_image_positions"][:]
        assert positions.shape == (tank.geometry.num_pmts, 2)
        # every PMT, endcaps included, on its own pixel (WatChMaL indexes (-1, -1) as the last)
        assert (positions >= 0).all()
        assert len(np.unique(positions, axis=0)) == len(positions)
        assert f["pmt_grid/barrel_pixel"].attrs["shape"].tolist() == [tank.rows, tank.columns]
    assert read_geometry(out).num_pmts == tank.geometry.num_pmts  # the grid file holds the tank


def check_section(where: str, table: dict[str, object]) -> PmtGridSection:
    return validate(PmtGridSection, where, table)
