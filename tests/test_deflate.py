"""hitprep.deflate: plain zlib streams any reader inflates; level 1 as small as zlib's."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from hitprep import deflate


@pytest.fixture(scope="module")
def features() -> bytes:
    """Graph-like float32 rows: PMT positions that repeat, times that do not."""
    rng = np.random.default_rng(1)
    pmts = rng.normal(size=(500, 6)).astype(np.float32)
    rows = np.hstack(
        [pmts[rng.integers(0, 500, 200_000)], rng.normal(size=(200_000, 3)).astype(np.float32)]
    )
    return rows.tobytes()


@pytest.mark.parametrize("level", [0, 1, 2, 6, 9])
def test_streams_are_plain_zlib(features: bytes, level: int) -> None:
    packed = deflate.compress(features, level)
    assert zlib.decompress(packed) == features
    assert deflate.decompress(packed, bufsize=len(features)) == features


def test_level_1_is_as_small_as_zlib_level_1(features: bytes) -> None:
    ours = len(deflate.compress(features, 1))
    reference = len(zlib.compress(features, 1))
    assert ours <= reference * 1.05


def test_damaged_stream_raises_zlib_error(features: bytes) -> None:
    packed = bytearray(deflate.compress(features[:100_000], 1))
    packed[len(packed) // 2] ^= 0xFF
    with pytest.raises(deflate.zlib_error):
        deflate.decompress(bytes(packed))
