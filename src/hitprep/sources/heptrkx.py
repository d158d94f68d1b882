"""HEPTrkX ACTS dumps as written: ``clusters_K.csv`` / ``particles_K.csv`` of literal lists.

Not headed CSV: every line is a Python list literal, events are blocks of lines
separated by one or more blank lines, ``#`` lines are comments (and, as in the
HEPTrkX reader, end a block too)::

    hits:       [hitid, barcode, volid, layid, [lx, ly], [ex, ey], [gx, gy, gz],
                 [[channel...], ...], [dx, dy, dz], [e1, e2]]
    particles:  [barcode, [vx, vy, vz], [p, theta, phi], q]

Event ids are block numbers, continued across the files of a job in the order
given (file K's first event follows file K-1's last: the source is told the
files before it, ``previous=``). Blocks of the hits and the particles file pair up
in order; a different number of blocks is an error.

Batch layout as :class:`~hitprep.sources.acts_csv.ActsCsvSource` gives it, so
the ``[barrel]`` and ``[trigger]`` stages and the ``acts_barrel_trigger`` preset
take either layout: ``hits`` with ``hit_id, barcode, volume_id, layer_id, x, y, z,
particle``; ``particles`` with ``barcode, vx, vy, vz, px, py, pz, pt, eta, q``.
Positions and kinematics are float32 and ``pt = p sin(theta)``, ``eta = -ln
tan(theta / 2)`` computed in float32, exactly as the HEPTrkX reader did; barcodes
are exact 64-bit integers (values of 2^63 and above keep their bit pattern in
int64). A hit whose non-zero barcode is no particle of its block is *unmatched*:
the ``[barrel]`` stage's ``on_unmatched`` decides (the notebook dropped the file).

The file is parsed by :mod:`hitprep.sources.literal_lines` (whole-array numpy, no
``ast.literal_eval``); a line that does not parse is an error naming its number.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from hitprep.errors import FileFormatError
from hitprep.sources.acts_csv import ActsCsvSource, Columns, derive_momentum
from hitprep.sources.base import Source
from hitprep.sources.literal_lines import Layout, count_blocks, parse_file

__all__ = ["HITS", "PARTICLES", "HeptrkxDumpSource", "is_dump"]

#: hitid, barcode, volid, layid, lpos[2], lerr[2], gpos[3], chans[[...]], dir[3], direrr[2]
HITS = Layout(
    "[n,n,n,n,[n,n],[n,n],[n,n,n],",
    ",[n,n,n],[n,n]]",
    nested=True,
    ints={"hit_id": 0, "barcode": 1, "volume_id": 2, "layer_id": 3},
    floats={"x": 8, "y": 9, "z": 10},
    names="[hitid, barcode, volid, layid, lpos[2], lerr[2], gpos[3], chans[[...]], dir[3],"
    " direrr[2]]",
)
#: barcode, vpos[3], kin[p, theta, phi], q
PARTICLES = Layout(
    "[n,[n,n,n],[n,n,n],n]",
    ints={"barcode": 0},
    floats={"vx": 1, "vy": 2, "vz": 3, "p": 4, "theta": 5, "phi": 6, "q": 7},
    names="[barcode, vpos[3], kin[p, theta, phi], q]",
)


def is_dump(path: str | Path) -> bool:
    """Whether a CSV file is a literal-list dump: its first data line starts with ``[``."""
    try:
        with Path(path).open("rb") as fh:
            for line in fh:
                text = line.strip()
                if text and not text.startswith(b"#"):
                    return text.startswith(b"[")
    except OSError as err:
        raise FileFormatError(path, f"cannot read: {err}") from err
    return False


class HeptrkxDumpSource(ActsCsvSource):
    """Events of one HEPTrkX dump pair, hits joined to particles by (block, barcode).

    Args:
        path: the hits file, ``clusters_K.csv``.
        particles: the particles file (default: ``particles_K.csv`` beside ``path``).
        previous: the hits files given before this one: event ids continue after theirs.

    Raises:
        FileFormatError: a line that does not parse, different block counts, duplicate
            particles in a block.
    """

    format_name: ClassVar[str] = "heptrkx"

    def __init__(
        self,
        path: str | Path,
        *,
        particles: str | Path | None = None,
        previous: Sequence[str | Path] = (),
    ) -> None:
        Source.__init__(self, path)
        self.particles_path = Path(particles) if particles else self._particles_beside()
        first = sum(count_blocks(p) for p in previous)
        hits = parse_file(self.path, HITS)
        parts = parse_file(self.particles_path, PARTICLES)
        if hits.n_blocks != parts.n_blocks:
            msg = (
                f"{hits.n_blocks} events (blocks of lines) but its particles file"
                f" {self.particles_path} has {parts.n_blocks}; the blocks must pair up"
            )
            raise FileFormatError(self.path, msg)
        hit_cols: Columns = {"event_id": hits.block + first, **hits.ints}
        hit_cols |= {k: v.astype(np.float32) for k, v in hits.floats.items()}
        q = parts.floats.pop("q")
        if np.any(q != np.rint(q)):
            row = int(np.flatnonzero(q != np.rint(q))[0])
            msg = f"line {int(parts.line[row])}: charge {q[row]} is not a whole number"
            raise FileFormatError(self.particles_path, msg)
        part_cols: Columns = {"event_id": parts.block + first, **parts.ints}
        part_cols |= {k: v.astype(np.float32) for k, v in parts.floats.items()}
        part_cols["q"] = q.astype(np.int64)
        self._init_events(hit_cols, derive_momentum(part_cols, self.particles_path))
