"""KM3NeT hit graphs: hitprep vs OrcaSong 4.8.7 FileGraph, whole process, with a parity check.

On km3net-testdata's ``atmospheric_muons_sample.h5`` (500 events, 2,228,941 hits) with
``KM3NeT_-00000001_20171212.detx``, the nine hit infos (pos_x pos_y pos_z dir_x dir_y dir_z
time tot triggered):

- jagged: ``hitprep convert km3net_graph --layout orcasong`` vs ``FileGraph(hit_infos)``;
- fixed length: ``hitprep convert km3net_graph_fixed --layout orcasong --set
  graph.max_n_hits=7000`` vs ``FileGraph(max_n_hits=7000, fixed_length=True)``.

Times are whole processes (interpreter start, imports, reading, calibration, writing the
output), best of ``--repeat`` runs for hitprep and ``--orca-repeat`` for OrcaSong; hitprep is
timed with each of ``--compressions`` (gzip level 1, the preset's, is what OrcaSong writes:
zlib level 1; lzf; none), and the first is compared for parity;
peak memory is each process's maximum resident set size. ``x`` and ``x_indices`` are then
compared element for element (padding and the is_valid column included).

    .venv/bin/python benchmarks/bench_km3net_graph.py [--orcasong-python /tmp/orca/bin/python]
        [--repeat 3] [--orca-repeat 1] [--workdir bench-output/km3net_graph] [--only jagged]

OrcaSong runs in its own virtual environment (never a dependency of hitprep); without it its
rows and the parity check are skipped with a message. Target (issue 5): >= 20x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import h5py
import km3net_testdata
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, best_of

HERE = Path(__file__).resolve().parent
CASES = {
    "jagged": {"preset": "km3net_graph", "sets": [], "orca": [], "orca_name": "graph_jagged"},
    "fixed7000": {
        "preset": "km3net_graph_fixed",
        "sets": ["--set", "graph.max_n_hits=7000"],
        "orca": ["--max-n-hits", "7000", "--fixed-length"],
        "orca_name": "graph_fixed7000",
    },
}


def compare(ours: Path, theirs: Path) -> dict[str, object]:
    """Element-for-element comparison of ``x`` and ``x_indices``, block by block."""
    with h5py.File(ours) as a, h5py.File(theirs) as b:
        xa, xb = a["x"], b["x"]
        same_shape = xa.shape == xb.shape
        same_attrs = all(
            str(xa.attrs.get(k)) == str(xb.attrs.get(k))
            for k in xb.attrs
            if k.startswith("hit_info_") or k == "indexed"
        )
        identical = same_shape
        first_bad = None
        step = 50 if xa.ndim == 3 else 1 << 20
        for start in range(0, xa.shape[0] if same_shape else 0, step):
            left, right = xa[start : start + step], xb[start : start + step]
            if not np.array_equal(left, right):
                identical = False
                first_bad = start + int(np.argmax((left != right).reshape(len(left), -1).any(1)))
                break
        ia, ib = a["x_indices"][:], b["x_indices"][:]
        indices = bool(np.array_equal(ia["index"], ib["index"]))
        indices &= bool(np.array_equal(ia["n_items"], ib["n_items"]))
        hits = int((a["x_n_hits"][:]).sum()) if "x_n_hits" in a else None
        return {
            "shape": list(xa.shape),
            "orcasong_shape": list(xb.shape),
            "x_identical": identical,
            "first_differing_row": first_bad,
            "x_indices_identical": indices,
            "attrs_identical": same_attrs,
            "events": len(ia),
            "hits": hits,
            "elements": int(np.prod(xa.shape)),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    default_orca = os.environ.get("ORCASONG_PYTHON", "/tmp/orca/bin/python")
    parser.add_argument("--orcasong-python", default=default_orca)
    parser.add_argument("--repeat", type=int, default=3, help="best of N hitprep runs")
    parser.add_argument("--orca-repeat", type=int, default=1, help="best of N OrcaSong runs")
    parser.add_argument("--workdir", default="bench-output/km3net_graph")
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    parser.add_argument(
        "--compressions",
        default="gzip,lzf,none",
        help="hitprep output compressions to time (gzip level 1 = OrcaSong's zlib level 1;"
        " the first is the one compared for parity)",
    )
    args = parser.parse_args()

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = Path(km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5"))
    events = work / "muons.h5"
    shutil.copyfile(source, events)
    detx = km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx")
    have_orca = Path(args.orcasong_python).exists()
    if not have_orca:
        print(f"OrcaSong not found at {args.orcasong_python}: its rows and parity are skipped")

    results: dict[str, dict[str, object]] = {}
    print(f"\nKM3NeT graphs, {source.name} (500 events, 2,228,941 hits), nine hit infos")
    print(f"{'case':<10} {'tool':<16} {'seconds':>8} {'peak MiB':>9}  ratio")
    for name in args.only or list(CASES):
        case = CASES[name]
        ours = work / f"hitprep_{name}.h5"
        rows: dict[str, Measurement] = {}
        for i, comp in enumerate(args.compressions.split(",")):
            out = ours if i == 0 else work / f"hitprep_{name}_{comp}.h5"
            value = '""' if comp == "none" else f'"{comp}"'
            cmd = [sys.executable, "-m", "hitprep", "convert", str(case["preset"]), str(events)]
            cmd += ["-o", str(out), "--detx", detx, "--layout", "orcasong", "--no-progress"]
            cmd += [*case["sets"], "--set", f"output.compression={value}", "--overwrite"]
            rows[f"hitprep {comp}"] = best_of(cmd, args.repeat)
        if have_orca:
            orca_cmd = [args.orcasong_python, str(HERE / "orcasong_reference.py"), "graph"]
            orca_cmd += ["--det", detx, "-o", str(work / "orcasong"), "--quiet"]
            orca_cmd += [*case["orca"], str(events)]
            rows["OrcaSong 4.8.7"] = best_of(orca_cmd, args.orca_repeat)
        record: dict[str, object] = {
            tool: {"seconds": m.seconds, "peak_mib": m.peak_mib} for tool, m in rows.items()
        }
        orca = rows.get("OrcaSong 4.8.7")
        for tool, m in rows.items():
            ratio = ""
            if orca is not None and tool != "OrcaSong 4.8.7":
                speedup = orca.seconds / m.seconds
                ratio = f"{speedup:.1f}x faster than OrcaSong"
                record[tool]["speedup"] = speedup  # type: ignore[index]
            print(f"{name:<10} {tool:<16} {m.seconds:8.2f} {m.peak_mib:9.0f}  {ratio}")
        theirs = work / "orcasong" / f"{events.stem}_{case['orca_name']}_dl.h5"
        if theirs.exists():
            record["parity"] = compare(ours, theirs)
        results[name] = record
    for name, record in results.items():
        parity = record.get("parity")
        if isinstance(parity, dict):
            print(
                f"parity {name}: x {parity['shape']} vs OrcaSong {parity['orcasong_shape']}:"
                f" identical={parity['x_identical']} ({parity['elements']:,} values,"
                f" {parity['events']} events, {parity['hits']:,} hits);"
                f" x_indices identical={parity['x_indices_identical']};"
                f" hit_info/indexed attributes identical={parity['attrs_identical']}"
            )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
