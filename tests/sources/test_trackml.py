"""TrackML per-event CSV files: hits joined to truth and particles, same layout as ACTS."""

from __future__ import annotations

import csv
from pathlib import Path

import awkward as ak
import pytest

from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.sources import detect_format, open_source
from hitprep.sources.trackml import TrackMLSource, find_events
from hitprep.toys.acts import write_trackml


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trackml")
    write_trackml(folder, n_events=4, seed=2, first_event=1000)
    return folder


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_directory_of_events(events: Path) -> None:
    with TrackMLSource(events) as src:
        assert src.num_events == 4
        batch = src.read(1, 4)
    assert batch.event_id.tolist() == [1001, 1002, 1003]
    hits = rows(events / "event000001001-hits.csv")
    truth = {r["hit_id"]: int(r["particle_id"]) for r in rows(events / "event000001001-truth.csv")}
    assert batch.hits.hit_id[0].tolist() == [int(r["hit_id"]) for r in hits]
    assert batch.hits.barcode[0].tolist() == [truth[r["hit_id"]] for r in hits]
    assert batch.hits.volume_id[0].tolist() == [int(r["volume_id"]) for r in hits]
    particles = rows(events / "event000001001-particles.csv")
    assert batch.particles.barcode[0].tolist() == [int(r["particle_id"]) for r in particles]
    idx = batch.hits.particle
    ok = idx >= 0
    assert ak.all(batch.particles.barcode[ak.where(ok, idx, 0)][ok] == batch.hits.barcode[ok])
    assert ak.all(ok | (batch.hits.barcode == 0))
    assert src.unmatched == {}


def test_single_event_by_file_or_prefix(events: Path) -> None:
    for path in (events / "event000001002-hits.csv", events / "event000001002"):
        assert find_events(path) == [(1002, events / "event000001002")]
    with open_source(events / "event000001002-hits.csv") as src:
        assert isinstance(src, TrackMLSource) and src.read(0, 1).event_id.tolist() == [1002]
    assert detect_format(events) == "trackml"


def test_barrel_trigger_preset_runs_on_trackml(events: Path, tmp_path: Path) -> None:
    from hitprep.config import load_job
    from hitprep.runners import convert

    summary = convert(load_job("acts_barrel_trigger"), [events], tmp_path / "out.h5")
    assert summary.accounting.events_written == 4


def _copy_event(events: Path, tmp: Path, number: int = 1000) -> Path:
    for part in ("hits", "truth", "particles"):
        name = f"event{number:09d}-{part}.csv"
        (tmp / name).write_text((events / name).read_text())
    return tmp / f"event{number:09d}"


def test_hit_without_truth_row(events: Path, tmp_path: Path) -> None:
    prefix = _copy_event(events, tmp_path)
    truth = Path(f"{prefix}-truth.csv")
    lines = truth.read_text().splitlines()
    truth.write_text("\n".join(lines[:3] + lines[4:]) + "\n")  # drop hit_id 3
    with TrackMLSource(tmp_path) as src, pytest.raises(FileFormatError, match="hit_id 3 of"):
        src.read(0, 1)


def test_unknown_particle_is_counted(events: Path, tmp_path: Path) -> None:
    prefix = _copy_event(events, tmp_path)
    particles = Path(f"{prefix}-particles.csv")
    lines = particles.read_text().splitlines()
    particles.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # drop the first particle
    with TrackMLSource(tmp_path) as src:
        batch = src.read(0, 1)
    orphans = int(ak.sum((batch.hits.particle < 0) & (batch.hits.barcode != 0)))
    assert orphans > 0 and src.unmatched == {0: orphans}


def test_missing_files_and_columns(events: Path, tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="no TrackML events"):
        TrackMLSource(tmp_path)
    prefix = _copy_event(events, tmp_path)
    Path(f"{prefix}-particles.csv").unlink()
    with TrackMLSource(tmp_path) as src, pytest.raises(FileFormatError, match="no such file"):
        src.read(0, 1)
    hits = Path(f"{prefix}-hits.csv")
    hits.write_text(hits.read_text().replace("volume_id", "volume"))
    with TrackMLSource(tmp_path) as src, pytest.raises(KeyInFileError, match="'volume'"):
        src.read(0, 1)
