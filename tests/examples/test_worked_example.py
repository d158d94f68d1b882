"""CONTRIBUTING's worked example runs: a new input format and a new representation, each one
module in docs/examples, converted by ``hitprep.runners.convert`` like any job."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from hitprep.config import SECTIONS, Job
from hitprep.errors import ConfigError, FileFormatError
from hitprep.runners import convert

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
JOB = """
description = "radial profiles of text hit lists"
[source]
format = "text_hits"
step = 2
[radial_profile]
bins = 4
max_radius = 2.0
weights = "t"
"""


@pytest.fixture(scope="module", autouse=True)
def _examples() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        importlib.import_module("text_hits")  # each registers itself when imported
        importlib.import_module("radial_profile")
    finally:
        sys.path.remove(str(EXAMPLES))


def _hits(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    n = rng.integers(0, 6, size=5)  # hits per event, some events without hits
    event = np.repeat(np.arange(5) + 100, n)
    table = np.column_stack([event, rng.normal(size=(len(event), 3)), rng.uniform(size=len(event))])
    path = tmp_path / "hits.txt"
    np.savetxt(
        path, table, header="event_id x y z t", fmt=["%d", "%.17g", "%.17g", "%.17g", "%.17g"]
    )
    return path, table


def test_convert_through_the_new_format_and_representation(tmp_path: Path) -> None:
    import tomllib

    path, table = _hits(tmp_path, np.random.default_rng(7))
    job = Job.from_dict(tomllib.loads(JOB), text=JOB, origin="worked example")
    summary = convert(job, [path], tmp_path / "out.h5")
    assert summary.accounting.events_written == 5
    with h5py.File(tmp_path / "out.h5") as f:
        profile = f["radial_profile"][:]
        ids = f["event_info"]["event_id"]
        assert ids.tolist() == [100, 101, 102, 103, 104]
        assert f["radial_profile"].dtype == np.float32
    for row, event in zip(profile, ids, strict=True):  # np.histogram per event as reference
        hits = table[table[:, 0] == event]
        r = np.sqrt((hits[:, 1:4] ** 2).sum(axis=1))
        expected, _ = np.histogram(r, bins=4, range=(0.0, 2.0), weights=hits[:, 4])
        np.testing.assert_allclose(row, expected, rtol=1e-6)


def test_the_new_section_is_a_job_section() -> None:
    entry = SECTIONS["radial_profile"]
    assert entry.kind == "representation"
    with pytest.raises(ConfigError, match=r"\[radial_profile\]: unknown key 'max_radus'; did"):
        Job.from_dict({"radial_profile": {"max_radus": 1.0}})
    with pytest.raises(ConfigError, match=r"\[radial_profile\].bins: must be at least 1"):
        Job.from_dict({"radial_profile": {"max_radius": 1.0, "bins": 0}})


def test_the_new_format_names_the_file_on_bad_input(tmp_path: Path) -> None:
    from hitprep.sources import open_source

    bad = tmp_path / "bad.txt"
    bad.write_text("1 0.5 0.5\n")
    with pytest.raises(FileFormatError, match=r"bad\.txt.*expected event_id x y z t"):
        open_source(bad, format="text_hits")
