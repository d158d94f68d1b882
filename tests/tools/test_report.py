"""``hitprep report``: one self-contained, well-formed HTML page for real outputs and runs."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import h5py
import pytest

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.layout import read_layout, role_text
from hitprep.runners import convert
from hitprep.toys.wcsim import write_dump

VOID = {"meta", "img", "br", "hr", "link", "input"}


class TagChecker(HTMLParser):
    """Checks that every opened tag is closed in order and collects the attribute values."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += [(k, v or "") for k, v in attrs]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"unbalanced </{tag}> at {self.getpos()}")


def checked(page: Path) -> str:
    """The page's text after checking balanced tags and that it names no other file."""
    text = page.read_text(encoding="utf-8")
    parser = TagChecker()
    parser.feed(text)
    parser.close()
    assert parser.errors == []
    assert parser.open == []
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text
    sources = [v for k, v in parser.attrs if k in ("src", "href")]
    assert sources and all(v.startswith("data:image/png;base64,") for v in sources)
    return text


def layout_roles(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        layout, _ = read_layout(f, path)
        return [role_text(e) for e in layout.entries.values()]


@pytest.fixture(scope="module")
def wcsim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("report")
    dump = write_dump(tmp / "toy.h5", 12, seed=17)
    outputs = {"dump": dump}
    for preset in ("wcsim_watchmal_digi", "wcsim_grid"):
        outputs[preset] = convert(load_job(preset), [dump], tmp / f"{preset}.h5").output
    return outputs


@pytest.mark.parametrize("preset", ["wcsim_watchmal_digi", "wcsim_grid"])
def test_wcsim_output(wcsim: dict[str, Path], preset: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(wcsim[preset]), "-o", str(page), "--events", "2"]) == 0
    text = checked(page)
    assert "not drawn" not in text
    assert text.count("data:image/png") == 2  # two event displays, drawn with the tank
    for role in layout_roles(wcsim[preset]):
        assert f"<td>{role}</td>" in text
    with h5py.File(wcsim[preset], "r") as f:
        accounting = json.loads(f.attrs["accounting"])
        labels = f["labels"][:]
    assert f"<td>events_written</td><td>{accounting['events_written']}</td>" in text
    assert f"<td>items_read.digi_hits</td><td>{accounting['items_read']['digi_hits']}</td>" in text
    assert f"<td>0</td><td>{int((labels == 0).sum())}</td>" in text
    assert str(wcsim["dump"]) in text  # provenance: the input


def test_km3net_images(km3net_h5: Path, km3net_detx: Path, tmp_path: Path) -> None:
    out = tmp_path / "zt.h5"
    argv = ["convert", "km3net_zt", str(km3net_h5), "-o", str(out), "--detx", str(km3net_detx)]
    assert main(argv) == 0
    page = tmp_path / "zt.html"
    assert main(["report", str(out), "-o", str(page), "--events", "1"]) == 0
    text = checked(page)
    assert "<h2>Bin statistics</h2>\n<img" in text
    assert "<h2>Event displays</h2>\n<img" in text
    for role in layout_roles(out):
        assert f"<td>{role}</td>" in text
    with h5py.File(out, "r") as f:
        written = json.loads(f.attrs["accounting"])["events_written"]
    assert f"<td>events_written</td><td>{written}</td>" in text


def test_failed_section_is_a_note(wcsim: dict[str, Path], tmp_path: Path) -> None:
    moved = tmp_path / "wm.h5"
    moved.write_bytes(wcsim["wcsim_watchmal_digi"].read_bytes())
    with h5py.File(moved, "r+") as f:
        f.attrs["inputs"] = "[]"  # no tank to draw a WatChMaL event with
    page = tmp_path / "report.html"
    assert main(["report", str(moved), "-o", str(page)]) == 0
    text = page.read_text()
    assert re.search(r'<h2>Event displays</h2>\n<p class="note">not drawn: .*--geometry', text)
    assert "<td>events_written</td>" in text  # the other sections are there


def test_neither_output_nor_run(
    wcsim: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    for source in (wcsim["dump"], tmp_path, tmp_path / "absent.h5"):
        assert main(["report", str(source), "-o", str(page)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert str(source) in err
    assert list(tmp_path.iterdir()) == []


def test_training_run(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from hitprep.demos.ml import write_toy_images
    from hitprep.ml.config import load_train_config
    from hitprep.ml.evaluate import evaluate
    from hitprep.ml.train import train

    torch.set_num_threads(1)
    data = write_toy_images(tmp_path / "toy.h5", 120, seed=3, size=8)
    overrides = [f"data.path='{data}'", "train.epochs=2", "train.device='cpu'"]
    run = tmp_path / "run"
    train(load_train_config(overrides=overrides), run, log=lambda line: None)
    page = tmp_path / "run.html"
    assert main(["report", str(run), "-o", str(page)]) == 0  # no evaluation in the run
    assert '<h2>Evaluation</h2>\n<p class="note">no evaluation folder' in checked(page)
    evaluate(run, data, run / "eval", formats=("png",))
    assert main(["report", str(run), "-o", str(page), "--overwrite"]) == 0  # found in the run
    text = checked(page)
    plots = sorted((run / "eval").glob("*.png"))
    assert text.count("data:image/png") == 1 + len(plots)  # history and every plot
    auc = json.loads((run / "eval" / "metrics.json").read_text())["auc"]
    assert f"<td>auc</td><td>{auc:.4g}</td>" in text
    assert "<h2>Evaluation: eval</h2>" in text
    history = json.loads((run / "history.json").read_text())
    assert f"<tr><td>2</td><td>{history[1]['train_loss']:.4g}</td>" in text  # epoch 2's row
    assert "not drawn" not in text
