"""KM3NeT graphs at scale: N files in one process vs one file, hitprep vs OrcaSong FileGraph.

N (``--files``, default 20) copies of km3net-testdata's ``atmospheric_muons_sample.h5`` (500
events, 2,228,941 hits each) with ``KM3NeT_-00000001_20171212.detx``. Whole processes:

- ``hitprep convert km3net_graph`` with default options, one process, on 1 file and on N files
  (best of ``--repeat``; the 1-file and N-file runs alternate, so load from other processes
  hurts both alike);
- OrcaSong ``FileGraph`` (nine hit infos) over the same 1 file and N files in one process
  (``orcasong_reference.py graph``, best of ``--orca-repeat``);
- ``--workers 2`` on the N files, once, for information.

Printed: seconds, the ratio OrcaSong / hitprep for 1 and N files (target, issue 12: >= 20x for
N files and not much below the 1-file ratio), hitprep's peak memory N files / 1 file (target
<= 1.1x), the merge seconds and their share of the run when the summary line reports a merge
(a sharded run), and the load average before and after. The N-file output is then checked:
its ``x`` equals the 1-file output's ``x`` N times over (compared block by block, bounded
memory), ``x_indices`` are continuous and repeat the 1-file counts, one event per input event.

    .venv/bin/python benchmarks/bench_km3net_graph_many.py [--files 20] [--repeat 2]
        [--orca-repeat 1] [--orcasong-python /tmp/orca/bin/python] [--no-workers]
        [--workdir bench-output/km3net_graph_many]

OrcaSong runs in its own virtual environment (never a dependency of hitprep); without it the
ratios are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, best_of, km3net_copies, measure

HERE = Path(__file__).resolve().parent
BLOCK = 1 << 20  # rows of x compared at a time (36 MiB of float32 x 9)


def _load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _merge(out: str) -> float | None:
    """Merge seconds from hitprep's summary line (None: no merge reported, e.g. direct)."""
    found = re.search(r"merge ([\d.]+) s", out)
    return float(found.group(1)) if found else None


def _summary(out: str) -> str:
    lines = [line for line in out.strip().splitlines() if "events in" in line]
    return lines[-1] if lines else out.strip().splitlines()[-1]


def _alternating(cmds: dict[str, list[str]], repeat: int) -> dict[str, Measurement]:
    """Best of ``repeat`` runs of each command, run in turn."""
    best: dict[str, Measurement] = {}
    for _ in range(repeat):
        for label, cmd in cmds.items():
            m = measure(cmd)
            if label not in best or m.seconds < best[label].seconds:
                best[label] = m
    return best


def _continuous(indices: np.ndarray, n_rows: int) -> bool:
    """Each event starts where the previous ended: from row 0 to ``n_rows``."""
    index, n_items = indices["index"], indices["n_items"]
    ends = index + n_items
    return bool(
        len(index) > 0
        and index[0] == 0
        and np.array_equal(index[1:], ends[:-1])
        and ends[-1] == n_rows
    )


def parity(one: Path, many: Path, n: int) -> dict[str, object]:
    """The N-file output is the 1-file output N times over (x block by block, x_indices)."""
    with h5py.File(one) as a, h5py.File(many) as b:
        xa, xb = a["x"], b["x"]
        rows = xa.shape[0]
        same_shape = xb.shape == (rows * n, *xa.shape[1:]) and xa.dtype == xb.dtype
        identical = same_shape
        first_bad = None
        for start in range(0, rows if same_shape else 0, BLOCK):
            block = xa[start : start + BLOCK]
            for copy in range(n):
                at = copy * rows + start
                if not np.array_equal(block, xb[at : at + len(block)]):
                    identical, first_bad = False, at
                    break
            if not identical:
                break
        ia, ib = a["x_indices"][:], b["x_indices"][:]
        counts = bool(np.array_equal(np.tile(ia["n_items"], n), ib["n_items"]))
        return {
            "x_shape": list(xb.shape),
            "one_file_x_shape": list(xa.shape),
            "x_identical": identical,
            "first_differing_row": first_bad,
            "events": len(ib),
            "events_expected": len(ia) * n,
            "x_indices_continuous": _continuous(ib, xb.shape[0]),
            "x_indices_counts_repeat": counts,
        }


def _orcasong(args: argparse.Namespace, inputs: list[str], detx: str, out: Path) -> list[str]:
    cmd = [args.orcasong_python, str(HERE / "orcasong_reference.py"), "graph"]
    return [*cmd, "--det", detx, "-o", str(out), "--quiet", *inputs]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    default_orca = os.environ.get("ORCASONG_PYTHON", "/tmp/orca/bin/python")
    parser.add_argument("--orcasong-python", default=default_orca)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="best of N hitprep runs")
    parser.add_argument("--orca-repeat", type=int, default=1, help="best of N OrcaSong runs")
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers 2 row")
    parser.add_argument("--workdir", default="bench-output/km3net_graph_many")
    return parser.parse_args()


def _run(
    args: argparse.Namespace, work: Path, inputs: list[str], detx: str
) -> tuple[dict[str, Measurement], dict[int, Measurement]]:
    """hitprep's rows (1 file, N files, N files with 2 workers) and OrcaSong's (1 and N files)."""
    n = len(inputs)
    base = [sys.executable, "-m", "hitprep", "convert", "km3net_graph", "--detx", detx]
    base += ["--no-progress", "--overwrite"]
    rows = _alternating(
        {
            "hitprep 1 file": [*base, inputs[0], "-o", str(work / "hitprep_1.h5")],
            f"hitprep {n} files": [*base, *inputs, "-o", str(work / f"hitprep_{n}.h5")],
        },
        args.repeat,
    )
    if not args.no_workers:
        cmd = [*base, *inputs, "-o", str(work / "workers2.h5"), "--workers", "2"]
        rows[f"hitprep {n} files, --workers 2"] = measure(cmd)
    orca: dict[int, Measurement] = {}
    if not Path(args.orcasong_python).exists():
        print(f"OrcaSong not found at {args.orcasong_python}: its rows and the ratios are skipped")
        return rows, orca
    for k in (1, n):
        cmd = [args.orcasong_python, str(HERE / "orcasong_reference.py"), "graph", "--det", detx]
        cmd += ["-o", str(work / f"orcasong_{k}"), "--quiet", *inputs[:k]]
        orca[k] = best_of(cmd, args.orca_repeat)
    return rows, orca


def _table(rows: dict[str, Measurement], orca: dict[int, Measurement]) -> None:
    print(f"{'run':<30} {'seconds':>8} {'peak MiB':>9} {'merge s':>8}  summary line")
    for label, m in rows.items():
        merge = _merge(m.output)
        text = "-" if merge is None else f"{merge:.2f}"
        print(f"{label:<30} {m.seconds:8.2f} {m.peak_mib:9.0f} {text:>8}  {_summary(m.output)}")
    for k, m in orca.items():
        label = f"OrcaSong 4.8.7 {k} file{'s' if k > 1 else ''}"
        print(f"{label:<30} {m.seconds:8.2f} {m.peak_mib:9.0f}")


def _ratios(rows: dict[str, Measurement], orca: dict[int, Measurement], n: int) -> dict[str, float]:
    """Speed and memory ratios, printed."""
    first, whole = rows["hitprep 1 file"], rows[f"hitprep {n} files"]
    record = {"memory_ratio": whole.peak_mib / first.peak_mib}
    if orca:
        record["ratio_1"] = orca[1].seconds / first.seconds
        record["ratio_n"] = orca[n].seconds / whole.seconds
        print(
            f"OrcaSong / hitprep: 1 file {record['ratio_1']:.1f}x, {n} files"
            f" {record['ratio_n']:.1f}x (target >= 20x, and not far below 1 file:"
            f" {record['ratio_n'] / record['ratio_1']:.2f} of it)"
        )
    print(
        f"hitprep peak memory {n} files / 1 file: {whole.peak_mib:.0f} / {first.peak_mib:.0f} MiB"
        f" = {record['memory_ratio']:.2f}x (target <= 1.1x)"
    )
    merge = _merge(whole.output)
    if merge is None:
        print(f"merge ({n} files, one process): none reported (written straight into the output)")
    else:
        record["merge_s"], record["merge_share"] = merge, merge / whole.seconds
        print(f"merge ({n} files, one process): {merge:.2f} s = {merge / whole.seconds:.1%} of it")
    return record


def main() -> int:
    args = _arguments()
    work = Path(args.workdir)
    inputs, detx = km3net_copies(work, args.files)
    n = args.files
    load_before = _load()
    rows, orca = _run(args, work, inputs, detx)
    load_after = _load()

    print(f"\nKM3NeT graphs (km3net_graph, default options), {n} x 500 events, 2.2M hits each")
    print(f"CPUs: {os.cpu_count()}; load average (1/5/15 min): before {load_before},")
    print(f"  after {load_after}")
    _table(rows, orca)
    record: dict[str, object] = {"files": n, "load_before": load_before, "load_after": load_after}
    record["seconds"] = {label: m.seconds for label, m in rows.items()}
    record["peak_mib"] = {label: m.peak_mib for label, m in rows.items()}
    record["orcasong_seconds"] = {k: m.seconds for k, m in orca.items()}
    record.update(_ratios(rows, orca, n))
    check = parity(work / "hitprep_1.h5", work / f"hitprep_{n}.h5", n)
    record["parity"] = check
    print(
        f"parity: {n}-file x {check['x_shape']} == 1-file x {check['one_file_x_shape']}"
        f" x {n}: {check['x_identical']}; x_indices continuous: {check['x_indices_continuous']},"
        f" counts repeat: {check['x_indices_counts_repeat']};"
        f" events {check['events']} (expected {check['events_expected']})"
    )
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
