"""Bad input gets a clear error and leaves no output; non-finite values are counted and handled."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uproot

from hitprep.config import Job, load_job
from hitprep.errors import (
    ConfigError,
    CountOverflowError,
    KeyInFileError,
    ModelError,
    OutputExistsError,
)
from hitprep.toys.nanoaod import write_toy_nanoaod
from hitprep.writeback import writeback

MODELS = """
import numpy as np

def drop_last_row(conditioning, noise):
    return conditioning[:-1]

def extra_column(conditioning, noise):
    return np.column_stack([conditioning, conditioning[:, :1]])

def nan_every_fifth(conditioning, noise):
    out = conditioning.copy()
    out[::5, 0] = np.nan
    return out

def huge(conditioning, noise):
    return np.full_like(conditioning, 1e12)

def crash(conditioning, noise):
    raise ZeroDivisionError("division by zero in layer 3")
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "models.py").write_text(MODELS)
    return write_toy_nanoaod(folder / "toy.root", 60, seed=5)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path


def _job(toy: Path, **model: Any) -> Job:
    spec = {
        "collection": "Jet",
        "conditioning": "GenJet",
        "inputs": ["pt", "eta"],
        "generator": "hitprep.writeback.toy_model:identity",
        **model,
    }
    if str(spec["generator"]).startswith("models.py"):
        spec["generator"] = str(toy.parent / spec["generator"])
    return Job.from_dict({"source": {"step": 25}, "writeback": {}, "model": [spec]})


def _nothing_left(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == []


def test_missing_collection_lists_the_existing_ones(toy: Path, out_dir: Path) -> None:
    job = _job(toy, conditioning="GenJets")
    with pytest.raises(KeyInFileError) as info:
        writeback(job, toy, out_dir / "out.root")
    message = str(info.value)
    assert "collection 'GenJets' not found" in message
    assert "did you mean: 'GenJet'" in message
    assert "available: GenJet, GenPart, Jet, Muon, PSWeight" in message
    assert str(toy) in message
    _nothing_left(out_dir)


def test_missing_collection_far_from_any_name(toy: Path, out_dir: Path) -> None:
    with pytest.raises(KeyInFileError, match=r"'Photon' not found.*'GenJet', 'GenPart', 'Jet'"):
        writeback(_job(toy, conditioning="Photon"), toy, out_dir / "out.root")
    _nothing_left(out_dir)


def test_missing_field_and_event_field(toy: Path, out_dir: Path) -> None:
    with pytest.raises(KeyInFileError, match=r"field 'GenJet.ptt' not found.*'GenJet.pt'"):
        writeback(_job(toy, inputs=["ptt"]), toy, out_dir / "out.root")
    job = Job.from_dict({"writeback": {"event_fields": ["run", "lumi"]}})
    with pytest.raises(KeyInFileError, match=r"event field 'lumi' not found"):
        writeback(job, toy, out_dir / "out.root")
    job = Job.from_dict({"writeback": {"passthrough": ["HLT_Mu*"]}})
    with pytest.raises(KeyInFileError, match=r"passthrough branch or collection 'HLT_Mu\*'"):
        writeback(job, toy, out_dir / "out.root")
    _nothing_left(out_dir)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("drop_last_row", r"returned (\d+) rows for (\d+) objects; it must return exactly one"),
        ("extra_column", r"returned 3 columns but the job lists 2 outputs"),
        ("crash", r"failed: ZeroDivisionError: division by zero in layer 3"),
    ],
)
def test_bad_model_leaves_no_output(toy: Path, out_dir: Path, function: str, message: str) -> None:
    job = _job(toy, generator=f"models.py:{function}")
    with pytest.raises(ModelError, match=r"\[\[model\]\] Jet rows 0:\d+: model .*" + message):
        writeback(job, toy, out_dir / "out.root")
    _nothing_left(out_dir)


def test_model_values_that_do_not_fit_the_dtype(toy: Path, out_dir: Path) -> None:
    job = _job(toy, generator="models.py:huge", inputs=["pt", "partonFlavour"])
    with pytest.raises(
        CountOverflowError,
        match=r"Jet.partonFlavour is 1e\+12 for an object of input entry 0, outside",
    ):
        writeback(job, toy, out_dir / "out.root")
    _nothing_left(out_dir)


def test_nonfinite_error_names_the_entry(toy: Path, out_dir: Path) -> None:
    job = _job(toy, generator="models.py:nan_every_fifth")
    with pytest.raises(ModelError, match=r"Jet.pt \(model output\) is nan .*input entry 0"):
        writeback(job, toy, out_dir / "out.root")
    _nothing_left(out_dir)


def test_nonfinite_in_conditioning_after_preprocessing(toy: Path, out_dir: Path) -> None:
    raw = {
        "writeback": {},
        "model": [
            {
                "collection": "Jet",
                "conditioning": "GenJet",
                "inputs": ["eta"],
                "generator": "hitprep.writeback.toy_model:identity",
            }
        ],
        "preprocess": {"GenJet": {"eta": ["log"]}},  # log of negative eta
    }
    with (
        np.errstate(invalid="ignore"),
        pytest.raises(ConfigError, match=r"GenJet.eta \(conditioning\) is nan.*\[preprocess\]"),
    ):
        writeback(Job.from_dict(raw), toy, out_dir / "out.root")
    _nothing_left(out_dir)


def _read(path: Path) -> dict[str, Any]:
    with uproot.open(path) as f:
        arrays: dict[str, Any] = f["Events"].arrays(library="np")
        return arrays


def test_nonfinite_policies(toy: Path, out_dir: Path) -> None:
    source = _read(toy)
    gen_pt = np.concatenate(source["GenJet_pt"])
    per_chunk = [int(source["nGenJet"][s : s + 25].sum()) for s in (0, 25, 50)]
    starts = np.concatenate([[0], np.cumsum(per_chunk)]).astype(np.int64)
    nan_rows = np.concatenate([np.arange(a, b)[::5] for a, b in itertools.pairwise(starts)])

    def run(policy: str, **extra: Any) -> Any:
        job = _job(toy, generator="models.py:nan_every_fifth")
        raw = {
            "source": {"step": 25},
            "writeback": {"nonfinite": policy, **extra},
            "model": job.get("model"),
        }
        return writeback(Job.from_dict(raw), toy, out_dir / f"{policy}.root")

    kept = run("keep")
    assert kept.nonfinite == {"Jet.pt (model output)": len(nan_rows)}
    pt = np.concatenate(_read(out_dir / "keep.root")["Jet_pt"])
    assert np.array_equal(np.flatnonzero(np.isnan(pt)), nan_rows)
    np.testing.assert_array_equal(np.delete(pt, nan_rows), np.delete(gen_pt, nan_rows))

    filled = run("fill", fill_value=-1.0)
    assert filled.nonfinite == kept.nonfinite
    pt = np.concatenate(_read(out_dir / "fill.root")["Jet_pt"])
    assert np.all(pt[nan_rows] == -1.0)

    skipped = run("skip_event")
    bad_events = np.unique(np.repeat(np.arange(60), source["nGenJet"])[nan_rows])
    assert skipped.skipped == {"non-finite values": len(bad_events)}
    assert skipped.events_written == 60 - len(bad_events)
    result = _read(out_dir / "skip_event.root")
    good = np.setdiff1d(np.arange(60), bad_events)
    np.testing.assert_array_equal(result["event"], source["event"][good])
    np.testing.assert_array_equal(result["nJet"], source["nGenJet"][good])
    assert not np.isnan(np.concatenate(result["Jet_pt"])).any()
    assert len(nan_rows) > 0


def test_link_clashing_with_an_output(toy: Path, out_dir: Path) -> None:
    job = _job(toy, conditioning="Jet", inputs=["*"], link="genJetIdx")
    with pytest.raises(ConfigError, match="link 'genJetIdx' is also one of the outputs"):
        writeback(job, toy, out_dir / "out.root")
    _nothing_left(out_dir)


def test_output_rules(toy: Path, out_dir: Path) -> None:
    job = _job(toy)
    with pytest.raises(ConfigError, match="is also the input"):
        writeback(job, toy, toy, overwrite=True)
    existing = out_dir / "exists.root"
    existing.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        writeback(job, toy, existing)
    assert existing.read_bytes() == b"old"
    writeback(job, toy, existing, overwrite=True)
    assert existing.read_bytes()[:4] == b"root"


def test_not_a_writeback_job(toy: Path, out_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a writeback job \(no \[writeback\] section\)"):
        writeback(load_job("km3net_zt"), toy, out_dir / "out.root")
    _nothing_left(out_dir)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"writeback": {"order": "random"}}, r"order: expected one of blocks, adjacent"),
        ({"writeback": {"upsample": 0}}, r"upsample: must be a positive integer"),
        ({"writeback": {"nonfinite": "drop"}}, r"nonfinite: expected one of error, keep"),
        ({"writeback": {"compression": "gzip"}}, r"compression 'gzip'"),
        ({"writeback": {"upsampel": 2}}, r"unknown key 'upsampel'; did you mean 'upsample'"),
        ({"model": [{"collection": "Jet"}]}, r"missing required key 'generator'"),
        (
            {"model": [{"collection": "Jet", "generator": "m:f", "inputz": ["pt"]}]},
            r"unknown key 'inputz'; did you mean 'inputs'",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f", "inputs": ["*", "pt"]}]},
            r"'\*' \(every field\) stands alone",
        ),
        (
            {"model": [{"collection": "nJet", "generator": "m:f"}]},
            r"'nJet' is not a collection name \(that is a counter name\)",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f", "dtypes": {"pt": "str"}}]},
            r"dtypes.pt: expected a numeric dtype name",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f", "select": {"pdgId": ["mu"]}}]},
            r"select.pdgId: expected a list of allowed numbers",
        ),
        (
            {"model": [{"collection": "Jet", "generator": "m:f"}] * 2},
            r"each \[\[model\]\] makes its own collection",
        ),
    ],
)
def test_job_validation(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Job.from_dict(raw, origin="job.toml")
