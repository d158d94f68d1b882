"""``make demo``: run each use case's main job on data that needs no download.

Usage: ``python -m hitprep.demo OUTDIR``. Each use case is a module in
:mod:`hitprep.demos` with ``run(outdir: Path) -> list[str]`` returning the
lines to print (what it wrote, figures worth seeing).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

__all__ = ["DEMOS", "main"]

#: demo modules in :mod:`hitprep.demos`, run in this order
DEMOS = ["km3net", "km3net_graph", "ml", "nanoaod", "wcsim", "ldmx", "acts"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    outdir = Path(args[0] if args else "demo-output")
    outdir.mkdir(parents=True, exist_ok=True)
    for name in DEMOS:
        started = time.perf_counter()
        print(f"== {name}")
        module = importlib.import_module(f"hitprep.demos.{name}")
        for line in module.run(outdir / name):
            print(f"   {line}")
        print(f"   ({time.perf_counter() - started:.1f} s)")
    print(f"demo outputs are in {outdir.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
