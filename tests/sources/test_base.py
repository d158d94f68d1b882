"""The Source interface's read-ahead: batches in range order, the next read in a thread."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from pathlib import Path

import awkward as ak
import pytest

from hitprep.sources.root_tree import RootTreeSource
from hitprep.threads import set_threads
from hitprep.toys.nanoaod import write_toy_nanoaod


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nano") / "nano.root"
    write_toy_nanoaod(path, 50, seed=3)
    return path


class _Recording(RootTreeSource):
    """The real ROOT source, noting the thread each read ran in."""

    threads: list[str]

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        self.threads.append(threading.current_thread().name)
        return super().read(start, stop, fields=fields)


def _open(path: Path) -> _Recording:
    source = _Recording(path, tree="Events")
    source.threads = []
    return source


def test_ranges_in_any_order_give_what_direct_reads_give(nano: Path) -> None:
    ranges = [(0, 20), (20, 50), (0, 20), (45, 50), (10, 10)]  # repeats: upsampled blocks
    with _open(nano) as source:
        batches = list(source.read_ahead(iter(ranges), fields=["event", "GenJet.pt"]))
        direct = [source.read(a, b, fields=["event", "GenJet.pt"]) for a, b in ranges]
    assert [len(b) for b in batches] == [20, 30, 20, 5, 0]
    for got, want in zip(batches, direct, strict=True):
        assert got.tolist() == want.tolist()
    assert set(source.threads[: len(ranges)]) == {"prefetch_0"}


def test_ranges_are_taken_one_ahead(nano: Path) -> None:
    taken: list[int] = []

    def ranges() -> Iterator[tuple[int, int]]:
        for first in range(0, 50, 10):
            taken.append(first)
            yield first, first + 10

    with _open(nano) as source:
        batches = source.read_ahead(ranges(), fields=["event"])
        first = next(batches)
        assert first.entry.tolist() == list(range(10))
        assert taken == [0, 10]  # the second is being read while the first is used
        assert len(list(batches)) == 4
    assert taken == [0, 10, 20, 30, 40]


def test_a_one_core_budget_reads_in_the_calling_thread(nano: Path) -> None:
    set_threads(1)
    try:
        with _open(nano) as source:
            assert len(list(source.iterate(step=10, fields=["event"]))) == 5
    finally:
        set_threads(None)
    assert source.threads == [threading.current_thread().name] * 5


def test_one_range_is_read_here(nano: Path) -> None:
    with _open(nano) as source:
        (batch,) = source.read_ahead([(5, 9)], fields=["event"])
    assert batch.entry.tolist() == [5, 6, 7, 8]
    assert source.threads == [threading.current_thread().name]
