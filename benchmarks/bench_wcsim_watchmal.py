"""WCSim -> WatChMaL HDF5: hitprep (whole chunks) vs a per-event loop in DataTools' style.

A toy sample (``hitprep toy wcsim``, digitized hits only; 100k events by default) is
converted to WatChMaL's digi-hit layout twice, each in its own process:

- **hitprep**: ``hitprep convert wcsim_watchmal_digi`` (contiguous hit arrays), at two
  chunk sizes, to show that peak memory follows the chunk, not the sample. It counts the
  chosen trigger's hits first (a pass over the trigger columns only), creates the hit
  datasets at that size, then per chunk reads the columns it needs (``os.preadv`` at
  their file offsets), selects the hits with numpy and writes them at the datasets' file
  offsets from a thread (``O_DIRECT`` where the file system allows it);
- **reference**: the structure of DataTools' ``np_to_digihit_array_hdf5.py``, written here:
  load every event's arrays (as ``np.load`` of the event-dump .npz gives them: one array per
  event and field), count the hits of each event's first NDigits trigger in a first loop,
  create the datasets, then loop over events again: pick the trigger, select its hits, write
  them into the HDF5 datasets by slice, compute the label and the veto flags from that
  event's tracks.

Both outputs are compared dataset by dataset. Printed: seconds (hitprep: best of ``--repeat``
runs per step; the reference runs once, it varies little), peak resident memory, and
the ratios. The target of issue 3 is >= 30x; nothing is asserted.

Timings are whole processes, so hitprep's ~1 s includes ~0.3 s of interpreter start,
imports and exit (more where ``PYTHONDONTWRITEBYTECODE`` is set: hitprep's modules are then
compiled at every start). On a machine shared with other work, or a virtual machine where
fresh memory is slow to hand out, repeat the run and compare ratios measured together.

    .venv/bin/python benchmarks/bench_wcsim_watchmal.py [--events 100000] [--input toy.h5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Measurement, best_of, measure

LABELS = {22: 0, 11: 1, 13: 2}
FAMILIES = {"digi_hit": ["pmt", "charge", "time", "trigger"], "trigger": ["type", "time"],
            "track": ["pid", "energy", "start_position", "stop_position"]}  # fmt: skip


def datatools_npz(dump: Path, out: Path) -> Path:
    """The dump as DataTools' event_dump.py writes it: one object array (per event) per field."""
    with h5py.File(dump, "r") as f:
        arrays: dict[str, np.ndarray] = {}
        for family, names in FAMILIES.items():
            off = f[f"{family}_offsets"][:]
            for name in names:
                flat = f[f"{family}_{name}"][:]
                per_event = np.empty(len(off) - 1, dtype=object)
                per_event[:] = [flat[a:b] for a, b in itertools.pairwise(off)]
                arrays[f"{family}_{name}"] = per_event
        for key in ["event_id", "pid", "energy", "position", "direction"]:
            arrays[key] = f[key][:]
        arrays["root_file"] = f["root_file"].asstr()[:]
    np.savez(out, **arrays)
    return out


def reference(npz_path: Path, out: Path, *, radius: float, half: float) -> None:
    """DataTools' np_to_digihit_array_hdf5 structure: per file, per event, slice writes."""
    npz = np.load(npz_path, allow_pickle=True)
    hit_triggers, trigger_types = npz["digi_hit_trigger"], npz["trigger_type"]
    n = len(hit_triggers)
    # first pass: each event's trigger and its number of hits, to size the datasets
    event_triggers = np.full(n, -1)
    total = 0
    for i, (trigs, types) in enumerate(zip(hit_triggers, trigger_types, strict=True)):
        good = np.where(types == 0)[0]
        if len(good):
            event_triggers[i] = good[0]
        total += len(np.where(trigs == event_triggers[i])[0])
    with h5py.File(out, "w") as f:
        dset_index = f.create_dataset("event_hits_index", shape=(n,), dtype=np.int64)
        dset_pmt = f.create_dataset("hit_pmt", shape=(total,), dtype=np.int32)
        dset_time = f.create_dataset("hit_time", shape=(total,), dtype=np.float32)
        dset_charge = f.create_dataset("hit_charge", shape=(total,), dtype=np.float32)
        dset_veto = f.create_dataset("veto", shape=(n,), dtype=bool)
        dset_veto2 = f.create_dataset("veto2", shape=(n,), dtype=bool)
        # per file: the event-level arrays in one slice each
        pid, direction = npz["pid"], npz["direction"]
        labels = np.full(n, -1, dtype=np.int32)
        for code, label in LABELS.items():
            labels[np.abs(pid) == code] = label
        f["labels"] = labels
        polar = np.arccos(direction[:, 1])
        azimuth = np.arctan2(direction[:, 2], direction[:, 0])
        f["angles"] = np.stack([polar, azimuth], axis=1).astype(np.float32)
        f["energies"] = npz["energy"].reshape(-1, 1)
        f["positions"] = npz["position"].reshape(-1, 1, 3)
        f["event_ids"] = npz["event_id"]
        f.create_dataset("root_files", data=npz["root_file"], dtype=h5py.string_dtype())
        # per event: the veto flags from the event's tracks
        tracks = zip(npz["track_pid"], npz["track_energy"], npz["track_start_position"],
                     npz["track_stop_position"], strict=True)  # fmt: skip
        for i, (pids, energies, starts, stops) in enumerate(tracks):
            outside = (np.hypot(stops[:, 0], stops[:, 2]) > radius) | (np.abs(stops[:, 1]) > half)
            above = ((np.abs(pids) == 13) & (energies > 166)) | (
                np.isin(np.abs(pids), (11, 22)) & (energies > 2)
            )
            dset_veto[i] = np.any(above & outside)
            end = energies - np.linalg.norm(stops - starts, axis=1) * 2
            above2 = ((np.abs(pids) == 13) & (end > 166)) | (
                np.isin(np.abs(pids), (11, 22)) & (end > 2)
            )
            dset_veto2[i] = np.any(above2 & outside)
        # per event: the hits of the chosen trigger, written by slice
        hits = zip(hit_triggers, npz["digi_hit_time"], npz["digi_hit_charge"], npz["digi_hit_pmt"],
                   strict=True)  # fmt: skip
        hit_offset = 0
        for i, (trigs, times, charges, pmts) in enumerate(hits):
            dset_index[i] = hit_offset
            keep = np.where(trigs == event_triggers[i])[0]
            hit_offset_next = hit_offset + len(keep)
            dset_time[hit_offset:hit_offset_next] = times[keep]
            dset_charge[hit_offset:hit_offset_next] = charges[keep]
            dset_pmt[hit_offset:hit_offset_next] = pmts[keep]
            hit_offset = hit_offset_next


def compare(a: Path, b: Path) -> list[str]:
    """Datasets whose contents differ."""
    names = ["hit_pmt", "hit_time", "hit_charge", "event_hits_index", "labels", "veto", "veto2"]
    names += ["angles", "energies", "positions", "event_ids"]
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        return [n for n in names if not np.allclose(fa[n][:], fb[n][:], rtol=1e-6)]


def report(label: str, m: Measurement) -> None:
    print(f"{label:<32} {m.seconds:8.1f} s   peak {m.peak_mib:6.0f} MiB", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--input", type=Path, help="existing toy dump (else one is made)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--steps", type=int, nargs=2, default=(500, 4000), metavar=("S1", "S2"))
    parser.add_argument("--repeat", type=int, default=3, help="best of N hitprep runs per step")
    parser.add_argument("--reference-only", nargs=2, metavar=("NPZ", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_only:
        from hitprep.toys.wcsim import ToyTank

        tank = ToyTank()
        reference(Path(args.reference_only[0]), Path(args.reference_only[1]),
                  radius=tank.radius, half=tank.length / 2)  # fmt: skip
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        dump = args.input or work / f"toy_{args.events}.h5"
        if not dump.exists():
            from hitprep.toys.wcsim import write_dump

            print(f"making a toy sample of {args.events:,} events -> {dump}", flush=True)
            started = time.perf_counter()
            # uncompressed, like the .npz the reference reads
            write_dump(dump, args.events, true_hits=False, seed=7, compression=None,
                       progress=sys.stderr.isatty())  # fmt: skip
            print(f"  ({time.perf_counter() - started:.0f} s)")
        npz = work / f"{dump.stem}_datatools.npz"
        if not npz.exists():
            datatools_npz(dump, npz)
        with h5py.File(dump, "r") as f:
            n_events, n_digits = len(f["event_id"]), len(f["digi_hit_pmt"])
        mib = dump.stat().st_size / 2**20
        print(f"input: {n_events:,} events, {n_digits:,} digits ({mib:.0f} MiB HDF5 dump)")
        hitprep = [sys.executable, "-m", "hitprep", "convert", "wcsim_watchmal_digi"]
        runs = {}
        for step in args.steps:
            out = work / f"hitprep_step{step}.h5"
            cmd = [*hitprep, str(dump), "-o", str(out), "--overwrite", "--no-progress",
                   "--step", str(step)]  # fmt: skip
            runs[step] = (best_of(cmd, args.repeat), out)
            report(f"hitprep, HDF5 dump, step {step}", runs[step][0])
        tank = f'wcsim_truth.geometry="{dump}"'  # a DataTools .npz holds no tank
        cmd = [*hitprep, str(npz), "-o", str(work / "hitprep_npz.h5"), "--overwrite",
               "--no-progress", "--trust-pickle", "--set", tank]  # fmt: skip
        from_npz = measure(cmd)
        report("hitprep, DataTools .npz", from_npz)
        ref_out = work / "reference.h5"
        ref = measure([sys.executable, __file__, "--reference-only", str(npz), str(ref_out)])
        report("reference, per event, .npz", ref)
        fastest, out = min(runs.values(), key=lambda r: r[0].seconds)
        differ = compare(out, ref_out)
        print(f"outputs identical: {'yes' if not differ else 'no, ' + ', '.join(differ)}")
        print(
            f"speed-up over the reference: {ref.seconds / fastest.seconds:.1f}x from the HDF5 dump,"
            f" {ref.seconds / from_npz.seconds:.1f}x from the same .npz (issue target: >= 30x)"
        )
        small, large = (runs[s][0] for s in args.steps)
        print(
            f"peak memory: hitprep {small.peak_mib:.0f} MiB at step {args.steps[0]},"
            f" {large.peak_mib:.0f} MiB at step {args.steps[1]}; reference {ref.peak_mib:.0f} MiB"
            " (it holds the whole .npz)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
