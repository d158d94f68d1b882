"""One chunk of input events -> its output events: event fields, copied and generated collections.

Event fields are taken per output event (upsampled copies get new event numbers,
see :mod:`hitprep.writeback.upsample`); a passed-through collection is copied;
a generated collection goes through :mod:`hitprep.writeback.stages`, with the
job's non-finite policy (:class:`hitprep.writeback.values.NonFinite`) applied to
the preprocessed conditioning and to the inverted model output. Events with a
non-finite value under ``skip_event`` are dropped and counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.writeback.plan import ModelPlan, Plan
from hitprep.writeback.spec import WritebackSpec
from hitprep.writeback.stages import flatten_objects, generate, invert, output_columns, preprocess
from hitprep.writeback.summary import WritebackSummary
from hitprep.writeback.table import flatten, unflatten
from hitprep.writeback.upsample import Chunk
from hitprep.writeback.values import NonFinite

__all__ = ["OutputEvents"]

IntArray = npt.NDArray[np.int64]


class OutputEvents:
    """Turns each chunk of input events into output events, in order.

    Args:
        spec: the job.
        plan: the job resolved against the input.
        summary: where skipped events and non-finite values are counted.
        stride: event-number stride of upsampled copies (0: numbers kept).
    """

    def __init__(
        self, spec: WritebackSpec, plan: Plan, summary: WritebackSummary, stride: int
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.summary = summary
        self.stride = stride
        self.nonfinite = NonFinite(spec.nonfinite, spec.fill_value, summary.nonfinite)
        self.rows_done: Counter[str] = Counter()  # model rows made so far (noise position)

    def __call__(self, batch: ak.Array, chunk: Chunk) -> ak.Array:
        """The output events of ``chunk``, whose input events ``batch`` holds."""
        events = chunk.events
        n = len(events)
        keep = np.ones(n, dtype=bool)
        contents = self._event_fields(batch, events, chunk.copies)
        for coll, kind in self.plan.collections:
            if kind == "copy":
                table = flatten(batch, coll, self.plan.copy_fields[coll]).take_events(events)
                contents[coll] = unflatten(table.columns, table.counts)
            else:
                contents[coll] = self._generated(self.plan.models[coll], batch, chunk, keep)
        out = ak.Array(
            ak.contents.RecordArray(
                [ak.to_layout(v) for v in contents.values()], list(contents), length=n
            )
        )
        if not keep.all():
            self.summary.skipped["non-finite values"] += int((~keep).sum())
            out = out[keep]
        return out

    def _event_fields(self, batch: ak.Array, events: IntArray, copies: IntArray) -> dict[str, Any]:
        contents: dict[str, Any] = {}
        for name in self.plan.event_fields:
            values = np.asarray(ak.to_numpy(batch[name]))[events]
            if name == "event" and self.stride and self.spec.upsample > 1:
                values = values + (copies * self.stride).astype(values.dtype)
            contents[name] = values
        return contents

    def _generated(
        self, mp: ModelPlan, batch: ak.Array, chunk: Chunk, keep: npt.NDArray[np.bool_]
    ) -> ak.Array:
        """A generated collection: flatten, preprocess, model, invert, cast, unflatten."""
        m = mp.spec
        entries = chunk.start + chunk.events  # each output event's input entry
        table = flatten_objects(mp, batch, chunk.events)
        rows_event = table.event_index
        cond = preprocess(mp, table)
        names_in = tuple(f"{m.conditioning}.{f}" for f in mp.inputs)
        self.nonfinite.check(cond, names_in, "conditioning", rows_event, keep, entries)
        first = self.rows_done[m.collection]
        out = generate(mp, cond, seed=self.spec.seed, first_row=first)
        self.rows_done[m.collection] += len(cond)
        invert(mp, out)
        names_out = tuple(f"{m.collection}.{f}" for f in mp.outputs)
        self.nonfinite.check(out, names_out, "model output", rows_event, keep, entries)
        columns = output_columns(mp, out, table, entries[rows_event])
        return unflatten(columns, table.counts)
