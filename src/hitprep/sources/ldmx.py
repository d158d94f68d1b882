"""LDMX ECal / HCal hit trees: ``eventNumber`` plus unprefixed jagged ``x y z E``.

An LDMX hit file (as written by the LDMX ntuplisers, or by
:mod:`hitprep.toys.ldmx`) has a tree ``ecalHits`` (``hcalHits`` for the HCal)
with one entry per event: ``eventNumber`` and four lists ``x``, ``y``, ``z``
[mm] and ``E`` [MeV], one value per hit, unsorted. This is a
:class:`~hitprep.sources.root_tree.RootTreeSource` with that layout as
defaults:

- the four lists become the collection ``hits`` (``hits.x`` ... ``hits.E``);
  other branch names are given with ``groups={"hits": {"x": "xpos", ...}}``;
- ``eventNumber`` (``event_branch=``) is offered as ``event_id``.

Lists of one event with different lengths raise
:class:`~hitprep.errors.FileFormatError` naming the branch and the entry.

Example:
    >>> from hitprep.toys.ldmx import write_root
    >>> path = write_root("signal.root", n_events=5, mass=10.0)
    >>> with LdmxEcalSource(path) as src:
    ...     batch = src.read(0, 5)
    >>> batch.hits.fields, [len(hits) for hits in batch.hits]
    (['x', 'y', 'z', 'E'], [216, 202, 227, 240, 265])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from hitprep.sources.root_tree import RootTreeSource

__all__ = ["DEFAULT_GROUPS", "LdmxEcalSource"]

#: the hit lists of an LDMX hit tree, as one collection
DEFAULT_GROUPS: dict[str, list[str]] = {"hits": ["x", "y", "z", "E"]}


class LdmxEcalSource(RootTreeSource):
    """Events of an LDMX hit tree: ``event_id`` and the collection ``hits`` (``x y z E``).

    Args:
        path: ROOT file.
        tree: tree name (``ecalHits``; ``hcalHits`` for the HCal).
        collections: further prefix-grouped collections (see ``RootTreeSource``).
        groups: the hit lists (default ``{"hits": ["x", "y", "z", "E"]}``).
        event_branch: branch with the event number, offered as ``event_id``.

    Raises:
        KeyInFileError: no such tree, hit branch or event branch (nearest names listed).
        FileFormatError: the file cannot be read as ROOT, or a hit branch is not a list.
    """

    format_name: ClassVar[str] = "ldmx_ecal"

    def __init__(
        self,
        path: str | Path,
        *,
        tree: str | None = "ecalHits",
        collections: Sequence[str] | None = None,
        groups: Mapping[str, Sequence[str] | Mapping[str, str]] | None = None,
        event_branch: str = "eventNumber",
    ) -> None:
        super().__init__(
            path,
            tree=tree,
            collections=collections,
            groups=DEFAULT_GROUPS if groups is None else groups,
            aliases={"event_id": event_branch},
        )
        self.event_branch = event_branch
