"""WatChMaL jagged hits -> PMT-grid images, against a per-event reference loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hitprep.errors import FileFormatError, KeyInFileError  # noqa: E402
from hitprep.ml.watchmal import WatchmalDataset, load_pmt_map  # noqa: E402

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


def _reference(w: Any, i: int, per_pixel: int = 1) -> np.ndarray:
    """Event ``i`` drawn hit by hit: charge summed per PMT, the earliest time kept."""
    positions = w.positions
    height, width = positions[:, 0].max() + 1, positions[:, 1].max() + 1
    image = np.zeros((2 * per_pixel, height, width), np.float32)
    earliest: dict[tuple[int, int, int], float] = {}
    for pmt, q, t in zip(w.pmt[i], w.charge[i], w.time[i], strict=True):
        module, sub = divmod(int(pmt), per_pixel)
        r, c = positions[module]
        image[sub, r, c] += q
        key = (per_pixel + sub, int(r), int(c))
        earliest[key] = min(earliest.get(key, np.inf), float(t))
    for (ch, r, c), t in earliest.items():
        image[ch, r, c] = t
    return image


@pytest.mark.parametrize("layout", ["contiguous", "chunked"])
@pytest.mark.parametrize("in_memory", [False, True])
def test_grid_images_equal_the_reference(watchmal: Any, layout: str, in_memory: bool) -> None:
    path = getattr(watchmal, layout)
    ds = WatchmalDataset(path, pmt_map=watchmal.pmt_map, label="labels", in_memory=in_memory)
    assert ds.specs[0].shape == (2, 5, 6)
    idx = [5, 2, 0, 39, 17]
    batch = ds.__getitems__(idx)
    for b, i in enumerate(idx):
        assert np.allclose(batch["grid"][b].numpy(), _reference(watchmal, i), rtol=1e-6)
    assert batch["grid"][1].abs().sum() == 0  # the empty event
    assert ds.classes == (1, 2)
    assert batch["label"].tolist() == [int(watchmal.labels[i]) - 1 for i in idx]


def test_contiguous_hits_are_memory_mapped(watchmal: Any) -> None:
    ds = WatchmalDataset(watchmal.contiguous, pmt_map=watchmal.pmt_map)
    assert isinstance(ds._source("hit_pmt"), np.memmap)
    chunked = WatchmalDataset(watchmal.chunked, pmt_map=watchmal.pmt_map)
    assert isinstance(chunked._source("hit_pmt"), h5py.Dataset)


def test_module_map_puts_pmts_of_a_module_in_channels(watchmal: Any) -> None:
    # 30 PMTs as 10 modules of 3: the map lists the modules' pixels
    modules = watchmal.positions[:10]
    ds = WatchmalDataset(watchmal.chunked, pmt_map=modules, pmts_per_pixel=3)
    assert ds.specs[0].shape[0] == 6
    assert ds.specs[0].features[:3] == ("charge0", "charge1", "charge2")
    w = dataclasses.replace(watchmal, positions=modules)
    grid = ds.__getitems__([5, 9])["grid"].numpy()
    expect = [_reference(w, 5, per_pixel=3), _reference(w, 9, per_pixel=3)]
    assert np.allclose(grid, np.stack(expect))


def test_time_only(watchmal: Any) -> None:
    ds = WatchmalDataset(watchmal.chunked, pmt_map=watchmal.pmt_map, channels=["time"])
    grid = ds.__getitems__([5])["grid"][0].numpy()
    assert grid.shape == (1, 5, 6)
    assert np.allclose(grid[0], _reference(watchmal, 5)[1])


def test_two_pmts_on_one_pixel_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"PMTs 0 and 2 share pixel \(1, 1\)"):
        load_pmt_map(np.array([[1, 1], [0, 0], [1, 1]]))
    np.savez(tmp_path / "wrong.npz", positions=np.zeros((3, 2)))
    with pytest.raises(KeyInFileError, match="pmt_image_positions"):
        load_pmt_map(tmp_path / "wrong.npz")
    with pytest.raises(FileFormatError, match=r"\(n, 2\)"):
        load_pmt_map(np.zeros((4, 3)))


def test_hit_outside_the_map_names_the_event(watchmal: Any) -> None:
    small = watchmal.positions[:20]  # PMTs 20..29 have no pixel
    ds = WatchmalDataset(watchmal.chunked, pmt_map=small)
    bad = next(i for i, p in enumerate(watchmal.pmt) if (p >= 20).any())
    with pytest.raises(FileFormatError, match=f"event {bad}: hit_pmt .* outside"):
        ds.__getitems__([bad])


def test_true_hits_have_no_charge(tmp_path: Path, watchmal: Any) -> None:
    path = tmp_path / "truehits.h5"
    with h5py.File(watchmal.contiguous) as src, h5py.File(path, "w") as f:
        for name in ("hit_pmt", "hit_time", "event_hits_index", "labels"):
            f[name] = src[name][:]
        f["hit_parent"] = np.zeros(len(src["hit_pmt"]), np.int32)
    with pytest.raises(KeyInFileError, match="hit dataset 'hit_charge' not found"):
        WatchmalDataset(path, pmt_map=watchmal.pmt_map)
    ds = WatchmalDataset(path, pmt_map=watchmal.pmt_map, channels=["time"], label="labels")
    assert ds.__getitems__([0])["grid"].shape == (1, 1, 5, 6)


def test_pmts_without_a_pixel_are_left_out(watchmal: Any, tmp_path: Path) -> None:
    # hitprep's grid output marks PMTs off the barrel with (-1, -1)
    positions = watchmal.positions.copy()
    positions[4] = -1
    grid_file = tmp_path / "grid.h5"
    with h5py.File(grid_file, "w") as f:
        f["pmt_image_positions"] = positions
    ds = WatchmalDataset(watchmal.contiguous, pmt_map=grid_file)
    assert ds.unmapped_pmts == 1
    image = ds.__getitems__([5])["grid"][0].numpy()  # hits on PMTs 4, 4, 9
    r, c = watchmal.positions[9]
    assert image[0].sum() == pytest.approx(watchmal.charge[5][2])
    assert image[0, r, c] == pytest.approx(watchmal.charge[5][2])
    with pytest.raises(FileFormatError, match="must be >= 0"):
        load_pmt_map(np.array([[0, 0], [-1, 2]]))


def test_on_the_fly_grid_equals_hitprep_barrel_images(tmp_path: Path) -> None:
    """The toy tank through ``convert wcsim_watchmal_digi`` (jagged hits) and ``wcsim_grid``
    (barrel images): the dataset's grid from the hits and the grid file's PMT map equals
    the barrel images, charge and time."""
    from hitprep.cli import main
    from hitprep.config import list_presets

    if not {"wcsim_watchmal_digi", "wcsim_grid"} <= set(list_presets()):
        pytest.skip("the WCSim presets are not in this checkout")
    tank, hits, grid = tmp_path / "tank.h5", tmp_path / "wm.h5", tmp_path / "grid.h5"
    assert main(["toy", "wcsim", "-n", "30", "-o", str(tank), "--seed", "2"]) == 0
    assert main(["convert", "wcsim_watchmal_digi", str(tank), "-o", str(hits)]) == 0
    assert main(["convert", "wcsim_grid", str(tank), "-o", str(grid)]) == 0
    ds = WatchmalDataset(hits, pmt_map=grid, label="labels")
    # the grid file's map is the whole-detector image (top cap, unrolled barrel, bottom
    # cap): every PMT drawn, the barrel images in its middle band
    assert ds.unmapped_pmts == 0
    ours = ds.__getitems__(list(range(30)))["grid"].numpy()
    with h5py.File(grid) as f:
        barrel = np.moveaxis(f["barrel"][:], -1, 1)
        caps = [np.moveaxis(f[r][:], -1, 1) for r in ("top", "bottom")]
    cap = max(c.shape[2] for c in caps)
    rows, cols = barrel.shape[2:]
    left = (ours.shape[3] - cols) // 2
    assert ours.shape[2] == 2 * cap + rows
    assert np.array_equal(ours[:, :, cap : cap + rows, left : left + cols], barrel)
    charge = ours[:, 0].sum(axis=(1, 2))
    expected = sum(image[:, 0].sum(axis=(1, 2)) for image in [barrel, *caps])
    np.testing.assert_allclose(charge, expected, rtol=1e-5)
