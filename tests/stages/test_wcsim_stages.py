"""Water-Cherenkov stages: trigger/hit selection and truth (labels, primary, veto), vectorized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from hitprep.errors import ConfigError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.jobmodel import validate
from hitprep.pipeline import Accounting, Context
from hitprep.sources.wcsim import WCSimSource
from hitprep.sources.wcsim_dump import WCSimH5Source
from hitprep.stages import wcsim_hits, wcsim_truth
from hitprep.stages.wcsim_hits import NO_TRIGGER, TriggerSelection, select_trigger
from hitprep.stages.wcsim_truth import TruthStage, angles, primaries_from_tracks
from hitprep.toys.wcsim import write_dump


def _ctx(source: str = "test") -> Context:
    return Context(source, 0, Accounting())


def _batch(
    digi: dict[str, list[list[Any]]], triggers: dict[str, list[list[Any]]], **events: Any
) -> ak.Array:
    def jag(cols: dict[str, list[list[Any]]]) -> ak.Array:
        first = next(iter(cols.values()))
        offsets = offsets_from_counts([len(e) for e in first])
        flat = {k: np.asarray([x for e in v for x in e]) for k, v in cols.items()}
        return jagged_from_flat(flat, offsets)

    n = len(next(iter(digi.values())))
    ev = {"entry": np.arange(n), **{k: np.asarray(v) for k, v in events.items()}}
    return make_batch(ev, {"digi_hits": jag(digi), "triggers": jag(triggers)}, length=n)


@pytest.fixture
def two_events() -> ak.Array:
    return _batch(
        {
            "pmt": [[1, 2, 3, 4], [5, 6]],
            "charge": [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0]],
            "time": [[10.0, 20.0, 30.0, 40.0], [50.0, 60.0]],
            "trigger": [[0, 1, 1, 0], [0, 0]],
        },
        {
            "type": [[0, 0], [5]],
            "time": [[100.0, 3000.0], [100.0]],
            "info_1": [[np.nan, 7.0], [np.nan]],
            "info_2": [[np.nan, 9.0], [np.nan]],
        },
    )


def test_select_trigger_picks_earliest_allowed() -> None:
    n = [3, 2, 0, 2]
    types = np.array([1, 0, 0, 1, 1, 0, 0])
    times = np.array([0.0, 50.0, 20.0, 0.0, 0.0, 9.0, 3.0])
    assert select_trigger(n, types, times, [0]).tolist() == [2, -1, -1, 1]
    assert select_trigger(n, types, times, [1]).tolist() == [0, 0, -1, -1]
    assert select_trigger(n, types, times, [0, 1]).tolist() == [0, 0, -1, 1]


def test_hits_of_selected_trigger(two_events: ak.Array) -> None:
    ctx = _ctx()
    out = TriggerSelection()(two_events, ctx)
    hits = out["hits"]
    assert hits["pmt"].tolist() == [[1, 4], []]  # event 1 has no NDigits trigger: kept, empty
    assert hits["charge"].tolist() == [[1.0, 4.0], []]
    assert ctx.accounting.items_read[NO_TRIGGER] == 1
    second = TriggerSelection(types=[0, 5], time_shift="trigger_time", time_offset=-950.0)
    shifted = second(two_events, _ctx())["hits"]
    assert shifted["time"].tolist() == [[10 + 100 - 950, 40 + 100 - 950], [50 - 850, 60 - 850]]
    cut = TriggerSelection(types=[0, 5], max_time=55.0)(two_events, _ctx())["hits"]
    assert cut["pmt"].tolist() == [[1, 4], [5]]


def test_trigger_info_shift() -> None:
    batch = _batch(
        {"pmt": [[1, 2]], "charge": [[1.0, 1.0]], "time": [[10.0, 20.0]], "trigger": [[0, 1]]},
        {"type": [[3, 0]], "time": [[0.0, 5.0]], "info_1": [[1.0, 7.0]], "info_2": [[2.0, 9.0]]},
    )
    hits = TriggerSelection(time_shift="trigger_info")(batch, _ctx())["hits"]
    assert hits["time"].tolist() == [[22.0]]  # 20 + 9 - 7


def test_section_validation() -> None:
    hits_section = wcsim_hits.WcsimHitsSection
    assert validate(hits_section, "j", {}).types == (0,)
    with pytest.raises(ConfigError, match=r"^j\.time_shift: expected one of"):
        validate(hits_section, "j", {"time_shift": "sometimes"})
    with pytest.raises(ConfigError, match=r"^j\.time_shift: true hits carry absolute times"):
        validate(hits_section, "j", {"hits": "true", "time_shift": "trigger_time"})
    with pytest.raises(ConfigError, match=r"^j\.types: expected a non-empty list"):
        validate(hits_section, "j", {"types": []})
    sec = validate(wcsim_truth.WcsimTruthSection, "j", {"labels": {"-13": 5, "11": 1}})
    assert sec.labels == {-13: 5, 11: 1}
    with pytest.raises(ConfigError, match="keys must be PDG codes"):
        validate(wcsim_truth.WcsimTruthSection, "j", {"labels": {"mu": 1}})
    with pytest.raises(ConfigError, match="match: expected"):
        validate(wcsim_truth.WcsimTruthSection, "j", {"match": "fuzzy"})


def test_labels_exact_and_absolute() -> None:
    pid = np.array([22, 11, -11, 13, -13, 211, 0])
    absolute = TruthStage(validate(wcsim_truth.WcsimTruthSection, "j", {}))
    assert absolute.label(pid).tolist() == [0, 1, 1, 2, 2, -1, -1]
    exact = TruthStage(validate(wcsim_truth.WcsimTruthSection, "j", {"match": "exact"}))
    assert exact.label(pid).tolist() == [0, 1, -1, 2, -1, -1, -1]
    empty = TruthStage(validate(wcsim_truth.WcsimTruthSection, "j", {"labels": {}}))
    assert empty.label(pid).tolist() == [-1] * 7


def test_angles_follow_watchmal() -> None:
    d = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    polar, azimuth = angles(d)
    np.testing.assert_allclose(polar, [0.0, np.pi / 2, np.pi / 2])
    np.testing.assert_allclose(azimuth, [0.0, 0.0, -np.pi / 2])


def _tracks(rows: list[list[dict[str, float]]]) -> ak.Array:
    names = sorted({k for ev in rows for t in ev for k in t})
    flat = {k: np.asarray([t.get(k, 0.0) for ev in rows for t in ev]) for k in names}
    for k in ("pdg", "flag", "parent_pdg", "trigger"):
        if k in flat:
            flat[k] = flat[k].astype(np.int32)
    return jagged_from_flat(flat, offsets_from_counts([len(ev) for ev in rows]))


def _track(
    pdg: int, energy: float, stop: tuple[float, float, float], **kw: float
) -> dict[str, float]:
    t: dict[str, float] = {"pdg": pdg, "energy": energy, "flag": 0, "parent_pdg": 0, "trigger": 0}
    t.update({f"stop_{c}": v for c, v in zip("xyz", stop, strict=True)})
    t.update({f"start_{c}": 0.0 for c in "xyz"})
    t.update({f"dir_{c}": v for c, v in zip("xyz", (0.0, 0.0, 1.0), strict=True)})
    t["p"] = energy
    t.update(kw)
    return t


def test_veto_veto2_contained() -> None:
    """Tank radius 100, half-height 100, axis y; stop points inside or out."""
    sec = validate(
        wcsim_truth.WcsimTruthSection, "j", {"radius": 100.0, "half_height": 100.0, "axis": "y"}
    )
    stage = TruthStage(sec)
    far = (0.0, 0.0, 150.0)  # outside the radius, 150 cm from the start
    up = (0.0, 150.0, 0.0)  # outside the half-height
    tracks = _tracks(
        [
            [_track(13, 500.0, far)],  # veto; veto2: 500 - 2*150 = 200 > 166
            [_track(13, 400.0, far)],  # veto; veto2: 400 - 300 = 100 < 166
            [_track(13, 160.0, far)],  # below the muon threshold: no veto, not contained
            [_track(11, 3.0, up)],  # electron above 2 MeV: veto, veto2 3 - 300 < 2
            [_track(13, 900.0, (0.0, 0.0, 50.0))],  # stops inside: contained
            [_track(2212, 900.0, far)],  # protons do not count
            [_track(22, 50.0, (0.0, 0.0, 50.0)), _track(13, 500.0, far, start_z=140.0)],
        ]
    )
    flags = stage.vetoes(tracks, len(tracks), "unused")
    assert flags["veto"].tolist() == [True, True, False, True, False, False, True]
    assert flags["veto2"].tolist() == [True, False, False, False, False, False, True]
    assert flags["fully_contained"].tolist() == [False, False, False, False, True, True, False]
    # veto2 uses each track's own length: the last muon is 10 cm long (DataTools' whole-array
    # norm would subtract 2 MeV/cm x the norm of every track's displacement together)
    whole_array_norm = np.linalg.norm(np.array([[0, 0, 150.0]] * 6 + [[0, 0, 10.0]]))
    assert 500 - 2 * whole_array_norm < 166


def test_tank_needed_without_geometry(tmp_path: Path) -> None:
    stage = TruthStage(validate(wcsim_truth.WcsimTruthSection, "j", {}))
    tracks = _tracks([[_track(13, 500.0, (0.0, 0.0, 0.0))]])
    with pytest.raises(ConfigError, match=r"\[wcsim_truth\] needs the tank.*radius, half_height"):
        stage.vetoes(tracks, 1, str(tmp_path / "missing.npz"))


def test_primary_rules_of_datatools() -> None:
    gen = {"flag": -1}
    tracks = _tracks(
        [
            # one Geant4 primary
            [_track(13, 0.0, (0, 0, 0), **gen), _track(-13, 800.0, (0, 0, 9), start_x=5.0)],
            # e+ e- pair with a generator gamma: the gamma's direction and energy
            [
                _track(22, 300.0, (0, 0, 0), flag=-1, dir_x=1.0, dir_z=0.0),
                _track(11, 120.0, (0, 0, 0), start_y=7.0),
                _track(-11, 180.0, (0, 0, 0), start_y=7.0),
            ],
            # old gamma files: a zero-energy nu_e: summed momentum and energy
            [
                _track(12, 0.0, (0, 0, 0), flag=-1),
                _track(11, 100.0, (0, 0, 0), dir_x=1.0, dir_z=0.0),
                _track(-11, 100.0, (0, 0, 0), dir_y=1.0, dir_z=0.0),
            ],
            # two unrelated primaries: pid 0, mean start
            [_track(13, 100.0, (0, 0, 0), start_x=2.0), _track(211, 50.0, (0, 0, 0), start_x=4.0)],
            # no primary at all
            [_track(13, 100.0, (0, 0, 0), flag=-1)],
            # a primary only in a later trigger does not count
            [_track(11, 100.0, (0, 0, 0), trigger=1)],
        ]
    )
    p = primaries_from_tracks(tracks)
    assert p["pid"].tolist() == [-13, 22, 22, 0, 0, 0]
    np.testing.assert_allclose(p["energy"], [800.0, 300.0, 200.0, 150.0, 0.0, 0.0])
    np.testing.assert_allclose(p["position_x"], [5.0, 0.0, 0.0, 3.0, 0.0, 0.0])
    np.testing.assert_allclose(p["position_y"][1], 7.0)
    np.testing.assert_allclose(p["direction_x"][:3], [0.0, 1.0, np.sqrt(0.5)])
    np.testing.assert_allclose(p["direction_y"][2], np.sqrt(0.5))
    np.testing.assert_allclose(p["direction_z"][[0, 3]], [1.0, 1.0])


def test_truth_on_real_wcsim(shared_data: Path) -> None:
    path = shared_data / "wcsim" / "wcsim_10events_2015.root"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with WCSimSource(path) as src:
        batch = src.read(0, 10, fields=[f for f in src.fields() if f.startswith("tracks.")])
    out = TruthStage(validate(wcsim_truth.WcsimTruthSection, "j", {}))(batch, _ctx(str(path)))
    assert out["pid"].tolist() == [-13] * 10
    assert out["label"].tolist() == [2] * 10
    np.testing.assert_allclose(out["energy"], 1105.6583, atol=1e-3)
    assert out["direction_z"].tolist() == [1.0] * 10
    np.testing.assert_allclose(out["polar"], np.pi / 2)
    # the 1 GeV muons stop ~4.7 m from the centre of a 37 m x 60 m tank; decay products too
    assert not ak.any(out["veto"])
    assert ak.all(out["fully_contained"])
    tight = validate(
        wcsim_truth.WcsimTruthSection, "j", {"radius": 30.0, "half_height": 3000.0, "axis": "z"}
    )
    flagged = TruthStage(tight)(batch, _ctx(str(path)))

    def counts(t: dict[str, Any]) -> bool:
        muon = abs(t["pdg"]) == 13 and t["energy"] > 166
        electron = abs(t["pdg"]) in (11, 22) and t["energy"] > 2
        return bool(np.hypot(t["stop_x"], t["stop_y"]) > 30.0 and (muon or electron))

    expected = [any(counts(t) for t in ev) for ev in ak.to_list(batch["tracks"])]  # by hand
    assert flagged["veto"].tolist() == expected
    assert 0 < sum(expected) < 10


def test_toy_truth_from_tracks_matches_dump(tmp_path: Path) -> None:
    path = write_dump(tmp_path / "toy.h5", 200, seed=11)
    with WCSimH5Source(path) as src:
        batch = src.read(0, 200)
    derived = primaries_from_tracks(batch["tracks"])
    for name, values in derived.items():
        np.testing.assert_allclose(values, batch[name].to_numpy(), rtol=1e-5, atol=1e-3)
    out = TruthStage(validate(wcsim_truth.WcsimTruthSection, "j", {}))(batch, _ctx(str(path)))
    label = out["label"].to_numpy()
    pid = batch["pid"].to_numpy()
    assert np.array_equal(label, np.select([pid == 22, pid == 11, pid == 13], [0, 1, 2], -1))
    veto = out["veto"].to_numpy()
    assert veto[pid == 13].mean() > veto[pid == 11].mean()  # muons leave the small tank
    assert not np.any(veto & out["fully_contained"].to_numpy())
    assert np.all(out["veto2"].to_numpy() <= veto)
