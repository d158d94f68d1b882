"""``hitprep display`` on image outputs: real conversions of KM3NeT, LDMX and ACTS data."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hitprep.cli import main
from hitprep.commands.display import output_kind
from hitprep.plotting.images import Panel, event_truth, image_specs, panels

PNG = b"\x89PNG"


def _convert(argv: list[str]) -> None:
    assert main(["convert", *argv, "--no-progress"]) == 0


@pytest.fixture(scope="module")
def km3net_zt(km3net_h5: Path, km3net_detx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zt") / "zt.h5"
    _convert(["km3net_zt", str(km3net_h5), "-o", str(out), "--detx", str(km3net_detx)])
    return out


@pytest.fixture(scope="module")
def ldmx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ldmx") / "signal.root"
    assert main(["toy", "ldmx", "--mass", "10", "-n", "20", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def acts_trigger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("acts")
    assert main(["toy", "acts", "-n", "10", "--files", "1", "-o", str(folder / "in")]) == 0
    out = folder / "trigger.h5"
    _convert(["acts_barrel_trigger", str(folder / "in" / "clusters_0.csv"), "-o", str(out)])
    return out


def _panels(path: Path, event: int) -> list[Panel]:
    with h5py.File(path, "r") as f:
        return [p for s in image_specs(f) for p in panels(s, f[s.name][event].astype(float))]


def test_km3net_image_keeps_its_axes_and_hits(km3net_zt: Path) -> None:
    (panel,) = _panels(km3net_zt, 4)
    with h5py.File(km3net_zt, "r") as f:
        image = f["x"][4]
        edges = f["bin_stats/x/pos_z/bin_edges"][:]
        truth = event_truth(f, 4)
        particle = int(f["y"]["particle_type"][4])
    assert (panel.x.name, panel.y.name) == ("pos_z", "time")
    np.testing.assert_array_equal(panel.x.edges, edges)
    assert panel.values.sum() == image.sum()
    assert f"particle_type {particle}" in truth


def test_ldmx_projections_and_slices(ldmx_root: Path, tmp_path: Path) -> None:
    xyz, zsplit = tmp_path / "xyz.h5", tmp_path / "zsplit.h5"
    _convert(["ldmx_xyz", str(ldmx_root), "-o", str(xyz)])
    _convert(["ldmx_zsplit", str(ldmx_root), "-o", str(zsplit)])
    projections = _panels(xyz, 2)
    assert [p.title for p in projections] == ["image: x–y", "image: y–z", "image: z–x"]
    assert [(p.x.name, p.y.name) for p in projections] == [("x", "y"), ("y", "z"), ("z", "x")]
    slices = _panels(zsplit, 2)
    assert len(slices) == 10 and slices[0].title.startswith("image: z 240–")
    # every hit in the z range is in one slice: the slices add up to the x-y projection
    total = sum(p.values for p in slices)
    np.testing.assert_allclose(total, projections[0].values, rtol=1e-5)


def test_acts_volumes_layer_by_layer(acts_trigger: Path) -> None:
    shown = _panels(acts_trigger, 0)
    assert [p.title for p in shown[:2]] == ["v0: layer 0", "v0: layer 1"]
    assert len(shown) == 4 + 4 + 2  # layers of the three barrel volumes
    assert {(p.x.name, p.y.name) for p in shown} == {("phi", "z")}
    with h5py.File(acts_trigger, "r") as f:
        hits = sum(int(f[v][0].sum()) for v in ("v0", "v1", "v2"))
    assert sum(p.values.sum() for p in shown) == hits


@pytest.mark.parametrize("fixture", ["km3net_zt", "acts_trigger"])
def test_cli_draws_every_image_output(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = request.getfixturevalue(fixture)
    assert output_kind(path) == "images"
    out = tmp_path / "event.png"
    assert main(["display", str(path), "--event", "1", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == PNG


def test_channel_pictures_carry_axes(ldmx_root: Path, tmp_path: Path) -> None:
    """The LDMX demo's mean images: axes from the output, one colour bar per panel."""
    from hitprep.plotting.calo import plot_channels

    xyz = tmp_path / "xyz.h5"
    _convert(["ldmx_xyz", str(ldmx_root), "-o", str(xyz)])
    with h5py.File(xyz, "r") as f:
        (spec,) = image_specs(f)
        mean = f["image"][:].mean(axis=0)
    out = plot_channels(
        {"signal": mean},
        ["x-y", "y-z", "z-x"],
        tmp_path / "mean.png",
        axes=[(x, y) for _, x, y in spec.channels],
        value_label="mean E per event [MeV]",
    )
    assert out.read_bytes()[:4] == PNG
    assert [a.name for _, a, b in spec.channels] == ["x", "y", "z"]
    assert spec.channels[1][2].edges[0] == 240.0  # y-z: z from the preset's z_range
