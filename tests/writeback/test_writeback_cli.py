"""``hitprep writeback``, ``hitprep toy nanoaod``, the preset, ``hitprep inspect`` on the output."""

from __future__ import annotations

from pathlib import Path

import pytest
import uproot

from hitprep.cli import main
from hitprep.config import list_presets, load_job
from hitprep.tools.inspect import describe
from hitprep.toys.nanoaod import write_toy_nanoaod


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_nanoaod(tmp_path_factory.mktemp("cli") / "toy.root", 31, seed=2)


def test_preset_lists_and_validates() -> None:
    presets = list_presets()
    assert "nanoaod_flashsim" in presets
    assert presets["nanoaod_flashsim"].startswith("FlashSim-style synthetic NanoAOD")
    job = load_job("nanoaod_flashsim")
    assert [m["collection"] for m in job.get("model")] == ["Jet", "Muon"]
    assert job.get("writeback")["order"] == "blocks"
    assert job.get("preprocess")["Jet"]["btagDeepFlavB"] == [{"clip": [0.0, 1.0]}]
    overridden = load_job("nanoaod_flashsim", overrides=["writeback.upsample=4"])
    assert overridden.get("writeback")["upsample"] == 4


def test_writeback_command(toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synthetic.root"
    code = main(["writeback", "nanoaod_flashsim", str(toy), "-o", str(out), "--upsample", "3"])
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("31 events in, 93 written (3 copies, blocks), 0 skipped;")
    assert line.endswith(f"-> {out}")
    assert "Runs copied" in line
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 93

    # the output exists: refused without --overwrite, one line, exit 1
    code = main(["writeback", "nanoaod_flashsim", str(toy), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "exists; pass --overwrite" in err
    code = main(
        ["writeback", "nanoaod_flashsim", str(toy), "-o", str(out), "--overwrite",
         "--order", "adjacent", "--seed", "7", "--step", "5", "--set", "writeback.titles=false"]
    )  # fmt: skip
    assert code == 0
    assert "31 events in, 31 written, 0 skipped" in capsys.readouterr().out


def test_writeback_command_bad_input_leaves_nothing(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.root"
    code = main(
        ["writeback", "nanoaod_flashsim", str(toy), "-o", str(out),
         "--set", 'model.0.conditioning="GenJetz"']
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "collection 'GenJetz' not found" in err
    assert "available: GenJet, GenPart, Jet, Muon, PSWeight" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit):
        main(["writeback", "nanoaod_flashsim", str(toy), "-o", str(out), "--upsample", "0"])
    assert "expected a positive integer" in capsys.readouterr().err


def test_inspect_shows_nanoaod_branches(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "synthetic.root"
    assert main(["writeback", "nanoaod_flashsim", str(toy), "-o", str(out)]) == 0
    text = describe(out)
    for line in (
        "Events;1: TTree",
        "entries: 31",
        "nJet: uint32_t",
        "Jet_pt: float[]",
        "Jet_genJetIdx: int32_t[]",
        "nMuon: uint32_t",
        "Muon_charge: int32_t[]",
        "event: uint64_t",
        "Runs;1: TTree",
        "LuminosityBlocks;1: TTree",
        "collections (counter: objects, branches):",
        "nJet (uint32_t): ",
        "nLHEScaleSumw (uint32_t): 9 objects, 1 branch",
        "hitprep_provenance;1: TObjString",
        "events: 31 read, 31 written, skipped 0; objects: ",
    ):
        assert line in text, line
    with uproot.open(out) as f:
        jets = int(f["Events"]["nJet"].array(library="np").sum())
    assert f"nJet (uint32_t): {jets:,} objects, 6 branches" in text


def test_toy_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "toy.root"
    assert main(["toy", "nanoaod", "-n", "12", "-o", str(out), "--seed", "4"]) == 0
    assert "wrote 12 toy NanoAOD events" in capsys.readouterr().out
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 12
        assert f["Events"]["nGenJet"].typename == "uint32_t"
        assert f["Events"]["nMuon"].array(library="np")[-3:].tolist() == [0, 0, 0]
