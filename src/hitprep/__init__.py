"""hitprep: particle-detector event data -> deep-learning training samples, without ROOT.

Public entry points::

    import hitprep
    job = hitprep.load_job("km3net_zt")
    summary = hitprep.convert(job, ["events.h5"], "images.h5", detx="detector.detx")
    with hitprep.open_source("events.h5") as source:
        for batch in source.iterate(step=100):
            ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hitprep._version import __version__

if TYPE_CHECKING:
    from hitprep.config import Job, load_job
    from hitprep.detectors.detx import Detector, read_detx
    from hitprep.runners import Summary, convert
    from hitprep.sources import open_source

__all__ = [
    "Detector",
    "Job",
    "Summary",
    "__version__",
    "convert",
    "load_job",
    "open_source",
    "read_detx",
]

#: public name -> module that defines it; imported on first use, so that a command that
#: needs only part of hitprep (writeback, inspect) does not import runners, h5py and all
_LAZY = {
    "Job": "hitprep.config",
    "load_job": "hitprep.config",
    "Detector": "hitprep.detectors.detx",
    "read_detx": "hitprep.detectors.detx",
    "Summary": "hitprep.runners",
    "convert": "hitprep.runners",
    "open_source": "hitprep.sources",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'hitprep' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
