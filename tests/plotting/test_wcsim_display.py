"""``hitprep display``: one event's charge and time from every water-Cherenkov layout."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from conftest import shared_file

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.errors import ConfigError
from hitprep.plotting.wcsim_display import PARTICLES, event_images, event_truth_line
from hitprep.runners import convert
from hitprep.sources import open_source
from hitprep.sources.wcsim_dump import WCSimH5Source
from hitprep.stages.wcsim_truth import primaries_from_tracks
from hitprep.toys.wcsim import write_dump

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dump(tmp_path_factory.mktemp("display") / "toy.h5", 20, seed=51)


def test_same_images_from_every_layout(toy: Path, tmp_path: Path) -> None:
    watchmal, grid = tmp_path / "wm.h5", tmp_path / "grid.h5"
    convert(load_job("wcsim_watchmal_digi"), [toy], watchmal)
    convert(load_job("wcsim_grid"), [toy], grid)
    direct = event_images(toy, 7)
    for other in [event_images(grid, 7), event_images(watchmal, 7, geometry=toy)]:
        for region in ["top", "barrel", "bottom"]:
            np.testing.assert_allclose(other[region], direct[region], rtol=1e-6)
    with WCSimH5Source(toy) as src:
        digi = src.read(7, 8)["digi_hits"][0]
    charge = sum(float(direct[r][..., 0].sum()) for r in direct)
    expected = float(ak.sum(digi["charge"][digi["trigger"] == 0]))
    assert charge == pytest.approx(expected, rel=1e-5)


def test_cli_draws_png(toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "event.png"
    assert main(["display", str(toy), "--event", "3", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == PNG
    assert "event 3" in capsys.readouterr().out
    assert main(["display", str(toy), "--event", "3", "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["display", str(toy), "--event", "20", "-o", str(tmp_path / "x.png")]) == 1
    assert "event 20 does not exist (the file has 20 events" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["event.png"]


def test_real_wcsim_event(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "wcsim" / "wcsim_10events_2015.root"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    images = event_images(path, 0)
    assert images["barrel"].shape == (84, 327, 2)
    assert images["top"].shape == (102, 102, 2)
    # the muon goes up (+z): its ring is on the top cap
    assert images["top"][..., 0].sum() > 5 * images["bottom"][..., 0].sum()
    total = sum(float(images[r][..., 0].sum()) for r in images)
    assert total == pytest.approx(15058.42, rel=1e-4)  # fSumQ of trigger 0
    out = tmp_path / "real.png"
    assert main(["display", str(path), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == PNG


def test_watchmal_file_needs_a_tank(toy: Path, tmp_path: Path) -> None:
    watchmal = tmp_path / "wm.h5"
    convert(load_job("wcsim_watchmal_digi"), [toy], watchmal)
    with pytest.raises(ConfigError, match="pass --geometry FILE"):
        event_images(watchmal, 0)


def test_truth_is_the_same_from_input_and_outputs(toy: Path, tmp_path: Path) -> None:
    """The title's primary: the dump's pid/energy, and the grid output's label mapped back."""
    grid = tmp_path / "grid.h5"
    convert(load_job("wcsim_grid"), [toy], grid)
    with WCSimH5Source(toy) as src:
        truth = src.read(0, 20, fields=["pid", "energy"])
    for event in (0, 7, 19):
        line = event_truth_line(toy, event)
        assert line == event_truth_line(grid, event)
        name = PARTICLES[int(truth["pid"][event])]
        assert line == f"primary {name}, {float(truth['energy'][event]):.0f} MeV"


def test_truth_of_a_real_wcsim_file() -> None:
    """WCSim ROOT: the primary by DataTools' rules, as the wcsim_watchmal preset labels it."""
    path = shared_file("wcsim/wcsim_10events_2015.root")
    with open_source(path) as src:
        tracks = src.read(
            0, src.num_events, fields=[f for f in src.fields() if f.startswith("tracks.")]
        )
    primary = primaries_from_tracks(tracks["tracks"])
    for event in range(len(primary["pid"])):
        line = event_truth_line(path, event)
        assert f"{float(primary['energy'][event]):.0f} MeV" in line
        assert PARTICLES.get(int(primary["pid"][event]), "PDG") in line
