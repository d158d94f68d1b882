"""Every docstring example in ``src/hitprep`` runs and shows what it says.

Each module's examples run in a fresh temporary folder, where they write their own small
inputs (toys, or km3net-testdata's files converted there). An example that reads one of
the optional real files of ``../shared/data`` by name finds it linked into that folder, and
its module is skipped where the file is absent. Output is compared with ``...`` standing
for any text (timings, paths), and no example may be skipped with ``+SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest
from conftest import REPO, shared_file

SRC = REPO / "src" / "hitprep"
#: real files that examples read by name -> where they are under ``../shared/data``
SHARED = {"wcsim_10events_2015.root": "wcsim/wcsim_10events_2015.root"}


def _modules() -> list[str]:
    """Every module of the package with a ``>>>`` example."""
    names = []
    for path in sorted(SRC.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(SRC.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules()


def test_examples_are_found_and_none_is_skipped() -> None:
    assert len(MODULES) >= 50, MODULES
    skipped = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "doctest: +SKIP" in line
    ]
    assert skipped == [], "examples must run (write a small input in the example instead)"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    sources = "".join(example.source for t in tests for example in t.examples)
    for file, relative in SHARED.items():
        if file in sources:
            (tmp_path / file).symlink_to(shared_file(relative))
    monkeypatch.chdir(tmp_path)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.tries > 0, f"{name}: no example found"
    assert runner.failures == 0, "".join(report)
