"""Reader for KM3NeT ``.detx`` detector-geometry files (format versions 1 to 5).

A detx file is plain text written by Jpp. Tokens are separated by any amount
of whitespace; numbers may carry a leading ``+`` (v4/v5 files). Blank lines may
appear anywhere (v5 files put one after every DOM block). Lines starting with
``#`` are comments; Jpp writes them only as a block before the header (its
``JMeta`` history: ``# GIT ...``, ``# application ...``, ``# command ...``).
This reader allows comments only there: a ``#`` line after the header has begun
is reported as an error. That is how the broken test file
``detx_v5_invalid_multiline_comments.detx`` fails: one ``# command ... -f "..."``
line contains newlines inside its quoted argument, so ~70 continuation lines
like ``808951460 15`` have no ``#`` and the comment block resumes after them.

Header (after the comments)::

    v1:    det_id n_doms                      e.g. "-1 2070"
    v2-v5: det_id vN                          e.g. "20 v2", "49 V3", "133 V5" (v/V both occur)
           valid_from valid_until             UNIX seconds, e.g. "1580056200.0 9999999999.0"
           UTM ellipsoid grid east north z    e.g. "UTM WGS84 32N 256500.0 4743000.0 -2425.0"
           n_doms

A v1 file has no version token (the second token is the DOM count), no
validity and no UTM line. ``n_doms`` counts every module line, including v5
base modules (floor 0, no PMTs).

Then ``n_doms`` module blocks, each a DOM line followed by ``n_pmts`` PMT lines::

    DOM line, v1-v3: dom_id du floor n_pmts
    DOM line, v4:    dom_id du floor x y z qa qb qc qd t0 n_pmts
    DOM line, v5:    dom_id du floor x y z qa qb qc qd t0 status n_pmts
    PMT line, v1-v2: pmt_id x y z dir_x dir_y dir_z t0
    PMT line, v3-v5: pmt_id x y z dir_x dir_y dir_z t0 status

``(x, y, z)`` is the DOM position, ``(qa, qb, qc, qd)`` its orientation
quaternion and ``t0`` the DOM time offset; PMT positions in all versions are
absolute, PMT ``t0`` is the PMT time offset in ns, ``status`` an integer bit
mask. The PMT's channel id is its index within the DOM block (0..n_pmts-1).
DOM positions, quaternions, DOM t0, statuses, validity and UTM reference are
checked for shape but not kept: :class:`Detector` holds one row per PMT.

Oddities in the km3net-testdata files: ``KM3NeT_-00000001_20171212.detx`` has
det_id 20 in its header (not -1) and odd PMT ids 1, 3, ..., 128339; the
``orca_115strings_*`` files write floor -1 on every DOM (kept as read here).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.errors import CalibrationError, FileFormatError

__all__ = ["SUPPORTED_VERSIONS", "Detector", "read_detx"]

SUPPORTED_VERSIONS = (1, 2, 3, 4, 5)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_INT_FIELDS = ("pmt_id", "dom_id", "channel_id", "du", "floor")
_FLOAT_FIELDS = ("pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t0")

# Column layout of DOM and PMT lines per version.
_DOM_COLUMNS = {
    1: "dom_id du floor n_pmts",
    2: "dom_id du floor n_pmts",
    3: "dom_id du floor n_pmts",
    4: "dom_id du floor x y z qa qb qc qd t0 n_pmts",
    5: "dom_id du floor x y z qa qb qc qd t0 status n_pmts",
}
_PMT_COLUMNS = {
    1: "pmt_id x y z dir_x dir_y dir_z t0",
    2: "pmt_id x y z dir_x dir_y dir_z t0",
    3: "pmt_id x y z dir_x dir_y dir_z t0 status",
    4: "pmt_id x y z dir_x dir_y dir_z t0 status",
    5: "pmt_id x y z dir_x dir_y dir_z t0 status",
}
_VERSION_TOKEN = re.compile(r"[vV](\d+)")


@dataclass(frozen=True, eq=False)
class Detector:
    """PMT table of a detector: one row per PMT, in file order.

    Arrays are copied to the stated dtypes and made read-only. Equality and
    hashing are by identity (comparing arrays element-wise is not meaningful
    as ``==``).
    """

    path: str
    det_id: int
    version: int
    pmt_id: IntArray
    dom_id: IntArray
    channel_id: IntArray
    du: IntArray
    floor: IntArray
    pos_x: FloatArray
    pos_y: FloatArray
    pos_z: FloatArray
    dir_x: FloatArray
    dir_y: FloatArray
    dir_z: FloatArray
    t0: FloatArray

    def __post_init__(self) -> None:
        n = None
        for name in _INT_FIELDS + _FLOAT_FIELDS:
            dtype = np.int64 if name in _INT_FIELDS else np.float64
            arr = np.array(getattr(self, name), dtype=dtype)
            if arr.ndim != 1:
                msg = f"Detector.{name} must be 1-dimensional, got shape {arr.shape}"
                raise ValueError(msg)
            if n is None:
                n = arr.size
            elif arr.size != n:
                msg = f"Detector.{name} has {arr.size} rows, expected {n} like pmt_id"
                raise ValueError(msg)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def n_pmts(self) -> int:
        """Number of PMTs (rows)."""
        return int(self.pmt_id.size)

    @cached_property
    def n_doms(self) -> int:
        """Number of distinct DOMs that have at least one PMT.

        Base modules (v5, floor 0, no PMTs) have no rows and are not counted.
        """
        return int(np.unique(self.dom_id).size)

    def __repr__(self) -> str:
        return (
            f"Detector(path={self.path!r}, det_id={self.det_id}, version={self.version}, "
            f"n_doms={self.n_doms}, n_pmts={self.n_pmts})"
        )

    # -- lookups -----------------------------------------------------------------

    @cached_property
    def _channel_key_index(self) -> tuple[int, int, int, IntArray, IntArray]:
        """(multiplier, min dom, max dom, sorted keys, row order) for (dom, channel) lookup."""
        if self.n_pmts == 0:
            empty = np.empty(0, dtype=np.int64)
            return 1, 0, -1, empty, empty
        if int(self.channel_id.min()) < 0:
            msg = f"{self.path}: negative channel_id in detector"
            raise ValueError(msg)
        mult = int(self.channel_id.max()) + 1
        dmin, dmax = int(self.dom_id.min()), int(self.dom_id.max())
        if max(abs(dmin), abs(dmax)) + 1 > np.iinfo(np.int64).max // mult:
            msg = f"{self.path}: DOM ids too large to index with {mult} channels"
            raise ValueError(msg)
        keys = self.dom_id * mult + self.channel_id
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        dup = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
        if dup.size:
            row = int(order[dup[0]])
            raise FileFormatError(
                self.path,
                f"(dom_id={int(self.dom_id[row])}, channel_id={int(self.channel_id[row])}) "
                "occurs more than once",
            )
        return mult, dmin, dmax, sorted_keys, order.astype(np.int64)

    @cached_property
    def has_t0(self) -> bool:
        """Whether any PMT has a non-zero t0 (some detector files carry none)."""
        return bool(np.any(self.t0 != 0))

    @cached_property
    def _dense_dom_table(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16]] | None:
        """(first row, number of channels) per DOM id - min DOM id, when that range is small
        (at most 2**23 ids) and each DOM's PMTs are consecutive rows in channel order;
        else None (the sorted-key lookup is used)."""
        if self.n_pmts == 0:
            return None
        dmin, dmax = int(self.dom_id.min()), int(self.dom_id.max())
        if dmax - dmin >= 1 << 23:
            return None
        starts = np.flatnonzero(np.r_[True, self.dom_id[1:] != self.dom_id[:-1]])
        lengths = np.diff(np.r_[starts, self.n_pmts])
        doms = self.dom_id[starts]
        ordered = np.sort(doms)  # (np.unique would import numpy.ma: 10 ms of start-up)
        if np.any(ordered[1:] == ordered[:-1]):
            return None  # a DOM's rows are not consecutive
        expected = np.arange(self.n_pmts) - np.repeat(starts, lengths)
        if not np.array_equal(self.channel_id, expected):
            return None
        first_row = np.zeros(dmax - dmin + 1, dtype=np.int32)
        if lengths.max() > np.iinfo(np.uint16).max:
            return None
        n_channels = np.zeros(dmax - dmin + 1, dtype=np.uint16)
        first_row[doms - dmin] = starts
        n_channels[doms - dmin] = lengths
        return first_row, n_channels

    @cached_property
    def _pmt_key_index(self) -> tuple[IntArray, IntArray]:
        """(sorted PMT ids, row order) for PMT-id lookup."""
        order = np.argsort(self.pmt_id, kind="stable").astype(np.int64)
        sorted_ids = self.pmt_id[order]
        dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if dup.size:
            pid = int(sorted_ids[dup[0]])
            count = int(np.count_nonzero(self.pmt_id == pid))
            raise FileFormatError(
                self.path, f"PMT id {pid} occurs {count} times; lookup by pmt_id is ambiguous"
            )
        return sorted_ids, order

    def dom_channel_index(
        self,
        dom_id: npt.ArrayLike,
        channel_id: npt.ArrayLike,
        *,
        source: str = "",
    ) -> IntArray:
        """Row index into the PMT arrays for each (dom_id, channel_id) pair.

        Args:
            dom_id: DOM ids of the hits (any integer dtype; broadcast with ``channel_id``).
            channel_id: channel ids (PMT index within the DOM) of the hits.
            source: name of the file the hits come from, used in error messages.

        Returns:
            int64 array of row indices, of the broadcast shape of the inputs.

        Raises:
            CalibrationError: if any pair is not in the detector.
        """
        dom = _as_int64(dom_id, "dom_id")
        chan = _as_int64(channel_id, "channel_id")
        dom, chan = np.broadcast_arrays(dom, chan)
        shape = dom.shape
        dom = dom.ravel()
        chan = chan.ravel()
        mult, dmin, dmax, sorted_keys, order = self._channel_key_index
        dense = self._dense_dom_table
        if dense is not None:  # fast path: DOM id -> first row, then + channel
            first_row, n_channels = dense
            # one unsigned comparison tests dmin <= dom <= dmax (below dmin wraps to huge)
            slot = (dom - dmin).view(np.uint64)
            inside = slot < len(first_row)
            if not inside.all():
                slot = np.where(inside, slot, 0)
            rows = first_row[slot] + chan
            found = inside & (chan.view(np.uint64) < n_channels[slot])
            if not found.all():
                self._raise_missing_channel(dom, chan, found, source)
            return rows.reshape(shape)
        valid = (chan >= 0) & (chan < mult) & (dom >= dmin) & (dom <= dmax)
        query = np.where(valid, dom * mult + chan, 0)
        pos = np.searchsorted(sorted_keys, query)
        np.minimum(pos, max(sorted_keys.size - 1, 0), out=pos)
        found = valid.copy()
        if sorted_keys.size:
            found &= sorted_keys[pos] == query
        else:
            found[:] = False
        if not found.all():
            self._raise_missing_channel(dom, chan, found, source)
        return order[pos].reshape(shape)

    def pmt_id_index(self, pmt_id: npt.ArrayLike, *, source: str = "") -> IntArray:
        """Row index into the PMT arrays for each PMT id (e.g. of MC hits).

        Args:
            pmt_id: PMT ids (any integer dtype, any shape).
            source: name of the file the ids come from, used in error messages.

        Returns:
            int64 array of row indices, of the shape of ``pmt_id``.

        Raises:
            CalibrationError: if any id is not in the detector.
            FileFormatError: if the detector has duplicate PMT ids.
        """
        ids = _as_int64(pmt_id, "pmt_id")
        shape = ids.shape
        ids = ids.ravel()
        sorted_ids, order = self._pmt_key_index
        pos = np.searchsorted(sorted_ids, ids)
        np.minimum(pos, max(sorted_ids.size - 1, 0), out=pos)
        found = sorted_ids[pos] == ids if sorted_ids.size else np.zeros(ids.shape, dtype=bool)
        if not found.all():
            missing = np.flatnonzero(~found)
            first = int(ids[missing[0]])
            where = f" in {source}" if source else ""
            msg = (
                f"{missing.size} of {ids.size} hits{where} refer to PMT ids not in detector "
                f"file {self.path} (det_id {self.det_id}, {self.n_doms} DOMs, "
                f"{self.n_pmts} PMTs); first missing: pmt_id={first}; "
                f"{np.unique(ids[missing]).size} distinct PMT ids missing"
            )
            raise CalibrationError(msg)
        return order[pos].reshape(shape)

    def _raise_missing_channel(
        self, dom: IntArray, chan: IntArray, found: npt.NDArray[np.bool_], source: str
    ) -> None:
        missing = np.flatnonzero(~found)
        first = int(missing[0])
        first_dom, first_chan = int(dom[first]), int(chan[first])
        known = np.unique(self.dom_id)
        missing_doms = np.unique(dom[missing])
        unknown_doms = missing_doms[~np.isin(missing_doms, known)]
        where = f" in {source}" if source else ""
        if np.isin(first_dom, known):
            n_ch = int(np.count_nonzero(self.dom_id == first_dom))
            why = f"DOM {first_dom} has {n_ch} channels (0..{n_ch - 1})"
        else:
            why = f"DOM {first_dom} is not in the detector"
        msg = (
            f"{missing.size} of {dom.size} hits{where} refer to (dom_id, channel_id) pairs "
            f"not in detector file {self.path} (det_id {self.det_id}, {self.n_doms} DOMs, "
            f"{self.n_pmts} PMTs); first missing: dom_id={first_dom}, "
            f"channel_id={first_chan} ({why}); {unknown_doms.size} distinct DOM ids unknown"
        )
        if unknown_doms.size:
            msg += "; was the right detx file given for these hits?"
        raise CalibrationError(msg)


def _as_int64(values: npt.ArrayLike, name: str) -> IntArray:
    arr = np.asarray(values)
    if arr.size and arr.dtype.kind not in "iub":
        msg = f"{name} must have an integer dtype, got {arr.dtype}"
        raise TypeError(msg)
    return arr.astype(np.int64, copy=False)


# -- parsing -------------------------------------------------------------------------


class _Lines:
    """Non-blank, non-comment lines of a detx file with their 1-based line numbers."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.texts: list[str] = []
        self.numbers: list[int] = []
        first_data = 0
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped:
                continue
            if stripped[0] == "#":
                if first_data:
                    raise FileFormatError(
                        path,
                        f"line {number}: comment line after the data began at line "
                        f"{first_data} ({self._short(first_data, text)!r}); comments are only "
                        "allowed before the header. A '#' comment that spans several lines "
                        "(e.g. a newline inside a quoted '# command' argument) leaves its "
                        "continuation lines without '#'",
                    )
                continue
            if not first_data:
                first_data = number
            self.texts.append(stripped)
            self.numbers.append(number)

    @staticmethod
    def _short(number: int, text: str) -> str:
        line = text.splitlines()[number - 1].strip()
        return line if len(line) <= 60 else line[:57] + "..."

    def fail(self, index: int, detail: str) -> FileFormatError:
        """Error for the content line at ``index`` (or end of file if past the end)."""
        where = "end of file" if index >= len(self.texts) else f"line {self.numbers[index]}"
        return FileFormatError(self.path, f"{where}: {detail}")

    def fields(self, index: int, what: str, columns: str) -> list[str]:
        """Tokens of the content line at ``index``, checked against ``columns``."""
        if index >= len(self.texts):
            raise self.fail(index, f"file ends where the {what} ({columns}) was expected")
        tokens = self.texts[index].split()
        expected = len(columns.split())
        if len(tokens) != expected:
            raise self.fail(
                index,
                f"{what} has {len(tokens)} fields, expected {expected} ({columns}): "
                f"{self.texts[index][:80]!r}",
            )
        return tokens


def _to_int(lines: _Lines, index: int, token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise lines.fail(index, f"{what} {token!r} is not an integer") from None


def _check_floats(lines: _Lines, index: int, tokens: list[str], what: str) -> None:
    for token in tokens:
        try:
            float(token)
        except ValueError:
            raise lines.fail(index, f"{what} value {token!r} is not a number") from None


def _parse_header(lines: _Lines) -> tuple[int, int, int, int]:
    """Return (det_id, version, declared n_doms, index of the first DOM line)."""
    if not lines.texts:
        raise FileFormatError(lines.path, "no header line: the file is empty or only comments")
    head = lines.texts[0].split()
    if len(head) != 2:
        raise lines.fail(
            0, f"header has {len(head)} fields, expected 'det_id vN' or 'det_id n_doms' (v1)"
        )
    det_id = _to_int(lines, 0, head[0], "det_id")
    match = _VERSION_TOKEN.fullmatch(head[1])
    if match is None:
        n_doms = _to_int(lines, 0, head[1], "version token or v1 DOM count")
        return det_id, 1, n_doms, 1
    version = int(match.group(1))
    if version not in SUPPORTED_VERSIONS or version == 1:
        raise lines.fail(
            0,
            f"unsupported detx version {head[1]!r}; this reader supports v1 (header "
            "'det_id n_doms') and v2-v5",
        )
    validity = lines.fields(1, "validity line", "valid_from valid_until")
    _check_floats(lines, 1, validity, "validity")
    utm = lines.fields(2, "UTM line", "UTM ellipsoid grid east north z")
    if utm[0].upper() != "UTM":
        raise lines.fail(2, f"expected the UTM reference line, got {lines.texts[2][:80]!r}")
    _check_floats(lines, 2, utm[3:], "UTM")
    n_doms = _to_int(lines, 3, lines.fields(3, "DOM count line", "n_doms")[0], "DOM count")
    return det_id, version, n_doms, 4


def read_detx(path: str | os.PathLike[str]) -> Detector:
    """Read a KM3NeT ``.detx`` file (v1-v5) into a :class:`Detector`.

    Args:
        path: the detx file.

    Returns:
        The detector, one row per PMT in file order.

    Raises:
        FileFormatError: if the file is malformed or truncated, or its version is unsupported.
        OSError: if the file cannot be read.
    """
    name = os.fspath(path)
    lines = _Lines(name, _read_text(name))
    det_id, version, n_doms_declared, index = _parse_header(lines)
    if n_doms_declared < 0:
        raise lines.fail(index - 1, f"negative DOM count {n_doms_declared}")
    doms, blocks = _parse_doms(lines, version, n_doms_declared, index)
    pmt_columns = _PMT_COLUMNS[version]
    n_pmt_cols = len(pmt_columns.split())
    pmt_texts = [t for start, stop in blocks for t in lines.texts[start:stop]]
    values = _parse_pmt_values(lines, blocks, pmt_texts, n_pmt_cols, pmt_columns)
    return _detector(lines, det_id, version, doms, blocks, values)


def _read_text(name: str) -> str:
    """The file's text; a binary file is a :class:`FileFormatError`."""
    raw = Path(name).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(name, f"not a text file (byte {exc.start} is not UTF-8)") from None
    if "\x00" in text:
        raise FileFormatError(name, "not a text file (contains NUL bytes)")
    return text


def _parse_doms(
    lines: _Lines, version: int, n_doms_declared: int, index: int
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """The DOM lines from content line ``index`` on: (dom_id, du, floor, n_pmts) of each
    DOM and the content-line range of its PMT lines; nothing may follow the last DOM."""
    dom_columns = _DOM_COLUMNS[version]
    doms: list[tuple[int, int, int, int]] = []  # dom_id, du, floor, n_pmts
    blocks: list[tuple[int, int]] = []  # content-line range of each DOM's PMT lines
    seen: dict[int, int] = {}
    for k in range(n_doms_declared):
        if index >= len(lines.texts):
            raise lines.fail(
                index,
                f"the header declares {n_doms_declared} DOMs but the file ends after {k} "
                "(truncated?)",
            )
        tokens = lines.fields(index, "DOM line", dom_columns)
        dom_id = _to_int(lines, index, tokens[0], "dom_id")
        du = _to_int(lines, index, tokens[1], "du")
        floor = _to_int(lines, index, tokens[2], "floor")
        n_pmts = _to_int(lines, index, tokens[-1], "n_pmts")
        if version >= 4:
            _check_floats(lines, index, tokens[3:11], "DOM")
        if version == 5:
            _to_int(lines, index, tokens[11], "DOM status")
        if n_pmts < 0:
            raise lines.fail(index, f"DOM {dom_id} has a negative PMT count {n_pmts}")
        if dom_id in seen:
            raise lines.fail(
                index, f"DOM {dom_id} appears twice (first at line {lines.numbers[seen[dom_id]]})"
            )
        seen[dom_id] = index
        start, stop = index + 1, index + 1 + n_pmts
        if stop > len(lines.texts):
            raise lines.fail(
                len(lines.texts),
                f"DOM {dom_id} (line {lines.numbers[index]}) declares {n_pmts} PMTs but the file "
                f"ends after {len(lines.texts) - start} (truncated?)",
            )
        doms.append((dom_id, du, floor, n_pmts))
        blocks.append((start, stop))
        index = stop
    if index < len(lines.texts):
        raise lines.fail(
            index,
            f"unexpected content after the {n_doms_declared} DOMs the header declares: "
            f"{lines.texts[index][:80]!r}",
        )
    return doms, blocks


def _detector(
    lines: _Lines,
    det_id: int,
    version: int,
    doms: list[tuple[int, int, int, int]],
    blocks: list[tuple[int, int]],
    values: FloatArray,
) -> Detector:
    """The :class:`Detector` of the parsed DOMs and PMT values (PMT id/status integers)."""
    pmt_columns = _PMT_COLUMNS[version]
    dom_table = np.array(doms, dtype=np.int64).reshape(-1, 4)
    counts = dom_table[:, 3]
    int_cols = values[:, [0]] if version < 3 else values[:, [0, 8]]
    bad = np.flatnonzero(~np.all(int_cols == np.round(int_cols), axis=1))
    if bad.size:
        raise lines.fail(
            _content_index(blocks, int(bad[0])),
            f"PMT id/status must be integers ({pmt_columns})",
        )
    row_start = np.repeat(np.cumsum(counts) - counts, counts)
    return Detector(
        path=lines.path,
        det_id=det_id,
        version=version,
        pmt_id=values[:, 0].astype(np.int64),
        dom_id=np.repeat(dom_table[:, 0], counts),
        channel_id=np.arange(values.shape[0], dtype=np.int64) - row_start,
        du=np.repeat(dom_table[:, 1], counts),
        floor=np.repeat(dom_table[:, 2], counts),
        pos_x=values[:, 1],
        pos_y=values[:, 2],
        pos_z=values[:, 3],
        dir_x=values[:, 4],
        dir_y=values[:, 5],
        dir_z=values[:, 6],
        t0=values[:, 7],
    )


def _content_index(blocks: list[tuple[int, int]], row: int) -> int:
    """Content-line index of PMT row ``row``."""
    for start, stop in blocks:
        if row < stop - start:
            return start + row
        row -= stop - start
    return -1


def _parse_pmt_values(
    lines: _Lines,
    blocks: list[tuple[int, int]],
    pmt_texts: list[str],
    n_cols: int,
    columns: str,
) -> FloatArray:
    """All PMT lines as an (n_pmts, n_cols) float64 array, with line-exact errors."""
    counts = np.fromiter((len(t.split()) for t in pmt_texts), dtype=np.int64, count=len(pmt_texts))
    wrong = np.flatnonzero(counts != n_cols)
    if wrong.size:
        row = int(wrong[0])
        raise lines.fail(
            _content_index(blocks, row),
            f"PMT line has {int(counts[row])} fields, expected {n_cols} ({columns}): "
            f"{pmt_texts[row][:80]!r}",
        )
    try:
        with warnings.catch_warnings():
            # numpy < 2.3 warns (DeprecationWarning) and stops at the first unparsable
            # token; newer numpy raises ValueError. Either way: find the token below.
            warnings.simplefilter("ignore")
            flat = np.fromstring(" ".join(pmt_texts), dtype=np.float64, sep=" ")
    except ValueError:
        flat = np.empty(0, dtype=np.float64)
    if flat.size != len(pmt_texts) * n_cols:
        for row, t in enumerate(pmt_texts):
            for token in t.split():
                try:
                    float(token)
                except ValueError:
                    raise lines.fail(
                        _content_index(blocks, row), f"PMT value {token!r} is not a number"
                    ) from None
        raise lines.fail(0, "PMT lines could not be parsed as numbers")  # pragma: no cover
    values = flat.reshape(len(pmt_texts), n_cols)
    if not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.all(np.isfinite(values), axis=1))[0])
        raise lines.fail(_content_index(blocks, row), f"non-finite PMT value: {pmt_texts[row]!r}")
    return values
