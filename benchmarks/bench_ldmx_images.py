"""LDMX ECal images: hitprep (whole chunk) vs a per-hit Python loop reference.

Toy LDMX files (``hitprep toy ldmx``: background and 10 MeV signal, ~1M hits together) are
imaged as ``xyz`` (40 x 40 x 3) and ``z_split`` (40 x 40 x 10, log-spaced slices), once by
hitprep's :func:`~hitprep.representations.ldmx.make_ldmx_images` on whole batches and once
by a reference in the style of the LDMX scripts: a Python loop over events and, inside,
over hits, adding each hit's energy into a freshly zeroed image (without the scripts' bugs,
so that the two can be compared pixel by pixel).

Printed: seconds to image the events (reading excluded: the same batches feed both; the
read is timed on its own), best of ``--repeat`` for hitprep, one run for the reference, as
wall-clock and as CPU time of this process (steadier on a busy machine), and the ratios.
Target (issue 4): >= 50x faster than the per-hit loop.

    .venv/bin/python benchmarks/bench_ldmx_images.py [--events 1500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import bisect
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hitprep.representations.ldmx import LdmxImageSpec, make_ldmx_images
from hitprep.sources.ldmx import LdmxEcalSource
from hitprep.toys.ldmx import write_root

SPECS = {
    "xyz": LdmxImageSpec(format="xyz", dim=40),
    "z_split": LdmxImageSpec(format="z_split", dim=40, depth=10, spacing="log", log_origin=230),
}


def reference(events: list[dict[str, np.ndarray]], spec: LdmxImageSpec) -> np.ndarray:
    """Per event, per hit: find each hit's pixel and add its energy (a Python loop)."""
    edges = {k: v.tolist() for k, v in spec.edges().items()}
    images = np.zeros((len(events), *spec.shape), dtype=np.float32)

    def index(value: float, e: list[float]) -> int:
        if value == e[-1]:
            return len(e) - 2
        return bisect.bisect_right(e, value) - 1 if e[0] <= value < e[-1] else -1

    for ev, hits in enumerate(events):
        image = images[ev]
        x, y, z, energy = hits["x"], hits["y"], hits["z"], hits["E"]
        for k in range(len(x)):
            i, j = index(x[k], edges["x"]), index(y[k], edges["y"])
            d = index(z[k], edges["z"])
            if i < 0 or j < 0 or d < 0:
                continue
            if spec.format == "xyz":
                image[i, j, 0] += energy[k]
                image[j, d, 1] += energy[k]
                image[d, i, 2] += energy[k]
            else:
                image[i, j, d] += energy[k]
    return images


def best(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs, and the result."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1500, help="events per toy file")
    parser.add_argument("--step", type=int, default=500, help="events per batch")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = [
            write_root(Path(tmp) / "bkg.root", n_events=args.events, seed=1),
            write_root(Path(tmp) / "sig.root", n_events=args.events, mass=10.0, seed=2),
        ]

        def read() -> list[ak.Array]:
            out = []
            for path in files:
                with LdmxEcalSource(path) as src:
                    out += list(src.iterate(step=args.step))
            return out

        t_read, _, batches = best(read, args.repeat)
    n_events = sum(len(b) for b in batches)
    n_hits = sum(int(ak.sum(ak.num(b.hits, axis=1))) for b in batches)
    print(f"{n_events} events, {n_hits:,} hits; hitprep read {t_read:.3f} s")
    events = [{k: np.asarray(b.hits[k][i]) for k in "xyzE"} for b in batches for i in range(len(b))]
    for name, spec in SPECS.items():
        # each batch's images are dropped at once, as a conversion hands them to the sink
        t_hp, c_hp, _ = best(
            lambda spec=spec: [make_ldmx_images(b, spec).shape for b in batches], args.repeat
        )
        images = np.concatenate([make_ldmx_images(b, spec) for b in batches])  # not timed
        t_ref, c_ref, expected = best(lambda spec=spec: reference(events, spec), 1)
        same = np.allclose(images, expected, rtol=1e-5, atol=1e-6)
        print(
            f"{name:8s} {spec.shape}: hitprep {t_hp:.3f} s wall / {c_hp:.3f} s cpu,"
            f" per-hit loop {t_ref:.2f} s wall / {c_ref:.2f} s cpu;"
            f" ratio {t_ref / t_hp:,.0f}x wall, {c_ref / c_hp:,.0f}x cpu; images equal: {same}"
        )
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
