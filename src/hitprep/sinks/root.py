"""ROOT sink: event batches appended to NanoAOD-style TTrees chunk by chunk, atomically.

NanoAOD naming: an event field ``run`` is a branch ``run``; a collection
``Jet`` with fields ``pt, eta`` becomes one counter ``nJet`` and branches
``Jet_pt``, ``Jet_eta`` that share it; a collection whose only field is
``value`` (read from a bare jagged branch such as ``PSWeight``) is written back
as that bare branch with its counter ``nPSWeight``.

uproot (>= 5.7) writes an RNTuple on ``file[name] = data``, so trees are made
with ``mktree`` and filled with ``extend``, one basket per chunk. uproot makes
every counter ``int32``; real NanoAOD counters are ``uint32``. The sink
therefore retypes the counters (and, optionally, sets branch titles, which
carry NanoAOD's documentation) before the first basket is written, then lets
uproot rewrite the tree's metadata. This uses uproot's writer internals, is
checked against the installed uproot, and falls back to ``int32`` counters
with a warning if they change.

With ``background=True`` every write runs in the sink's writer thread
(:class:`WriteBehind`), in order, while the caller makes the next chunk:
compressing baskets releases the GIL, so writing overlaps reading and computing.

The file is written under a hidden temporary name beside the target and
renamed by :meth:`RootSink.commit`; an error (or leaving the ``with`` block by
an exception) deletes it, so no partial output is ever left behind.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from hitprep.events import jagged_from_flat, make_batch, offsets_from_counts
    >>> jets = jagged_from_flat({"pt": np.ones(3, np.float32)}, offsets_from_counts([2, 1]))
    >>> batch = make_batch({"run": np.ones(2, np.uint32)}, {"Jet": jets}, length=2)
    >>> with RootSink(Path(tempfile.mkdtemp()) / "out.root") as sink:
    ...     sink.extend("Events", batch)
    ...     sink.commit().name
    'out.root'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt
import uproot

from hitprep import deflate
from hitprep.atomic import check_output, partial_path, publish
from hitprep.errors import ConfigError
from hitprep.sinks.lifecycle import OutputLifecycle
from hitprep.threads import threads

__all__ = ["FastZLIB", "RootSink", "WriteBehind", "parse_compression"]

log = logging.getLogger(__name__)

_VALUE = "value"
_ENTRY = "entry"


class FastZLIB(uproot.ZLIB):  # type: ignore[misc]
    """uproot's ZLIB, with baskets compressed by :func:`hitprep.deflate.compress`.

    The same zlib format (ROOT's ``ZL`` blocks, which uproot, ROOT and any zlib
    read), made by ISA-L at level 1 and zlib-ng otherwise: several times faster
    than the standard zlib, and at level 1 as small (zlib-ng's own level 1 is a
    much weaker algorithm: NanoAOD baskets came out 1.7x larger, so without ISA-L
    level 1 is made at zlib-ng's level 2). The file records ZLIB at the level
    asked for, as :class:`uproot.ZLIB` would. Only the writer given this object
    uses it: uproot's ``ZLIB`` itself is left alone.
    """

    @property
    def code_pair(self) -> tuple[int, int]:
        # uproot looks the algorithm code up by exact class; this one is ZLIB's
        level: int = self.level
        return 1, level

    def compress(self, data: bytes) -> bytes:
        level: int = self.level
        return deflate.compress(data, level)


_COMPRESSIONS = {"zlib": FastZLIB, "lzma": uproot.LZMA, "lz4": uproot.LZ4, "zstd": uproot.ZSTD}


def parse_compression(spec: str, *, like: str | Path | None = None) -> Any:
    """uproot compression from ``"zlib:1"``, ``"lzma:9"``, ``"lz4:4"``, ``"zstd:5"``, ``"none"``
    or ``"input"`` (that of the ROOT file ``like``; ``zlib:1`` when none is given).

    Raises:
        ConfigError: unknown algorithm or level outside 0-9.
    """
    text = spec.strip().lower()
    if text == "input":
        if like is None:
            return FastZLIB(1)
        with uproot.open(like) as f:
            found = f.file.compression
        return FastZLIB(found.level) if isinstance(found, uproot.ZLIB) else found
    if text in ("none", ""):
        return None
    name, _, level_text = text.partition(":")
    level = 1 if not level_text else int(level_text) if level_text.isdigit() else -1
    if name not in _COMPRESSIONS or not 0 <= level <= 9:
        msg = (
            f"compression {spec!r}: expected <algorithm>:<level 0-9> with algorithm one of "
            f"{', '.join(_COMPRESSIONS)}, or 'none' or 'input' (the input file's)"
        )
        raise ConfigError(msg)
    return _COMPRESSIONS[name](level)


def _is_bare(collection: ak.Array) -> bool:
    return list(ak.fields(collection)) == [_VALUE]


def _branch_types(batch: ak.Array, bare: set[str]) -> dict[str, Any]:
    """mktree types: numpy dtypes for event fields, awkward list types for collections."""
    types: dict[str, Any] = {}
    for name in ak.fields(batch):
        if name == _ENTRY:
            continue
        column = batch[name]
        if column.ndim == 1:
            types[name] = np.dtype(ak.to_numpy(column[:0]).dtype)
        elif name in bare:
            types[name] = ak.type(column[_VALUE]).content
        else:
            types[name] = ak.type(column).content
    return types


def _fields_of(collection: ak.Array) -> dict[str, ak.Array] | None:
    """Each field of a ``var * {fields}`` collection as its own list array, sharing the offsets.

    Taken from the layout (no awkward dispatch per field: uproot would otherwise
    index the collection once per branch); None for any other layout.
    """
    layout = collection.layout
    if not isinstance(layout, ak.contents.ListOffsetArray):
        return None
    record = layout.content
    if not isinstance(record, ak.contents.RecordArray) or record.is_tuple or record.parameters:
        return None
    return {
        name: ak.Array(ak.contents.ListOffsetArray(layout.offsets, record.content(name)))
        for name in record.fields
    }


def _branch_data(batch: ak.Array, bare: set[str]) -> dict[str, Any]:
    """What uproot's ``extend`` takes: arrays per branch, a field table per collection.

    A collection goes in as ``{field: list array}`` with its counter given
    explicitly (as uproot would make it from the collection).
    """
    data: dict[str, Any] = {}
    for name in ak.fields(batch):
        if name == _ENTRY:
            continue
        column = batch[name]
        if column.ndim == 1:
            data[name] = np.asarray(ak.to_numpy(column))
        elif name in bare:
            data[name] = column[_VALUE]
        elif (fields := _fields_of(column)) is not None:
            data[f"n{name}"] = np.diff(np.asarray(column.layout.offsets))
            data[name] = fields
        else:
            data[name] = column
    return data


def _retype_data(
    branch_data: Any, counter_dtypes: Mapping[str, np.dtype[Any]], titles: Mapping[str, str]
) -> bool:
    """Set counter dtypes and branch titles in uproot's branch records; True if any changed."""
    from uproot.writing._cascadetree import _dtype_to_char

    changed = False
    for datum in branch_data:
        name = datum.get("fName")
        if name is None:
            continue
        if datum.get("kind") == "counter" and name in counter_dtypes:
            dtype = np.dtype(counter_dtypes[name]).newbyteorder(">")
            if dtype != datum["dtype"] and dtype in _dtype_to_char:
                datum["dtype"] = dtype
                datum["fTitle"] = f"{name}/{_dtype_to_char[dtype]}"
                changed = True
        if name in titles:
            datum["fTitle"] = titles[name]
            changed = True
    return changed


_TREE_ARGS = [
    "self",
    "directory",
    "name",
    "title",
    "branch_types",
    "freesegments",
    "counter_name",
    "field_name",
    "initial_basket_capacity",
    "resize_factor",
]


def _mktree(
    file: Any,
    name: str,
    types: Mapping[str, Any],
    *,
    capacity: int,
    counter_dtypes: Mapping[str, np.dtype[Any]],
    titles: Mapping[str, str],
) -> Any:
    """``file.mktree`` with counters retyped and titles set before the metadata is written.

    uproot's ``add_tree`` builds the tree and writes its metadata at once; the
    file's own ``add_tree`` is replaced for this call by one that retypes in
    between (writing the metadata costs time quadratic in the branches, so it
    is worth writing once). If uproot's internals differ from the expected
    ones, the tree is made as usual and its metadata rewritten after retyping.
    """
    import inspect

    from uproot.writing._cascadetree import Tree

    cascading = file._cascading
    expected = list(inspect.signature(Tree.__init__).parameters) == _TREE_ARGS
    if expected and hasattr(cascading, "_freesegments"):

        def add_tree(
            sink: Any,
            tree_name: str,
            title: str,
            branch_types: Any,
            counter_name: Any,
            field_name: Any,
            initial_basket_capacity: int,
            resize_factor: float,
        ) -> Any:
            tree = Tree(
                cascading,
                tree_name,
                title,
                branch_types,
                cascading._freesegments,
                counter_name,
                field_name,
                initial_basket_capacity,
                resize_factor,
            )
            _retype_data(tree._branch_data, counter_dtypes, titles)
            tree.write_anew(sink)
            return tree

        cascading.add_tree = add_tree
        try:
            return file.mktree(name, dict(types), initial_basket_capacity=capacity)
        finally:
            del cascading.add_tree
    made = file.mktree(name, dict(types), initial_basket_capacity=capacity)
    inner = getattr(made, "_cascading", None)
    if inner is None or not hasattr(inner, "_relocate"):
        log.warning("uproot %s: cannot retype counters; they stay int32", uproot.__version__)
        return made
    if _retype_data(inner._branch_data, counter_dtypes, titles):
        inner._relocate(made._file, made._file.sink)
    return made


class WriteBehind:
    """Runs write calls one at a time in a thread, in order, while the caller goes on.

    :meth:`submit` waits for the previous write first, so at most one chunk waits in
    memory; an error in a write is raised by the next :meth:`submit` or :meth:`wait`.
    :meth:`close` always waits for a running write, so a file is never closed under
    one. With a one-core thread budget (:func:`hitprep.threads.threads`), or
    ``enabled=False``, every write runs in the calling thread.

    Example:
        >>> done = []
        >>> behind = WriteBehind()
        >>> for i in range(3):
        ...     behind.submit(lambda i=i: done.append(i))
        >>> behind.close()
        >>> done
        [0, 1, 2]
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def submit(self, write: Callable[[], None]) -> None:
        """Run ``write`` after the previous write, in the writer thread where there is one."""
        self.wait()
        if not self._enabled or threads() == 1:  # a one-core budget: written here and now
            write()
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitprep-write")
        self._pending = self._pool.submit(write)

    def wait(self) -> None:
        """Wait for the running write; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, *, discard: bool = False) -> None:
        """Wait for the running write (``discard``: ignoring its error) and end the thread."""
        try:
            if discard:
                pending, self._pending = self._pending, None
                if pending is not None:
                    futures.wait([pending])
            else:
                self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


class RootSink(OutputLifecycle):
    """TTrees filled chunk by chunk in a temporary file, renamed on :meth:`commit`.

    Args:
        path: final output path.
        overwrite: replace an existing output on commit.
        compression: see :func:`parse_compression`.
        like: the file ``compression="input"`` refers to.
        baskets: expected number of :meth:`extend` calls per tree; room for that
            many baskets is reserved, so uproot need not rewrite the tree's
            metadata as it grows (which costs time quadratic in the branches).
        background: write in the sink's writer thread (:class:`WriteBehind`), so that
            :meth:`extend` returns while its chunk is compressed and written.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        compression: str = "zlib:1",
        baskets: int = 10,
        like: str | Path | None = None,
        background: bool = False,
    ) -> None:
        self.path = check_output(path, overwrite=overwrite)
        self.compression = parse_compression(compression, like=like)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = partial_path(self.path)
        self._file: Any = uproot.recreate(self.tmp_path, compression=self.compression)
        self._capacity = max(10, baskets + 2)
        self._trees: dict[str, Any] = {}
        self._bare: dict[str, set[str]] = {}
        self._behind = WriteBehind(enabled=background)
        self.entries: dict[str, int] = {}

    def _open(self) -> Any:
        if self._file is None:
            msg = f"sink for {self.path} is closed"
            raise RuntimeError(msg)
        return self._file

    def extend(
        self,
        tree: str,
        batch: ak.Array,
        *,
        counter_dtypes: Mapping[str, npt.DTypeLike] | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> None:
        """Append the events of ``batch`` (``entry`` is left out) to ``tree``.

        The first call creates the tree with the batch's fields and dtypes; the
        following batches must have the same fields and dtypes. In a background
        sink the write runs in the writer thread, after the previous one; its error
        is raised by the next call.

        Args:
            tree: tree name, e.g. ``"Events"``.
            batch: event fields and ``var * {...}`` collections.
            counter_dtypes: collection -> counter dtype (default ``uint32``, NanoAOD's).
            titles: branch name -> title (NanoAOD keeps each branch's documentation there).
        """
        self._open()
        dtypes, names = dict(counter_dtypes or {}), dict(titles or {})
        self._behind.submit(lambda: self._write(tree, batch, dtypes, names))

    def _write(
        self,
        tree: str,
        batch: ak.Array,
        counter_dtypes: Mapping[str, npt.DTypeLike],
        titles: Mapping[str, str],
    ) -> None:
        """Append ``batch`` to ``tree`` now (in the writer thread of a background sink)."""
        f = self._open()
        if tree not in self._trees:
            bare = {n for n in ak.fields(batch) if batch[n].ndim > 1 and _is_bare(batch[n])}
            types = _branch_types(batch, bare)
            collections = [n for n, t in types.items() if not isinstance(t, np.dtype)]
            dtypes = {f"n{c}": np.dtype(counter_dtypes.get(c, np.uint32)) for c in collections}
            made = _mktree(
                f, tree, types, capacity=self._capacity, counter_dtypes=dtypes, titles=titles
            )
            self._trees[tree] = made
            self._bare[tree] = bare
            self.entries[tree] = 0
        if len(batch) == 0:
            return
        self._trees[tree].extend(_branch_data(batch, self._bare[tree]))
        self.entries[tree] += len(batch)

    def write_text(self, name: str, text: str) -> None:
        """Store ``text`` as a TObjString called ``name`` (e.g. provenance as JSON)."""
        self._behind.wait()
        self._open()[name] = text

    def commit(self) -> Path:
        """Wait for the writes, close the file and move it to its final path."""
        self._behind.close()
        self._open().close()
        self._file = None
        return publish(self.tmp_path, self.path)

    def abort(self) -> None:
        """Wait for a running write, close and delete the temporary file."""
        try:
            self._behind.close(discard=True)
        finally:
            if self._file is not None:
                try:
                    self._file.close()
                except Exception:  # the file is being thrown away; closing is best effort
                    log.debug("closing %s failed while aborting", self.tmp_path, exc_info=True)
                finally:
                    self._file = None
            self.tmp_path.unlink(missing_ok=True)

    @property
    def is_open(self) -> bool:
        return self._file is not None
