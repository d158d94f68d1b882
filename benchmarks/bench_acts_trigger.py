"""ACTS barrel trigger labels: hitprep vs the HEPTrkX pandas recipe, on toy ACTS CSV files.

Four files of 1000 toy events (~340k hits each, ~1.37M hits, 4000 events; ``hitprep toy
acts``) are labelled twice, and the labels compared event by event:

- **reference**: pandas, as the HEPTrkX trigger scripts did it: ``read_csv``, barrel
  selection and renumbering, then ``hits.groupby(['evtid', 'barcode']).apply(nunique
  layers)``, a merge with the particles, and ``particles.groupby('evtid').apply(rule)``;
- **hitprep**: ``ActsCsvSource`` (numpy's CSV parser, join of hits to particles), then the
  ``[barrel]`` and ``[trigger]`` stages on whole files.

Printed: seconds for labelling alone (from loaded tables) and for read + label, best of
``--repeat`` for hitprep, one run for the (slow) reference, and the ratios.

    .venv/bin/python benchmarks/bench_acts_trigger.py [--files 4] [--events 1000] [--repeat 3]

pandas is imported only here, for the reference (``.venv/bin/pip install pandas``); without
it the reference is skipped with a message. Target (issue 4): labelling >= 100x faster.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hitprep.pipeline import Accounting, Context
from hitprep.sources.acts_csv import ActsCsvSource
from hitprep.stages.barrel import BarrelSelection
from hitprep.stages.trigger import TriggerLabel
from hitprep.toys.acts import write_acts


def hitprep_read(files: list[Path]) -> list[Any]:
    batches = []
    for path in files:
        with ActsCsvSource(path) as src:
            batches.append(src.read(0, src.num_events))
    return batches


def hitprep_label(batches: list[Any]) -> np.ndarray:
    barrel, trigger = BarrelSelection(), TriggerLabel(tracks=3, pt=2.0, layers=7)
    barrel.restrict({"barrel.layer", "barrel.particle"})  # no per-volume collections needed
    out = []
    for i, batch in enumerate(batches):
        ctx = Context(f"file {i}", i, Accounting())
        out.append(np.asarray(trigger(barrel(batch, ctx), ctx).trigger))
    return np.concatenate(out)


def pandas_read(pd: Any, files: list[Path]) -> tuple[Any, Any]:
    hits = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    parts = [pd.read_csv(f.with_name(f.name.replace("clusters", "particles"))) for f in files]
    return hits, pd.concat(parts, ignore_index=True)


def pandas_label(pd: Any, hits: Any, particles: Any) -> Any:
    """The HEPTrkX recipe: groupby / apply / merge / groupby / apply."""
    vids = [8, 13, 17]
    barrel = hits[hits.volid.isin(vids)]
    volume = barrel.volid.map({v: i for i, v in enumerate(vids)})
    barrel = barrel.assign(layer=(barrel.layid / 2 - 1 + volume * 4).astype(np.int8))
    n_layers = (
        barrel.groupby(["evtid", "barcode"])
        .apply(lambda x: x.layer.nunique())
        .rename("nlayers")
        .reset_index()
    )
    particles = particles.assign(pt=particles.p * np.sin(particles.theta))
    merged = particles.merge(n_layers, on=["evtid", "barcode"], how="left").fillna({"nlayers": 0})
    rule = merged.groupby("evtid").apply(lambda x: ((x.pt > 2) & (x.nlayers >= 7)).sum() >= 3)
    return rule.reindex(sorted(set(hits.evtid) | set(particles.evtid)), fill_value=False)


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--events", type=int, default=1000, help="events per file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", help="keep the toy files here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        files = sorted(work.glob("clusters_*.csv"))[: args.files]
        if len(files) < args.files:
            t = time.perf_counter()
            files = write_acts(work, n_events=args.events, files=args.files, seed=1, overwrite=True)
            print(f"toy files written in {time.perf_counter() - t:.1f} s")
        t_read, batches = best(lambda: hitprep_read(files), args.repeat)
        t_label, labels = best(lambda: hitprep_label(batches), args.repeat)
        n_hits = sum(int(ak.sum(ak.num(b.hits, axis=1))) for b in batches)
        print(
            f"{len(files)} files, {len(labels)} events, {n_hits:,} hits;"
            f" {labels.mean():.1%} of events pass (3 tracks, pT > 2 GeV, 7 layers)"
        )
        print(f"hitprep  read {t_read:8.3f} s   label {t_label:8.3f} s   (best of {args.repeat})")
        try:
            import pandas as pd
        except ImportError:
            print("pandas is not installed: reference skipped (.venv/bin/pip install pandas)")
            return 0
        t = time.perf_counter()
        hits, particles = pandas_read(pd, files)
        p_read = time.perf_counter() - t
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' groupby.apply deprecation notices
            t = time.perf_counter()
            reference = pandas_label(pd, hits, particles)
            p_label = time.perf_counter() - t
        print(f"pandas   read {p_read:8.3f} s   label {p_label:8.3f} s   (pandas {pd.__version__})")
        same = np.array_equal(reference.to_numpy(dtype=bool), labels)
        print(f"labels identical: {same}")
        print(f"ratio (pandas / hitprep): labelling {p_label / t_label:,.0f}x,", end=" ")
        print(f"read + label {(p_read + p_label) / (t_read + t_label):,.1f}x")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
