"""hitprep.allocator: glibc keeps freed chunk arrays; the user's own settings win."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = (
    "import resource\n"
    "import numpy as np\n"
    "from hitprep.allocator import keep_freed_memory\n"
    "tuned = keep_freed_memory()\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(6):\n"
    "    a = np.ones(5_000_000)\n"  # 40 MB (above glibc's largest dynamic mmap threshold)
    "    del a\n"
    "faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
    "print(tuned, faults)\n"
)


def _run(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt: Linux only")
def test_freed_arrays_are_reused_unless_the_user_tunes_malloc() -> None:
    import os

    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    base = {k: v for k, v in base.items() if not k.startswith("MALLOC_")}
    tuned, tuned_faults = _run(base)
    if tuned == "False":
        pytest.skip("the C library is not glibc")
    system, system_faults = _run({**base, "HITPREP_MALLOC": "system"})
    assert (tuned, system) == ("True", "False")
    # 6 x 40 MB arrays: fresh pages each time (~58,000 faults) vs the same pages reused
    assert tuned_faults * 4 < system_faults
    assert _run({**base, "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000"})[0] == "False"
