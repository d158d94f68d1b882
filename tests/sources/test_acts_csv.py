"""ACTS CSV dumps: columns by name, hits joined to particles, bad input named precisely."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.sources import detect_format, open_source
from hitprep.sources.acts_csv import ActsCsvSource, match_particles
from hitprep.toys.acts import write_acts

HITS = "evtid,hitid,barcode,volid,layid,x,y,z"
PARTS = "evtid,barcode,vx,vy,vz,p,theta,phi,q"


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_acts(tmp_path_factory.mktemp("acts"), n_events=30, seed=5)[0]


def pair(tmp: Path, hits: list[str], parts: list[str], name: str = "1") -> Path:
    (tmp / f"clusters_{name}.csv").write_text("\n".join(hits) + "\n")
    (tmp / f"particles_{name}.csv").write_text("\n".join(parts) + "\n")
    return tmp / f"clusters_{name}.csv"


def test_toy_file_reads_every_row_and_joins_by_barcode(toy: Path) -> None:
    with ActsCsvSource(toy) as src:
        assert src.num_events == 30
        batch = src.read(0, 30)
        assert src.unmatched.sum() == 0
    with toy.open() as fh:
        rows = list(csv.DictReader(fh))
    assert int(ak.sum(ak.num(batch.hits, axis=1))) == len(rows)
    assert batch.event_id.tolist() == list(range(30))
    first = [r for r in rows if r["evtid"] == "0"]
    assert batch.hits.barcode[0].tolist() == [int(r["barcode"]) for r in first]
    assert batch.hits.x[0].tolist() == [float(r["x"]) for r in first]
    # every non-noise hit points at the particle with its barcode
    idx = batch.hits.particle
    matched = idx >= 0
    assert ak.all((batch.hits.barcode == 0) | matched)
    joined = batch.particles.barcode[ak.where(matched, idx, 0)]
    assert ak.all(joined[matched] == batch.hits.barcode[matched])


def test_momentum_from_p_theta_phi_and_from_px_py_pz(tmp_path: Path) -> None:
    theta, phi = 0.7, -2.0
    path = pair(
        tmp_path,
        [HITS, "3,1,11,8,2,30,0,1"],
        [PARTS, f"3,11,0,0,0,5.0,{theta!r},{phi!r},-1"],
    )
    with ActsCsvSource(path) as src:
        p = src.read(0, 1).particles[0, 0]
    assert p.pt == 5.0 * np.sin(theta)
    assert p.eta == pytest.approx(-np.log(np.tan(theta / 2)))
    assert (p.px, p.py) == pytest.approx((p.pt * np.cos(phi), p.pt * np.sin(phi)))
    assert p.pz == pytest.approx(5.0 * np.cos(theta))
    other = pair(
        tmp_path,
        ["event_id,particle_id,volume_id,layer_id,x,y,z", "3,11,8,2,30,0,1"],
        ["event_id,particle_id,px,py,pz,charge", "3,11,3.0,4.0,0.0,1"],
        name="2",
    )
    with ActsCsvSource(other) as src:
        batch = src.read(0, 1)
    assert batch.particles.pt.tolist() == [[5.0]] and batch.particles.eta.tolist() == [[0.0]]
    assert batch.hits.hit_id.tolist() == [[1]]  # no hit id column: counted per event


def test_large_barcodes_keep_full_precision(tmp_path: Path) -> None:
    big = 22525763437723648 + 1  # above 2**53: a float would round it
    path = pair(tmp_path, [HITS, f"0,1,{big},8,2,30,0,1"], [PARTS, f"0,{big},0,0,0,1,1,1,1"])
    with ActsCsvSource(path) as src:
        batch = src.read(0, 1)
    assert batch.hits.barcode.tolist() == [[big]] and batch.hits.particle.tolist() == [[0]]


def test_events_sorted_and_events_without_hits(tmp_path: Path) -> None:
    path = pair(
        tmp_path,
        [HITS, "7,1,5,8,2,1,1,1", "2,1,5,8,4,2,2,2", "7,2,6,8,6,3,3,3"],
        [PARTS, "2,5,0,0,0,1,1,1,1", "7,5,0,0,0,1,1,1,1", "7,6,0,0,0,1,1,1,1", "9,5,0,0,0,1,1,1,1"],
    )
    with ActsCsvSource(path) as src:
        batch = src.read(0, src.num_events)
    assert batch.event_id.tolist() == [2, 7, 9]
    assert ak.num(batch.hits, axis=1).tolist() == [1, 2, 0]
    assert batch.hits.particle.tolist() == [[0], [0, 1], []]
    with ActsCsvSource(path) as src:
        part = src.read(1, 3, fields=["event_id", "hits.z"])
    assert part.fields == ["entry", "event_id", "hits"]
    assert part.hits.fields == ["z"] and part.entry.tolist() == [1, 2]


def test_hits_without_particles_are_counted_not_dropped(tmp_path: Path) -> None:
    path = pair(
        tmp_path,
        [HITS, "0,1,5,8,2,1,1,1", "0,2,99,8,4,1,1,1", "1,1,5,8,2,1,1,1", "1,2,0,8,2,1,1,1"],
        [PARTS, "0,5,0,0,0,1,1,1,1"],  # event 1 has hits but no particles
    )
    with ActsCsvSource(path) as src:
        assert src.unmatched.tolist() == [1, 1]  # barcode 99; event 1's barcode 5; noise is not
        batch = src.read(0, 2)
    assert batch.hits.particle.tolist() == [[0, -1], [-1, -1]]


def test_match_particles_handles_repeated_barcodes_across_events() -> None:
    got = match_particles(
        np.array([0, 1, 1, 2]),
        np.array([7, 7, 8, 7]),
        np.array([0, 0, 1]),
        np.array([8, 7, 7]),
        np.array([0, 2, 3, 3]),
    )
    assert got.tolist() == [1, 0, -1, -1]


def test_missing_column_names_what_the_file_has(tmp_path: Path) -> None:
    path = pair(tmp_path, ["evtid,hitid,barcode,volid,layer,x,y,z", "0,1,5,8,2,1,1,1"], [PARTS])
    with pytest.raises(KeyInFileError, match="column 'layid/layer_id' not found") as info:
        ActsCsvSource(path)
    assert "clusters_1.csv" in str(info.value) and "'layer'" in str(info.value)


def test_missing_momentum_columns(tmp_path: Path) -> None:
    path = pair(tmp_path, [HITS], ["evtid,barcode,q", "0,1,1"])
    with pytest.raises(FileFormatError, match="px, py, pz or p, theta, phi"):
        ActsCsvSource(path)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("0,1,5,8,2,abc,1,1", r"line 3, column 'x': 'abc' is not a number"),
        ("0,1,5,8,2,1", r"line 3 has 6 values; column 'y' is missing"),
        ("0,1,5,8,two,1,1,1", r"line 3, column 'layid': 'two' is not a number"),
    ],
)
def test_bad_values_name_line_and_column(tmp_path: Path, line: str, match: str) -> None:
    path = pair(tmp_path, [HITS, "0,1,5,8,2,1,1,1", line], [PARTS])
    with pytest.raises(FileFormatError, match=match) as info:
        ActsCsvSource(path)
    assert str(path) in str(info.value)


def test_no_header_and_header_only(tmp_path: Path) -> None:
    path = pair(tmp_path, ["0,1,5,8,2,1,1,1"], [PARTS])
    with pytest.raises(FileFormatError, match="no header line"):
        ActsCsvSource(path)
    empty = pair(tmp_path, [HITS], [PARTS], name="2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ActsCsvSource(empty) as src:
            assert src.num_events == 0
            assert len(src.read(0, 0)) == 0


def test_duplicate_particles_are_an_error(tmp_path: Path) -> None:
    path = pair(tmp_path, [HITS], [PARTS, "0,5,0,0,0,1,1,1,1", "0,5,0,0,0,2,1,1,1"])
    with pytest.raises(FileFormatError, match="barcode 5 appears twice"):
        ActsCsvSource(path)


def test_particles_file_by_name_or_given(tmp_path: Path) -> None:
    hits = tmp_path / "hits.csv"
    hits.write_text(HITS + "\n0,1,5,8,2,1,1,1\n")
    with pytest.raises(ConfigError, match="pass particles="):
        ActsCsvSource(hits)
    (tmp_path / "p.csv").write_text(PARTS + "\n0,5,0,0,0,1,1,1,1\n")
    with ActsCsvSource(hits, particles=tmp_path / "p.csv") as src:
        assert src.read(0, 1).hits.particle.tolist() == [[0]]
    with pytest.raises(FileFormatError, match="no such file"):
        ActsCsvSource(hits, particles=tmp_path / "nope.csv")


def test_detect_and_open(toy: Path, tmp_path: Path) -> None:
    assert detect_format(toy) == "acts_csv"
    with open_source(toy) as src:
        assert isinstance(src, ActsCsvSource)
    other = tmp_path / "table.csv"
    other.write_text("a,b\n")
    with pytest.raises(FileFormatError, match="unknown layout"):
        detect_format(other)
