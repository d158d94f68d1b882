"""Toy water-Cherenkov simulator: file layout, reproducibility, ring shapes, wall lookups, CLI."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import numpy.typing as npt
import pytest

from hitprep.cli import main
from hitprep.errors import ConfigError, FileFormatError
from hitprep.sources import detect_format, open_source
from hitprep.sources.wcsim_dump import WCSimH5Source
from hitprep.toys.wcsim import ToyTank, _scattered, simulate, write_dump

N = 300


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.h5"
    return write_dump(path, N, seed=3, chunk=128)


@pytest.fixture(scope="module")
def batch(toy: Path) -> ak.Array:
    with WCSimH5Source(toy) as src:
        return src.read(0, N)


def test_layout_and_detection(toy: Path) -> None:
    assert detect_format(toy) == "wcsim_h5"
    with h5py.File(toy, "r") as f:
        assert f.attrs["hitprep_format"] == "wcsim_dump"
        for family in ["digi_hit", "true_hit", "track", "trigger"]:
            off = f[f"{family}_offsets"][:]
            assert off.shape == (N + 1,)
            assert off[0] == 0
            assert np.all(np.diff(off) >= 0)
            assert off[-1] == len(f[f"{family}_{'pid' if family == 'track' else 'time'}"])
        assert f["digi_hit_pmt"].dtype == np.int32
        assert f["position"].shape == (N, 3)
        assert f["root_file"][0].decode() == str(toy)
    with open_source(toy) as src:
        assert isinstance(src, WCSimH5Source)
        assert src.geometry.num_pmts == ToyTank().geometry.num_pmts
        np.testing.assert_allclose(src.geometry.position, ToyTank().geometry.position)


def test_events_are_plausible(batch: ak.Array) -> None:
    assert set(np.unique(batch["pid"].to_numpy())) == {11, 13, 22}
    n_digi = ak.num(batch["digi_hits"]).to_numpy()
    assert n_digi.min() > 10  # dark noise alone gives ~45
    assert 150 < n_digi.mean() < 800
    pmt = ak.flatten(batch["digi_hits"]["pmt"]).to_numpy()
    assert pmt.min() >= 0
    assert pmt.max() < ToyTank().geometry.num_pmts
    assert ak.all(batch["digi_hits"]["charge"] > 0)
    # one digit per PMT and trigger
    digi = batch["digi_hits"]
    key = (ak.flatten(digi["trigger"]) * 10_000 + ak.flatten(digi["pmt"])).to_numpy()
    event = np.repeat(np.arange(N), n_digi)
    assert len(np.unique(event * 100_000 + key)) == len(key)
    # muons that stop inside the tank mostly decay: a second trigger
    mu = batch["pid"].to_numpy() == 13
    two = ak.num(batch["triggers"]).to_numpy() == 2
    assert two[mu].mean() > 0.2
    assert not two[~mu].any()
    energies = batch["energy"].to_numpy()
    assert energies.min() >= 100.0
    assert energies.max() <= 1000.0 + 106.0


def test_tracks_follow_wcsim_conventions(batch: ak.Array) -> None:
    tracks = batch["tracks"]
    pid = batch["pid"].to_numpy()
    first = tracks[:, 0]
    assert ak.all(first["flag"] == -1)
    np.testing.assert_array_equal(first["pdg"].to_numpy(), pid)
    primaries = tracks[(tracks["flag"] == 0) & (tracks["parent_pdg"] == 0)]
    n_primaries = ak.num(primaries).to_numpy()
    assert np.all(n_primaries[pid == 22] == 2)
    assert np.all(n_primaries[pid != 22] == 1)
    gamma_pair = primaries[pid == 22]["pdg"]
    assert ak.all(ak.sort(gamma_pair, axis=1) == ak.Array([[-11, 11]]))


def _outside_fraction(batch: ak.Array, pid: int) -> float:
    """Charge fraction of trigger-0 digits seen more than 45 degrees off the track axis."""
    geo = ToyTank().geometry
    sel = batch[batch["pid"] == pid]
    digi = sel["digi_hits"][sel["digi_hits"]["trigger"] == 0]
    counts = ak.num(digi).to_numpy()
    pmt = ak.flatten(digi["pmt"]).to_numpy()
    vertex = np.stack([sel[f"position_{c}"].to_numpy() for c in "xyz"], axis=1)
    direction = np.stack([sel[f"direction_{c}"].to_numpy() for c in "xyz"], axis=1)
    to_pmt = geo.position[pmt] - np.repeat(vertex, counts, axis=0)
    to_pmt /= np.linalg.norm(to_pmt, axis=1, keepdims=True)
    cos = np.einsum("ij,ij->i", to_pmt, np.repeat(direction, counts, axis=0))
    charge = ak.flatten(digi["charge"]).to_numpy()
    return float(charge[cos < np.cos(np.radians(45))].sum() / charge.sum())


def test_muon_rings_are_sharper_than_electron_rings(batch: ak.Array) -> None:
    mu, e = _outside_fraction(batch, 13), _outside_fraction(batch, 11)
    assert mu < 0.12
    assert e > mu + 0.1


def test_gamma_rings_look_like_electron_rings(batch: ak.Array) -> None:
    """A gamma's e+ e- showers make a ring nearly like an electron's (e/gamma overlap as in
    the real tanks), both far fuzzier than a muon's."""
    e, gamma, mu = (_outside_fraction(batch, pid) for pid in (11, 22, 13))
    assert abs(gamma - e) < 0.08
    assert gamma > mu + 0.1


def _charge_spread(tmp_path: Path, energy: tuple[float, float]) -> float:
    """Relative spread of the first trigger's total charge of electrons in a narrow range."""
    path = write_dump(tmp_path / f"e{energy[0]:g}.h5", 250, particles=["e"], energy=energy,
                      seed=8, true_hits=False)  # fmt: skip
    with WCSimH5Source(path) as src:
        digi = src.read(0, 250)["digi_hits"]
    charge = ak.to_numpy(ak.sum(digi["charge"][digi["trigger"] == 0], axis=1))
    return float(charge.std() / charge.mean())


def test_charge_resolution_improves_with_energy(tmp_path: Path) -> None:
    """Photon counts are Poisson in the track length (~ 1/sqrt(E)), on top of a constant term
    (light yield, vertex and geometry): the relative spread falls with energy, not to 0."""
    low, high = _charge_spread(tmp_path, (150, 160)), _charge_spread(tmp_path, (900, 910))
    assert low > 1.2 * high
    assert high > 0.02


def test_scattering_smears_the_emission_axis() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    direction = np.tile([[0.0, 0.0, 1.0]], (n, 1))
    muon = np.ones(n, dtype=bool)

    def median_angle(kinetic: float, muons: npt.NDArray[np.bool_]) -> float:
        axis = _scattered(rng, direction, np.full(n, kinetic), muons)
        return float(np.degrees(np.median(np.arccos(np.clip(axis[:, 2], -1, 1)))))

    slow, fast = median_angle(150.0, muon), median_angle(900.0, muon)
    assert 0.3 < fast < slow < 5.0  # muons: the Highland angle, smaller at high momentum
    assert 1.0 < median_angle(500.0, ~muon) < 5.0  # showers: a few degrees


def test_reproducible_and_seeded() -> None:
    a = next(simulate(20, seed=5))
    b = next(simulate(20, seed=5))
    c = next(simulate(20, seed=6))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["energy"], c["energy"])


def test_options(tmp_path: Path) -> None:
    path = write_dump(tmp_path / "mu.h5", 30, particles=["mu"], energy=(200, 300), true_hits=False)
    with WCSimH5Source(path) as src:
        assert "true_hits.pmt" not in src.fields()
        batch = src.read(0, 30)
    assert ak.all(batch["pid"] == 13)
    kinetic = batch["energy"].to_numpy() - 105.658
    assert kinetic.min() >= 199.9
    assert kinetic.max() <= 300.1
    with pytest.raises(ConfigError, match="unknown particles"):
        next(simulate(3, particles=["tau"]))
    with pytest.raises(ConfigError, match="energy range"):
        next(simulate(3, energy=(10, 5)))
    empty = write_dump(tmp_path / "empty.h5", 0)
    with WCSimH5Source(empty) as src:
        assert src.num_events == 0


def test_wall_cells_hold_their_pmts() -> None:
    tank = ToyTank()
    rng = np.random.default_rng(0)
    start = rng.uniform(-100, 100, (2000, 3))
    direction = rng.normal(size=(2000, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    end, length = tank.to_wall(start, direction)
    np.testing.assert_allclose(start + direction * length[:, None], end, atol=1e-6)
    pmt = tank.pmt_at(end)
    hit = pmt >= 0
    assert hit.mean() > 0.9  # only cap cells outside the disc have no PMT
    gap = np.linalg.norm(tank.geometry.position[pmt[hit]] - end[hit], axis=1)
    pitch = max(tank.length / tank.rows, 2 * np.pi * tank.radius / tank.columns)
    assert gap.max() < pitch


def test_not_a_dump(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    assert detect_format(path) == "km3net_hdf5"
    with pytest.raises(FileFormatError, match="not a hitprep WCSim dump"):
        WCSimH5Source(path)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.h5"
    assert main(["toy", "wcsim", "-n", "12", "-o", str(out), "--seed", "1"]) == 0
    assert "wrote 12 toy water-Cherenkov events" in capsys.readouterr().out
    assert main(["toy", "wcsim", "-n", "12", "-o", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["toy", "wcsim", "-n", "3", "-o", str(tmp_path / "x.h5"), "--particles", "p"]) == 1
    assert "unknown particles" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cli.h5"]
