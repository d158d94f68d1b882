"""KM3NeT z-t images: hitprep vs OrcaSong 4.8.7 FileBinner vs an h5py read floor.

Whole-process timings (interpreter start, imports, reading, writing) on km3net-testdata's
``atmospheric_muons_sample.h5`` (500 events, 2.2M hits) and on 10 copies of it, measured in
the same run. Peak memory is each process's maximum resident set size.

    .venv/bin/python benchmarks/bench_km3net_images.py [--orcasong-python /tmp/orca/bin/python]
        [--repeat 3] [--workdir bench-output/km3net]

OrcaSong runs in its own virtual environment (it is never a dependency of hitprep); without
it, its rows are skipped with a message. The images of one file are compared bin for bin
with OrcaSong's when both ran.

Targets (issue 2): >= 20x faster than OrcaSong on the 10-file batch; within 1.5x of the
read floor; peak memory for 10 files no more than for one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, best_of, km3net_copies

HERE = Path(__file__).resolve().parent
READ_FLOOR = """
import sys, h5py, hdf5plugin
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        for column in ("dom_id", "channel_id", "time", "tot", "triggered"):
            f["hits/" + column][:]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_orca = os.environ.get("ORCASONG_PYTHON", "/tmp/orca/bin/python")
    parser.add_argument("--orcasong-python", default=default_orca)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (hitprep, floor)")
    parser.add_argument("--workdir", default="bench-output/km3net")
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()

    work = Path(args.workdir)
    copies, detx = km3net_copies(work, args.copies)
    one, many = copies[:1], copies
    hitprep = [
        sys.executable,
        "-m",
        "hitprep",
        "convert",
        "km3net_zt",
        "--detx",
        detx,
        "--no-progress",
        "--overwrite",
    ]

    rows: dict[str, dict[str, Measurement]] = {}
    for label, inputs in (("1 file", one), (f"{len(many)} files", many)):
        rows[label] = {
            "read floor (h5py)": best_of([sys.executable, "-c", READ_FLOOR, *inputs], args.repeat),
            "hitprep": best_of(
                [*hitprep, *inputs, "-o", str(work / f"hitprep_{len(inputs)}.h5")], args.repeat
            ),
        }
        if Path(args.orcasong_python).exists():
            out = work / f"orcasong_{len(inputs)}"
            rows[label]["OrcaSong 4.8.7"] = best_of(
                [
                    args.orcasong_python,
                    str(HERE / "orcasong_reference.py"),
                    "binner",
                    "--det",
                    detx,
                    "--preset",
                    "km3net_zt",
                    "-o",
                    str(out),
                    "--quiet",
                    *inputs,
                ],
                1,
            )
        else:
            print(f"OrcaSong not found at {args.orcasong_python}: its rows are skipped")

    print("\nKM3NeT z-t images, atmospheric_muons_sample.h5 (500 events, 2,228,941 hits per file)")
    print(f"{'input':<10} {'tool':<20} {'seconds':>8} {'peak MiB':>9}  ratios")
    for label, tools in rows.items():
        floor, ours = tools["read floor (h5py)"], tools["hitprep"]
        for tool, m in tools.items():
            ratio = ""
            if tool == "hitprep":
                ratio = f"{m.seconds / floor.seconds:.2f}x the read floor"
            elif tool.startswith("OrcaSong"):
                ratio = f"hitprep is {m.seconds / ours.seconds:.1f}x faster"
            print(f"{label:<10} {tool:<20} {m.seconds:8.2f} {m.peak_mib:9.0f}  {ratio}")
    first, last = list(rows.values())
    print(
        f"hitprep peak memory, {len(many)} files vs 1: "
        f"{last['hitprep'].peak_mib / first['hitprep'].peak_mib:.2f}x"
    )

    orca_file = work / "orcasong_1" / "muons_00_km3net_zt_dl.h5"
    if orca_file.exists():
        with h5py.File(work / "hitprep_1.h5") as a, h5py.File(orca_file) as b:
            ours_x, theirs_x = a["x"][:], b["x"][:]
        same = np.array_equal(ours_x, theirs_x)
        print(
            f"parity: hitprep x {ours_x.shape} == OrcaSong x bin for bin: {same}"
            f" (sums {int(ours_x.sum()):,} / {int(theirs_x.sum()):,})"
        )
        print(json.dumps({"parity": same}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
