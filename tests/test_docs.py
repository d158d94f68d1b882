"""The documentation runs: tutorial code blocks and generated reference pages.

Docstring examples run in ``tests/test_docstrings.py`` (each in its own empty folder).

Every fenced block marked ``bash`` or ``python`` in ``docs/getting-started.md`` and
``docs/tutorials/*.md`` runs, in page order, in one empty folder per page (``bash`` with
``-euo pipefail`` and this environment's ``hitprep`` first on ``PATH``; ``python`` as a
script). Blocks that must not run (installation) are marked ``sh`` or ``text``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hitprep.cli import COMMANDS, build_parser
from hitprep.config import SECTIONS

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = [DOCS / "getting-started.md", *sorted((DOCS / "tutorials").glob("*.md"))]
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def code_blocks(page: Path) -> list[tuple[str, str]]:
    """The ``(language, code)`` of each runnable fenced block of a page, in order."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


def _run_block(language: str, code: str, folder: Path, number: int) -> None:
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        script = folder / f"_block_{number}.py"
        script.write_text(code)
        command = [sys.executable, script.name]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, f"block {number}:\n{code}\n{output}"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_code_runs(page: Path, tmp_path: Path) -> None:
    blocks = code_blocks(page)
    assert blocks, f"{page} has no runnable code block"
    for number, (language, code) in enumerate(blocks, 1):
        _run_block(language, code, tmp_path, number)


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks/reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_has_every_command() -> None:
    reference = _reference()
    page = reference.cli_reference()
    names = list(reference._subcommands(build_parser()))
    assert len(names) == len(COMMANDS)
    for name in names:
        assert f"## hitprep {name}\n" in page
        assert f"usage: hitprep {name} " in page
    assert "usage: hitprep toy ldmx " in page  # toys parse their own options


def test_jobs_reference_has_every_section_and_key() -> None:
    page = _reference().jobs_reference()
    for name in SECTIONS:
        heading = f"`[[{name}]]`" if SECTIONS[name].array else f"`[{name}]`"
        assert heading in page or name == "description"
    assert "| `step` | integer | `250` |" in page  # [source] defaults, as validated
    assert "| `extractor` | string | **required** |" in page
    assert "| `barrel_shape` | array of integer | `[]` |" in page  # declared in its module
    # each key's description is its docstring in the section's model
    assert "| `step` | integer | `250` | Events per chunk: " in page
    assert "### `graph.edges`" in page  # a sub-table's keys
    assert '| `on_unmatched` | `"fail"` \\| `"skip_hits"` \\| `"skip_event"` |' in page


def test_readme_links_stay_in_the_repository() -> None:
    readme = (REPO / "README.md").read_text()
    assert "../shared" not in readme
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (REPO / target).exists(), f"README links to missing {target}"
