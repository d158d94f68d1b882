"""progress_bar: tqdm only when shown; the silent bar has the same interface."""

from __future__ import annotations

import subprocess
import sys

from hitprep.progress import ProgressBar, progress_bar


def test_silent_bar_counts_nothing_and_imports_nothing() -> None:
    script = (
        "import sys\n"
        "from hitprep.progress import progress_bar\n"
        "with progress_bar(total=None, enabled=False) as bar:\n"
        "    bar.update(5); bar.total = 9; bar.refresh()\n"
        "print('tqdm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    bar = progress_bar(total=3, enabled=False)
    assert isinstance(bar, ProgressBar) and bar.total == 3


def test_shown_bar_is_tqdm() -> None:
    from tqdm import tqdm

    with progress_bar(total=4, enabled=True, desc="x") as bar:
        assert isinstance(bar, tqdm)
        bar.update(3)
        assert bar.n == 3 and bar.total == 4
