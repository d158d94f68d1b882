"""Splits: seeded fractions, index files, and refusal of leaking or foreign rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.ml.splits import SPLITS, fraction_split, split_rows

pytest_plugins = ["ml_fixtures"]  # shared files of every layout (tests/ml/ml_fixtures.py)


def _table(**values: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "fractions": [0.8, 0.1, 0.1],
        "seed": 42,
        "index": "",
        "train": "",
        "validation": "",
        "test": "",
    }
    table.update(values)
    return table


def test_fractions_cover_every_row_once_and_repeat_with_the_seed() -> None:
    parts = fraction_split(1003, [0.7, 0.2, 0.1], seed=5)
    allrows = np.concatenate([parts[s] for s in SPLITS])
    assert np.array_equal(np.sort(allrows), np.arange(1003))
    assert [len(parts[s]) for s in SPLITS] == [702, 201, 100]
    again = fraction_split(1003, [0.7, 0.2, 0.1], seed=5)
    other = fraction_split(1003, [0.7, 0.2, 0.1], seed=6)
    assert all(np.array_equal(parts[s], again[s]) for s in SPLITS)
    assert not np.array_equal(parts["test"], other["test"])


def test_no_test_fraction_gives_the_rest_to_validation() -> None:
    parts = fraction_split(11, [0.7, 0.3, 0.0], seed=1)
    assert len(parts["test"]) == 0
    assert len(parts["train"]) + len(parts["validation"]) == 11


def test_index_files_of_each_format(tmp_path: Path) -> None:
    train, val, test = np.array([0, 2, 4, 6]), np.array([1, 5]), np.array([3])
    np.save(tmp_path / "train.npy", train)
    np.savetxt(tmp_path / "val.txt", val, fmt="%d")
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["rows"] = test
    parts = split_rows(
        7,
        _table(
            train=str(tmp_path / "train.npy"),
            validation=str(tmp_path / "val.txt"),
            test=str(tmp_path / "test.h5"),
        ),
    )
    assert [parts[s].tolist() for s in SPLITS] == [[0, 2, 4, 6], [1, 5], [3]]
    np.savez(tmp_path / "all.npz", train=train, val=val)
    parts = split_rows(7, _table(index=str(tmp_path / "all.npz")))
    assert parts["validation"].tolist() == [1, 5] and len(parts["test"]) == 0


def test_rows_shared_between_splits_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "leak.npz", train=[0, 1, 2], validation=[2, 3], test=[4])
    with pytest.raises(FileFormatError, match="1 rows are in both train and validation"):
        split_rows(5, _table(index=str(tmp_path / "leak.npz")))


def test_rows_outside_the_data_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "big.npz", train=[0, 1], validation=[9])
    with pytest.raises(FileFormatError, match=r"validation rows must lie in \[0, 5\)"):
        split_rows(5, _table(index=str(tmp_path / "big.npz")))


def test_missing_split_and_partial_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "nov.npz", train=[0, 1], tset=[2])
    with pytest.raises(KeyInFileError, match="split 'validation' not found"):
        split_rows(5, _table(index=str(tmp_path / "nov.npz")))
    np.save(tmp_path / "t.npy", np.array([0, 1]))
    with pytest.raises(ConfigError, match="at least train and validation"):
        split_rows(5, _table(train=str(tmp_path / "t.npy")))
    with pytest.raises(FileFormatError, match="no such index file"):
        split_rows(5, _table(index=str(tmp_path / "absent.npz")))


def test_index_files_of_hitprep_split(toy_images: Path, tmp_path: Path) -> None:
    from hitprep.tools.split import split

    split(toy_images, [0.7, 0.2, 0.1], seed=3, prefix=tmp_path / "toy")
    by_prefix = split_rows(600, _table(index=str(tmp_path / "toy")))
    by_file = split_rows(
        600,
        _table(
            train=str(tmp_path / "toy_train.index.h5"),
            validation=str(tmp_path / "toy_val.index.h5"),
            test=str(tmp_path / "toy_test.index.h5"),
        ),
    )
    assert [len(by_prefix[s]) for s in SPLITS] == [420, 120, 60]
    assert all(np.array_equal(by_prefix[s], by_file[s]) for s in SPLITS)
    with h5py.File(tmp_path / "toy_val.index.h5") as f:
        assert np.array_equal(by_prefix["validation"], f["index"][:])
