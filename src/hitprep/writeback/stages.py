"""The stages a generated collection goes through in each chunk.

``flatten`` (conditioning objects of the chunk's output events as a flat table) ->
``preprocess`` (forward transforms) -> ``generate`` (the model, with seeded noise) ->
``invert`` (the exact inverse transforms) -> ``output_columns`` (cast to the branch
dtypes, four-vector fields completed, the link to the conditioning object added).
Each works on flat per-object arrays; the table's per-event counts carry the
event structure through unchanged. :class:`hitprep.writeback.chunks.OutputEvents`
runs them, with the job's non-finite policy between them.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.writeback.generator import apply_generator
from hitprep.writeback.noise import normal_noise
from hitprep.writeback.plan import ModelPlan
from hitprep.writeback.table import ObjectTable, flatten
from hitprep.writeback.transforms import forward, inverse
from hitprep.writeback.values import cast

__all__ = ["flatten_objects", "generate", "invert", "output_columns", "preprocess"]

IntArray = npt.NDArray[np.int64]
Float64 = npt.NDArray[np.float64]


def flatten_objects(mp: ModelPlan, batch: ak.Array, events: IntArray) -> ObjectTable:
    """The conditioning objects of each output event (``events`` index the batch's)."""
    m = mp.spec
    return flatten(
        batch,
        m.conditioning,
        tuple(dict.fromkeys((*mp.inputs, *mp.copied))),
        select=m.select or None,
        local_index=m.link or None,
    ).take_events(events)


def preprocess(mp: ModelPlan, table: ObjectTable) -> Float64:
    """The model's conditioning matrix (a row per object), forward transforms applied."""
    cond = table.matrix(mp.inputs)
    for j, chain in enumerate(mp.input_chains):
        if chain:
            cond[:, j] = forward(chain, cond[:, j])
    return cond


def generate(mp: ModelPlan, cond: Float64, *, seed: int, first_row: int) -> Float64:
    """The model's output for ``cond``; its noise rows continue from ``first_row``.

    The noise of row ``i`` depends on the seed, the model and ``first_row + i`` only,
    so it does not depend on the chunk size.
    """
    m = mp.spec
    noise = normal_noise(seed=seed, stream=mp.stream, start=first_row, rows=len(cond), dim=m.noise)
    if not len(cond):
        return np.zeros((0, len(mp.outputs)), dtype=np.float64)
    return apply_generator(
        mp.generator,
        cond,
        noise,
        outputs=len(mp.outputs),
        batch_size=m.batch_size,
        where=m.where,
        first_row=first_row,
    )


def invert(mp: ModelPlan, out: Float64) -> Float64:
    """The output collection's inverse transforms applied to the model output (in place)."""
    for j, chain in enumerate(mp.output_chains):
        if chain:
            out[:, j] = inverse(chain, out[:, j])
    return out


def output_columns(
    mp: ModelPlan, out: Float64, table: ObjectTable, entries: IntArray
) -> dict[str, npt.NDArray[Any]]:
    """The output collection's columns in its branch dtypes.

    Model outputs, then completed four-vector fields (``Muon_mass``), then the link
    to the conditioning object; ``entries`` (each row's input entry) name the object
    in errors.
    """
    where = mp.spec.where
    columns = {
        name: cast(out[:, j], dtype, f"{where}.{name}", entries)
        for j, (name, dtype) in enumerate(zip(mp.outputs, mp.output_dtypes, strict=True))
    }
    for name, (values, dtype) in mp.completed_columns(table.columns, len(out)).items():
        columns[name] = cast(values, dtype, f"{where}.{name}", entries)
    link = mp.spec.link
    if link:
        index = table.columns[link].astype(np.float64)
        columns[link] = cast(index, mp.link_dtype, f"{where}.{link}", entries)
    return columns
