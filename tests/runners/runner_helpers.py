"""Shared by the runner tests: the inputs' sizes, one conversion call, and output comparison.

Inputs are four 30-event slices of the real km3net-testdata file (different events in
each), converted with the ``km3net_zt`` preset in chunks of 7 events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py

from hitprep.config import Job
from hitprep.runners import Summary, convert
from hitprep.sinks.hdf5 import dataset_names

EVENTS = 30
N_FILES = 4
STEP = 7
#: attributes that differ between runs of the same job on purpose
VOLATILE = {"timestamp", "command"}


def read_output(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every dataset (value, dtype, attributes) and the file attributes but the volatile ones."""
    with h5py.File(path) as f:
        data = {
            name: (f[name][()], f[name].dtype, {k: str(v) for k, v in f[name].attrs.items()})
            for name in dataset_names(f)
        }
        attrs = {k: v for k, v in f.attrs.items() if k not in VOLATILE}
    return data, attrs


def assert_same(a: Path, b: Path) -> None:
    data_a, attrs_a = read_output(a)
    data_b, attrs_b = read_output(b)
    assert sorted(data_a) == sorted(data_b)
    for name, (value, dtype, attrs) in data_a.items():
        other, other_dtype, other_attrs = data_b[name]
        assert dtype == other_dtype, name
        assert value.shape == other.shape, name
        assert value.tobytes() == other.tobytes(), f"{name} differs between {a} and {b}"
        assert attrs == other_attrs, name
    assert attrs_a == attrs_b


def run_convert(job: Job, inputs: list[Path], out: Path, detx: Path, **kw: Any) -> Summary:
    return convert(job, inputs, out, detx=detx, step=STEP, command="hitprep test", **kw)


def no_partials(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*.partial*")]
    assert left == [], f"temporary files left behind: {left}"
