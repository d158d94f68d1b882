"""Clean-up never hides the error that caused it (``hitprep.closing.Closing``)."""

from __future__ import annotations

import pytest

from hitprep.closing import Closing


class _BrokenClose(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        msg = "close failed"
        raise OSError(msg)


def test_the_first_error_is_reported_and_close_still_runs() -> None:
    obj = _BrokenClose()
    with pytest.raises(ValueError, match="the real error"), obj:
        msg = "the real error"
        raise ValueError(msg)
    assert obj.closed == 1


def test_a_close_error_after_success_is_raised() -> None:
    obj = _BrokenClose()
    with pytest.raises(OSError, match="close failed"), obj:
        pass
