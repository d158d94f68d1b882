"""hitprep.allocator: glibc keeps freed chunk arrays; the user's own settings win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = (
    "import numpy as np\n"
    "from hitprep.allocator import keep_freed_memory\n"
    "tuned = keep_freed_memory()\n"
    "def rss():\n"
    "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
    "before = rss()\n"
    "a = np.ones(5_000_000)\n"  # 40 MB: above glibc's largest dynamic mmap threshold
    "del a\n"
    "print(tuned, rss() - before)\n"  # kept for the next chunk, or handed back
)


def _run(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt: Linux only")
def test_freed_arrays_are_kept_unless_the_user_tunes_malloc() -> None:
    base = {
        k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")
    }
    tuned, kept = _run(base)
    if tuned == "False":
        pytest.skip("the C library is not glibc")
    system, handed_back = _run({**base, "HITPREP_MALLOC": "system"})
    assert (tuned, system) == ("True", "False")
    assert kept > 30e6 > 10e6 > handed_back  # 40 MB stay mapped for reuse, or are unmapped
    assert _run({**base, "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000"})[0] == "False"
