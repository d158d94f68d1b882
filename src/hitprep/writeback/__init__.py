"""Write model output back into ROOT: structure-preserving NanoAOD generation (FlashSim-style).

Generator-level objects are read from NanoAOD (TTree or RNTuple) in chunks,
flattened to per-object tables with per-event counts (zeros included),
preprocessed, passed through a generator model with seeded noise, mapped back
through the exact inverse transforms, cast to the input's dtypes and
unflattened with the original counts into a NanoAOD ``Events`` TTree (``nJet``
counters, ``Jet_pt`` branches), optionally upsampled N times.

Modules: :mod:`~hitprep.writeback.table` (flatten/unflatten),
:mod:`~hitprep.writeback.transforms` (preprocessing and inverses),
:mod:`~hitprep.writeback.generator` (models), :mod:`~hitprep.writeback.noise`
(seeded noise), :mod:`~hitprep.writeback.spec` (job sections),
:mod:`~hitprep.writeback.plan` (job resolved against a file),
:mod:`~hitprep.writeback.run` (the loop), :mod:`~hitprep.writeback.writer`
(TTree writer), :mod:`~hitprep.writeback.toy_model` (toy jets and muons).

Example:
    >>> import hitprep
    >>> from hitprep.writeback import writeback
    >>> job = hitprep.load_job("nanoaod_flashsim")  # doctest: +SKIP
    >>> print(writeback(job, "nano.root", "synthetic.root", upsample=3).line())  # doctest: +SKIP
"""

from __future__ import annotations

from hitprep.writeback.run import WritebackSummary, output_events, writeback
from hitprep.writeback.table import ObjectTable, flatten, unflatten
from hitprep.writeback.writer import NanoAODWriter

__all__ = [
    "NanoAODWriter",
    "ObjectTable",
    "WritebackSummary",
    "flatten",
    "output_events",
    "unflatten",
    "writeback",
]
