"""Keep freed memory for the next chunk instead of handing it back to the system (glibc).

A conversion allocates the same few large arrays for every chunk. glibc serves blocks above
its mmap threshold (128 KiB, rising to at most 32 MiB) with fresh ``mmap`` pages and trims the
heap whenever its free top grows past twice that, so each chunk's arrays are faulted in page
by page again: 90,000 page faults, a third of the CPU time of a KM3NeT graph conversion. With
the thresholds raised, freed arrays are reused: half the page faults and ~8% less wall time
there, for ~15% more peak memory (the largest chunk's arrays stay mapped).

Only processes that hitprep owns call :func:`keep_freed_memory` (the command line and its
worker processes), never a library import. It does nothing where the C library is not glibc,
and leaves the allocator alone when ``GLIBC_TUNABLES`` or a ``MALLOC_*`` variable is set (the
user's choice wins) or ``HITPREP_MALLOC=system``.
"""

from __future__ import annotations

import os
import sys

from hitprep import fastpaths

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_SETTINGS = (
    # one heap for every thread: a pool thread's freed buffers are reused by the next chunk
    # whichever thread asks, instead of each thread's arena keeping its own (peak memory
    # grew with the number of inputs: 20 KM3NeT files 1.28x one file, 1.0x with one arena)
    (_M_ARENA_MAX, 1),
    (_M_MMAP_THRESHOLD, 256 << 20),  # blocks below 256 MiB come from the heap, and are reused
    (_M_TRIM_THRESHOLD, 1 << 30),  # the heap is trimmed only when 1 GiB at its top is free
    (_M_TOP_PAD, 64 << 20),  # it grows 64 MiB at a time
)


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for chunked conversions; True when it was done."""
    if sys.platform != "linux" or os.environ.get("HITPREP_MALLOC", "") == "system":
        return False
    if not fastpaths.enabled():
        return False
    if "GLIBC_TUNABLES" in os.environ or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in _SETTINGS)
