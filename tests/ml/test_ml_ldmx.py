"""LDMX on the toy ECal (issue 15): a mass-parametrized CNN trained on a real ``hitprep mix``
of ``ldmx_xyz`` images, judged on an independent mix. Signal and the photo-nuclear background
overlap as in LDMX, so the AUC per A' mass lies below 1 and grows with the mass (a heavy A'
gives the recoil electron a wide angle and little energy); working points, the log ROC and
``predict --extra mass=...`` on a background-only file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from hitprep.config import load_job  # noqa: E402
from hitprep.ml.config import load_train_config  # noqa: E402
from hitprep.ml.evaluate import EvaluationReport, evaluate  # noqa: E402
from hitprep.ml.predict import predict  # noqa: E402
from hitprep.ml.train import train  # noqa: E402
from hitprep.runners import convert  # noqa: E402
from hitprep.tools.mix import mix  # noqa: E402
from hitprep.toys.ldmx import write_root  # noqa: E402

pytest_plugins = ["ml_fixtures"]

MASSES = (10.0, 1000.0)


@dataclass(frozen=True)
class Study:
    model: Path
    report: EvaluationReport
    background: Path  # converted background only: no label, no mass


def _mixed(folder: Path, *, seed: int, n_signal: int) -> tuple[Path, Path]:
    """Toy files (background, one signal file per mass) mixed into ``ldmx_xyz`` images."""
    bkg = write_root(folder / "bkg.root", n_events=2 * n_signal, seed=seed)
    signal = {
        m: [write_root(folder / f"sig_{m:g}.root", n_events=n_signal, mass=m, seed=seed + 1 + i)]
        for i, m in enumerate(MASSES)
    }
    out = folder / "mixed.h5"
    mix(load_job("ldmx_xyz"), signal, [bkg], out, n_signal=n_signal, seed=seed)
    return out, bkg


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    train_file, _ = _mixed(tmp_path_factory.mktemp("ldmx_train"), seed=1, n_signal=250)
    judged, bkg = _mixed(tmp_path_factory.mktemp("ldmx_eval"), seed=11, n_signal=200)
    cfg = load_train_config(
        overrides=[
            f"data.path='{train_file}'",
            "data.label='label'",
            "data.extras=['mass']",
            "model.name='convnet_extra'",
            "model.conv_channels=[8, 16]",
            "model.hidden=32",
            "train.epochs=3",
            "train.learning_rate=0.003",
            "train.device='cpu'",
            "train.patience=0",
        ]
    )
    work = tmp_path_factory.mktemp("ldmx_run")
    result = train(cfg, work / "run", log=lambda line: None)
    report = evaluate(result.best, judged, work / "eval", split="all", formats=("png",))
    background = work / "background.h5"
    convert(load_job("ldmx_xyz"), [bkg], background)
    return Study(result.best, report, background)


def test_auc_per_mass_is_below_one_and_grows_with_the_mass(study: Study) -> None:
    per_mass = study.report.metrics["per_mass"]
    assert set(per_mass) == {"10", "1000"}
    light, heavy = per_mass["10"]["auc"], per_mass["1000"]["auc"]
    assert 0.7 < light < heavy < 1.0
    assert light < 0.97  # a light A' looks like a lone recoil shower: clearly not separable
    assert 0.7 < study.report.metrics["auc"] < 1.0


def test_working_points_and_plots(study: Study) -> None:
    metrics = study.report.metrics
    at_signal = metrics["working_points"]["at_signal"]
    assert [p["target"] for p in at_signal] == [0.5, 0.9]
    loose, tight = at_signal[1], at_signal[0]
    assert loose["signal_efficiency"] >= 0.9
    assert 1.0 < loose["background_rejection"] < tight["background_rejection"]
    light = metrics["per_mass"]["10"]["working_points"]["at_signal"]
    assert light[1]["background_rejection"] > 1.0
    names = {p.name for p in study.report.plots}
    assert {"roc_log.png", "roc_per_mass.png", "roc_log_per_mass.png"} <= names


def test_mass_hypotheses_on_a_background_only_file(study: Study, tmp_path: Path) -> None:
    with h5py.File(study.background) as f:
        n_events = len(f["image"])
        assert "mass" not in f and "label" not in f
    out = tmp_path / "scan.h5"
    predict(study.model, study.background, out, extras={"mass": list(MASSES)})
    with h5py.File(out) as f:
        scores = f["scores"][:]
    assert scores.shape == (n_events, len(MASSES))
    assert np.all((scores >= 0) & (scores <= 1))
    assert not np.allclose(scores[:, 0], scores[:, 1])  # the mass input matters
    assert np.median(scores) < 0.5  # background: mostly scored as background
