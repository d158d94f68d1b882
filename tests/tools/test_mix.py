"""``hitprep mix``: balanced, shuffled signal/background files whose every row traces back."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from hitprep.cli import main
from hitprep.commands.mix import parse_signal
from hitprep.config import load_job
from hitprep.errors import ConfigError
from hitprep.representations.ldmx import LdmxImageSpec, make_ldmx_images
from hitprep.sources.ldmx import LdmxEcalSource
from hitprep.tools.mix import mix
from hitprep.toys.ldmx import write_root


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mix")
    return {
        "sig10": write_root(d / "sig10.root", n_events=40, mass=10.0, seed=1),
        "sig500a": write_root(d / "sig500a.root", n_events=12, mass=500.0, seed=2),
        "sig500b": write_root(d / "sig500b.root", n_events=20, mass=500.0, seed=3),
        "bkg0": write_root(d / "bkg0.root", n_events=25, seed=4, first_event=70000),
        "bkg1": write_root(d / "bkg1.root", n_events=40, seed=5),
    }


def small_job() -> object:
    return load_job("ldmx_xyz", overrides=["ldmx_images.0.dim=12", "source.step=7"])


def run_mix(files: dict[str, Path], out: Path, *, seed: int = 3, n: int = 20) -> object:
    return mix(
        small_job(),  # type: ignore[arg-type]
        {10.0: [files["sig10"]], 500.0: [files["sig500a"], files["sig500b"]]},
        [files["bkg0"], files["bkg1"]],
        out,
        n_signal=n,
        seed=seed,
    )


def test_counts_labels_and_fields(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "mix.h5"
    run_mix(files, out)
    with h5py.File(out) as f:
        sim, num, label, mass = (f[k][:] for k in ("sim", "num", "label", "mass"))
        images = f["image"][:]
        info = f["event_info"][:]
        inputs = json.loads(f.attrs["inputs"])
        record = json.loads(f.attrs["mix"])
    assert len(sim) == 80 and images.shape == (80, 12, 12, 3)  # 2 x 20 signal, 40 background
    assert num.dtype == np.int64 and sim.dtype == np.int64
    assert {int(s): int(c) for s, c in zip(*np.unique(sim, return_counts=True), strict=True)} == {
        0: 25,  # all of background file 0 ...
        1: 15,  # ... then the rest from file 1
        10_000: 20,  # keV
        500_000: 20,
    }
    assert (label == (sim >= 10_000)).all()
    assert set(mass[label == 1].tolist()) == {10.0, 500.0}
    assert np.all(mass[sim == 10_000] == 10.0) and np.all(mass[sim == 500_000] == 500.0)
    assert set(mass[label == 0].tolist()) == {10.0, 500.0}  # drawn from the signal masses
    assert num[sim == 0].max() >= 70000  # event numbers beyond int16/uint16 survive
    assert not np.all(np.diff(info["file_index"]) >= 0)  # shuffled
    assert record["n_background"] == 40 and record["seed"] == 3
    # 500 MeV: all 12 events of file a, then 8 of file b
    files_500 = [i for i, r in enumerate(inputs) if "sig500" in r["path"]]
    taken = [inputs[i]["events"] for i in files_500]
    assert taken == [12, 8]
    # every row is its own event's image, found through event_info and inputs
    spec = LdmxImageSpec(format="xyz", dim=12)
    for row in (0, 17, 41, 79):
        path = inputs[info["file_index"][row]]["path"]
        with LdmxEcalSource(path) as src:
            batch = src.read(int(info["entry"][row]), int(info["entry"][row]) + 1)
        assert int(batch.event_id[0]) == num[row]
        np.testing.assert_allclose(images[row], make_ldmx_images(batch, spec)[0], rtol=1e-6)


def test_same_seed_same_file_other_seed_other_order(files: dict[str, Path], tmp_path: Path) -> None:
    run_mix(files, tmp_path / "a.h5", seed=1)
    run_mix(files, tmp_path / "b.h5", seed=1)
    run_mix(files, tmp_path / "c.h5", seed=2)
    with (
        h5py.File(tmp_path / "a.h5") as a,
        h5py.File(tmp_path / "b.h5") as b,
        h5py.File(tmp_path / "c.h5") as c,
    ):
        for name in ("sim", "num", "mass", "image"):
            np.testing.assert_array_equal(a[name][:], b[name][:])
        assert not np.array_equal(a["num"][:], c["num"][:])


def test_too_few_events_names_the_mass_and_files(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "mix.h5"
    with pytest.raises(ConfigError, match=r"A' mass 500 MeV: 35 events asked for.*hold 32: "):
        run_mix(files, out, n=35)
    with pytest.raises(ConfigError, match=r"background: 90 events asked for.*hold 65"):
        mix(
            small_job(),  # type: ignore[arg-type]
            {10.0: [files["sig10"]]},
            [files["bkg0"], files["bkg1"]],
            out,
            n_signal=5,
            n_background=90,
        )
    assert list(tmp_path.iterdir()) == []


def test_parse_signal() -> None:
    assert parse_signal(["10=a.root,b.root", "0.5=c.root"]) == {
        10.0: ["a.root", "b.root"],
        0.5: ["c.root"],
    }
    for bad in ("a.root", "ten=a.root", "-1=a.root", "10="):
        with pytest.raises(ConfigError, match="MASS=FILE"):
            parse_signal([bad])
    with pytest.raises(ConfigError, match="given twice"):
        parse_signal(["10=a.root", "10.0=b.root"])


def test_cli(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mix.h5"
    args = ["mix", "--signal", f"10={files['sig10']}", "--background", str(files["bkg1"])]
    args += ["-n", "15", "-o", str(out), "--set", "ldmx_images.0.dim=8"]
    assert main(args) == 0
    assert "15 signal (10 MeV: 15) + 15 background" in capsys.readouterr().out
    with h5py.File(out) as f:
        assert f["image"].shape == (30, 8, 8, 3)
    assert main([*args[:-2], "-n", "99", "--overwrite"]) == 1
    assert "99 events asked for" in capsys.readouterr().err
