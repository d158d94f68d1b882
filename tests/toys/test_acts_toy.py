"""Toy barrel tracker: hits on the layer cylinders, along helices, in both CSV layouts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from hitprep.cli import main
from hitprep.errors import OutputExistsError
from hitprep.toys.acts import BARREL_LAYERS, simulate, write_acts, write_trackml


def test_hits_lie_on_their_layers_and_particles_exist() -> None:
    toy = simulate(50, seed=4)
    h, p = toy.hits, toy.particles
    radius = {(v, lay): r for v, lay, r, _ in BARREL_LAYERS}
    barrel = np.isin(h["volid"], [8, 13, 17])
    r = np.hypot(h["x"][barrel], h["y"][barrel])
    expected = [
        radius[v, lay] for v, lay in zip(h["volid"][barrel], h["layid"][barrel], strict=True)
    ]
    np.testing.assert_allclose(r, expected, rtol=1e-9)
    known = set(zip(p["evtid"].tolist(), p["barcode"].tolist(), strict=True))
    signal = h["barcode"] != 0
    pairs = zip(h["evtid"][signal].tolist(), h["barcode"][signal].tolist(), strict=True)
    assert all(pair in known for pair in pairs)
    assert 0.0 < np.mean(~signal) < 0.1  # some noise
    assert np.all(np.diff(h["evtid"]) >= 0)


def test_low_pt_particles_curl_up_before_the_outer_layers() -> None:
    toy = simulate(200, seed=5)
    h, p = toy.hits, toy.particles
    key_p = p["evtid"] * 2**20 + ((p["barcode"] >> 16) & 0xFFFFF)  # particle number
    key_h = h["evtid"] * 2**20 + ((h["barcode"] >> 16) & 0xFFFFF)
    outer = (h["volid"] == 17) & (h["layid"] == 4) & (h["barcode"] != 0)
    row = np.searchsorted(key_p, key_h[outer])
    pt = np.hypot(p["px"][row], p["py"][row])
    min_pt = 0.3 * 2.0 * 1020.0 / 2000.0  # reach r = 1020 mm in 2 T: 2 R > r, R = pT / (0.3 B)
    assert len(pt) > 100 and pt.min() > min_pt
    assert np.hypot(p["px"], p["py"]).min() < min_pt  # softer particles exist


def test_files_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clusters = write_acts(tmp_path / "acts", n_events=3, files=2, seed=1)
    assert [c.name for c in clusters] == ["clusters_0.csv", "clusters_1.csv"]
    with clusters[1].open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["evtid"] for r in rows} == {"3", "4", "5"}  # each file its own event ids
    with pytest.raises(OutputExistsError):
        write_acts(tmp_path / "acts", n_events=3, files=1)
    prefixes = write_trackml(tmp_path / "tml", n_events=2, seed=3)
    assert [p.name for p in prefixes] == ["event000001000", "event000001001"]
    assert main(["toy", "acts", "-n", "2", "-o", str(tmp_path / "cli"), "--layout", "trackml"]) == 0
    assert "wrote 2 TrackML events" in capsys.readouterr().out
