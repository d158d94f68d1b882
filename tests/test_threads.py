"""hitprep.threads: one thread budget; inline work with a budget of one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hitprep import threads


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    threads.set_threads(None)


def test_budget_from_environment_and_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITPREP_THREADS", "3")
    threads.set_threads(None)
    assert threads.threads() == 3
    threads.set_threads(1)
    assert threads.threads() == 1
    threads.set_threads(0)  # at least one
    assert threads.threads() == 1


@pytest.mark.parametrize("budget", [1, 2])
def test_submit_and_run_all(budget: int) -> None:
    threads.set_threads(budget)
    here = threading.get_ident()
    ran_in: list[int] = []

    def square(x: int) -> int:
        ran_in.append(threading.get_ident())
        if x < 0:
            raise ValueError(f"negative {x}")
        return x * x

    assert threads.submit(square, 3).result() == 9
    assert threads.run_all(square, range(5)) == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="negative -1"):
        threads.submit(square, -1).result()
    with pytest.raises(ValueError, match="negative -2"):
        threads.run_all(square, [1, -2])
    assert all(t == here for t in ran_in) == (budget == 1)
