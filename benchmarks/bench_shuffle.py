"""Out-of-core shuffle throughput: ``hitprep shuffle`` on a file 4x larger than ``--max-ram``.

The input is a real jagged graph file (``km3net_graph`` on km3net-testdata's muon sample,
2.2M nodes x 9 features + per-event datasets), concatenated with ``hitprep concat`` until
its uncompressed event data exceed ``--factor`` times ``--max-ram``. Then, whole processes:

- ``hitprep shuffle IN -o OUT --max-ram M --seed 1``   (two passes through a scratch file)
- ``hitprep concat IN -o COPY``                         (one sequential copy, for scale)

Throughput is uncompressed event bytes per second (MB = 1e6 bytes); peak memory is the
process's maximum resident set size, shown beside the budget and beside an idle process
with the same imports (the budget bounds the event data hitprep holds; the rest is the
interpreter, HDF5's caches and the allocator's slack). The output is checked: a permutation
of the input events, nodes intact.

    .venv/bin/python benchmarks/bench_shuffle.py [--max-ram 100MB] [--factor 4]
        [--workdir bench-output/shuffle]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import h5py
import km3net_testdata
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure

from hitprep.tools.eventfile import EventFile
from hitprep.tools.records import parse_size


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-ram", default="100MB")
    parser.add_argument("--factor", type=float, default=4.0, help="input size / max-ram")
    parser.add_argument("--workdir", default="bench-output/shuffle")
    args = parser.parse_args()
    budget = parse_size(args.max_ram)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    hitprep = [sys.executable, "-m", "hitprep"]

    events = km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5")
    detx = km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx")
    one = work / "graph.h5"
    measure([*hitprep, "convert", "km3net_graph", events, "-o", str(one), "--detx", detx])
    with EventFile(one) as f:
        per_copy = int(f.event_bytes().sum())
    copies = int(np.ceil(args.factor * budget / per_copy)) + 1
    big = work / "big.h5"
    measure([*hitprep, "concat", *[str(one)] * copies, "-o", str(big), "--no-progress"])
    with EventFile(big) as f:
        raw, n_events = int(f.event_bytes().sum()), f.n_events
    on_disk = big.stat().st_size
    print(
        f"input: {copies} x {one.name}: {n_events} events, {raw / 1e6:.0f} MB of event data"
        f" ({on_disk / 1e6:.0f} MB on disk, gzip), {raw / budget:.1f}x --max-ram {args.max_ram}"
    )

    out = work / "shuffled.h5"
    imports = "import hitprep.cli, hitprep.tools.shuffle, hdf5plugin, h5py, tqdm"
    idle = measure([sys.executable, "-c", imports])  # the same process, doing nothing
    shuffle = [*hitprep, "shuffle", str(big), "-o", str(out), "--max-ram", args.max_ram]
    shuffled = measure([*shuffle, "--seed", "1", "--no-progress"])
    copy = measure([*hitprep, "concat", str(big), "-o", str(work / "copy.h5"), "--no-progress"])
    print(f"{'run':<28} {'seconds':>8} {'MB/s':>8} {'peak MiB':>9}")
    for label, m in (("hitprep shuffle", shuffled), ("hitprep concat (1 copy)", copy)):
        print(f"{label:<28} {m.seconds:8.2f} {raw / 1e6 / m.seconds:8.1f} {m.peak_mib:9.0f}")
    print(
        f"budget {budget / 2**20:.0f} MiB; idle hitprep process {idle.peak_mib:.0f} MiB;"
        f" shuffle above idle: {shuffled.peak_mib - idle.peak_mib:.0f} MiB;"
        f" shuffle / sequential copy time: {shuffled.seconds / copy.seconds:.2f}x"
    )
    print(shuffled.output.strip().splitlines()[-1])

    with h5py.File(big) as a, h5py.File(out) as b:  # a permutation, nodes intact
        ia, ib = a["event_info"][:], b["event_info"][:]
        key_a = ia["file_index"] * 10**6 + ia["entry"]
        key_b = ib["file_index"] * 10**6 + ib["entry"]
        ok = bool(np.array_equal(np.sort(key_a), np.sort(key_b)))
        ok &= not np.array_equal(key_a, key_b)
        where = {int(k): i for i, k in enumerate(key_a)}
        xa, xb, na, nb = a["x"], b["x"], a["x_indices"][:], b["x_indices"][:]
        for j in np.linspace(0, n_events - 1, 20).astype(int):
            i = where[int(key_b[j])]
            left = xa[na["index"][i] : na["index"][i] + na["n_items"][i]]
            right = xb[nb["index"][j] : nb["index"][j] + nb["n_items"][j]]
            ok &= bool(np.array_equal(left, right))
    print(f"output is a permutation of the input with nodes intact: {ok}")
    result = {
        "input_mb": raw / 1e6,
        "input_over_budget": raw / budget,
        "shuffle_seconds": shuffled.seconds,
        "shuffle_mb_per_s": raw / 1e6 / shuffled.seconds,
        "shuffle_peak_mib": shuffled.peak_mib,
        "idle_peak_mib": idle.peak_mib,
        "copy_seconds": copy.seconds,
        "budget_mib": budget / 2**20,
        "correct": ok,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
