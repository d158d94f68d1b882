"""Preprocessing transforms: exact inverses, parsing, and the job's [preprocess] section."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.writeback.transforms import describe, forward, inverse, parse_chain


def _f32(low: float, high: float) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(
        np.float32,
        st.integers(1, 50),
        elements=st.floats(
            float(np.float32(low)), float(np.float32(high)), width=32, allow_nan=False
        ),
    )


def _round_trip(spec: list[object], values: np.ndarray) -> np.ndarray:
    chain = parse_chain("x", spec)
    return inverse(chain, forward(chain, values)).astype(values.dtype)


@settings(max_examples=80, deadline=None)
@given(_f32(1e-30, 3e38))
def test_log_inverse_exact_on_float32(values: np.ndarray) -> None:
    np.testing.assert_array_equal(_round_trip(["log"], values), values)


@settings(max_examples=80, deadline=None)
@given(_f32(0.0, 3e38))
def test_log1p_inverse_exact_on_float32(values: np.ndarray) -> None:
    np.testing.assert_array_equal(_round_trip(["log1p"], values), values)


@settings(max_examples=80, deadline=None)
@given(_f32(-1e6, 1e6))
def test_atan_inverse_exact_on_float32(values: np.ndarray) -> None:
    np.testing.assert_array_equal(_round_trip(["atan"], values), values)


@settings(max_examples=80, deadline=None)
@given(_f32(-1.5, 1.5))
def test_tan_inverse_exact_on_float32(values: np.ndarray) -> None:
    np.testing.assert_array_equal(_round_trip(["tan"], values), values)


@settings(max_examples=80, deadline=None)
@given(
    _f32(-1e30, 1e30),
    st.floats(1e-6, 1e6) | st.floats(-1e6, -1e-6),
    st.floats(-1e6, 1e6),
)
def test_affine_inverse_exact_on_float32(values: np.ndarray, scale: float, shift: float) -> None:
    # the documented limit: a shift absorbs values 2**28 times smaller than itself
    values = np.where(np.abs(values * scale) < abs(shift) * 2.0**-28, np.float32(0), values)
    spec: list[object] = [{"scale": scale, "shift": shift}]
    np.testing.assert_array_equal(_round_trip(spec, values), values)


@settings(max_examples=80, deadline=None)
@given(_f32(1e-3, 1e6))
def test_chain_inverse_exact_on_float32(values: np.ndarray) -> None:
    spec: list[object] = ["log", {"scale": 0.37, "shift": -1.25}, {"clip": [-50.0, 50.0]}]
    np.testing.assert_array_equal(_round_trip(spec, values), values)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e300, 1e300)))
def test_affine_forward_values(values: np.ndarray) -> None:
    chain = parse_chain("x", {"scale": 2.0, "shift": 1.0})
    np.testing.assert_array_equal(forward(chain, values), values * 2.0 + 1.0)


def test_clip_inverse_is_identity_on_its_range_and_clips_outputs() -> None:
    chain = parse_chain("btag", [{"clip": [0.0, 1.0]}])
    inside = np.array([0.0, 0.25, 1.0])
    np.testing.assert_array_equal(inverse(chain, forward(chain, inside)), inside)
    np.testing.assert_array_equal(inverse(chain, np.array([-0.5, 1.5])), [0.0, 1.0])


def test_log_of_non_positive_is_non_finite() -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = forward(parse_chain("pt", "log"), np.array([0.0, -1.0, 1.0]))
    assert np.isneginf(out[0])
    assert np.isnan(out[1])
    assert out[2] == 0.0


def test_chain_order_and_describe() -> None:
    chain = parse_chain("pt", ["log", {"scale": 2.0, "shift": -1.0}])
    assert forward(chain, [np.e]).tolist() == [1.0]
    assert inverse(chain, [1.0]).tolist() == pytest.approx([np.e])
    assert describe(chain) == "log -> affine(2, -1)"
    assert describe(()) == "identity"
    assert [t.as_spec() for t in chain] == ["log", {"scale": 2.0, "shift": -1.0}]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sqrt", r"unknown transform 'sqrt' \(allowed: log, log1p, tan, atan"),
        ({"scale": 0.0}, "scale must be finite and non-zero"),
        ({"clip": [1.0]}, r"expected \[low, high\]"),
        ({"clip": [2.0, 1.0]}, "need low < high"),
        ({"scale": "two"}, "expected a number"),
        ({"offset": 1}, "a transform is one of"),
        (3, "a transform is one of"),
    ],
)
def test_bad_transform_specs(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_chain("GenJet.pt", spec)


def test_preprocess_section_validates_and_names_the_variable() -> None:
    raw = {
        "writeback": {},
        "preprocess": {"GenJet": {"pt": ["log", {"scale": 0.5}]}},
    }
    job = Job.from_dict(raw)
    assert job.get("preprocess") == {"GenJet": {"pt": ["log", {"scale": 0.5, "shift": 0.0}]}}
    assert '"preprocess"' in job.resolved_json()
    raw["preprocess"] = {"GenJet": {"pt": ["exp"]}}
    with pytest.raises(ConfigError, match=r"\[preprocess\]\.GenJet\.pt\[0\]: unknown transform"):
        Job.from_dict(raw)
