"""Toy LDMX ECal: the ROOT layout, seeded, and physics that depends on the A' mass."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.cli import main
from hitprep.errors import ConfigError, OutputExistsError
from hitprep.toys.ldmx import EcalGeometry, _Deposits, _em_showers, simulate, write_root


def test_layout_of_the_file(tmp_path: Path) -> None:
    path = write_root(tmp_path / "bkg.root", n_events=30, seed=1, chunk=7)
    with uproot.open(path) as f:
        tree = f["ecalHits"]
        assert {"eventNumber", "x", "y", "z", "E"} <= set(tree.keys())
        data = tree.arrays(["eventNumber", "x", "y", "z", "E"])
    assert data.eventNumber.tolist() == list(range(1, 31))
    assert ak.all(ak.num(data.x, axis=1) == ak.num(data.E, axis=1))
    geom = EcalGeometry()
    z = np.unique(ak.to_numpy(ak.flatten(data.z)))
    assert np.isin(z, geom.layer_z.astype(np.float32)).all()  # hits sit on layer planes
    x = ak.to_numpy(ak.flatten(data.x))
    assert np.allclose((x + geom.half_width) % geom.cell, geom.cell / 2)  # cell centres
    assert ak.all(data.E > 0)


def test_seeded_and_mass_dependent() -> None:
    a, b = simulate(20, mass=50.0, seed=3), simulate(20, mass=50.0, seed=3)
    assert ak.all(a.hits.E == b.hits.E)
    energy = {m: float(ak.mean(ak.sum(simulate(80, mass=m, seed=1).hits.E, axis=1)))
              for m in (1.0, 100.0, 1000.0)}  # fmt: skip
    assert energy[1.0] > energy[100.0] > energy[1000.0]
    spread = {m: float(ak.mean(np.hypot(simulate(80, mass=m, seed=2).hits.x,
                                        simulate(80, mass=m, seed=2).hits.y)))
              for m in (1.0, 1000.0)}  # fmt: skip
    assert spread[1000.0] > 2 * spread[1.0]  # heavy A': wider recoil angles


def test_background_overlaps_light_signal() -> None:
    """The triggered photo-nuclear sample looks like a light A' in its visible energy; many of
    its events have nothing but the recoil shower, the rest a deep hadronic deposit."""
    background, signal = simulate(600, seed=4), simulate(600, mass=1.0, seed=5)
    total_b = ak.to_numpy(ak.sum(background.hits.E, axis=1))
    total_s = ak.to_numpy(ak.sum(signal.hits.E, axis=1))
    low, high = np.quantile(total_s, [0.05, 0.95])
    assert ((total_b > low) & (total_b < high)).mean() > 0.6
    back = EcalGeometry().layer_z[17]  # the second half of the ECal
    deep_b = ak.to_numpy(ak.sum(background.hits.E[background.hits.z > back], axis=1))
    deep_s = ak.to_numpy(ak.sum(signal.hits.E[signal.hits.z > back], axis=1))
    assert deep_b.mean() > 2 * deep_s.mean()
    lone = deep_b <= np.quantile(deep_s, 0.9)  # as little deep energy as most signal events
    assert 0.2 < lone.mean() < 0.6


def test_energy_resolution_has_stochastic_and_constant_terms() -> None:
    """Relative spread of an electron shower's visible energy: sigma / E = a / sqrt(E) (+) c."""
    geom = EcalGeometry()
    rng = np.random.default_rng(7)
    energies = np.array([100.0, 400.0, 1000.0, 4000.0])
    spread = []
    for energy in energies:
        n = 1500
        dep = _Deposits([], [], [], [], [])
        zero = np.zeros(n)
        event = np.arange(n, dtype=np.int64)
        _em_showers(rng, dep, geom, event, np.full(n, energy), zero, zero, zero, zero)
        seen = np.bincount(np.concatenate(dep.event), np.concatenate(dep.energy), minlength=n)
        spread.append(seen.std() / seen.mean())
    (a2, c2), *_ = np.linalg.lstsq(
        np.stack([1 / energies, np.ones(4)], axis=1), np.square(spread), rcond=None
    )
    assert 0.04 < np.sqrt(a2 / 1000) < 0.09  # stochastic term, per sqrt(GeV)
    assert 0.008 < np.sqrt(c2) < 0.025  # constant term
    assert spread[0] > 4 * spread[-1]  # resolution improves with energy


def test_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="positive"):
        simulate(3, mass=-1.0)
    write_root(tmp_path / "a.root", n_events=2)
    with pytest.raises(OutputExistsError):
        write_root(tmp_path / "a.root", n_events=2)
    assert [p.name for p in tmp_path.iterdir()] == ["a.root"]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.root"
    args = ["toy", "ldmx", "--mass", "10", "-n", "5", "-o", str(out), "--tree", "hcalHits"]
    assert main(args) == 0
    assert "signal, A' mass 10 MeV" in capsys.readouterr().out
    with uproot.open(out) as f:
        assert f["hcalHits"].num_entries == 5
