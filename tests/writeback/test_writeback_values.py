"""Model values into branch dtypes (rounded, never wrapped); non-finite values by policy."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hitprep.errors import ConfigError, CountOverflowError, ModelError
from hitprep.writeback.values import NonFinite, cast

ENTRIES = np.array([10, 11, 12], dtype=np.int64)


def test_integers_are_rounded_and_flags_are_nonzero() -> None:
    values = np.array([1.4, 2.5, -3.6])
    assert cast(values, np.dtype(np.int16), "Jet.n", ENTRIES).tolist() == [1, 2, -4]
    assert cast(values, np.dtype(np.int16), "Jet.n", ENTRIES).dtype == np.int16
    assert cast(np.array([0.2, 0.6, -1.0]), np.dtype(bool), "Jet.ok", ENTRIES).tolist() == [
        False,
        True,
        True,
    ]


def test_an_integer_outside_the_dtype_is_an_error_naming_the_entry() -> None:
    with pytest.raises(CountOverflowError, match=r"Jet.n is 300 for an object of input entry 11"):
        cast(np.array([1.0, 300.0, 2.0]), np.dtype(np.uint8), "Jet.n", ENTRIES)


def test_a_float_beyond_float32_is_an_error_not_inf() -> None:
    with pytest.raises(CountOverflowError, match=r"entry 12, beyond what a float32 branch holds"):
        cast(np.array([1.0, 2.0, 1e300]), np.dtype(np.float32), "Jet.pt", ENTRIES)


def test_nan_cannot_be_an_integer() -> None:
    with pytest.raises(ModelError, match=r"Jet.n is nan .* entry 10, which a int32 branch"):
        cast(np.array([np.nan, 1.0, 2.0]), np.dtype(np.int32), "Jet.n", ENTRIES)


def _matrix() -> np.ndarray:
    return np.array([[1.0, np.nan], [2.0, 3.0], [np.inf, 4.0]])


ROWS_EVENT = np.array([0, 0, 2], dtype=np.int64)  # rows 0-1 in event 0, row 2 in event 2


@pytest.mark.parametrize(
    ("label", "error"), [("model output", ModelError), ("conditioning", ConfigError)]
)
def test_error_policy_names_the_first_value_and_its_entry(
    label: str, error: type[Exception]
) -> None:
    counts: Counter[str] = Counter()
    policy = NonFinite("error", 0.0, counts)
    keep = np.ones(3, dtype=bool)
    with pytest.raises(error, match=rf"Jet.eta \({label}\) is nan .* entry 10 \(2 non-finite"):
        policy.check(_matrix(), ("Jet.pt", "Jet.eta"), label, ROWS_EVENT, keep, ENTRIES)
    assert counts == {f"Jet.pt ({label})": 1, f"Jet.eta ({label})": 1}


def test_fill_skip_and_keep_policies() -> None:
    names = ("Jet.pt", "Jet.eta")
    filled = _matrix()
    keep = np.ones(3, dtype=bool)
    NonFinite("fill", -1.0, Counter()).check(filled, names, "x", ROWS_EVENT, keep, ENTRIES)
    assert filled.tolist() == [[1.0, -1.0], [2.0, 3.0], [-1.0, 4.0]]
    assert keep.all()
    NonFinite("skip_event", 0.0, Counter()).check(_matrix(), names, "x", ROWS_EVENT, keep, ENTRIES)
    assert keep.tolist() == [False, True, False]
    kept = _matrix()
    keep = np.ones(3, dtype=bool)
    counts: Counter[str] = Counter()
    NonFinite("keep", 0.0, counts).check(kept, names, "x", ROWS_EVENT, keep, ENTRIES)
    assert np.isnan(kept[0, 1]) and np.isinf(kept[2, 0]) and keep.all()
    assert sum(counts.values()) == 2
