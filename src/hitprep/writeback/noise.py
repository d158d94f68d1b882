"""Seeded Gaussian noise addressed by object position, independent of chunking.

Noise for row ``i`` of a model's output (counted over the whole output file) is
a pure function of ``(seed, stream, i)``: a counter-based generator (Philox) is
advanced straight to that row and the uniforms are turned into normals with the
Box-Muller transform. Writing a file with another chunk size or model batch
size therefore gives the same events, bit for bit.

Example:
    >>> a = normal_noise(seed=1, stream=0, start=0, rows=10, dim=3)
    >>> b = normal_noise(seed=1, stream=0, start=4, rows=6, dim=3)
    >>> bool((a[4:] == b).all())
    True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["normal_noise"]

_RAW_PER_BLOCK = 4  # Philox yields four 64-bit words per counter step
_TWO_POW_53 = float(2**53)


def normal_noise(
    *, seed: int, stream: int, start: int, rows: int, dim: int
) -> npt.NDArray[np.float64]:
    """Standard normal noise of shape ``(rows, dim)`` for output rows ``start:start + rows``.

    Args:
        seed: the job's seed (non-negative).
        stream: independent stream per model (its position in the job).
        start: index of the first row over the whole output.
        rows: number of rows.
        dim: noise dimensions per row (0 gives an empty ``(rows, 0)`` array).
    """
    if seed < 0 or stream < 0 or start < 0 or rows < 0 or dim < 0:
        msg = f"noise: seed, stream, start, rows and dim must be >= 0, got {seed, stream, start}"
        raise ValueError(msg)
    if rows == 0 or dim == 0:
        return np.zeros((rows, dim), dtype=np.float64)
    first = start * dim
    count = rows * dim
    # normals come in Box-Muller pairs; each pair takes two raw words
    pair0 = first // 2
    pair1 = (first + count + 1) // 2
    raw0 = 2 * pair0
    block, skip = divmod(raw0, _RAW_PER_BLOCK)
    bitgen = np.random.Philox(key=(seed % 2**64) | (stream % 2**64) << 64)
    bitgen.advance(block)
    raw = bitgen.random_raw(skip + 2 * (pair1 - pair0))[skip:]
    uniform = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) / _TWO_POW_53  # in (0, 1)
    u1, u2 = uniform[0::2], uniform[1::2]
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    normals = np.empty(2 * len(u1), dtype=np.float64)
    normals[0::2] = radius * np.cos(angle)
    normals[1::2] = radius * np.sin(angle)
    offset = first - 2 * pair0
    return normals[offset : offset + count].reshape(rows, dim)
