"""Run a command as a child process and report wall time and peak memory (whole process).

Used by the benchmark scripts: ``measure([...])`` returns seconds and the child's peak
resident set size, measured by a tiny wrapper so that each command is counted alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
out = {"seconds": dt, "peak_mib": rss / 1024, "rc": r.returncode, "out": r.stdout[-3000:]}
print(json.dumps(out))
"""


@dataclass
class Measurement:
    seconds: float
    peak_mib: float
    output: str


@lru_cache(maxsize=1)
def _compile_hitprep() -> None:
    """Byte-compile hitprep's modules once, as ``pip install`` does for an installed package.

    An editable install under ``PYTHONDONTWRITEBYTECODE=1`` (set in some shells) would
    otherwise compile every hitprep module in every measured process (~0.07 s), which
    no user of an installed hitprep pays (the references' packages are compiled too).
    """
    import compileall

    import hitprep

    compileall.compile_dir(str(Path(hitprep.__file__).parent), quiet=1)


def measure(cmd: list[str]) -> Measurement:
    """Run ``cmd``; raise with its output if it fails."""
    _compile_hitprep()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    if data["rc"] != 0:
        msg = f"{cmd[:3]}... failed ({data['rc']}):\n{data['out']}"
        raise RuntimeError(msg)
    return Measurement(data["seconds"], data["peak_mib"], data["out"])


def best_of(cmd: list[str], repeat: int) -> Measurement:
    """The fastest of ``repeat`` runs (peak memory of that run)."""
    runs = [measure(cmd) for _ in range(repeat)]
    return min(runs, key=lambda m: m.seconds)


def km3net_copies(work: Path, n: int) -> tuple[list[str], str]:
    """A fresh ``work`` folder with ``n`` copies of km3net-testdata's muon sample in ``work/in``.

    Returns:
        The copies' paths and the matching detector file.
    """
    import km3net_testdata

    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    source = Path(km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5"))
    copies = []
    for i in range(n):
        copy = work / "in" / f"muons_{i:02d}.h5"
        shutil.copyfile(source, copy)
        copies.append(str(copy))
    return copies, km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx")
