"""Toy LDMX ECal: the ROOT layout, seeded, and physics that depends on the A' mass."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.cli import main
from hitprep.errors import ConfigError, OutputExistsError
from hitprep.toys.ldmx import EcalGeometry, simulate, write_root


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
    background = float(ak.mean(ak.sum(simulate(80, seed=1).hits.E, axis=1)))
    assert background > energy[1.0] > energy[100.0] > energy[1000.0]
    spread = {m: float(ak.mean(np.hypot(simulate(80, mass=m, seed=2).hits.x,
                                        simulate(80, mass=m, seed=2).hits.y)))
              for m in (1.0, 1000.0)}  # fmt: skip
    assert spread[1000.0] > 2 * spread[1.0]  # heavy A': wider recoil angles


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
