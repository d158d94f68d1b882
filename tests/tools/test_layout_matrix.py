"""Every preset family's real ``convert`` output through every dataset tool: no event scrambled.

For each family (KM3NeT images and graphs, jagged and fixed, both graph layouts; WCSim
WatChMaL digi and true hits in both layouts; WCSim PMT grid; LDMX; ACTS; ``mix``) the
output goes through ``shuffle`` (in memory and in two passes), ``split --files``,
``concat`` of the split parts, and the shard merge (``--task-events``, ``--workers``,
``--virtual``). Each event is identified by where it came from (``event_info``: the input
file in the ``inputs`` attribute and the entry), and every per-event row and every jagged
item of each output event must equal those of the event it came from.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hitprep.cli import main
from hitprep.config import load_job
from hitprep.errors import FileFormatError
from hitprep.layout import INFERENCE_RULES, LAYOUT_ATTR
from hitprep.runners import convert
from hitprep.tools.concat import concat
from hitprep.tools.eventfile import EventFile
from hitprep.tools.inspect import describe
from hitprep.tools.mix import mix
from hitprep.tools.shuffle import shuffle
from hitprep.tools.split import split
from hitprep.toys.acts import write_acts
from hitprep.toys.ldmx import write_root
from hitprep.toys.wcsim import write_dump

Key = tuple[str, int]
Event = dict[str, bytes]

_EDGES = "graph.edges={kind = 'knn', k = 3, features = ['pos_x', 'pos_y', 'pos_z']}"
KM3NET = {
    "km3net_zt": ("km3net_zt", []),
    "km3net_xyzt": ("km3net_xyzt", []),
    "graph_jagged": ("km3net_graph", [_EDGES]),
    "graph_jagged_orcasong": ("km3net_graph", ["graph.layout='orcasong'"]),
    "graph_fixed_hitprep": ("km3net_graph_fixed", ["graph.layout='hitprep'"]),
    "graph_fixed_orcasong": ("km3net_graph_fixed", []),
}
WCSIM = {
    "watchmal_digi": ("wcsim_watchmal_digi", []),
    "watchmal_digi_compressed": ("wcsim_watchmal_digi", ["watchmal.layout='compressed'"]),
    "watchmal_truehit": ("wcsim_watchmal_truehit", []),
    "watchmal_truehit_compressed": ("wcsim_watchmal_truehit", ["watchmal.layout='compressed'"]),
    "wcsim_grid": ("wcsim_grid", []),
}
FAMILIES = [*KM3NET, *WCSIM, "ldmx_xyz", "acts_trigger", "ldmx_mix"]


# -- reading an output as events, independently of hitprep's tools ----------------------------


def _layout(f: h5py.File) -> dict[str, dict[str, Any]]:
    return dict(json.loads(f.attrs[LAYOUT_ATTR])["datasets"])


def _items_per_event(f: h5py.File, index: str, entry: dict[str, Any]) -> np.ndarray:
    raw = f[index][:]
    if entry["form"] == "starts":
        total = len(f[entry["items"][0]])
        return np.diff(np.append(raw.astype(np.int64), total))
    return np.asarray(raw["n_items"], dtype=np.int64)


def read_events(path: Path) -> dict[Key, Event]:
    """Every event of an output, keyed by its origin: its rows and items as bytes."""
    with h5py.File(path, "r") as f:
        layout = _layout(f)
        inputs = {int(r["index"]): r["path"] for r in json.loads(f.attrs["inputs"])}
        info = f["event_info"][:]
        keys = [
            (inputs[int(i)], int(e)) for i, e in zip(info["file_index"], info["entry"], strict=True)
        ]
        assert len(set(keys)) == len(keys), f"{path}: event origins repeat"
        out: dict[Key, Event] = {k: {} for k in keys}
        for name, entry in layout.items():
            if entry["role"] == "events":
                rows = f[name][:]
                if name == "event_info":  # the key holds the origin; file_index is relative
                    rows["file_index"] = 0
                assert len(rows) == len(keys), f"{path}: {name} has {len(rows)} rows"
                for k, row in zip(keys, rows, strict=True):
                    out[k][name] = np.asarray(row).tobytes()
            elif entry["role"] == "index":
                n = _items_per_event(f, name, entry)
                assert len(n) == len(keys) and n.min(initial=0) >= 0, f"{path}: {name}"
                bounds = np.concatenate([[0], np.cumsum(n)])
                for item in entry["items"]:
                    data = f[item][:]
                    assert len(data) == bounds[-1], f"{path}: {item} vs {name}"
                    for j, k in enumerate(keys):
                        out[k][item] = data[bounds[j] : bounds[j + 1]].tobytes()
    return out


def summaries(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        layout = _layout(f)
        return {n: f[n][()] for n, e in layout.items() if e["role"] in ("summary", "side")}


def check_same_events(original: dict[Key, Event], output: Path, *, subset: bool = False) -> int:
    """Every event of ``output`` equals the original event it came from; returns the count."""
    got = read_events(output)
    assert set(got) <= set(original), f"{output}: events that were not in the input"
    if not subset:
        assert len(got) == len(original), f"{output}: {len(got)} events for {len(original)}"
    for key, event in got.items():
        assert event == original[key], f"{output}: event {key} changed"
    return len(got)


def check_watchmal_storage(path: Path) -> None:
    """WatChMaL memory-maps the hits at ``get_offset()``: contiguous, uncompressed, exact."""
    with h5py.File(path, "r") as f:
        layout = _layout(f)
        index = layout.get("event_hits_index")
        if index is None:
            return
        assert f["event_hits_index"].dtype == np.int64
        if index["storage"] != "contiguous":
            return
        for name in index["items"]:
            ds = f[name]
            assert ds.chunks is None and ds.compression is None, name
            if len(ds):
                offset = ds.id.get_offset()
                mapped = np.memmap(path, mode="r", dtype=ds.dtype, offset=offset, shape=ds.shape)
                np.testing.assert_array_equal(np.asarray(mapped), ds[:])


# -- the real outputs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(
    tmp_path_factory: pytest.TempPathFactory, km3net_h5: Path, km3net_detx: Path
) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("raw")
    return {
        "km3net": ([km3net_h5], km3net_detx),
        "wcsim": ([write_dump(d / "wcsim.h5", 160, seed=3)], None),
        "ldmx": (
            [
                write_root(d / "sig.root", n_events=30, mass=50.0, seed=1),
                write_root(d / "bkg.root", n_events=25, seed=2),
            ],
            None,
        ),
        "acts": (write_acts(d / "acts", n_events=40, files=2, seed=4), None),
    }


def _job_of(family: str) -> tuple[Any, str]:
    if family in KM3NET:
        preset, overrides = KM3NET[family]
        return load_job(preset, overrides=overrides), "km3net"
    if family in WCSIM:
        preset, overrides = WCSIM[family]
        return load_job(preset, overrides=overrides), "wcsim"
    if family == "ldmx_xyz":
        return load_job("ldmx_xyz", overrides=["ldmx_images.0.dim=10"]), "ldmx"
    return load_job("acts_barrel_trigger"), "acts"


def convert_family(family: str, inputs: dict[str, Any], out: Path, **options: Any) -> Path:
    if family == "ldmx_mix":
        sig, bkg = inputs["ldmx"][0]
        job = load_job("ldmx_xyz", overrides=["ldmx_images.0.dim=10", "source.step=7"])
        mix(job, {50.0: [sig]}, [bkg], out, n_signal=20, seed=1)
        return out
    job, kind = _job_of(family)
    files, detx = inputs[kind]
    convert(job, files, out, detx=detx, **options)
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Any]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("converted")
    return {f: convert_family(f, inputs, d / f"{f}.h5") for f in FAMILIES}


# -- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_tools_keep_every_event_whole(
    family: str, outputs: dict[str, Path], tmp_path: Path
) -> None:
    source = outputs[family]
    original = read_events(source)
    assert original, f"{family}: no events converted"
    check_watchmal_storage(source)
    # shuffle: in memory, and in two passes (a budget far below the data)
    in_memory, two_pass = tmp_path / "s1.h5", tmp_path / "s2.h5"
    shuffle(source, in_memory, seed=7)
    with EventFile(source) as f:  # two passes: the events take more than a third of it
        sizes = f.event_bytes()
    shuffle(source, two_pass, seed=7, max_ram=max(3 * int(sizes.max()) + 3, int(sizes.sum()) // 2))
    for path in (in_memory, two_pass):
        check_same_events(original, path)
        check_watchmal_storage(path)
        assert summaries(path).keys() == summaries(source).keys()
    assert list(read_events(in_memory)) != list(original) or len(original) < 3  # reordered
    assert list(read_events(in_memory)) == list(read_events(two_pass))
    # split --files of the shuffled file, then concat of the parts: the events of the input
    split(in_memory, fractions=[0.5, 0.3, 0.2], files=True, prefix=tmp_path / "part")
    parts = [tmp_path / f"part_{name}.h5" for name in ("train", "val", "test")]
    seen = 0
    for part in parts:
        seen += check_same_events(original, part, subset=True)
        check_watchmal_storage(part)
    assert seen == len(original)
    joined = tmp_path / "joined.h5"
    concat(parts, joined)
    check_same_events(original, joined)
    check_watchmal_storage(joined)


def _identical_files(a: Path, b: Path) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        layout = _layout(fa)
        assert layout == _layout(fb)
        for name in layout:
            np.testing.assert_array_equal(fa[name][()], fb[name][()], err_msg=name)
            assert fa[name].dtype == fb[name].dtype, name


#: one family per representation and layout (the KM3NeT variants share the graph's code)
MERGED = [
    "km3net_zt",
    "graph_jagged",
    "graph_fixed_orcasong",
    "watchmal_digi",
    "watchmal_truehit_compressed",
    "wcsim_grid",
    "ldmx_xyz",
    "acts_trigger",
]


@pytest.mark.parametrize("family", MERGED)
def test_shard_merge_equals_one_run(
    family: str, inputs: dict[str, Any], outputs: dict[str, Path], tmp_path: Path
) -> None:
    n = len(read_events(outputs[family]))
    # resume=True: shards (OUTPUT.parts) merged; without it, tasks written straight in
    tasks = {"task_events": n // 3 + 1}
    sharded = convert_family(family, inputs, tmp_path / "sharded.h5", **tasks, resume=True)
    _identical_files(outputs[family], sharded)
    check_watchmal_storage(sharded)
    direct = convert_family(family, inputs, tmp_path / "direct.h5", **tasks)
    _identical_files(outputs[family], direct)
    if family in ("graph_jagged", "watchmal_digi", "km3net_zt"):
        virtual = tmp_path / "virtual.h5"
        convert_family(family, inputs, virtual, task_events=n // 3 + 1, virtual=True)
        _identical_files(outputs[family], virtual)


@pytest.mark.parametrize("family", ["watchmal_digi", "graph_jagged"])
def test_shard_merge_with_workers(
    family: str, inputs: dict[str, Any], outputs: dict[str, Path], tmp_path: Path
) -> None:
    n = len(read_events(outputs[family]))
    out = convert_family(family, inputs, tmp_path / "w.h5", task_events=n // 2 + 1, workers=2)
    _identical_files(outputs[family], out)


# -- what each family declares ----------------------------------------------------------------


def test_declared_roles(outputs: dict[str, Path]) -> None:
    with h5py.File(outputs["watchmal_digi"], "r") as f:
        layout = _layout(f)
    assert layout["event_hits_index"] == {
        "role": "index",
        "form": "starts",
        "items": ["hit_pmt", "hit_time", "hit_charge"],
        "storage": "contiguous",
    }
    assert layout["labels"] == {"role": "events"}
    with h5py.File(outputs["graph_jagged"], "r") as f:
        layout = _layout(f)
    assert layout["x_indices"]["items"] == ["x"] and layout["x"]["index"] == "x_indices"
    assert layout["x_edges_indices"]["items"] == ["x_edges"]
    assert layout["y"] == {"role": "events"}
    with h5py.File(outputs["km3net_zt"], "r") as f:
        layout = _layout(f)
    hist = [n for n in layout if n.endswith("/hist")]
    assert hist and all(layout[n] == {"role": "summary", "combine": "sum"} for n in hist)
    with h5py.File(outputs["wcsim_grid"], "r") as f:
        layout = _layout(f)
    assert layout["geometry/position"] == {"role": "side"}


def test_inspect_shows_the_layout(outputs: dict[str, Path], tmp_path: Path) -> None:
    text = describe(outputs["watchmal_digi"])
    assert "layout: declared" in text
    assert "hit_pmt: " in text and "[items of event_hits_index]" in text
    assert "[index (starts, contiguous) of hit_pmt, hit_time, hit_charge]" in text
    old = _undeclare(outputs["graph_jagged"], tmp_path / "old.h5")
    assert "layout: inferred by rules indices-records" in describe(old)


def test_concat_sums_declared_summaries(outputs: dict[str, Path], tmp_path: Path) -> None:
    source = outputs["km3net_zt"]
    out = tmp_path / "twice.h5"
    concat([source, source], out)
    before, after = summaries(source), summaries(out)
    assert before.keys() == after.keys()
    for name, value in before.items():
        factor = 2 if name.endswith(("/hist", "/cut_off")) else 1
        np.testing.assert_array_equal(after[name], factor * value, err_msg=name)


def test_split_parts_drop_summaries_that_add_up(outputs: dict[str, Path], tmp_path: Path) -> None:
    source = outputs["km3net_zt"]
    split(source, fractions=[0.5, 0.5], names=["a", "b"], files=True, prefix=tmp_path / "p")
    kept = summaries(tmp_path / "p_a.h5")
    assert kept and not any(n.endswith(("/hist", "/cut_off")) for n in kept)
    with h5py.File(tmp_path / "p_a.h5", "r") as f:
        record = json.loads(f.attrs["split"])
    assert any(n.endswith("/hist") for n in record["dropped_summaries"])


# -- bad input: one line naming the file and the dataset, nothing written -------------------


def _lengthen_y(f: h5py.File) -> str:
    f["y"].resize(len(f["y"]) + 1, axis=0)
    return "'y' has"


def _index_past_items(f: h5py.File) -> str:
    idx = f["x_indices"][:]
    idx["n_items"][-1] += 5
    f["x_indices"][:] = idx
    return "'x' has"


def _starts_past_items(f: h5py.File) -> str:
    starts = f["event_hits_index"][:]
    starts[-1] = len(f["hit_pmt"]) + 3
    f["event_hits_index"][:] = starts
    return "'event_hits_index'"


def _undeclared_dataset(f: h5py.File) -> str:
    f.create_dataset("extra", data=np.zeros(3))
    return "not in the declared layout: ['extra']"


def _broken_declaration(f: h5py.File) -> str:
    f.attrs[LAYOUT_ATTR] = '{"version": 1, "datasets": {"y": {"role": "rows"}}}'
    return "'hitprep_layout' cannot be read"


@pytest.mark.parametrize(
    ("family", "corrupt"),
    [
        ("graph_jagged", _lengthen_y),
        ("graph_jagged", _index_past_items),
        ("watchmal_digi", _starts_past_items),
        ("watchmal_digi_compressed", _starts_past_items),
        ("km3net_zt", _undeclared_dataset),
        ("ldmx_xyz", _broken_declaration),
    ],
)
@pytest.mark.parametrize("tool", ["shuffle", "split", "concat"])
def test_bad_files_get_one_line_and_no_output(
    family: str,
    corrupt: Any,
    tool: str,
    outputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "in" / "bad.h5"
    bad.parent.mkdir()
    shutil.copy(outputs[family], bad)
    with h5py.File(bad, "r+") as f:
        expected = corrupt(f)
    out = tmp_path / "out"
    out.mkdir()
    args = {
        "shuffle": ["shuffle", str(bad), "-o", str(out / "s.h5")],
        "split": ["split", str(bad), "--fractions", "0.5,0.5", "--files", "-o", str(out / "p")],
        "concat": ["concat", str(outputs[family]), str(bad), "-o", str(out / "c.h5")],
    }[tool]
    assert main([*args, "--no-progress"] if tool != "split" else args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(bad) in err and expected in err, err
    assert list(out.iterdir()) == []


def test_concat_refuses_other_layouts(outputs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"km3net_xyzt\.h5: dataset 'x' is"):
        concat([outputs["km3net_zt"], outputs["km3net_xyzt"]], tmp_path / "c.h5")
    digi, compressed = outputs["watchmal_digi"], outputs["watchmal_digi_compressed"]
    with pytest.raises(FileFormatError, match="'event_hits_index' is declared"):
        concat([digi, compressed], tmp_path / "c.h5")
    assert list(tmp_path.iterdir()) == []


# -- files that declare nothing: named inference rules -----------------------------------------


def _undeclare(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        del f.attrs[LAYOUT_ATTR]
    return target


@pytest.mark.parametrize("family", ["graph_jagged", "watchmal_digi", "km3net_zt"])
def test_older_outputs_get_the_inferred_layout(
    family: str, outputs: dict[str, Path], tmp_path: Path
) -> None:
    old = _undeclare(outputs[family], tmp_path / "old.h5")
    with EventFile(old) as f:
        assert not f.layout.declared and set(f.layout.rules) <= set(INFERENCE_RULES)
    with EventFile(outputs[family]) as f:
        declared = f.layout.entries
    with EventFile(old) as f:
        inferred = f.layout.entries
    for name, entry in declared.items():  # the rules find what was declared
        assert inferred[name].role == entry.role, name
        assert sorted(inferred[name].items) == sorted(entry.items), name
    shuffle(old, tmp_path / "s.h5", seed=1)
    check_same_events(read_events(outputs[family]), tmp_path / "s.h5")


def test_inference_rules_are_named(outputs: dict[str, Path], tmp_path: Path) -> None:
    with EventFile(_undeclare(outputs["watchmal_digi"], tmp_path / "w.h5")) as f:
        assert "watchmal-starts" in f.layout.rules
    with EventFile(_undeclare(outputs["graph_jagged"], tmp_path / "g.h5")) as f:
        assert {"indices-records", "extendable-rows"} <= set(f.layout.rules)
    with EventFile(_undeclare(outputs["km3net_zt"], tmp_path / "k.h5")) as f:
        assert "bin-stats-sum" in f.layout.rules


def test_non_hitprep_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "orcasong.h5"
    with h5py.File(other, "w") as f:
        f.attrs["orcasong"] = "4.8.7"
        f["x"] = np.zeros((3, 2))
    with pytest.raises(FileFormatError, match=r"not a hitprep output.*OrcaSong"):
        EventFile(other)


@pytest.mark.parametrize("family", ["graph_jagged", "graph_jagged_orcasong"])
def test_ml_graph_dataset_reads_each_event_after_tools(
    family: str, outputs: dict[str, Path], tmp_path: Path
) -> None:
    from hitprep.ml.graphs import GraphDataset

    shuffled = tmp_path / "s.h5"
    shuffle(outputs[family], shuffled, seed=3)
    events = list(read_events(shuffled).values())
    data = GraphDataset(shuffled)
    for i in (0, 7, len(events) - 1):
        batch = data[i]
        nodes = batch["x"][batch["x_mask"]].numpy()
        assert nodes.tobytes() == events[i]["x"], f"event {i}"
