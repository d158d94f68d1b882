"""NanoAOD writeback: hitprep vs the pandas MultiIndex + value_counts + np.put recipe.

Workload (the issue's): read -> flatten -> identity model -> unflatten -> write (uproot
TTree, zlib:1, same chunk size) over the collections below, on a 100k-event NanoAOD made by
repeating the real CMS open-data sample (``../shared/data/nanoaod``, 200 events, 947
branches) with new event numbers. The reference is FlashSim's recipe, written here: each
chunk's collection goes into a pandas frame with an ``(entry, subentry)`` MultiIndex
(``ak.to_dataframe``, what ``library="pd"`` gave before uproot 5), the model runs on the
frame's values, and the counts are rebuilt with ``value_counts`` on the entry level,
``np.put`` into zeros (events without objects) and ``ak.unflatten``. pandas is needed only
here, never by hitprep.

Rows printed:

1. the workload, whole process and the work alone, with the time spent reading,
   writing and computing (flatten, model, unflatten). The reference reads and writes
   with uproot, one step after the other. hitprep reads plain numeric baskets itself
   (``hitprep.sources.baskets``: one ``pread`` and a zlib-ng inflate per basket, uproot
   for the metadata) in one thread, and writes through uproot with baskets compressed
   by zlib-ng (``FastZLIB``, same size as zlib level 1) in another, so its read and
   write columns overlap the compute column and each other (they sum to more than
   the work);
2. the same with FlashSim's preprocessing idiom added to both sides (``log1p(pt)``
   before the model, ``expm1`` after; GenPart has pt = 0 partons, so not ``log``):
   ``Series.apply(lambda x: np.log1p(x))`` as FlashSim writes it in the
   reference, a ``[preprocess]`` chain in hitprep;
3. hitprep's peak memory for several chunk sizes and for twice the events.

The hitprep and reference outputs of row 1 are compared value for value.

    .venv/bin/python benchmarks/bench_writeback.py [--events 100000] [--step 10000]
        [--repeat 1] [--workdir bench-output/writeback]

Target (issue 7): >= 10x faster than the reference, memory bounded by the chunk size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, best_of

HERE = Path(__file__).resolve().parent
SAMPLE = (
    HERE.parent.parent / "shared" / "data" / "nanoaod" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
)
COLLECTIONS = ["Jet", "Muon", "Electron", "Photon", "GenJet", "GenPart"]
EVENT_FIELDS = ["run", "luminosityBlock", "event"]


def build_input(path: Path, events: int) -> Path:
    """``events`` events made of copies of the sample (all branches), new event numbers."""
    import awkward as ak

    from hitprep.sinks.root import RootSink
    from hitprep.sources.root_tree import RootTreeSource

    if path.exists():
        return path
    with RootTreeSource(SAMPLE) as src:
        sample = src.read(0, src.num_events)
        counters = {c: src.dtype_of(b) for c, b in src.counters.items()}
        n = src.num_events
    chunk = 10_000
    stride = 10 ** len(str(int(ak.max(sample.event))))
    with RootSink(path, baskets=-(-events // chunk)) as writer:
        for start in range(0, events, chunk):
            stop = min(start + chunk, events)
            index = np.arange(start, stop) % n
            batch = sample[index]
            copy = (np.arange(start, stop) // n).astype(np.uint64)
            batch = ak.with_field(batch, np.asarray(batch.event) + copy * stride, "event")
            writer.extend("Events", batch, counter_dtypes=counters)
        writer.commit()
    return path


def _identity(values: np.ndarray) -> np.ndarray:
    return values.copy()


class _Phases:
    """Time spent in uproot reading and writing, by wrapping the two calls."""

    def __init__(self) -> None:
        self.read = 0.0
        self.write = 0.0
        self.compute = 0.0

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                setattr(self, phase, getattr(self, phase) + time.perf_counter() - started)

        setattr(owner, name, timed)


def run_hitprep(source: Path, output: Path, step: int, *, log_pt: bool = False) -> dict[str, float]:
    from hitprep.config import Job
    from hitprep.sinks.root import RootSink
    from hitprep.sources import root_tree
    from hitprep.writeback import writeback
    from hitprep.writeback.chunks import OutputEvents

    phases = _Phases()
    phases.wrap(root_tree.RootTreeSource, "read", "read")
    phases.wrap(RootSink, "_write", "write")  # in the sink's writer thread
    phases.wrap(OutputEvents, "__call__", "compute")
    raw: dict[str, Any] = {
        "source": {"tree": "Events", "step": step},
        "writeback": {"event_fields": EVENT_FIELDS, "copy_trees": [], "titles": False},
        "model": [
            {"collection": c, "generator": "hitprep.writeback.toy_model:identity"}
            for c in COLLECTIONS
        ],
    }
    if log_pt:
        raw["preprocess"] = {c: {"pt": ["log1p"]} for c in COLLECTIONS}
    started = time.perf_counter()
    writeback(Job.from_dict(raw), source, output, overwrite=True)
    return {
        "inner": time.perf_counter() - started,
        "read": phases.read,  # in a thread, overlapping the rest
        "write": phases.write,  # in another thread
        "compute": phases.compute,
    }


def run_reference(
    source: Path, output: Path, step: int, *, log_pt: bool = False
) -> dict[str, float]:
    """FlashSim's recipe: pandas MultiIndex frames, value_counts + np.put, ak.unflatten."""
    import awkward as ak
    import pandas as pd
    import uproot

    read = write = 0.0
    started = time.perf_counter()
    output.unlink(missing_ok=True)
    with uproot.open(source) as fin, uproot.recreate(output, compression=uproot.ZLIB(1)) as fout:
        tree = fin["Events"]
        names = tree.keys()
        branches = {c: [b for b in names if b.startswith(f"{c}_")] for c in COLLECTIONS}
        n = tree.num_entries
        out_tree = None
        for start in range(0, n, step):
            stop = min(start + step, n)
            t = time.perf_counter()
            data: dict[str, Any] = dict(
                tree.arrays(EVENT_FIELDS, entry_start=start, entry_stop=stop, library="np")
            )
            arrays = {
                c: tree.arrays(branches[c], entry_start=start, entry_stop=stop) for c in COLLECTIONS
            }
            read += time.perf_counter() - t
            for coll in COLLECTIONS:
                frame = ak.to_dataframe(arrays[coll])  # (entry, subentry); empty events gone
                dtypes = frame.dtypes
                pt = f"{coll}_pt"
                if log_pt:  # FlashSim's preprocessing idiom
                    frame[pt] = frame[pt].apply(lambda x: np.log1p(x))
                result = pd.DataFrame(
                    _identity(frame.to_numpy(dtype=np.float64)),
                    index=frame.index,
                    columns=frame.columns,
                )
                if log_pt:
                    result[pt] = result[pt].apply(lambda x: np.expm1(x))
                present = result.index.get_level_values(0).value_counts().sort_index()
                counts = np.zeros(stop - start, dtype=np.int64)
                np.put(counts, present.index.to_numpy(), present.to_numpy())
                data[coll] = ak.zip(
                    {
                        column[len(coll) + 1 :]: ak.unflatten(
                            result[column].to_numpy().astype(dtypes[column]), counts
                        )
                        for column in result.columns
                    }
                )
            t = time.perf_counter()
            if out_tree is None:
                types = {k: (v.dtype if isinstance(v, np.ndarray) else v.type.content)
                         for k, v in data.items()}  # fmt: skip
                out_tree = fout.mktree("Events", types)
            out_tree.extend(data)
            write += time.perf_counter() - t
    inner = time.perf_counter() - started
    return {"inner": inner, "read": read, "write": write, "compute": inner - read - write}


def compare(a: Path, b: Path) -> str:
    """Value-for-value comparison of two outputs (counters compared by value)."""
    import awkward as ak
    import uproot

    with uproot.open(a) as fa, uproot.open(b) as fb:
        ta, tb = fa["Events"], fb["Events"]
        names = sorted(ta.keys())
        if names != sorted(tb.keys()):
            return f"branch lists differ: {sorted(set(names) ^ set(tb.keys()))}"
        for start in range(0, ta.num_entries, 20_000):
            stop = min(start + 20_000, ta.num_entries)
            x = ta.arrays(names, entry_start=start, entry_stop=stop)
            y = tb.arrays(names, entry_start=start, entry_stop=stop)
            for name in names:
                if not ak.all(ak.ravel(x[name]) == ak.ravel(y[name])):
                    return f"branch {name} differs in entries {start}:{stop}"
    return f"outputs agree value for value ({len(names)} branches, {ta.num_entries} events)"


def _child(mode: str, source: Path, output: Path, step: int) -> int:
    log_pt = mode.endswith("-log")
    if mode.startswith("hitprep"):
        result = run_hitprep(source, output, step, log_pt=log_pt)
    else:
        result = run_reference(source, output, step, log_pt=log_pt)
    print(json.dumps(result))
    return 0


def _inner(m: Measurement) -> dict[str, float]:
    data: dict[str, float] = json.loads(m.output.strip().splitlines()[-1])
    return data


def _row(name: str, m: Measurement) -> str:
    w = _inner(m)
    return (
        f"{name:<30}{m.seconds:>9.2f}{w['inner']:>8.2f}{w['read']:>8.2f}{w['write']:>8.2f}"
        f"{w['compute']:>9.2f}{m.peak_mib:>9.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    parser.add_argument("--workdir", default="bench-output/writeback")
    parser.add_argument(
        "--run",
        choices=["hitprep", "reference", "hitprep-log", "reference-log"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return _child(args.run, Path(args.input), Path(args.output), args.step)
    if not SAMPLE.exists():
        print(f"the real NanoAOD sample {SAMPLE} is absent; nothing to measure")
        return 0
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    source = build_input(work / f"nano_{args.events}.root", args.events)
    print(f"input: {source} ({source.stat().st_size / 2**20:.0f} MiB, {args.events} events,"
          f" built/found in {time.perf_counter() - t:.1f} s)")  # fmt: skip
    print(f"collections: {', '.join(COLLECTIONS)} (all fields) + {', '.join(EVENT_FIELDS)};"
          f" chunk {args.step} events")  # fmt: skip

    def cmd(mode: str, src: Path, out: Path, step: int) -> list[str]:
        return [sys.executable, __file__, "--run", mode, "--input", str(src), "--output",
                str(out), "--step", str(step)]  # fmt: skip

    header = (
        f"{'':<30}{'process':>9}{'work':>8}{'read':>8}{'write':>8}{'compute':>9}{'peak MiB':>9}"
    )
    for title, suffix in (
        ("identity model", ""),
        ("identity model, log1p(pt) preprocessing", "-log"),
    ):
        ours = best_of(
            cmd("hitprep" + suffix, source, work / "hitprep.root", args.step), args.repeat
        )
        ref = best_of(
            cmd("reference" + suffix, source, work / "reference.root", args.step), args.repeat
        )
        print(f"\n{title} (seconds; compute = flatten, preprocess, model, unflatten)")
        print(header)
        print(_row("hitprep", ours))
        print(_row("pandas reference (FlashSim)", ref))
        a, b = _inner(ours), _inner(ref)
        print(
            f"ratio reference/hitprep: {ref.seconds / ours.seconds:.1f}x whole process,"
            f" {b['inner'] / a['inner']:.1f}x work, {b['compute'] / a['compute']:.1f}x compute"
            f" (uproot read + write: {(b['read'] + b['write']) / b['inner']:.0%} of the"
            " reference's work; hitprep reads, computes and writes in three threads)"
        )
        if not suffix:
            print(compare(work / "hitprep.root", work / "reference.root"))

    print("\nhitprep peak memory by chunk size and file size:")
    for events, step in ((args.events, 2_000), (args.events, args.step), (args.events, 50_000),
                         (2 * args.events, args.step)):  # fmt: skip
        src = build_input(work / f"nano_{events}.root", events)
        m = best_of(cmd("hitprep", src, work / "scaling.root", step), 1)
        inner = _inner(m)["inner"]
        print(f"  {events:>7} events, chunk {step:>6}: {m.peak_mib:6.0f} MiB, {inner:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
