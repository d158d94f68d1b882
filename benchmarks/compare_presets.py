"""Every preset on its demo input, run by two trees (or with the fast paths off), outputs compared.

Usage::

    python benchmarks/compare_presets.py --ref REV [--plain] [--keep DIR]
    python benchmarks/compare_presets.py --plain          # this tree, fast paths on vs off

``--ref REV`` checks REV out into a temporary ``git worktree`` and runs each preset with its
``src`` first on ``PYTHONPATH``; the working tree is the candidate. ``--plain`` runs the
candidate with ``HITPREP_FAST_PATHS=0`` as well. The inputs are made once (toys with fixed
seeds, km3net-testdata, and the real WCSim file from ``../shared/data`` when present) and fed to
both. Every dataset must be equal (values, dtype, shape, compression, chunks) and every attribute
too, except those that record when and by what command a file was written. Exit status 1 names
each difference. Each run's wall seconds (interpreter start included) are printed beside the
other's, with their ratio: a refactor should leave it at 1 within noise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_WCSIM = ROOT.parent / "shared" / "data" / "wcsim" / "wcsim_10events_2015.root"
#: attributes that record the moment and the command line of a run, not its data
VOLATILE = {
    "timestamp",
    "created",
    "command",
    "hitprep_version",
    "host",
    "elapsed_s",
    "started",
    "finished",
}


def _hitprep(src: Path, args: list[str], *, plain: bool = False) -> None:
    env = dict(
        os.environ, PYTHONPATH=str(src), HITPREP_THREADS=os.environ.get("HITPREP_THREADS", "2")
    )
    if plain:
        env["HITPREP_FAST_PATHS"] = "0"
    cmd = [sys.executable, "-m", "hitprep", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({src}):\n{done.stderr[-2000:]}")


def make_inputs(folder: Path) -> dict[str, tuple[str, list[str]]]:
    """Each run's name -> its preset and arguments (after ``convert`` or ``writeback PRESET``)."""
    import km3net_testdata

    src = ROOT / "src"
    toy = folder / "inputs"
    toy.mkdir(parents=True, exist_ok=True)
    toys = {
        "bkg.root": ["ldmx", "-n", "300", "--seed", "1"],
        "sig.root": ["ldmx", "-n", "300", "--mass", "50", "--seed", "2"],
        "sw.root": ["ldmx", "-n", "200", "--layout", "ldmx-sw", "--seed", "3"],
        "wcsim.root": ["wcsim", "-n", "200", "--seed", "4"],
        "acts": ["acts", "-n", "100", "--seed", "5"],
        "nano.root": ["nanoaod", "-n", "300", "--seed", "6"],
    }
    for name, args in toys.items():
        _hitprep(src, ["toy", *args, "-o", str(toy / name), "--overwrite"])
    hdf5 = str(km3net_testdata.data_path("hdf5/atmospheric_muons_sample.h5"))
    detx = str(km3net_testdata.data_path("detx/KM3NeT_-00000001_20171212.detx"))
    wcsim = {"toy": str(toy / "wcsim.root")} | (
        {"real": str(SHARED_WCSIM)} if SHARED_WCSIM.exists() else {}
    )
    acts = sorted(str(p) for p in (toy / "acts").glob("clusters_*.csv"))
    runs: dict[str, tuple[str, list[str]]] = {}
    for preset in ("km3net_zt", "km3net_xyzt", "km3net_graph", "km3net_graph_fixed"):
        runs[preset] = (preset, [hdf5, "--detx", detx])
    for preset in ("ldmx_xyz", "ldmx_zsplit"):
        runs[preset] = (preset, [str(toy / "bkg.root"), str(toy / "sig.root")])
    runs["ldmx_sw_xyz"] = ("ldmx_sw_xyz", [str(toy / "sw.root")])
    for preset in ("wcsim_grid", "wcsim_watchmal_digi", "wcsim_watchmal_truehit"):
        for kind, path in wcsim.items():
            runs[f"{preset}_{kind}"] = (preset, [path])
    runs["acts_barrel_trigger"] = ("acts_barrel_trigger", acts)
    runs["nanoaod_flashsim"] = (
        "nanoaod_flashsim",
        [str(toy / "nano.root"), "--upsample", "2", "--seed", "1"],
    )
    return runs


def run_all(
    src: Path, runs: dict[str, tuple[str, list[str]]], outdir: Path, *, plain: bool = False
) -> dict[str, float]:
    """Run every preset; the wall seconds of each command (interpreter start included)."""
    outdir.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for name, (preset, args) in runs.items():
        started = time.perf_counter()
        command = "writeback" if preset == "nanoaod_flashsim" else "convert"
        suffix = ".root" if command == "writeback" else ".h5"
        out = outdir / f"{name}{suffix}"
        _hitprep(
            src,
            [command, preset, *args, "-o", str(out), "--overwrite", "--no-progress"],
            plain=plain,
        )
        seconds[name] = time.perf_counter() - started
    return seconds


def _items(group: h5py.Group) -> Iterator[tuple[str, Any]]:
    yield group.name, group
    for key in sorted(group):
        item = group[key]
        if isinstance(item, h5py.Group):
            yield from _items(item)
        else:
            yield item.name, item


def _attrs(item: Any) -> dict[str, Any]:
    out = {}
    for key in sorted(item.attrs):
        if key in VOLATILE:
            continue
        value = item.attrs[key]
        out[key] = value.tolist() if isinstance(value, np.ndarray) else value
    return out


def compare_hdf5(a: Path, b: Path) -> list[str]:
    problems = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        ia, ib = dict(_items(fa)), dict(_items(fb))
        if set(ia) != set(ib):
            problems.append(f"objects differ: {sorted(set(ia) ^ set(ib))}")
        for name in sorted(set(ia) & set(ib)):
            x, y = ia[name], ib[name]
            ax, ay = _attrs(x), _attrs(y)
            for key in sorted(k for k in set(ax) | set(ay) if str(ax.get(k)) != str(ay.get(k))):
                problems.append(
                    f"{name} attribute {key}: {str(ax.get(key))[:200]} vs {str(ay.get(key))[:200]}"
                )
            if isinstance(x, h5py.Dataset):
                shape = (x.shape, x.dtype, x.compression, x.compression_opts, x.chunks, x.shuffle)
                other = (y.shape, y.dtype, y.compression, y.compression_opts, y.chunks, y.shuffle)
                if shape != other:
                    problems.append(f"{name}: storage differs: {shape} vs {other}")
                elif not np.array_equal(x[()], y[()], equal_nan=x.dtype.kind == "f"):
                    problems.append(f"{name}: values differ")
    return problems


def compare_root(a: Path, b: Path) -> list[str]:
    import uproot

    problems = []
    with uproot.open(a) as fa, uproot.open(b) as fb:
        if sorted(fa.keys()) != sorted(fb.keys()):
            return [f"keys differ: {fa.keys()} vs {fb.keys()}"]
        for key in fa.keys(cycle=False):
            ta, tb = fa[key], fb[key]
            if not hasattr(ta, "keys"):
                continue
            if list(ta.keys()) != list(tb.keys()):
                problems.append(f"{key}: branches differ")
                continue
            for branch in ta.keys():  # noqa: SIM118 (iterating a TTree gives branches)
                x, y = ta[branch], tb[branch]
                if x.typename != y.typename:
                    problems.append(f"{key}/{branch}: type {x.typename} vs {y.typename}")
                elif x.array(library="ak").tolist() != y.array(library="ak").tolist():
                    problems.append(f"{key}/{branch}: values differ")
    return problems


def compare(ref: Path, new: Path, times: tuple[dict[str, float], dict[str, float]]) -> list[str]:
    """Compare the outputs of two runs; print each with both runs' seconds and their ratio."""
    problems = []
    print(f"{'run':28s} {'outputs':14s} {'ref s':>7s} {'new s':>7s} {'new/ref':>7s}")
    for a in sorted(ref.iterdir()):
        b = new / a.name
        found = compare_root(a, b) if a.suffix == ".root" else compare_hdf5(a, b)
        t_ref, t_new = times[0][a.stem], times[1][a.stem]
        verdict = "identical" if not found else f"{len(found)} differences"
        print(f"{a.stem:28s} {verdict:14s} {t_ref:7.1f} {t_new:7.1f} {t_new / t_ref:7.2f}")
        problems += [f"{a.stem}: {p}" for p in found]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="git revision to compare the working tree against")
    parser.add_argument("--plain", action="store_true", help="also run with HITPREP_FAST_PATHS=0")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    args = parser.parse_args(argv)
    if not args.ref and not args.plain:
        parser.error("give --ref REV, --plain or both")
    with tempfile.TemporaryDirectory(prefix="hitprep-compare-") as tmp:
        work = args.keep or Path(tmp)
        runs = make_inputs(work)
        t_new = run_all(ROOT / "src", runs, work / "new")
        problems = []
        if args.ref:
            tree = work / "ref-tree"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "-f", "--detach", str(tree), args.ref],
                check=True,
                capture_output=True,
            )
            try:
                t_ref = run_all(tree / "src", runs, work / "ref")
            finally:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                    check=False,
                )
            print(f"== {args.ref} vs working tree")
            problems += compare(work / "ref", work / "new", (t_ref, t_new))
        if args.plain:
            t_plain = run_all(ROOT / "src", runs, work / "plain", plain=True)
            print("== fast paths on (ref) vs off (new: HITPREP_FAST_PATHS=0)")
            problems += compare(work / "new", work / "plain", (t_new, t_plain))
    for problem in problems:
        print(f"DIFFERENCE {problem}")
    print("all outputs identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
