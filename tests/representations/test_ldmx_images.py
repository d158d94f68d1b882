"""LDMX ECal images equal an independent per-event reference; the reference bugs are pinned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitprep.config import Job, load_job
from hitprep.errors import ConfigError, CountOverflowError
from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
from hitprep.representations.ldmx import LdmxImageSpec, make_ldmx_images, z_edges
from hitprep.runners import convert
from hitprep.sources import open_source
from hitprep.toys.ldmx import simulate, write_root


def _batch(events: list[list[tuple[float, float, float, float]]]) -> ak.Array:
    n = [len(e) for e in events]
    flat = np.array([h for e in events for h in e], dtype=np.float64).reshape(-1, 4)
    cols = {k: flat[:, i].copy() for i, k in enumerate("xyzE")}
    hits = jagged_from_flat(cols, offsets_from_counts(n))
    return make_batch({"entry": np.arange(len(n), dtype=np.int64)}, {"hits": hits}, length=len(n))


@pytest.fixture(scope="module")
def toy_batch() -> ak.Array:
    events = ak.concatenate([simulate(25, seed=4), simulate(25, mass=300.0, seed=5)])
    n = len(events)
    return ak.zip({"entry": np.arange(n), "hits": events.hits}, depth_limit=1)


def reference(event_hits: ak.Array, spec: LdmxImageSpec) -> npt.NDArray[Any]:
    """One event's image with numpy's histogram functions, from that event's hits alone."""
    e = spec.edges()
    x, y, z = (np.asarray(event_hits[k], dtype=np.float64) for k in "xyz")
    w = np.asarray(event_hits[spec.weights], dtype=np.float64) if spec.weights else None
    if spec.format == "z_split":
        h, _ = np.histogramdd((x, y, z), bins=(e["x"], e["y"], e["z"]), weights=w)
        return h
    box = (
        (x >= e["x"][0]) & (x <= e["x"][-1])
        & (y >= e["y"][0]) & (y <= e["y"][-1])
        & (z >= e["z"][0]) & (z <= e["z"][-1])
    )  # fmt: skip
    x, y, z = x[box], y[box], z[box]
    w = None if w is None else w[box]
    xy = np.histogram2d(x, y, bins=(e["x"], e["y"]), weights=w)[0]
    yz = np.histogram2d(y, z, bins=(e["y"], e["z"]), weights=w)[0]
    zx = np.histogram2d(z, x, bins=(e["z"], e["x"]), weights=w)[0]
    return np.stack([xy, yz, zx], axis=-1)


SPECS = [
    LdmxImageSpec(format="xyz", dim=40),
    LdmxImageSpec(format="xyz", dim=13, x_range=(-60, 90), z_range=(250, 420)),
    LdmxImageSpec(format="z_split", dim=32, depth=8),
    LdmxImageSpec(format="z_split", dim=20, depth=12, spacing="log", log_origin=235.0),
    LdmxImageSpec(format="xyz", dim=25, weights=None),
    LdmxImageSpec(format="z_split", dim=16, depth=5, weights=None, dtype="uint32"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.format}-{s.dim}-{s.out_dtype}")
def test_images_equal_per_event_reference(toy_batch: ak.Array, spec: LdmxImageSpec) -> None:
    images = make_ldmx_images(toy_batch, spec)
    assert images.shape == (len(toy_batch), *spec.shape)
    assert images.dtype == np.dtype(spec.out_dtype)
    assert images.sum() > 0
    for i in range(len(toy_batch)):
        expected = reference(toy_batch.hits[i], spec)
        np.testing.assert_allclose(images[i], expected, rtol=2e-6, atol=1e-9, err_msg=f"event {i}")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.floats(-250, 250),
                st.floats(-250, 250),
                st.floats(200, 650),
                st.floats(0.01, 50.0),
            ),
            max_size=12,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["xyz", "z_split"]),
)
def test_any_hits_equal_reference(events: list[list[Any]], fmt: str) -> None:
    spec = LdmxImageSpec(format=fmt, dim=8, depth=4, x_range=(-200, 200), z_range=(240, 600))
    batch = _batch(events)
    images = make_ldmx_images(batch, spec)
    for i in range(len(events)):
        np.testing.assert_allclose(images[i], reference(batch.hits[i], spec), rtol=2e-6, atol=1e-9)


# --- the reference scripts' bugs, pinned ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["xyz", "z_split"])
def test_images_do_not_accumulate_across_events(fmt: str) -> None:
    """The reference never reset its image: event k held the hits of events 0..k."""
    a = [(0.0, 0.0, 300.0, 5.0), (10.0, 10.0, 300.0, 1.0)]
    b = [(0.0, 0.0, 300.0, 2.0)]
    spec = LdmxImageSpec(format=fmt, dim=10, depth=4)
    together = make_ldmx_images(_batch([a, b, b]), spec)
    alone = make_ldmx_images(_batch([b]), spec)
    np.testing.assert_array_equal(together[1], alone[0])
    np.testing.assert_array_equal(together[2], alone[0])
    channels = spec.channels if fmt == "xyz" else 1
    assert together[1].sum() == pytest.approx(2.0 * channels)
    assert together[0].sum() == pytest.approx(6.0 * channels)


def test_xyz_keeps_the_first_hit_of_each_event() -> None:
    """The reference's xyz loop skipped hit 0 of every event."""
    events = [[(5.0, -5.0, 300.0, 3.0)], [(50.0, 50.0, 400.0, 1.5), (-50.0, 20.0, 500.0, 2.5)]]
    spec = LdmxImageSpec(format="xyz", dim=40)
    images = make_ldmx_images(_batch(events), spec)
    # 40 bins over +-200 mm: 10 mm pixels; z: 9 mm pixels from 240 mm
    assert images[0, 20, 19, 0] == pytest.approx(3.0)  # x-y
    assert images[0, 19, 6, 1] == pytest.approx(3.0)  # y-z
    assert images[0, 6, 20, 2] == pytest.approx(3.0)  # z-x
    for c in range(3):
        assert images[0, ..., c].sum() == pytest.approx(3.0)
        assert images[1, ..., c].sum() == pytest.approx(4.0)


def test_log_spacing_lies_between_the_bounds() -> None:
    """The reference called np.logspace(-200, 200): edges from 1e-200 to 1e200."""
    edges = z_edges(240.0, 600.0, 10, spacing="log", log_origin=230.0)
    assert edges[0] == 240.0 and edges[-1] == 600.0
    assert np.all(np.diff(edges) > 0)
    ratios = np.diff(np.log(edges - 230.0))
    np.testing.assert_allclose(ratios, ratios[0])
    assert np.diff(edges)[0] < np.diff(edges)[-1]  # thin slices at the front
    assert z_edges(10.0, 1000.0, 2, spacing="log").tolist() == [10.0, 100.0, 1000.0]
    spec = LdmxImageSpec(format="z_split", depth=10, spacing="log", log_origin=230.0)
    np.testing.assert_array_equal(spec.edges()["z"], edges)
    with pytest.raises(ConfigError, match="log_origin < z_range"):
        z_edges(240.0, 600.0, 10, spacing="log", log_origin=240.0)
    with pytest.raises(ConfigError, match="linear, log"):
        z_edges(240.0, 600.0, 10, spacing="logarithmic")


# --- counts, overflow, lattice statistics ------------------------------------------------


def test_counts_never_wrap() -> None:
    hits = [(1.0, 1.0, 300.0, 1.0)] * 300
    spec = LdmxImageSpec(format="z_split", dim=4, depth=2, weights=None, dtype="uint8")
    batch = _batch([[(1.0, 1.0, 300.0, 1.0)], hits])
    with pytest.raises(CountOverflowError, match=r"event entry 1, pixel \(2, 2, 0\) holds 300"):
        make_ldmx_images(batch, spec)
    wide = make_ldmx_images(batch, LdmxImageSpec(format="z_split", dim=4, depth=2, weights=None))
    assert wide.dtype == np.uint16 and int(wide[1, 2, 2, 0]) == 300


def test_lattice_accounting_counts_hits_outside() -> None:
    events = [[(0.0, 0.0, 300.0, 1.0), (250.0, 0.0, 300.0, 2.0), (0.0, 0.0, 100.0, 4.0)]]
    lattice = np.zeros(4)
    make_ldmx_images(_batch(events), LdmxImageSpec(format="xyz"), outside=lattice)
    assert lattice.tolist() == [1.0, 2.0, 1.0, 6.0]


def test_empty_events_and_empty_batch() -> None:
    spec = LdmxImageSpec(format="xyz", dim=5)
    images = make_ldmx_images(_batch([[], [(0.0, 0.0, 300.0, 1.0)], []]), spec)
    assert images[0].sum() == 0 and images[2].sum() == 0 and images[1].sum() == pytest.approx(3)
    assert make_ldmx_images(_batch([]), spec).shape == (0, 5, 5, 3)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"format": "xy"}, "format must be one of xyz, z_split"),
        ({"format": "xyz", "dim": 0}, "dim and depth must be >= 1"),
        ({"format": "xyz", "x_range": [200, -200]}, "low < high"),
        ({"format": "z_split", "spacing": "log", "log_origin": 300}, "log_origin < z_range"),
        ({"format": "xyz", "dtype": "float33"}, "float33"),
        ({"format": "xyz", "dimm": 4}, "did you mean 'dim'"),
        ({"dim": 4}, "missing required key 'format'"),
    ],
)
def test_bad_sections_name_the_key(table: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Job.from_dict({"ldmx_images": [table]}, origin="job.toml")


def test_duplicate_image_names() -> None:
    with pytest.raises(ConfigError, match="names must differ"):
        Job.from_dict({"ldmx_images": [{"format": "xyz"}, {"format": "z_split"}]})


@pytest.mark.parametrize(("preset", "channels"), [("ldmx_xyz", 3), ("ldmx_zsplit", 10)])
def test_presets_convert_toy_files(tmp_path: Path, preset: str, channels: int) -> None:
    sig = write_root(tmp_path / "sig.root", n_events=30, mass=50.0, seed=1)
    bkg = write_root(tmp_path / "bkg.root", n_events=20, seed=2)
    out = tmp_path / "images.h5"
    summary = convert(load_job(preset), [sig, bkg], out, step=7)
    assert summary.accounting.events_written == 50
    with h5py.File(out) as f:
        images = f["image"][:]
        assert images.shape == (50, 40, 40, channels)
        info = f["event_info"][:]
        assert info["file_index"].tolist() == [0] * 30 + [1] * 20
        assert info["event_id"].tolist() == list(range(1, 31)) + list(range(1, 21))
        lattice = f["ldmx/image/lattice"][:]
    spec = LdmxImageSpec(format="xyz" if channels == 3 else "z_split", depth=10)
    assert lattice[0] > 0
    # every event's image from its own file and entry
    with open_source(bkg) as src:
        batch = src.read(0, 20)
    job_spec = (
        spec
        if channels == 3
        else LdmxImageSpec(format="z_split", depth=10, spacing="log", log_origin=230.0)
    )
    for i in (0, 7, 19):
        np.testing.assert_allclose(images[30 + i], reference(batch.hits[i], job_spec), rtol=2e-6)
