"""RNTuple input for :class:`~hitprep.sources.root_tree.RootTreeSource`: an RNTuple seen as a TTree.

uproot >= 5.7 writes an RNTuple on ``file[name] = data``, and NanoAOD is moving
to RNTuple. :class:`NTupleAsTree` presents an RNTuple through the small part of
the TTree interface the generic ROOT source uses (``branches`` with a name,
typename, interpretation and title; ``arrays``; ``num_entries``), with
NanoAOD's flat branch names, so one reader and one grouping rule serve both:

- a top-level number per entry (``run``, ``nMuon``) -> flat branch of that name;
- a top-level list of numbers (``Muon_pt``, ``PSWeight``) -> jagged branch;
- a top-level list of records (``Muon: var * {pt, eta}``, as uproot writes an
  ``ak.zip``-ed collection) -> jagged branches ``Muon_pt``, ``Muon_eta``;
- an untyped collection (``_collection0: var * {Muon_pt, ...}``, as ROOT's
  importer writes leaf-count arrays) -> its members as jagged branches, unless
  the same names exist at the top level (projected fields), which win;
- anything else (strings, nested lists, records of records) -> a branch whose
  interpretation is not numeric, so the source reports it in ``skipped``.

Example:
    >>> import numpy as np
    >>> with uproot.recreate("nano_rntuple.root") as f:  # a dict becomes an RNTuple (uproot 5.7)
    ...     f["Events"] = {"run": np.ones(2, np.uint32), "Muon_pt": ak.Array([[30.0, 12.5], []])}
    >>> with uproot.open("nano_rntuple.root") as f:
    ...     sorted(b.name for b in find_ntuple(f, "Events").branches)
    ['Muon_pt', 'run']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import uproot

__all__ = ["NTUPLE_CLASS", "NTupleAsTree", "find_ntuple", "ntuple_names"]

NTUPLE_CLASS = "ROOT::RNTuple"
_NUMERIC_KINDS = frozenset("biuf")


@dataclass
class _Branch:
    """The TTree-branch face of one RNTuple field (or member of a collection field)."""

    name: str
    path: tuple[str, ...]
    typename: str
    interpretation: Any
    title: str = ""
    branches: list[Any] = field(default_factory=list)
    count_branch: Any = None


def _numeric(t: Any) -> np.dtype[Any] | None:
    if isinstance(t, ak.types.NumpyType):
        dtype = np.dtype(t.primitive) if t.primitive != "bool" else np.dtype(bool)
        return dtype if dtype.kind in _NUMERIC_KINDS else None
    return None


def _list_content(t: Any) -> Any:
    if isinstance(t, ak.types.ListType | ak.types.RegularType):
        return t.content
    return None


def _branch_for(name: str, path: tuple[str, ...], t: Any, title: str) -> _Branch:
    if t.parameter("__array__") is not None:  # strings, bytes, ...
        return _Branch(name, path, str(t), None, title)
    flat = _numeric(t)
    if flat is not None:
        return _Branch(name, path, flat.name, uproot.AsDtype(flat.newbyteorder(">")), title)
    content = _list_content(t)
    inner = None if content is None else _numeric(content)
    if inner is not None:
        interp = uproot.AsJagged(uproot.AsDtype(inner.newbyteorder(">")))
        return _Branch(name, path, f"{inner.name}[]", interp, title)
    return _Branch(name, path, str(t), None, title)


def _description(ntuple: Any, name: str) -> str:
    for f in getattr(ntuple, "fields", []):
        if getattr(f, "name", None) == name:
            return str(getattr(f, "description", "") or "")
    return ""


class NTupleAsTree:
    """An RNTuple presented as a TTree of NanoAOD-named branches (see the module docstring)."""

    def __init__(self, ntuple: Any, name: str) -> None:
        self._ntuple = ntuple
        self.object_path = name
        self.num_entries = int(ntuple.num_entries)
        form = ak.type(ntuple.arrays(entry_stop=0)).content
        top: dict[str, _Branch] = {}
        members: dict[str, _Branch] = {}
        for fname, t in zip(form.fields, form.contents, strict=True):
            content = _list_content(t)
            title = _description(ntuple, fname)
            if isinstance(content, ak.types.RecordType) and not content.is_tuple:
                untyped = fname.startswith("_collection")
                for sub, st in zip(content.fields, content.contents, strict=True):
                    bname = sub if untyped else f"{fname}_{sub}"
                    target = members if untyped else top
                    target[bname] = _branch_for(bname, (fname, sub), ak.types.ListType(st), "")
            else:
                top[fname] = _branch_for(fname, (fname,), t, title)
        self.branches = [*top.values(), *(b for n, b in members.items() if n not in top)]
        self._by_name = {b.name: b for b in self.branches}

    def arrays(
        self,
        names: Sequence[str],
        *,
        entry_start: int,
        entry_stop: int,
        library: str = "ak",
        how: Any = dict,
        array_cache: Any = None,
    ) -> dict[str, ak.Array]:
        """Arrays of the named branches for ``entry_start:entry_stop``, keyed by branch name."""
        if library != "ak" or how is not dict:
            msg = "NTupleAsTree.arrays supports library='ak', how=dict only"
            raise ValueError(msg)
        wanted = [self._by_name[n] for n in names]
        paths = list(dict.fromkeys(".".join(b.path) for b in wanted))
        data = self._ntuple.arrays(
            paths, entry_start=entry_start, entry_stop=entry_stop, array_cache=array_cache
        )
        out: dict[str, ak.Array] = {}
        for b in wanted:
            value = data
            for part in b.path:
                value = value[part]
            out[b.name] = value
        return out


def ntuple_names(file: Any) -> list[str]:
    """Names of the RNTuples in an open uproot file (no cycle numbers)."""
    return list(
        dict.fromkeys(file.keys(recursive=True, cycle=False, filter_classname=[NTUPLE_CLASS]))
    )


def find_ntuple(file: Any, name: str | None) -> NTupleAsTree | None:
    """The RNTuple ``name`` (or the only one, for ``None``) as a tree, or None if absent."""
    names = ntuple_names(file)
    if name is None:
        if len(names) != 1:
            return None
        name = names[0]
    if name not in names:
        return None
    return NTupleAsTree(file[name], name)
