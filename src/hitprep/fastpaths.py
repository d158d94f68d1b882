"""One switch for every fast path: ``HITPREP_FAST_PATHS=0`` turns them all off.

hitprep's fast paths do what h5py, uproot and glibc do, faster; plain h5py / uproot is
the reference they must equal (``tests/test_fastpaths.py`` converts every preset family
both ways and compares the outputs, and CI runs part of the suite with them off):

- ``sources.h5raw``: uncompressed HDF5 slices read with ``os.preadv``;
- ``sinks.raw``: contiguous datasets written with ``os.pwrite`` (and ``O_DIRECT``);
- ``sources.h5chunks``: compressed chunks inflated in hitprep's thread pool;
- ``sinks.hdf5``: chunks deflated in the thread pool and stored with ``write_direct_chunk``;
- ``sources.baskets``: hitprep's own TTree basket reader;
- ``allocator``: glibc malloc tuning, for conversion and writeback only.

Each also falls back by itself where the platform lacks what it needs (no ``os.preadv``
on Windows, no ``O_DIRECT`` on tmpfs, a basket layout it does not know).

Example:
    >>> import os
    >>> os.environ["HITPREP_FAST_PATHS"] = "off"; enabled()
    False
    >>> del os.environ["HITPREP_FAST_PATHS"]; enabled()
    True
"""

from __future__ import annotations

import os

__all__ = ["ENV", "enabled"]

#: the environment variable; ``0``, ``off``, ``no`` or ``false`` turn the fast paths off
ENV = "HITPREP_FAST_PATHS"
_OFF = frozenset({"0", "off", "no", "false"})


def enabled() -> bool:
    """Whether the fast paths are on (read at each use, so a test can switch them)."""
    return os.environ.get(ENV, "").strip().lower() not in _OFF
