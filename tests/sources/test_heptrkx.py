"""HEPTrkX ACTS dumps: labels and images equal the notebook's pandas recipe; bad input named."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hitprep.config import load_job
from hitprep.errors import FileFormatError
from hitprep.runners import convert
from hitprep.sources import detect_format, open_source
from hitprep.sources.heptrkx import HeptrkxDumpSource
from hitprep.sources.literal_lines import count_blocks
from hitprep.toys.acts import write_acts
from hitprep.toys.heptrkx import write_dumps

HIT_COLUMNS = [
    "hitid",
    "barcode",
    "volid",
    "layid",
    "lpos",
    "lerr",
    "gpos",
    "chans",
    "dir",
    "direrr",
]
PARTICLE_COLUMNS = ["barcode", "vpos", "kin", "q"]
#: the preset's per-volume binning: (global layer range, z range, bins)
VOLUMES = [((0, 4), (-500, 500), [4, 128, 128]), ((4, 8), (-1080, 1080), [4, 128, 128])]
VOLUMES += [((8, 10), (-1031, 1031), [2, 128, 21])]
BIG = (1 << 60) + 12345  # a barcode beyond float precision
#: barrel (volid, layid) of the ten layers, in global layer order
LAYERS = [(8, 2), (8, 4), (8, 6), (8, 8), (13, 2), (13, 4), (13, 6), (13, 8), (17, 2), (17, 4)]


def hit(hitid: int, barcode: int, layer: int, phi: float = 0.5, z: float = 10.0) -> str:
    vol, lay = LAYERS[layer]
    r = 40.0 + 90 * layer
    x, y = float(r * np.cos(phi)), float(r * np.sin(phi))
    return (
        f"[{hitid}, {barcode}, {vol}, {lay}, [0.1, -0.2], [0.01, 0.01], [{x!r}, {y!r}, {z!r}],"
        f" [[{hitid}, 7, 0.5], [3, 4, 0.25]], [0.0, 0.6, 0.8], [0.001, 0.002]]"
    )


def particle(barcode: int, p: float, theta: float) -> str:
    return f"[{barcode}, [0.0, 0.0, -3.5], [{p!r}, {theta!r}, 0.5], -1]"


def edge_case_pair(tmp: Path) -> Path:
    """Event 0 passes only through a particle on exactly 7 layers (barcode above 2**53);
    event 1 would pass only if pT = 2 GeV exactly counted as above 2 GeV."""
    half_pi = float(np.pi / 2)
    events_h, events_p = [], []
    for lay_big, pt2 in [(7, False), (6, True)]:
        hits = [hit(i + 1, BIG, i, z=5.0 * i) for i in range(lay_big)]
        hits += [hit(20 + i, 11, i, phi=-1.0) for i in range(8)]
        hits += [hit(40 + i, 12, i, phi=2.0, z=-30.0) for i in range(9)]
        hits.append(hit(60, 11, 3, phi=-1.0))  # a second hit on a layer: still 8 layers
        hits.append(hit(61, 0, 5, phi=3.0))  # noise
        parts = [particle(BIG, 5.0, half_pi), particle(11, 3.0, 1.0), particle(12, 9.0, 2.0)]
        if pt2:
            hits += [hit(70 + i, 13, i, phi=-2.5) for i in range(10)]
            parts.append(particle(13, 2.0, half_pi))  # pT = 2 sin(pi/2) = 2 exactly
        events_h.append("\n".join(hits))
        events_p.append("\n".join(parts))
    (tmp / "clusters_edge.csv").write_text("# edge cases\n\n" + "\n\n\n".join(events_h) + "\n")
    (tmp / "particles_edge.csv").write_text("\n\n".join(events_p) + "\n\n# end\n")
    return tmp / "clusters_edge.csv"


def notebook_load(pd: Any, path: Path, columns: list[str]) -> Any:
    """The HEPTrkX reader: ast.literal_eval per line, a DataFrame per block."""
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


def notebook_reference(pd: Any, clusters: list[Path]) -> tuple[Any, list[np.ndarray]]:
    """Trigger labels and per-volume images the notebook's way (groupby / merge, histogramdd)."""
    hits, parts = [], []
    for c in clusters:
        h = notebook_load(pd, c, HIT_COLUMNS)
        pos = {k: h.gpos.apply(lambda g, i=i: g[i]).astype(np.float32) for i, k in enumerate("xyz")}
        hits.append(h[["evtid", "barcode", "volid", "layid"]].assign(
            z=pos["z"], phi=np.arctan2(pos["y"], pos["x"])
        ))  # fmt: skip
        p = notebook_load(
            pd, c.with_name(c.name.replace("clusters", "particles")), PARTICLE_COLUMNS
        )
        kin = [p.kin.apply(lambda k, i=i: k[i]).astype(np.float32) for i in range(3)]
        parts.append(p[["evtid", "barcode"]].assign(pt=kin[0] * np.sin(kin[1])))
    for i in range(1, len(hits)):
        hits[i].evtid += hits[i - 1].evtid.iloc[-1] + 1
        parts[i].evtid += parts[i - 1].evtid.iloc[-1] + 1
    hits_all, particles = pd.concat(hits, ignore_index=True), pd.concat(parts, ignore_index=True)
    barrel = hits_all[hits_all.volid.isin([8, 13, 17])]
    volume = barrel.volid.map({8: 0, 13: 1, 17: 2})
    barrel = barrel.assign(volume=volume, layer=(barrel.layid / 2 - 1 + volume * 4).astype(np.int8))
    nlayers = barrel.groupby(["evtid", "barcode"]).layer.nunique().rename("nlayers").reset_index()
    merged = particles.merge(nlayers, on=["evtid", "barcode"], how="left").fillna({"nlayers": 0})
    passing = (merged.pt > 2) & (merged.nlayers >= 7)
    trigger = passing.groupby(merged.evtid).sum() >= 3
    groups = barrel.groupby("evtid")
    images = [np.zeros([len(trigger), *bins], dtype=np.uint16) for _, _, bins in VOLUMES]
    for i, evtid in enumerate(trigger.index):
        if evtid not in groups.groups:
            continue
        evt = groups.get_group(evtid)
        for v, (layers, zs, bins) in enumerate(VOLUMES):
            sel = evt[evt.volume == v]
            data = (sel.layer.values, sel.phi.values, sel.z.values)
            ranges = [layers, (-np.pi, np.pi), zs]
            images[v][i] = np.histogramdd(data, bins=bins, range=ranges)[0]
    return trigger, images


def test_labels_and_images_equal_the_notebook_recipe(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    toy = write_dumps(tmp_path / "toy", n_events=25, files=2, seed=4, comments=True)
    clusters = [toy[0], edge_case_pair(tmp_path), toy[1]]
    out = tmp_path / "out.h5"
    convert(load_job("acts_barrel_trigger"), clusters, out, step=10)
    trigger, images = notebook_reference(pd, clusters)
    with h5py.File(out) as f:
        ids = f["event_info"]["event_id"][:]
        got_trigger = f["y"]["trigger"][:]
        got_images = [f[f"v{v}"][:] for v in range(3)]
    np.testing.assert_array_equal(ids, trigger.index.to_numpy())
    assert ids.tolist() == list(range(52))  # blocks numbered on across the files, in order
    np.testing.assert_array_equal(got_trigger, trigger.to_numpy())
    assert got_trigger[25:27].tolist() == [True, False]  # 7 layers pass; pT = 2 GeV does not
    assert 0 < got_trigger.sum() < 50
    for v in range(3):
        np.testing.assert_array_equal(got_images[v], images[v], err_msg=f"v{v}")
    assert sum(int(im.sum()) for im in got_images) > 10_000


def test_barcodes_stay_exact_and_kinematics_follow_the_notebook(tmp_path: Path) -> None:
    with HeptrkxDumpSource(edge_case_pair(tmp_path)) as src:
        batch = src.read(0, 2)
    assert batch.particles.barcode[0].tolist() == [BIG, 11, 12]
    assert batch.hits.barcode[0, 0] == BIG and batch.hits.particle[0, 0] == 0
    assert batch.particles.pt[1, 3] == np.float32(2.0)
    theta = np.float32(2.0)
    assert batch.particles.eta[0, 2] == -np.log(np.tan(theta / np.float32(2)))
    assert batch.hits.x[0, 0] == np.float32(40 * np.cos(0.5))


def write_pair(tmp: Path, hits: str, parts: str, name: str = "1") -> Path:
    (tmp / f"clusters_{name}.csv").write_text(hits)
    (tmp / f"particles_{name}.csv").write_text(parts)
    return tmp / f"clusters_{name}.csv"


def test_block_counts_must_pair_up(tmp_path: Path) -> None:
    p = particle(11, 3.0, 1.0)
    path = write_pair(
        tmp_path, f"{hit(1, 11, 0)}\n\n{hit(1, 11, 0)}\n", f"{p}\n{p.replace('11', '12')}\n"
    )
    with pytest.raises(FileFormatError, match=r"clusters_1.csv.*2 events .* has 1; the blocks"):
        HeptrkxDumpSource(path)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (hit(2, 11, 1).replace("[0.1, -0.2]", "[0.1 -0.2]"), "is not a Python list literal"),
        (hit(2, 11, 1).replace("[0.1, -0.2], ", ""), r"is not laid out as \[hitid, barcode"),
        (hit(2, 11, 1).replace(", 10.0]", ", 1.0.0]"), "has z '1.0.0', not a number"),
        (hit(2, 11, 1).replace("[2, 11,", "[2, 1.5,"), "has barcode '1.5', not a 64-bit integer"),
        (hit(2, 11, 1).replace("0.25]]", "0.25]"), "is not laid out as"),
        (hit(2, 11, 1).replace("0.001", "None"), "has the unexpected character 'N'"),
    ],
)
def test_a_line_that_does_not_parse_is_named(tmp_path: Path, bad: str, match: str) -> None:
    hits = f"# header\n{hit(1, 11, 0)}\n\n{bad}\n"
    path = write_pair(tmp_path, hits, f"{particle(11, 3.0, 1.0)}\n\n{particle(11, 3.0, 1.0)}\n")
    with pytest.raises(FileFormatError, match=f"clusters_1.csv: line 4 {match}"):
        HeptrkxDumpSource(path)
    out = tmp_path / "o.h5"
    with pytest.raises(FileFormatError, match="line 4"):
        convert(load_job("acts_barrel_trigger"), [path], out)
    assert not out.exists()


def test_unmatched_barcode_follows_on_unmatched(tmp_path: Path) -> None:
    hits = f"{hit(1, 11, 0)}\n\n{hit(1, 11, 0)}\n{hit(2, 99, 1)}\n"
    path = write_pair(tmp_path, hits, f"{particle(11, 3.0, 1.0)}\n\n{particle(11, 3.0, 1.0)}\n")
    out = tmp_path / "o.h5"
    with pytest.raises(FileFormatError, match=r"event id 1\) has 1 hits .* \(first: 99\)"):
        convert(load_job("acts_barrel_trigger"), [path], out)
    assert not out.exists()
    job = load_job("acts_barrel_trigger", overrides=["barrel.on_unmatched=skip_event"])
    summary = convert(job, [path], out)
    assert summary.accounting.skipped == {"hits without a matching particle": 1}


def test_detected_by_content_and_numbered_across_files(tmp_path: Path) -> None:
    dumps = write_dumps(tmp_path / "d", n_events=6, files=3, seed=1)
    headed = write_acts(tmp_path / "h", n_events=3)[0]
    assert [detect_format(p) for p in (dumps[0], headed)] == ["heptrkx", "acts_csv"]
    assert count_blocks(dumps[1]) == 6
    with open_source(dumps[2], previous=dumps[:2]) as src:
        assert isinstance(src, HeptrkxDumpSource)
        assert src.read(0, 6).event_id.tolist() == list(range(12, 18))
    out = tmp_path / "o.h5"
    job = load_job("acts_barrel_trigger")
    convert(job, [dumps[2], dumps[0], headed], out, task_events=4)
    with h5py.File(out) as f:
        info = f["event_info"][:]
    assert info["event_id"].tolist() == [*range(6), *range(6, 12), 0, 1, 2]
    assert info["file_index"].tolist() == [0] * 6 + [1] * 6 + [2] * 3
