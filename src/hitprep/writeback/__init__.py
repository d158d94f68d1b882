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
:mod:`~hitprep.writeback.upsample` (chunks, copies, event numbers),
:mod:`~hitprep.writeback.stages` (flatten, preprocess, model, inverse, cast),
:mod:`~hitprep.writeback.values` (non-finite policy, casts),
:mod:`~hitprep.writeback.chunks` (a chunk's output events),
:mod:`~hitprep.writeback.summary` (what a run did),
:mod:`~hitprep.writeback.run` (Source -> stages -> Sink, one file),
:mod:`~hitprep.writeback.toy_model` (toy jets and muons). The ROOT sink is
:class:`hitprep.sinks.root.RootSink`; many files run through
:func:`hitprep.runners.writeback.writeback_files`.

Example:
    >>> import hitprep
    >>> from hitprep.toys.nanoaod import write_toy_nanoaod
    >>> from hitprep.writeback import writeback
    >>> job = hitprep.load_job("nanoaod_flashsim")
    >>> nano = write_toy_nanoaod("nano.root", 20)
    >>> print(writeback(job, nano, "synthetic.root", upsample=3).line())
    20 events in, 60 written (3 copies, blocks), 0 skipped; ... -> synthetic.root
"""

from __future__ import annotations

from hitprep.writeback.run import writeback
from hitprep.writeback.summary import WritebackSummary
from hitprep.writeback.table import ObjectTable, flatten, unflatten
from hitprep.writeback.upsample import output_events

__all__ = [
    "ObjectTable",
    "WritebackSummary",
    "flatten",
    "output_events",
    "unflatten",
    "writeback",
]
