#!/usr/bin/env python
"""Run OrcaSong as an external reference (binner / graph) and report timings.

This script only *runs* OrcaSong (AGPL) as a black box; it contains no OrcaSong
code.  It must be executed with the Python interpreter of a virtual environment
in which ``orcasong`` (and therefore ``km3pipe``) is installed, e.g.::

    /tmp/orca/bin/python benchmarks/orcasong_reference.py binner \\
        --det DET.detx --preset km3net_zt -o OUTDIR INPUT.h5 [INPUT.h5 ...]

    /tmp/orca/bin/python benchmarks/orcasong_reference.py graph \\
        --det DET.detx -o OUTDIR [--max-n-hits N --fixed-length] INPUT.h5 ...

It deliberately does not import ``hitprep``.

One output file is written per input, named
``<OUTDIR>/<input stem>_<mode>_dl.h5`` where ``<mode>`` is the preset name for
``binner`` and ``graph_jagged`` / ``graph_fixed<N>`` for ``graph``.

The last line printed on stdout is a single JSON object::

    {"tool": "orcasong", "version": ..., "mode": ..., "inputs": n,
     "seconds": <wall time of the conversions only>,
     "import_seconds": <time to import orcasong/km3pipe/numpy>,
     "per_file_seconds": [...], "outputs": [paths]}

``seconds`` covers constructing the processor and running it on all inputs
(including numba JIT compilation inside km3pipe on the first file), but not
interpreter start-up or module import time, which is reported separately as
``import_seconds``.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import orcasong  # noqa: E402
import orcasong.core  # noqa: E402  (pulls in km3pipe / km3modules)

_T_IMPORTED = time.perf_counter()

HIT_INFOS = [
    "pos_x",
    "pos_y",
    "pos_z",
    "dir_x",
    "dir_y",
    "dir_z",
    "time",
    "tot",
    "triggered",
]


def bin_edges_for(preset):
    """Bin edges used for the comparison presets."""
    if preset == "km3net_zt":
        return [
            ["pos_z", np.linspace(50, 700, 19)],
            ["time", np.linspace(-250, 1000, 101)],
        ]
    if preset == "km3net_xyzt":
        return [
            ["pos_x", np.linspace(-600, 480, 13)],
            ["pos_y", np.linspace(-510, 560, 13)],
            ["pos_z", np.linspace(50, 700, 19)],
            ["time", np.linspace(-250, 1000, 61)],
        ]
    raise ValueError(f"unknown preset {preset!r}")


def make_extractor(name, infile):
    """Optional y-extractor (off by default)."""
    if name is None or name == "none":
        return None
    if name == "muon":
        from orcasong.extractors import get_muon_mc_info_extr

        return get_muon_mc_info_extr(infile)
    raise ValueError(f"unknown extractor {name!r}")


def out_path(outdir, infile, mode):
    return Path(outdir) / f"{Path(infile).stem}_{mode}_dl.h5"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Run OrcaSong FileBinner/FileGraph as a timing/output reference."
    )
    sub = p.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--det", required=True, help="detector .detx file")
    common.add_argument("-o", "--outdir", required=True, help="output folder")
    common.add_argument(
        "--extractor",
        choices=["none", "muon"],
        default="none",
        help="y extractor (default: none). 'muon' = "
        "orcasong.extractors.get_muon_mc_info_extr(input); it raises IndexError "
        "unless the input file stem contains at least one digit group "
        "(it takes re.findall(r'\\d+', basename)[-2]).",
    )
    common.add_argument(
        "--quiet",
        action="store_true",
        help="disable OrcaSong's StatusBar/MemoryObserver printouts",
    )
    common.add_argument("inputs", nargs="+", help="input km3pipe .h5 files")

    pb = sub.add_parser("binner", parents=[common], help="orcasong FileBinner")
    pb.add_argument("--preset", required=True, choices=["km3net_zt", "km3net_xyzt"])
    pb.add_argument(
        "--no-bin-stats",
        action="store_true",
        help="add_bin_stats=False (default: OrcaSong default True)",
    )

    pg = sub.add_parser("graph", parents=[common], help="orcasong FileGraph")
    pg.add_argument("--max-n-hits", type=int, default=None)
    pg.add_argument(
        "--fixed-length",
        action="store_true",
        help="pad each event to --max-n-hits rows (+ is_valid column)",
    )
    args = p.parse_args(argv)
    if args.command == "graph" and args.fixed_length and args.max_n_hits is None:
        p.error("--fixed-length requires --max-n-hits")
    return args


def build_processor(args, infile):
    extractor = make_extractor(args.extractor, infile)
    if args.command == "binner":
        proc = orcasong.core.FileBinner(
            bin_edges_for(args.preset),
            add_bin_stats=not args.no_bin_stats,
            det_file=args.det,
            extractor=extractor,
        )
    else:
        proc = orcasong.core.FileGraph(
            hit_infos=list(HIT_INFOS),
            det_file=args.det,
            max_n_hits=args.max_n_hits,
            fixed_length=args.fixed_length,
            extractor=extractor,
        )
    if args.quiet:
        proc.n_statusbar = None
        proc.n_memory_observer = None
    return proc


def mode_name(args):
    if args.command == "binner":
        return args.preset
    if args.fixed_length:
        return f"graph_fixed{args.max_n_hits}"
    if args.max_n_hits is not None:
        return f"graph_jagged_max{args.max_n_hits}"
    return "graph_jagged"


def main(argv=None):
    args = parse_args(argv)
    Path(args.outdir).mkdir(parents=True, exist_ok=True)
    mode = mode_name(args)

    outputs, per_file = [], []
    t0 = time.perf_counter()
    for infile in args.inputs:
        t_file = time.perf_counter()
        outfile = out_path(args.outdir, infile, mode)
        if str(outfile.resolve()) in outputs:  # same stem given twice
            outfile = outfile.with_name(f"{outfile.stem}_{len(outputs)}.h5")
        # processor is rebuilt per file (cheap) so that a per-file
        # extractor can be used; OrcaSong's run_multi reuses one instance.
        proc = build_processor(args, infile)
        proc.run(str(infile), str(outfile))
        per_file.append(time.perf_counter() - t_file)
        outputs.append(str(outfile.resolve()))
    seconds = time.perf_counter() - t0

    result = {
        "tool": "orcasong",
        "version": str(orcasong.__version__).strip(),
        "mode": mode,
        "inputs": len(args.inputs),
        "seconds": round(seconds, 4),
        "import_seconds": round(_T_IMPORTED - _T_START, 4),
        "per_file_seconds": [round(s, 4) for s in per_file],
        "outputs": outputs,
    }
    sys.stdout.flush()
    sys.stderr.flush()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
