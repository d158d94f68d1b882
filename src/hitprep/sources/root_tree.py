"""Generic ROOT TTree source, read with uproot (no ROOT needed); RNTuples are read too.

How branches become batch fields:

- **Event fields.** A top-level branch with one number per entry (``run``,
  ``CaloMET_pt``) becomes an event field with the branch's name.
- **Collections.** Jagged branches (one list of numbers per entry) are grouped
  into collections by prefix, the text before the first ``_``:
  ``Muon_pt`` becomes field ``pt`` of collection ``Muon``, listed as
  ``"Muon.pt"``. A jagged branch without a prefix (NanoAOD's ``PSWeight``, a
  ``std::vector<float>`` called ``x``) is a collection of its own with the one
  field ``value`` (``"PSWeight.value"``).
  ``collections=`` declares the prefixes instead (prefixes may then contain
  ``_``; the longest matching one wins) and leaves out jagged branches that
  match none of them.
- **Groups.** ``groups=`` names collections made of explicitly listed jagged
  branches, for trees whose branches share no prefix: LDMX's ``ecalHits`` has
  ``x y z E``, and ``groups={"hits": ["x", "y", "z", "E"]}`` makes them the
  fields of one collection ``hits`` (``"hits.E"``). A group may also map field
  names to branches (``{"hits": {"energy": "E"}}``). Grouped branches take no
  part in the prefix grouping.
- **Aliases.** ``aliases=`` offers event fields under other names:
  ``aliases={"event_id": "eventNumber"}`` reads branch ``eventNumber`` as
  ``event_id``.
- **Counters.** ``nMuon`` (and any branch that ROOT records as the count branch
  of a jagged branch) is not a field; when a collection is read, its counter is
  read too and checked against the lists' lengths.
- **Skipped.** Strings, objects, nested vectors, fixed-size arrays and branches
  whose names clash with the dotted naming are left out of :meth:`fields`;
  :attr:`RootTreeSource.skipped` says why for each. Asking for one explicitly
  raises :class:`~hitprep.errors.FileFormatError`.

All branches of one collection must have the same number of items in every
entry; when they do not, :meth:`RootTreeSource.read` raises a
:class:`~hitprep.errors.FileFormatError` naming the file, the branch and the
first bad entry. Unreadable (truncated, corrupt) files raise
:class:`~hitprep.errors.FileFormatError` naming the file and, at read time, the
entry range.

An RNTuple (NanoAOD is moving to them; uproot >= 5.7 writes them by default)
is read through the same rules when no TTree of the name exists, seen as a
TTree by :class:`hitprep.sources.rntuple.NTupleAsTree`.

Example:
    >>> from hitprep.toys.nanoaod import write_toy_nanoaod
    >>> path = write_toy_nanoaod("nano.root", 20)
    >>> with RootTreeSource(path, tree="Events") as src:
    ...     batch = src.read(0, 10, fields=["run", "Muon.pt"])
    >>> batch.fields, ak.num(batch.Muon.pt).tolist()
    (['entry', 'run', 'Muon'], [0, 2, 1, 0, 0, 3, 0, 0, 1, 0])
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np
import numpy.typing as npt
import uproot

from hitprep.errors import ConfigError, FileFormatError, HitprepError, KeyInFileError
from hitprep.events import counts as item_counts
from hitprep.events import flat_values, jagged_from_flat, offsets_from_counts
from hitprep.sources.base import Source, check_range
from hitprep.sources.baskets import BasketReader

__all__ = ["RootTreeSource", "check_range", "find_tree", "open_root", "read_branches"]

log = logging.getLogger(__name__)

#: numpy kinds accepted as numbers: bool, signed and unsigned int, float
_NUMERIC_KINDS = frozenset("biuf")
_TREE_CLASSES = ["TTree", "TNtuple", "TNtupleD"]
_VALUE = "value"
_ENTRY = "entry"


# --- helpers shared with the other uproot-based sources ----------------------------------


def open_root(path: Path) -> Any:
    """Open ``path`` with uproot; every failure becomes a :class:`FileFormatError`."""
    if not path.exists():
        msg = "no such file"
        raise FileFormatError(path, msg)
    try:
        return uproot.open(path)
    except Exception as err:  # uproot raises OSError, ValueError, zlib.error, ...
        msg = f"cannot open as ROOT file: {type(err).__name__}: {err}"
        raise FileFormatError(path, msg) from err


def find_tree(file: Any, path: Path, name: str | None) -> tuple[str, Any]:
    """Return ``(name, tree)``: the tree called ``name``, or the only TTree when ``None``.

    Raises:
        KeyInFileError: no tree ``name`` (the message lists the trees).
        ConfigError: ``name`` is None and the file has several trees.
        FileFormatError: the file has no tree, or its directory cannot be read.
    """
    try:
        names = list(
            dict.fromkeys(file.keys(recursive=True, cycle=False, filter_classname=_TREE_CLASSES))
        )
    except Exception as err:
        msg = f"cannot list the file's contents: {type(err).__name__}: {err}"
        raise FileFormatError(path, msg) from err
    if name is None:
        if not names:
            msg = "has no TTree"
            raise FileFormatError(path, msg)
        if len(names) > 1:
            msg = f"{path} has {len(names)} TTrees ({', '.join(names)}); pass tree= to choose one"
            raise ConfigError(msg)
        name = names[0]
    if name not in names:
        raise KeyInFileError(name, file=path, available=names, what="tree")
    try:
        return name, file[name]
    except Exception as err:
        msg = f"cannot read tree {name!r}: {type(err).__name__}: {err}"
        raise FileFormatError(path, msg) from err


def read_branches(
    tree: Any, path: Path, branches: Sequence[str], start: int, stop: int
) -> dict[str, ak.Array]:
    """Read ``branches`` for entries ``start:stop`` as awkward arrays, keyed by branch name.

    Any uproot failure becomes a :class:`FileFormatError` naming the file, the
    tree and the entry range. uproot's array cache is bypassed: chunks are read
    once, and the cache (100 MB per file by default) would make memory grow with
    the file instead of the chunk.
    """
    if not branches:
        return {}
    try:
        arrays: dict[str, ak.Array] = tree.arrays(
            list(branches),
            entry_start=start,
            entry_stop=stop,
            library="ak",
            how=dict,
            array_cache=None,
        )
    except Exception as err:
        msg = (
            f"cannot read entries {start}:{stop} of tree {tree.object_path!r} "
            f"({type(err).__name__}: {err})"
        )
        raise FileFormatError(path, msg) from err
    return arrays


def numeric_dtype(interpretation: Any) -> np.dtype[Any] | None:
    """The numpy dtype of a scalar numeric ``AsDtype``, else None."""
    if not isinstance(interpretation, uproot.AsDtype):
        return None
    dtype: np.dtype[Any] = np.dtype(interpretation.to_dtype)
    if dtype.names is not None or dtype.shape != () or dtype.kind not in _NUMERIC_KINDS:
        return None
    return dtype


def _first_mismatch(counts: npt.NDArray[np.int64], reference: npt.NDArray[np.int64]) -> int:
    bad = np.flatnonzero(counts != reference)
    return int(bad[0]) if len(bad) else -1


# --- the branch layout of a tree ---------------------------------------------------------


@dataclass
class _Layout:
    event_fields: dict[str, str] = field(default_factory=dict)  # field -> branch
    collections: dict[str, dict[str, str]] = field(default_factory=dict)  # coll -> field -> br
    counters: dict[str, str] = field(default_factory=dict)  # collection -> counter branch
    skipped: dict[str, str] = field(default_factory=dict)  # branch -> reason
    dtypes: dict[str, np.dtype[Any]] = field(default_factory=dict)  # branch -> numeric dtype
    titles: dict[str, str] = field(default_factory=dict)  # branch -> title (its documentation)


def _default_split(name: str) -> tuple[str, str]:
    """``(collection, field)`` split at the first ``_``; no prefix: ``(name, "value")``."""
    cut = name.find("_")
    if cut <= 0 or cut == len(name) - 1:
        return name, _VALUE
    return name[:cut], name[cut + 1 :]


def _split(name: str, declared: Sequence[str] | None) -> tuple[str, str] | None:
    """``(collection, field)`` of a jagged branch, or None when no declared prefix matches."""
    if declared is None:
        return _default_split(name)
    matches = [p for p in declared if name == p or name.startswith(p + "_")]
    if not matches:
        return None
    prefix = max(matches, key=len)
    rest = name[len(prefix) + 1 :]
    return prefix, rest or _VALUE


def _check_groups(groups: Any) -> dict[str, dict[str, str]]:
    """Normalise ``groups=`` to ``{collection: {field: branch}}``.

    Raises:
        ConfigError: not a mapping of names to lists of branch names (or field -> branch tables).
    """
    if groups is None:
        return {}
    if not isinstance(groups, Mapping):
        msg = f"groups must map collection names to lists of branches, got {groups!r}"
        raise ConfigError(msg)
    out: dict[str, dict[str, str]] = {}
    for coll, members in groups.items():
        if isinstance(members, Mapping):
            pairs = list(members.items())
        elif isinstance(members, Sequence) and not isinstance(members, str):
            pairs = [(m, m) for m in members]
        else:
            pairs = []
        ok = bool(pairs) and all(
            isinstance(f, str) and f and "." not in f and isinstance(b, str) and b for f, b in pairs
        )
        if not isinstance(coll, str) or not coll or "." in coll or not ok:
            msg = (
                f"groups[{coll!r}] must be a non-empty list of branch names (or a table of"
                f" field = branch), got {members!r}"
            )
            raise ConfigError(msg)
        out[coll] = dict(pairs)
    return out


def _layout(
    tree: Any,
    declared: Sequence[str] | None,
    path: Path,
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> _Layout:
    out = _Layout()
    flat, jagged, linked_counters = _classify_branches(tree, out)
    grouped = _group_branches(out, groups, flat, jagged, path)
    _collect_jagged(out, jagged, grouped, declared, groups)
    if declared is not None:
        missing = [p for p in declared if p not in out.collections]
        if missing:
            inferred = {_default_split(n)[0] for n in jagged}
            raise KeyInFileError(missing[0], file=path, available=inferred, what="collection")
    _flat_fields(out, flat, linked_counters)
    return out


def _classify_branches(
    tree: Any, out: _Layout
) -> tuple[dict[str, np.dtype[Any]], list[str], dict[str, str]]:
    """Numeric branches of one number per entry (their dtypes), jagged numeric branches, and
    each jagged branch's ROOT count branch; the others go to ``out.skipped`` with the reason."""
    flat: dict[str, np.dtype[Any]] = {}
    jagged: list[str] = []
    linked_counters: dict[str, str] = {}  # jagged branch -> its ROOT count branch
    for branch in tree.branches:
        name = branch.name
        typename = branch.typename
        if len(branch.branches) > 0:
            out.skipped[name] = f"object branch with sub-branches ({typename})"
            continue
        interp = branch.interpretation
        dtype = numeric_dtype(interp)
        out.titles[name] = str(getattr(branch, "title", "") or "")
        if dtype is not None:
            flat[name] = dtype
            out.dtypes[name] = dtype
        elif (
            isinstance(interp, uproot.AsJagged)
            and (content := numeric_dtype(interp.content)) is not None
        ):
            jagged.append(name)
            out.dtypes[name] = content
            count = branch.count_branch
            if count is not None:
                linked_counters[name] = count.name
        elif isinstance(interp, uproot.AsDtype):
            out.skipped[name] = f"fixed-size or structured array ({typename}), not supported"
        else:
            out.skipped[name] = f"not numeric ({typename})"
    return flat, jagged, linked_counters


def _group_branches(
    out: _Layout,
    groups: Mapping[str, Mapping[str, str]] | None,
    flat: Mapping[str, np.dtype[Any]],
    jagged: list[str],
    path: Path,
) -> set[str]:
    """The collections ``groups=`` defines (each member a jagged branch); their branches."""
    grouped: set[str] = set()
    for coll, members in (groups or {}).items():
        for branch in members.values():
            if branch not in jagged:
                if branch in flat or branch in out.skipped:
                    what = "one number per entry" if branch in flat else out.skipped[branch]
                    msg = f"branch {branch!r} of groups[{coll!r}] is not a list of numbers ({what})"
                    raise FileFormatError(path, msg)
                raise KeyInFileError(branch, file=path, available=jagged, what="jagged branch")
        out.collections[coll] = dict(members)
        grouped |= set(members.values())
    return grouped


def _collect_jagged(
    out: _Layout,
    jagged: list[str],
    grouped: set[str],
    declared: Sequence[str] | None,
    groups: Mapping[str, Mapping[str, str]] | None,
) -> None:
    """The other jagged branches into collections by name prefix (or skipped, with why)."""
    for name in jagged:
        if name in grouped:
            continue
        if "." in name:
            out.skipped[name] = "name contains '.', which would clash with dotted field names"
            continue
        parts = _split(name, declared)
        if parts is None:
            out.skipped[name] = "jagged branch in none of the collections= prefixes"
            continue
        coll, fname = parts
        if coll in (groups or {}):
            out.skipped[name] = f"collection {coll!r} is defined by groups="
            continue
        fields = out.collections.setdefault(coll, {})
        if fname in fields:
            out.skipped[name] = f"field {coll}.{fname} already comes from {fields[fname]!r}"
            continue
        fields[fname] = name


def _flat_fields(
    out: _Layout, flat: Mapping[str, np.dtype[Any]], linked_counters: Mapping[str, str]
) -> None:
    """Each collection's ``n<coll>`` counter, and the flat branches as event fields
    (counters of collections that are not read, and clashing names, skipped)."""
    counter_names = set(linked_counters.values())
    for coll in out.collections:
        counter = f"n{coll}"
        if counter in flat and flat[counter].kind in "iu":
            out.counters[coll] = counter
            counter_names.add(counter)
    used_counters = set(out.counters.values()) | {
        linked_counters[b]
        for f in out.collections.values()
        for b in f.values()
        if b in linked_counters
    }

    for name in flat:
        if name in counter_names:
            if name not in used_counters:
                out.skipped[name] = "counter of jagged branches that are not read"
            continue
        if "." in name:
            out.skipped[name] = "name contains '.', which would clash with dotted field names"
        elif name == _ENTRY:
            out.skipped[name] = f"{_ENTRY!r} is reserved for the entry number"
        elif name in out.collections:
            out.skipped[name] = f"name clashes with collection {name!r}"
        else:
            out.event_fields[name] = name


# --- the source ---------------------------------------------------------------------------


def _find_tree_or_ntuple(file: Any, path: Path, name: str | None) -> tuple[str, Any]:
    """:func:`find_tree`, else the RNTuple ``name`` (or the only one) seen as a TTree."""
    from hitprep.sources.rntuple import find_ntuple, ntuple_names

    try:
        return find_tree(file, path, name)
    except (KeyInFileError, FileFormatError) as missing:
        try:
            found = find_ntuple(file, name)
        except Exception as err:  # uproot raises many kinds on unreadable RNTuples
            msg = f"cannot read RNTuple {name!r}: {type(err).__name__}: {err}"
            raise FileFormatError(path, msg) from err
        if found is not None:
            return found.object_path, found
        if isinstance(missing, KeyInFileError) and name is not None:
            trees = [*missing.available, *ntuple_names(file)]
            raise KeyInFileError(name, file=path, available=trees, what="tree") from None
        raise


class RootTreeSource(Source):
    """Events of one TTree: flat branches as event fields, jagged ones as collections.

    Args:
        path: ROOT file.
        tree: name (or ``dir/name``) of the tree; ``None``: the file's only TTree.
        collections: collection prefixes to read; ``None``: infer them from the
            jagged branches (text before the first ``_``).
        groups: collections made of listed jagged branches,
            ``{"hits": ["x", "y", "z", "E"]}`` or ``{"hits": {"energy": "E"}}``.
        aliases: event field name -> branch with one number per entry,
            ``{"event_id": "eventNumber"}``; the branch is then offered under the alias only.

    Raises:
        FileFormatError: the file cannot be read as ROOT.
        KeyInFileError: no tree ``tree``, or a declared collection has no branches.
        ConfigError: ``tree`` is None and the file has several trees.
    """

    format_name: ClassVar[str] = "root_tree"

    def __init__(
        self,
        path: str | Path,
        *,
        tree: str | None = None,
        collections: Sequence[str] | None = None,
        groups: Mapping[str, Sequence[str] | Mapping[str, str]] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(path)
        if isinstance(collections, str):
            msg = f"collections must be a list of prefixes, not the string {collections!r}"
            raise ConfigError(msg)
        grouping = _check_groups(groups)
        self._file = open_root(self.path)
        try:
            self.tree_name, self._tree = _find_tree_or_ntuple(self._file, self.path, tree)
            declared = None if collections is None else list(collections)
            try:
                self._layout = _layout(self._tree, declared, self.path, grouping)
            except HitprepError:
                raise
            except Exception as err:
                msg = f"cannot read the branches of tree {self.tree_name!r}: {err}"
                raise FileFormatError(self.path, msg) from err
            self._apply_aliases(aliases or {})
            self._num_events = int(self._tree.num_entries)
            self._baskets = BasketReader(self.path, self._tree)
        except BaseException:
            self._file.close()
            raise
        if self._layout.skipped:
            log.info(
                "%s: %d branches of %r are not fields (see .skipped)",
                self.path,
                len(self._layout.skipped),
                self.tree_name,
            )

    def _apply_aliases(self, aliases: Mapping[str, str]) -> None:
        events = self._layout.event_fields
        for alias, branch in aliases.items():
            if not isinstance(alias, str) or not alias or "." in alias:
                msg = f"aliases: {alias!r} is not a valid event field name"
                raise ConfigError(msg)
            if branch not in events:
                available = list(events)
                raise KeyInFileError(branch, file=self.path, available=available, what="branch")
            if alias in events or alias in self._layout.collections or alias == _ENTRY:
                msg = f"aliases: {alias!r} is already a field of tree {self.tree_name!r}"
                raise ConfigError(msg)
            events[alias] = events.pop(branch)

    @property
    def num_events(self) -> int:
        return self._num_events

    @property
    def skipped(self) -> Mapping[str, str]:
        """Branches left out of :meth:`fields`, with the reason for each."""
        return dict(self._layout.skipped)

    @property
    def counters(self) -> Mapping[str, str]:
        """Collection name -> name of its counter branch (``"Muon"`` -> ``"nMuon"``)."""
        return dict(self._layout.counters)

    def collection_names(self) -> list[str]:
        """Names of the collections this source provides."""
        return list(self._layout.collections)

    def fields(self) -> list[str]:
        names = list(self._layout.event_fields)
        for coll, fields in self._layout.collections.items():
            names.extend(f"{coll}.{f}" for f in fields)
        return names

    def branch_of(self, name: str) -> str:
        """The branch a dotted field is read from (``"Muon.pt"`` -> ``"Muon_pt"``)."""
        if name in self._layout.event_fields:
            return self._layout.event_fields[name]
        coll, _, fname = name.partition(".")
        try:
            return self._layout.collections[coll][fname]
        except KeyError:
            raise KeyInFileError(
                name, file=self.path, available=self.fields(), what="field"
            ) from None

    def _branch_or_field(self, name: str) -> str:
        if name in self._layout.dtypes:
            return name
        try:
            return self.branch_of(name)
        except KeyInFileError:
            available = [*self.fields(), *self._layout.counters.values()]
            raise KeyInFileError(
                name, file=self.path, available=available, what="field or branch"
            ) from None

    def dtype_of(self, name: str) -> np.dtype[Any]:
        """Numeric dtype (native byte order) of a dotted field or a branch, counters included.

        Example: ``src.dtype_of("Muon.pt")`` is float32, ``src.dtype_of("nMuon")`` uint32
        in NanoAOD.
        """
        dtype: np.dtype[Any] = self._layout.dtypes[self._branch_or_field(name)]
        return dtype.newbyteorder("=")

    def title_of(self, name: str) -> str:
        """Title of the branch of a dotted field or of a branch (NanoAOD's documentation)."""
        return self._layout.titles.get(self._branch_or_field(name), "")

    def _check_requested(self, fields: Iterable[str]) -> None:
        available = set(self.fields())
        for name in fields:
            if name in available:
                continue
            coll, dot, fname = name.partition(".")
            candidates = [name]
            if dot:
                candidates += [f"{coll}_{fname}", coll if fname == _VALUE else ""]
            for branch in candidates:
                if branch in self._layout.skipped:
                    msg = (
                        f"branch {branch!r} of tree {self.tree_name!r} cannot be read as a "
                        f"field: {self._layout.skipped[branch]}"
                    )
                    raise FileFormatError(self.path, msg)
            raise KeyInFileError(name, file=self.path, available=available, what="field")

    def read(self, start: int, stop: int, *, fields: Collection[str] | None = None) -> ak.Array:
        check_range(start, stop, self._num_events)
        wanted = self.fields() if fields is None else list(dict.fromkeys(fields))
        self._check_requested(wanted)
        event = [f for f in wanted if f in self._layout.event_fields]
        per_coll: dict[str, list[str]] = {}
        for name in wanted:
            if name not in self._layout.event_fields:
                coll, _, fname = name.partition(".")
                per_coll.setdefault(coll, []).append(fname)

        branches = [self._layout.event_fields[f] for f in event]
        for coll, fnames in per_coll.items():
            branches += [self._layout.collections[coll][f] for f in fnames]
            if coll in self._layout.counters:
                branches.append(self._layout.counters[coll])
        branches = list(dict.fromkeys(branches))
        arrays = self._baskets.read(branches, start, stop)  # plain numeric branches, directly
        rest = [b for b in branches if b not in arrays]
        arrays.update(read_branches(self._tree, self.path, rest, start, stop))

        n = stop - start
        contents: dict[str, ak.contents.Content] = {
            _ENTRY: ak.contents.NumpyArray(np.arange(start, stop, dtype=np.int64))
        }
        for f in event:
            values = np.asarray(ak.to_numpy(arrays[self._layout.event_fields[f]]))
            contents[f] = ak.contents.NumpyArray(values)
        for coll, fnames in per_coll.items():
            built = self._collection(coll, fnames, arrays, start)
            contents[coll] = built.layout
        layout = ak.contents.RecordArray(list(contents.values()), list(contents), length=n)
        return ak.Array(layout)

    def _collection(
        self, coll: str, fnames: Sequence[str], arrays: Mapping[str, ak.Array], start: int
    ) -> ak.Array:
        """One collection as ``var * {fields}``, after checking that all lengths agree."""
        branch_of = self._layout.collections[coll]
        counter = self._layout.counters.get(coll)
        if counter is not None:
            ref_name = counter
            reference = np.asarray(ak.to_numpy(arrays[counter]), dtype=np.int64)
        else:
            ref_name = branch_of[fnames[0]]
            reference = item_counts(arrays[ref_name])
        columns: dict[str, npt.NDArray[np.generic]] = {}
        for fname in fnames:
            branch = branch_of[fname]
            values = arrays[branch]
            counts = item_counts(values)
            bad = _first_mismatch(counts, reference)
            if bad >= 0:
                if counter is not None:
                    why = f"its counter {counter!r} says {reference[bad]}"
                else:
                    why = (
                        f"{ref_name!r} has {reference[bad]}; the branches of one collection "
                        "must have equal lengths (declare collections= to regroup them)"
                    )
                msg = (
                    f"branch {branch!r} of collection {coll!r} has {counts[bad]} items at "
                    f"entry {start + bad} but {why}"
                )
                raise FileFormatError(self.path, msg)
            columns[fname] = flat_values(values)
        return jagged_from_flat(columns, offsets_from_counts(reference))

    def close(self) -> None:
        self._baskets.close()
        self._file.close()
