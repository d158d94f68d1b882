"""Image datasets: values equal the file, splits and classes, batched reads, workers."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError  # noqa: E402
from hitprep.ml.data import open_dataset  # noqa: E402
from hitprep.ml.datasets import select_classes  # noqa: E402
from hitprep.ml.h5io import read_rows, read_spans  # noqa: E402
from hitprep.ml.images import ImageDataset, resolve_channels  # noqa: E402
from hitprep.ml.loader import ChunkShuffleSampler, collate, make_loader  # noqa: E402

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


def test_images_and_labels_equal_the_file(toy_images: Path) -> None:
    rows = np.array([3, 10, 11, 500, 2])
    ds = ImageDataset(toy_images, rows=rows, label="label", extras=["mass"])
    batch = ds.__getitems__([4, 0, 3])
    with h5py.File(toy_images) as f:
        x, y = f["x"][:], f["y"][:]
    expect_rows = rows[[4, 0, 3]]
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (3, 1, 12, 12)
    assert np.array_equal(batch["x"][:, 0].numpy(), x[expect_rows].astype(np.float32))
    assert batch["row"].tolist() == expect_rows.tolist()
    assert batch["label"].tolist() == y["label"][expect_rows].tolist()
    assert np.allclose(batch["extras"][:, 0].numpy(), y["mass"][expect_rows])
    one = ds[1]
    assert one["x"].shape == (1, 12, 12) and int(one["row"]) == 10


def test_in_memory_reads_the_same(toy_images: Path) -> None:
    lazy = ImageDataset(toy_images, label="label", in_memory=False)
    memory = ImageDataset(toy_images, label="label", in_memory=True)
    assert not lazy.in_memory and memory.in_memory
    idx = [5, 599, 0, 77, 5]
    a, b = lazy.__getitems__(idx), memory.__getitems__(idx)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert lazy.chunk_rows() is not None and memory.chunk_rows() is None


def test_read_rows_in_any_order_equals_fancy_indexing(toy_images: Path) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(toy_images) as f:
        ds = f["x"]
        full = ds[:]
        for rows in (rng.integers(0, 600, 50), np.array([599, 0, 0, 300]), np.arange(0)):
            assert np.array_equal(read_rows(ds, rows), full[rows])


def test_read_spans_concatenates_jagged_events() -> None:
    data = np.arange(100) * 10
    starts, stops = np.array([50, 0, 7, 7]), np.array([53, 2, 7, 9])
    flat, counts = read_spans(data, starts, stops)
    assert counts.tolist() == [3, 2, 0, 2]
    assert flat.tolist() == [500, 510, 520, 0, 10, 70, 80]


def test_classes_select_rows_and_count_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "three.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((6, 4, 4), np.uint16)
        f["labels"] = np.array([0, 1, 2, 2, 1, 0], np.int32)
    ds = ImageDataset(path, label="labels", classes=[1, 2])
    assert ds.rows.tolist() == [1, 2, 3, 4] and ds.excluded == 2
    assert ds.targets is not None and ds.targets.tolist() == [0, 1, 1, 0]
    every = ImageDataset(path, label="labels")
    assert every.classes == (0, 1, 2)


def test_select_classes_refuses_non_integer_labels() -> None:
    with pytest.raises(ConfigError, match="non-integer values"):
        select_classes(np.array([0.0, 0.5]), None, file="f.h5", label="energy")
    with pytest.raises(ConfigError, match="at least two classes"):
        select_classes(np.array([1, 1]), None, file="f.h5", label="label")
    index, classes = select_classes(np.array([1.0, 0.0, 1.0]), None, file="f", label="l")
    assert classes == (0, 1) and index.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("shape", "channels", "expect"),
    [
        ((18, 100), "auto", "none"),
        ((100,), "auto", "none"),
        ((32, 32, 3), "auto", "last"),
        ((4, 128, 128), "auto", "first"),
        ((20, 20, 20), "auto", "none"),
        ((11, 13, 18, 100), "auto", "last"),
        ((4, 8, 8), "last", "last"),
    ],
)
def test_channel_axis(shape: tuple[int, ...], channels: str, expect: str) -> None:
    assert resolve_channels(shape, channels, name="x", file="f.h5") == expect


def test_too_many_spatial_axes_is_an_error() -> None:
    with pytest.raises(ConfigError, match="4 spatial axes"):
        resolve_channels((5, 6, 7, 8), "none", name="x", file="f.h5")


def test_channels_last_become_first(tmp_path: Path) -> None:
    path = tmp_path / "xyz.h5"
    x = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    with h5py.File(path, "w") as f:
        f["image"] = x
        f["label"] = np.array([0, 1])
    ds = ImageDataset(path, inputs=["image"], label="label")
    assert ds.specs[0].shape == (3, 5, 5)
    assert np.array_equal(ds.__getitems__([1])["image"][0].numpy(), np.moveaxis(x[1], -1, 0))


def test_missing_label_names_the_nearest_fields(toy_images: Path) -> None:
    with pytest.raises(KeyInFileError, match=r"'labl' not found.*did you mean: 'label'"):
        ImageDataset(toy_images, label="labl")
    with pytest.raises(KeyInFileError, match="image dataset 'xx' not found"):
        ImageDataset(toy_images, inputs=["xx"])


def test_rows_outside_the_file_are_refused(toy_images: Path) -> None:
    with pytest.raises(FileFormatError, match=r"rows must lie in \[0, 600\)"):
        ImageDataset(toy_images, rows=[0, 600])


def test_statistics_come_from_the_dataset_rows(toy_images: Path) -> None:
    ds = ImageDataset(toy_images, rows=np.arange(100), label="label", extras=["mass"])
    stats = ds.statistics()
    with h5py.File(toy_images) as f:
        x = f["x"][:100].astype(np.float64)
        mass = f["y"]["mass"][:100]
    assert stats["x"]["mean"] == pytest.approx([x.mean()])
    assert stats["x"]["std"] == pytest.approx([x.std()])
    assert stats["extras"]["mean"] == pytest.approx([mass.mean()])
    logged = ds.statistics(transform="log1p", max_events=50, seed=1)
    assert logged["x"]["mean"][0] < stats["x"]["mean"][0]


def test_loader_with_a_worker_reads_what_the_main_process_reads(toy_images: Path) -> None:
    ds = ImageDataset(toy_images, label="label", in_memory=False)
    ds.__getitems__([0])  # open the file in this process first: the worker must re-open
    serial = list(make_loader(ds, batch_size=64, shuffle="chunks", seed=3))
    worker = list(make_loader(ds, batch_size=64, shuffle="chunks", seed=3, num_workers=1))
    assert len(serial) == len(worker) == 10
    for a, b in zip(serial, worker, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    rows = torch.cat([b["row"] for b in serial]).sort().values
    assert rows.tolist() == list(range(600))  # every event once


def test_dataset_pickles_without_its_handle(toy_images: Path) -> None:
    ds = ImageDataset(toy_images, label="label")
    ds.__getitems__([0])
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone.__getitems__([7])["x"], ds.__getitems__([7])["x"])


def test_chunk_sampler_keeps_chunks_together() -> None:
    sampler = ChunkShuffleSampler(100, block=10, pool=2, seed=0)
    sampler.set_epoch(1)
    order = list(sampler)
    assert sorted(order) == list(range(100))
    # each run of 20 consecutive draws comes from two blocks of 10
    for lo in range(0, 100, 20):
        assert len({i // 10 for i in order[lo : lo + 20]}) == 2
    sampler.set_epoch(2)
    assert list(sampler) != order


def test_collate_stacks_single_events_and_pads_nodes() -> None:
    items = [
        {"x": torch.ones(3, 2), "x_mask": torch.ones(3, dtype=torch.bool), "row": torch.tensor(0)},
        {"x": torch.ones(1, 2), "x_mask": torch.ones(1, dtype=torch.bool), "row": torch.tensor(1)},
    ]
    batch = collate(items)
    assert batch["x"].shape == (2, 3, 2)
    assert batch["x_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["row"].tolist() == [0, 1]


def test_open_dataset_detects_the_kind(toy_images: Path, multivolume: Path, tmp_path: Path) -> None:
    from hitprep.ml.config import load_train_config

    data = load_train_config().data
    ds = open_dataset(data, path=toy_images)
    assert ds.kind == "images" and ds.label == "label"
    mv = open_dataset(data, path=multivolume)  # no x: every image dataset
    assert [s.shape for s in mv.specs] == [(4, 16, 16), (2, 16, 8)]
    with pytest.raises(KeyInFileError, match=r"'v3' not found.*did you mean: 'v1', 'v0'"):
        open_dataset(dict(data, inputs=["v0", "v3"]), path=multivolume)
    path = tmp_path / "nolabel.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((3, 4, 4))
        f["y"] = np.zeros(3, dtype=[("energy", "f8"), ("particle_type", "i8")])
    with pytest.raises(ConfigError, match=r"no label field given.*--label.*particle_type"):
        open_dataset(data, path=path)
    assert open_dataset(data, path=path, labels=False).label is None


def test_chunk_cache_reads_each_chunk_once(tmp_path: Path) -> None:
    from hitprep.ml.h5io import ChunkCache

    full = np.arange(100 * 3, dtype=np.int32).reshape(100, 3)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("x", data=full, chunks=(16, 3), compression="gzip")
    cache = ChunkCache(max_bytes=1 << 30)
    with h5py.File(tmp_path / "c.h5") as f:
        ds = f["x"]
        rows = np.array([49, 0, 48, 15, 0, 99])
        assert np.array_equal(cache.rows(ds, rows), full[rows])
        assert sorted(c for _, c in cache._blocks) == [0, 3, 6]
        small = ChunkCache(max_bytes=1)  # keeps only the last chunk
        assert np.array_equal(small.rows(ds, rows), full[rows])
        assert len(small._blocks) == 1


def test_inputs_found_without_being_named(tmp_path: Path) -> None:
    from hitprep.ml.config import load_train_config

    # a WCSim grid output: three channels-last regions, per-event vectors beside them
    path = tmp_path / "grid.h5"
    with h5py.File(path, "w") as f:
        f["barrel"] = np.zeros((4, 6, 10, 2), np.float32)
        f["top"] = np.zeros((4, 5, 5, 2), np.float32)
        f["bottom"] = np.zeros((4, 5, 5, 2), np.float32)
        f["positions"] = np.zeros((4, 1, 3), np.float32)
        f["angles"] = np.zeros((4, 2), np.float32)
        f["labels"] = np.array([1, 2, 1, 2], np.int32)
    ds = open_dataset(load_train_config().data, path=path)
    assert [s.name for s in ds.specs] == ["barrel", "bottom", "top"]
    assert [s.shape for s in ds.specs] == [(2, 6, 10), (2, 5, 5), (2, 5, 5)]
    assert ds.label == "labels" and ds.classes == (1, 2)
