"""The write-behind thread of a writeback: order kept, errors raised in the caller."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hitprep.writeback.run import _WriteBehind


class _Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def extend(self, tree: str, batch: Any, **options: Any) -> None:
        self.threads.add(threading.current_thread().name)
        if batch == self.fail_on:
            msg = f"cannot write chunk {batch}"
            raise OSError(msg)
        self.calls.append((tree, batch, options))


def test_chunks_are_written_in_order_in_a_thread() -> None:
    rec = _Recorder()
    with _WriteBehind(rec, "Events", titles={"a": "b"}) as behind:  # type: ignore[arg-type]
        for i in range(5):
            behind.submit(i)
    assert [c[1] for c in rec.calls] == list(range(5))
    assert {c[0] for c in rec.calls} == {"Events"}
    assert rec.calls[0][2] == {"titles": {"a": "b"}}
    assert all(name.startswith("hitprep-write") for name in rec.threads)


@pytest.mark.parametrize("fail_on", [1, 4])
def test_a_failed_write_is_raised_and_stops_the_writing(fail_on: int) -> None:
    rec = _Recorder(fail_on=fail_on)
    with (
        pytest.raises(OSError, match=f"cannot write chunk {fail_on}"),
        _WriteBehind(rec, "Events") as behind,
    ):  # type: ignore[arg-type]
        for i in range(5):
            behind.submit(i)
    assert [c[1] for c in rec.calls] == list(range(fail_on))


def test_an_error_in_the_caller_waits_for_the_running_write() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    class Slow:
        def extend(self, tree: str, batch: int) -> None:
            started.set()
            release.wait(5)
            done.append(batch)

    with pytest.raises(RuntimeError, match="model failed"), _WriteBehind(Slow(), "E") as behind:  # type: ignore[arg-type]
        behind.submit(1)
        started.wait(5)
        threading.Timer(0.05, release.set).start()
        msg = "model failed"
        raise RuntimeError(msg)
    assert done == [1]  # the block was left only after the write had finished


def test_a_one_core_budget_writes_in_the_calling_thread() -> None:
    from hitprep.threads import set_threads

    rec = _Recorder()
    set_threads(1)
    try:
        with _WriteBehind(rec, "Events") as behind:  # type: ignore[arg-type]
            for i in range(3):
                behind.submit(i)
    finally:
        set_threads(None)
    assert [c[1] for c in rec.calls] == [0, 1, 2]
    assert rec.threads == {threading.current_thread().name}
