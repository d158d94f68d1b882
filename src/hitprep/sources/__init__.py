"""Sources: one module per file format, opened through :func:`open_source`."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hitprep.errors import ConfigError, FileFormatError, KeyInFileError
from hitprep.sources.base import Source

__all__ = [
    "FORMATS",
    "Source",
    "detect_format",
    "numbered_across_files",
    "open_source",
    "reader_options",
    "register_format",
]

#: format name -> "module:Class", imported only when used (keeps start-up fast)
FORMATS: dict[str, str] = {
    "km3net_hdf5": "hitprep.sources.km3net_hdf5:KM3NeTHDF5Source",
    "km3net_offline": "hitprep.sources.km3net_offline:KM3NeTOfflineSource",
    "root_tree": "hitprep.sources.root_tree:RootTreeSource",
    "ldmx_ecal": "hitprep.sources.ldmx:LdmxEcalSource",
    "ldmx_sw": "hitprep.sources.ldmx_sw:LdmxSwSource",
    "acts_csv": "hitprep.sources.acts_csv:ActsCsvSource",
    "heptrkx": "hitprep.sources.heptrkx:HeptrkxDumpSource",
    "trackml": "hitprep.sources.trackml:TrackMLSource",
    "wcsim": "hitprep.sources.wcsim:WCSimSource",
    "wcsim_npz": "hitprep.sources.wcsim_dump:WCSimNpzSource",
    "wcsim_h5": "hitprep.sources.wcsim_dump:WCSimH5Source",
}


#: formats whose event ids continue across the files of a job (told by ``previous=``)
NUMBERED_ACROSS_FILES = frozenset({"heptrkx"})


def numbered_across_files(path: str | Path, format: str = "auto") -> bool:
    """Whether ``path``'s event ids continue from the files before it (HEPTrkX dumps)."""
    if format == "auto":
        if Path(path).suffix.lower() != ".csv":
            return False
        format = detect_format(path)
    return format in NUMBERED_ACROSS_FILES


def register_format(name: str, source: str | type[Source]) -> None:
    """Add a format declared outside this package (a plug-in): ``name`` read by ``source``
    (a :class:`Source` subclass, or ``"module:Class"`` imported when first used). Jobs
    name it in ``[source] format``; ``"auto"`` does not detect it."""
    if isinstance(source, str):
        FORMATS[name] = source
    else:
        FORMATS[name] = f"{source.__module__}:{source.__qualname__}"


def _source_class(name: str) -> type[Source]:
    try:
        target = FORMATS[name]
    except KeyError:
        msg = f"unknown source format {name!r}; allowed: {', '.join(sorted(FORMATS))}, auto"
        raise ConfigError(msg) from None
    module, cls = target.split(":")
    found: type[Source] = getattr(importlib.import_module(module), cls)
    return found


def detect_format(path: str | Path) -> str:
    """Guess the source format of a file from its content.

    HDF5 files are read as km3pipe HDF5; ROOT files with a tree ``E`` holding
    ``Evt`` as KM3NeT offline; ROOT files with a tree ``wcsimT`` as WCSim output;
    other ROOT files as a generic TTree. HDF5 files marked ``hitprep_format =
    "wcsim_dump"`` and ``.npz`` files with ``event_id`` and ``digi_hit_pmt`` (or
    ``true_hit_pmt``) are WCSim event dumps. ROOT files with a tree ``ecalHits``
    are LDMX hit files, with ``LDMX_Events`` ldmx-sw event files; ``clusters_K.csv``
    files are ACTS CSV dumps, headed (``acts_csv``) or of literal lists (``heptrkx``,
    told by content); directories
    and ``event#########-hits.csv`` files are TrackML events.
    """
    p = Path(path)
    if not p.exists():
        msg = "no such file"
        raise FileFormatError(p, msg)
    if p.is_dir() or p.suffix.lower() == ".csv":
        if p.is_dir() or re.fullmatch(r"event\d+-hits\.csv", p.name):
            return "trackml"
        if p.name.startswith("clusters"):
            from hitprep.sources.heptrkx import is_dump

            return "heptrkx" if is_dump(p) else "acts_csv"
        msg = "CSV file of unknown layout (ACTS hits are clusters_K.csv); give the format"
        raise FileFormatError(p, msg)
    with p.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF"):
        if _hdf5_attr(p, "hitprep_format") == "wcsim_dump":
            return "wcsim_h5"
        return "km3net_hdf5"
    if magic.startswith(b"PK\x03\x04") and _is_wcsim_npz(p):
        return "wcsim_npz"
    if magic.startswith(b"root"):
        import uproot

        try:
            with uproot.open(p) as f:
                keys = {k.split(";")[0] for k in f}
                if "wcsimT" in keys:
                    return "wcsim"
                if "E" in keys and "Evt" in f["E"].keys():  # noqa: SIM118 (names, not branches)
                    return "km3net_offline"
                if "ecalHits" in keys:
                    return "ldmx_ecal"
                if "LDMX_Events" in keys:
                    return "ldmx_sw"
        except Exception as err:  # uproot raises many kinds on broken files
            raise FileFormatError(p, f"cannot read as ROOT: {err}") from err
        return "root_tree"
    msg = "neither HDF5 nor ROOT (unknown file signature)"
    raise FileFormatError(p, msg)


def _hdf5_attr(path: Path, name: str) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs.get(name, ""))
    except OSError as err:
        raise FileFormatError(path, f"cannot read as HDF5: {err}") from err


def _is_wcsim_npz(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile as err:
        raise FileFormatError(path, f"cannot read as .npz: {err}") from err
    return "event_id.npy" in names and bool({"digi_hit_pmt.npy", "true_hit_pmt.npy"} & names)


def reader_options(name: str) -> frozenset[str]:
    """The options the reader of format ``name`` takes (its keyword arguments)."""
    cls = _source_class(name)
    return frozenset(inspect.signature(cls.__init__).parameters) - {"self", "path"}


def open_source(path: str | Path, *, format: str = "auto", **options: Any) -> Source:
    """Open ``path`` with the source for ``format`` (``"auto"``: detect from content).

    Args:
        path: input file.
        format: one of :data:`FORMATS` or ``"auto"``.
        **options: passed to the source class (e.g. ``tree=`` for ``root_tree``). A
            format that does not define collections by option takes ``collections=``
            as the collections its files must have (a missing one raises
            KeyInFileError); any other option it does not take raises ConfigError.

    Returns:
        An open :class:`Source`.
    """
    name = detect_format(path) if format == "auto" else format
    cls = _source_class(name)
    takes = reader_options(name)
    required = options.pop("collections", None) if "collections" not in takes else None
    unknown = sorted(set(options) - takes)
    if unknown:
        msg = (
            f"{path}: source format {name!r} takes no option {', '.join(map(repr, unknown))};"
            f" it takes: {', '.join(sorted(takes)) or 'none'}"
        )
        raise ConfigError(msg)
    source = cls(path, **options)
    if required:
        _check_collections(source, required)
    return source


def _check_collections(source: Source, names: Sequence[str]) -> None:
    """Raise KeyInFileError for the first of ``names`` that is no collection of ``source``."""
    have = sorted({f.partition(".")[0] for f in source.fields() if "." in f})
    for name in names:
        if name not in have:
            source.close()
            raise KeyInFileError(name, file=source.path, available=have, what="collection")
