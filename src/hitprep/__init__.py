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

from hitprep._version import __version__
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
