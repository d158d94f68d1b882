"""The ``[watchmal]`` job section: WatChMaL's HDF5 layout (DataTools' names and dtypes).

Per event: ``labels`` int32, ``root_files`` (variable-length str),
``event_ids`` int32, ``energies`` (N, 1) f32, ``positions`` (N, 1, 3) f32,
``angles`` (N, 2) f32, ``veto``, ``veto2``, ``fully_contained`` bool, and
``event_hits_index`` int64 (each event's first hit; WatChMaL appends the hit
count itself). Per hit: ``hit_pmt`` int32 (0-based), ``hit_time`` f32 and
``hit_charge`` f32 (digitized hits) or ``hit_parent`` int32 (true hits, −1 =
dark noise). File attributes ``git-describe``, ``command`` and ``timestamp``
come with hitprep's provenance.

The hits are declared a jagged group (:meth:`WatchmalRepresentation.roles`): every tool
(concat, shuffle, split, the shard merge) moves each event's hits with it, keeps the hit
arrays contiguous and uncompressed in the contiguous layout, and rebuilds
``event_hits_index`` as int64 start offsets.

Hits come from collection ``hits`` (the ``[wcsim_hits]`` stage); the truth
from the ``[wcsim_truth]`` stage.

``layout``:
  - ``"contiguous"`` (default): the hit arrays are contiguous and uncompressed,
    so WatChMaL can memory-map them (``np.memmap(path, offset=ds.id.get_offset())``).
    When the number of hits can be counted before the run (a columnar source such
    as an event dump: a pre-pass over the trigger columns), the datasets are
    created at that size (storage allocated at once) and each chunk's hits are
    written straight into them (``os.pwrite`` at the datasets' file offsets, in
    hitprep's thread pool, while the next chunk is read); otherwise hits are
    spooled to anonymous temporary files and copied into the output in blocks at
    the end. Either way memory stays bounded by the chunk.
  - ``"compressed"``: the hit arrays are chunked and compressed like the rest.

``hits = false`` writes the per-event arrays only (e.g. beside PMT-grid images).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import IO, Any, Literal

import awkward as ak
import h5py
import numpy as np
import numpy.typing as npt

from hitprep.config import Job
from hitprep.errors import ConfigError
from hitprep.events import counts, event_column, flat_column, offsets_from_counts
from hitprep.jobmodel import JobSection, Section
from hitprep.layout import Entry, jagged
from hitprep.pipeline import BuildOptions, Context, Representation
from hitprep.sinks.hdf5 import HDF5Sink
from hitprep.sinks.raw import ContiguousWriter

__all__ = [
    "JOB_SECTIONS",
    "WatchmalRepresentation",
    "WatchmalSection",
    "build_representations",
]

_LAYOUTS = ("contiguous", "compressed")
_STR = h5py.string_dtype()
_BLOCK = 1 << 22  # hits copied per step from the spool into the output
_STARTS = "event_hits_index"
_TRUTH = ["label", "veto", "veto2", "fully_contained", "energy", "polar", "azimuth"]
_TRUTH += [f"position_{c}" for c in "xyz"]


class WatchmalSection(Section):
    """``[watchmal]``: the HDF5 file WatChMaL's datasets read."""

    layout: Literal["contiguous", "compressed"] = "contiguous"
    """Hit datasets: one contiguous array each (WatChMaL's own layout, read by slicing), or
    chunked and compressed."""
    hits: bool = True
    """Write the hits (hit_pmt, hit_time, hit_charge) of the [wcsim_hits] selection."""
    side_files: bool = False
    """convert also writes WatChMaL's .npz side files (index splits, geometry)."""


def event_arrays(batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
    """WatChMaL's per-event arrays of a batch with the ``[wcsim_truth]`` fields."""
    n = len(batch)
    names = set(ak.fields(batch))

    def column(name: str, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        return np.asarray(event_column(batch, name), dtype=dtype)

    if "root_file" in names:
        files = np.asarray(ak.to_numpy(batch["root_file"]), dtype=str).astype(_STR)
    else:
        files = np.full(n, ctx.source, dtype=_STR)
    position = np.stack([event_column(batch, f"position_{c}") for c in "xyz"], axis=1)
    angles = np.stack([event_column(batch, "polar"), event_column(batch, "azimuth")], axis=1)
    return {
        "labels": column("label", np.int32),
        "root_files": files,
        "event_ids": column("event_id" if "event_id" in names else "entry", np.int32),
        "energies": column("energy", np.float32).reshape(n, 1),
        "positions": position.astype(np.float32).reshape(n, 1, 3),
        "angles": angles.astype(np.float32),
        "veto": column("veto", bool),
        "veto2": column("veto2", bool),
        "fully_contained": column("fully_contained", bool),
    }


class WatchmalRepresentation(Representation):
    """Per-event truth and, optionally, the jagged hits in WatChMaL's layout.

    ``event_hits_index`` (and, in the contiguous layout, the hit arrays) are
    written when the job ends. When a job runs as several tasks whose shards
    are merged, the merge concatenates them (each shard's start offsets shifted by the
    hits of the shards before it) and adds up the hit counts, as :meth:`roles` declares.

    Args:
        hits: ``"digi"`` (``hit_charge``) or ``"true"`` (``hit_parent``) hits, or
            ``None`` for the per-event arrays only.
        layout: ``"contiguous"`` or ``"compressed"`` (see the module docstring).
    """

    def __init__(self, *, hits: str | None = "digi", layout: str = "contiguous") -> None:
        self.layout = layout
        self.hit_columns: dict[str, tuple[str, np.dtype[Any]]] = {}
        if hits is not None:
            self.hit_columns = {
                "hit_pmt": ("pmt", np.dtype(np.int32)),
                "hit_time": ("time", np.dtype(np.float32)),
            }
            if hits == "true":
                self.hit_columns["hit_parent"] = ("parent", np.dtype(np.int32))
            else:
                self.hit_columns["hit_charge"] = ("charge", np.dtype(np.float32))
        required = set(_TRUTH)
        required |= {f"hits.{field}" for field, _ in self.hit_columns.values()}
        self.required = frozenset(required)
        self.missing_hint = "add the [wcsim_hits] and [wcsim_truth] sections"
        self.hits_written = 0
        self._starts: list[npt.NDArray[np.int64]] = []
        self._spool: dict[str, IO[bytes]] = {}
        self._writer: ContiguousWriter | None = None  # into the hit datasets prepare() sized
        self._reserved = 0

    def __call__(self, batch: ak.Array, ctx: Context) -> dict[str, npt.NDArray[Any]]:
        arrays = event_arrays(batch, ctx)
        if not self.hit_columns:
            return arrays
        hits = batch["hits"]
        n_hits = counts(hits)
        self._starts.append(offsets_from_counts(n_hits)[:-1] + self.hits_written)
        self.hits_written += int(n_hits.sum())
        for name, (field, dtype) in self.hit_columns.items():
            column = flat_column(hits, field).astype(dtype, copy=False)
            if self.layout == "compressed":
                arrays[name] = column
                continue
            if self._writer is not None:  # straight into place (in the thread pool, behind us)
                if self.hits_written > self._reserved:
                    msg = f"{name}: more hits than the {self._reserved} counted before the run"
                    raise RuntimeError(msg)
                self._writer.write(name, self.hits_written - len(column), column)
                continue
            if name not in self._spool:
                # closed in finish(); an anonymous file the OS deletes whatever happens
                self._spool[name] = tempfile.TemporaryFile(prefix="hitprep-watchmal-")  # noqa: SIM115
            np.ascontiguousarray(column).tofile(self._spool[name])
        return arrays

    def prepare(self, sink: HDF5Sink, item_count: Callable[[str], int | None]) -> None:
        """Contiguous: create the hit datasets at their final size when it can be counted."""
        if not self.hit_columns or self.layout != "contiguous":
            return
        total = item_count("hits")
        if total is None:
            return
        self._reserved = total
        for name, (_, dtype) in self.hit_columns.items():
            sink.allocate(name, length=total, dtype=dtype)
        # two chunks' hits in flight at most
        self._writer = sink.writer(list(self.hit_columns), max_pending=2 * len(self.hit_columns))

    def finish(self, sink: HDF5Sink) -> None:
        """Write ``event_hits_index`` and, contiguous, the spooled hits (block by block)."""
        if not self.hit_columns:
            return
        written_in_place, self._writer = self._writer, None
        if written_in_place is not None:
            written_in_place.close()  # every hit in the file before anything else happens
        starts = np.concatenate(self._starts) if self._starts else np.zeros(0, np.int64)
        sink.write(_STARTS, starts)
        if written_in_place is not None:
            if self.hits_written != self._reserved:
                msg = f"{self.hits_written} hits written, {self._reserved} counted before the run"
                raise RuntimeError(msg)
            return
        if self.layout != "contiguous":
            return
        for name, (_, dtype) in self.hit_columns.items():
            sink.allocate(name, length=self.hits_written, dtype=dtype)
        writer = sink.writer(list(self.hit_columns), max_pending=2)
        for name, (_, dtype) in self.hit_columns.items():
            spool = self._spool.pop(name, None)
            if spool is None:
                continue
            spool.seek(0)
            for start in range(0, self.hits_written, _BLOCK):
                block = np.frombuffer(spool.read(_BLOCK * dtype.itemsize), dtype=dtype)
                writer.write(name, start, block)
            spool.close()
        writer.close()

    def roles(self, rows: Sequence[str], whole: Sequence[str]) -> dict[str, Entry]:
        """The hits are a jagged group indexed by ``event_hits_index`` (start offsets),
        contiguous or compressed as ``layout`` says."""
        out = super().roles(rows, whole)
        if self.hit_columns:
            storage = "contiguous" if self.layout == "contiguous" else "chunked"
            out.update(jagged(_STARTS, self.hit_columns, form="starts", storage=storage))
        return out

    def empty(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {
            "labels": np.zeros(0, np.int32),
            "root_files": np.zeros(0, dtype=_STR),
            "event_ids": np.zeros(0, np.int32),
            "energies": np.zeros((0, 1), np.float32),
            "positions": np.zeros((0, 1, 3), np.float32),
            "angles": np.zeros((0, 2), np.float32),
            "veto": np.zeros(0, bool),
            "veto2": np.zeros(0, bool),
            "fully_contained": np.zeros(0, bool),
        }
        if self.layout == "compressed":
            out.update({n: np.zeros(0, d) for n, (_, d) in self.hit_columns.items()})
        return out


def build_representations(job: Job, options: BuildOptions) -> Sequence[Representation]:
    """The WatChMaL representation of a job with a ``[watchmal]`` section."""
    del options
    sec: WatchmalSection = job.get("watchmal")
    hits_section = job.get("wcsim_hits")
    if sec.hits and hits_section is None:
        msg = f"{job.origin or 'job'}: [watchmal] writes hits; add a [wcsim_hits] section"
        raise ConfigError(msg)
    if job.get("wcsim_truth") is None:
        msg = f"{job.origin or 'job'}: [watchmal] needs the truth; add a [wcsim_truth] section"
        raise ConfigError(msg)
    kind = hits_section.hits if sec.hits else None
    return [WatchmalRepresentation(hits=kind, layout=sec.layout)]


JOB_SECTIONS = (
    JobSection(
        "watchmal", WatchmalSection, 140, kind="representation", build=build_representations
    ),
)
