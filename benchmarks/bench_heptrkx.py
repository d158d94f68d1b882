"""Reading HEPTrkX ACTS dumps: hitprep vs the notebook's ``ast.literal_eval`` reader.

One toy dump pair (``hitprep toy heptrkx``; 1000 events are ~350k hit lines, 60 MB)
is read twice and the results compared:

- **reference**: the HEPTrkX notebook's reader: ``ast.literal_eval`` per line, a
  pandas DataFrame per block, ``concat``, then ``gpos`` / ``kin`` unpacked with
  ``.apply`` (x, y, z, pT, eta as float32);
- **hitprep**: :class:`~hitprep.sources.heptrkx.HeptrkxDumpSource` (whole-array
  tokenizer, hits joined to particles).

Printed: seconds for each (best of ``--repeat`` for hitprep, one run of the slow
reference) and the ratio. Target (issue 16): >= 20x.

    .venv/bin/python benchmarks/bench_heptrkx.py [--events 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hitprep.sources.heptrkx import HeptrkxDumpSource
from hitprep.toys.heptrkx import write_dumps


def notebook_load(pd: Any, path: Path, columns: list[str]) -> Any:
    """``load_data_events``: literal_eval per line, one DataFrame per block."""
    dfs: list[Any] = []
    lines: list[Any] = []
    with path.open() as fh:
        for line in [*fh, "\n"]:
            if line.strip() and line[0] != "#":
                lines.append(ast.literal_eval(line))
            elif lines:
                df = pd.DataFrame(lines)
                df.columns = columns
                df["evtid"] = len(dfs)
                dfs.append(df)
                lines = []
    return pd.concat(dfs, ignore_index=True)


def notebook_read(pd: Any, clusters: Path) -> tuple[Any, Any]:
    cols = ["hitid", "barcode", "volid", "layid", "lpos", "lerr", "gpos", "chans", "dir"]
    hits = notebook_load(pd, clusters, [*cols, "direrr"])
    xyz = {k: hits.gpos.apply(lambda g, i=i: g[i]).astype(np.float32) for i, k in enumerate("xyz")}
    hits = hits[["evtid", "barcode", "volid", "layid"]].assign(
        z=xyz["z"], r=np.sqrt(xyz["x"] ** 2 + xyz["y"] ** 2), phi=np.arctan2(xyz["y"], xyz["x"])
    )
    path = clusters.with_name(clusters.name.replace("clusters", "particles"))
    parts = notebook_load(pd, path, ["barcode", "vpos", "kin", "q"])
    p, theta, phi = (parts.kin.apply(lambda k, i=i: k[i]).astype(np.float32) for i in range(3))
    parts = parts[["evtid", "barcode", "q"]].assign(
        pt=p * np.sin(theta), eta=-1.0 * np.log(np.tan(theta / 2.0)), phi=phi
    )
    return hits, parts


def hitprep_read(clusters: Path) -> Any:
    with HeptrkxDumpSource(clusters) as src:
        return src.read(0, src.num_events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", help="keep the toy files here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        clusters = work / "clusters_0.csv"
        if not clusters.exists():
            t = time.perf_counter()
            write_dumps(work, n_events=args.events, seed=1, comments=True, overwrite=True)
            print(f"toy dump written in {time.perf_counter() - t:.1f} s")
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            batch = hitprep_read(clusters)
            times.append(time.perf_counter() - t)
        n_hits = int(ak.sum(ak.num(batch.hits, axis=1)))
        size = clusters.stat().st_size / 1e6
        print(f"{len(batch)} events, {n_hits:,} hits, {size:.0f} MB of hit lines")
        print(f"hitprep    {min(times):8.3f} s   (best of {args.repeat})")
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            print("pandas is not installed: reference skipped (.venv/bin/pip install pandas)")
            return 0
        t = time.perf_counter()
        hits, parts = notebook_read(pd, clusters)
        ref = time.perf_counter() - t
        print(f"notebook   {ref:8.3f} s   (ast.literal_eval + pandas {pd.__version__})")
        same = np.array_equal(hits.z.to_numpy(), ak.to_numpy(ak.flatten(batch.hits.z)))
        same &= np.array_equal(parts.pt.to_numpy(), ak.to_numpy(ak.flatten(batch.particles.pt)))
        same &= np.array_equal(hits.barcode.to_numpy(), ak.to_numpy(ak.flatten(batch.hits.barcode)))
        print(f"z, pT and barcodes identical: {same}")
        print(f"ratio (notebook / hitprep): {ref / min(times):,.1f}x")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
