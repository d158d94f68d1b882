"""Upsampling and chunking on a toy NanoAOD whose last events have no muons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.config import Job, load_job
from hitprep.errors import CountOverflowError
from hitprep.toys.nanoaod import write_toy_nanoaod
from hitprep.writeback import output_events, writeback

STEP = 10
EVENTS = 4 * STEP + 1  # the last chunk holds one event


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy_nano.root"
    return write_toy_nanoaod(path, EVENTS, seed=3, trailing_without_muons=4)


def _events(path: Path, names: list[str] | None = None) -> dict[str, Any]:
    with uproot.open(path) as f:
        arrays: dict[str, Any] = f["Events"].arrays(names, library="np")
        return arrays


def test_toy_has_trailing_events_without_muons(toy: Path) -> None:
    source = _events(toy, ["nMuon", "GenPart_pdgId", "GenPart_status"])
    assert source["nMuon"].dtype == np.uint32
    assert source["nMuon"][-4:].tolist() == [0, 0, 0, 0]
    assert all(not np.any(np.abs(p) == 13) for p in source["GenPart_pdgId"][-4:])
    assert source["nMuon"].sum() > 0


@pytest.mark.parametrize("order", ["blocks", "adjacent"])
def test_upsample_three_keeps_each_copy_structure(toy: Path, tmp_path: Path, order: str) -> None:
    out = tmp_path / f"{order}.root"
    summary = writeback(load_job("nanoaod_flashsim"), toy, out, upsample=3, order=order, step=STEP)
    assert summary.events_read == EVENTS
    assert summary.events_written == 3 * EVENTS
    source = _events(toy)
    result = _events(out)
    n = EVENTS
    copy_of = np.tile(np.arange(n), 3) if order == "blocks" else np.repeat(np.arange(n), 3)
    copy_no = np.repeat(np.arange(3), n) if order == "blocks" else np.tile(np.arange(3), n)
    gen_muons = np.array(
        [
            np.sum((np.abs(p) == 13) & (s == 1))
            for p, s in zip(source["GenPart_pdgId"], source["GenPart_status"], strict=True)
        ]
    )
    np.testing.assert_array_equal(result["nMuon"], gen_muons[copy_of])
    np.testing.assert_array_equal(result["nJet"], source["nGenJet"][copy_of])
    np.testing.assert_array_equal(result["nGenPart"], source["nGenPart"][copy_of])
    # the trailing events without muons stay without muons in every copy
    for k in range(3):
        rows = np.flatnonzero(copy_no == k)
        assert result["nMuon"][rows][-4:].tolist() == [0, 0, 0, 0]
        assert result["nMuon"][rows].sum() == gen_muons.sum()
    # copies: same gen event, new event number, fresh noise
    stride = 100  # smallest power of ten above the largest event number, 41
    np.testing.assert_array_equal(result["event"], source["event"][copy_of] + copy_no * stride)
    assert len(np.unique(result["event"])) == 3 * n
    for column in ("GenJet_pt", "GenPart_pdgId"):
        for i in range(3 * n):
            np.testing.assert_array_equal(result[column][i], source[column][copy_of[i]])
    first = np.flatnonzero((copy_of == 0) & (copy_no == 0))[0]
    second = np.flatnonzero((copy_of == 0) & (copy_no == 1))[0]
    assert not np.array_equal(result["Jet_pt"][first], result["Jet_pt"][second])
    with uproot.open(out) as f:
        assert f["Runs"].num_entries == 1
        assert f["LuminosityBlocks"]["luminosityBlock"].array(library="np").tolist() == [1]


@pytest.mark.parametrize("step", [1, 2, 7, STEP, EVENTS - 1, EVENTS, 1000])
def test_no_event_lost_at_chunk_boundaries(toy: Path, tmp_path: Path, step: int) -> None:
    raw = {
        "source": {"step": step},
        "writeback": {"passthrough": ["GenJet", "Muon"], "copy_trees": []},
    }
    out = tmp_path / "copy.root"
    summary = writeback(Job.from_dict(raw), toy, out)
    assert summary.events_written == EVENTS
    source = _events(toy, ["event", "nMuon", "Muon_pt", "nGenJet"])
    result = _events(out)
    np.testing.assert_array_equal(result["event"], source["event"])
    np.testing.assert_array_equal(result["nMuon"], source["nMuon"])
    np.testing.assert_array_equal(
        np.concatenate(result["Muon_pt"]), np.concatenate(source["Muon_pt"])
    )
    assert set(result) == {"run", "luminosityBlock", "event", "nGenJet", "nMuon"} | {
        k for k in result if k.startswith(("GenJet_", "Muon_"))
    }


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(1, 12),
    st.integers(1, 4),
    st.sampled_from(["blocks", "adjacent"]),
)
def test_output_events_cover_every_event_n_times(n: int, step: int, up: int, order: str) -> None:
    seen: list[tuple[int, int]] = []
    for start, stop, events, copies in output_events(n, step=step, upsample=up, order=order):
        assert 0 <= start < stop <= n
        assert np.all((events >= 0) & (events < stop - start))
        seen += list(zip((start + events).tolist(), copies.tolist(), strict=True))
    assert len(seen) == n * up
    assert sorted(seen) == sorted((e, k) for e in range(n) for k in range(up))
    if order == "blocks":
        assert seen == [(e, k) for k in range(up) for e in range(n)]
    else:
        assert seen == [(e, k) for e in range(n) for k in range(up)]


def test_event_numbers_that_would_overflow_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "big_events.root"
    write_toy_nanoaod(path, 3)
    with uproot.update(path) as f:  # a file whose event numbers are near the top of uint64
        del f["Events"]
        f.mktree("Events", {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64})
        f["Events"].extend(
            {
                "run": np.ones(3, np.uint32),
                "luminosityBlock": np.ones(3, np.uint32),
                "event": np.array([1, 2, 2**63], np.uint64),
            }
        )
    job = Job.from_dict({"writeback": {"copy_trees": []}})
    with pytest.raises(CountOverflowError, match="do not fit the uint64 branch 'event'"):
        writeback(job, path, tmp_path / "out.root", upsample=3)
    assert not (tmp_path / "out.root").exists()
    summary = writeback(job, path, tmp_path / "ok.root", upsample=1)
    assert summary.events_written == 3


def test_adjacent_chunks_hold_step_output_events(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "adjacent.root"
    writeback(load_job("nanoaod_flashsim"), toy, out, upsample=4, order="adjacent", step=8)
    with uproot.open(out) as f:
        tree = f["Events"]
        assert tree.num_entries == 4 * EVENTS
        # one basket per chunk of step // upsample = 2 input events -> 8 output events
        assert tree["nJet"].num_baskets == -(-EVENTS // 2)
        assert ak.all(tree["Jet_genJetIdx"].array() >= 0)
