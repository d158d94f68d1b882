"""Vectorized reader of text files whose lines are Python list literals, in blocks.

The HEPTrkX ACTS dumps write one ``[...]`` literal per line (numbers and nested
lists); blocks of lines separated by blank or ``#`` lines are events. The
HEPTrkX notebook read them with ``ast.literal_eval`` line by line; this module
reads them with whole-array numpy operations, in pieces of a few MiB:

- every byte is classed (whitespace, number character, ``[``, ``]``, ``,``, other);
  the *symbols* of a line are its brackets, commas and number tokens;
- each line's symbols must follow a :class:`Layout`: a fixed prefix, optionally a
  nested list of any length (checked for balance), and a fixed suffix; consecutive
  symbols must form a list literal (no ``1 2``, ``[,``, ``]1``);
- the wanted number tokens (all in the prefix) are parsed: integers exactly from
  their digits (64-bit values beyond float precision stay exact), floats by
  numpy's correctly rounded text parser (as ``float(text)``).

A line that breaks any of this raises :class:`~hitprep.errors.FileFormatError`
with the file, the line number and the line's text. Blank lines and lines whose
first non-blank character is ``#`` both end a block, as the notebook's reader did.

Example:
    >>> lay = Layout("[n,[n,n]]", ints={"a": 0}, floats={"x": 1})
    >>> got = parse_text(b"[1, [2.5, 3]]\\n\\n# c\\n[7, [0, 1e3]]\\n", lay, source="t")
    >>> got.block.tolist(), got.ints["a"].tolist(), got.floats["x"].tolist()
    ([0, 1], [1, 7], [2.5, 0.0])
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hitprep.errors import FileFormatError

__all__ = ["Layout", "ParsedLines", "count_blocks", "parse_file", "parse_text"]

IntArray = npt.NDArray[np.int64]
_WS, _NUM, _OPEN, _CLOSE, _COMMA, _NL, _OTHER = range(7)
_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_CLASS[list(b" \t\r\f\v")] = _WS
_CLASS[list(b"0123456789+-.eE")] = _NUM
_CLASS[ord("[")], _CLASS[ord("]")], _CLASS[ord(",")] = _OPEN, _CLOSE, _COMMA
_CLASS[ord("\n")] = _NL
#: which symbol may follow which inside a list literal (index: this * 8 + next); a line
#: end may follow and precede anything (lines are checked against their layout)
_FOLLOWS = np.zeros(64, dtype=bool)
for _a, _b in [
    (_OPEN, _OPEN), (_OPEN, _NUM), (_OPEN, _CLOSE), (_NUM, _COMMA), (_NUM, _CLOSE),
    (_COMMA, _NUM), (_COMMA, _OPEN), (_COMMA, _CLOSE), (_CLOSE, _COMMA), (_CLOSE, _CLOSE),
]:  # fmt: skip
    _FOLLOWS[_a * 8 + _b] = True
_FOLLOWS[_NL * 8 : _NL * 8 + 8] = _FOLLOWS[_NL::8] = True
_CODES = {"n": _NUM, "[": _OPEN, "]": _CLOSE, ",": _COMMA}
_DATA, _BLANK, _COMMENT = 0, 1, 2
PIECE = 1 << 22  # bytes per piece: bounds the temporaries (~30 bytes each per input byte)


@dataclass(frozen=True)
class Layout:
    """What each line looks like, in symbols: ``n`` a number, ``[ ] ,`` themselves.

    Args:
        prefix: the symbols every line starts with.
        suffix: the symbols every line ends with (after the nested list, if any).
        nested: a nested list of any length sits between prefix and suffix.
        ints: field name -> index of its number among the prefix's numbers (parsed exactly).
        floats: field name -> index of its number among the prefix's numbers.
        names: the layout in words, for error messages.
    """

    prefix: str
    suffix: str = ""
    nested: bool = False
    ints: dict[str, int] = field(default_factory=dict)
    floats: dict[str, int] = field(default_factory=dict)
    names: str = ""

    def codes(self, part: str) -> npt.NDArray[np.uint8]:
        return np.array([_CODES[c] for c in part], dtype=np.uint8)


@dataclass
class ParsedLines:
    """The data lines of a file: line number, block, and the wanted numbers (one per line)."""

    line: IntArray
    block: IntArray
    n_blocks: int
    ints: dict[str, IntArray]
    floats: dict[str, npt.NDArray[np.float64]]


@dataclass
class _Piece:
    kinds: npt.NDArray[np.int8]
    ints: dict[str, IntArray]
    floats: dict[str, npt.NDArray[np.float64]]


class _Bad(Exception):
    """A line that does not parse: its index within the piece and why."""

    def __init__(self, line: int, why: str) -> None:
        self.line, self.why = line, why


def _pieces(data: bytes, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``size`` bytes, each ending after a newline (or at the end)."""
    out, start = [], 0
    while start < len(data):
        cut = data.find(b"\n", start + size)
        stop = len(data) if cut < 0 else cut + 1
        out.append((start, stop))
        start = stop
    return out


def _lines(b: npt.NDArray[np.uint8]) -> tuple[IntArray, IntArray]:
    """Start and end (without the newline) of each line of a piece."""
    nl = np.flatnonzero(b == 10)
    starts = np.concatenate([[0], nl + 1]).astype(np.int64)
    ends = np.concatenate([nl, [len(b)]]).astype(np.int64)
    if starts[-1] == len(b):  # the piece ends with a newline: no line after it
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _kinds(b: npt.NDArray[np.uint8], starts: IntArray, ends: IntArray) -> npt.NDArray[np.int8]:
    """Data, blank or comment, from each line's first non-blank character."""
    empty = starts == ends
    first = b[np.minimum(starts, len(b) - 1)]
    kinds = np.full(len(starts), _DATA, dtype=np.int8)
    kinds[first == ord("#")] = _COMMENT
    kinds[empty] = _BLANK
    for i in np.flatnonzero(~empty & (_CLASS[first] == _WS)):  # starts blank: rare, look closer
        text = b[starts[i] : ends[i]].tobytes().lstrip()
        kinds[i] = _BLANK if not text else _COMMENT if text[:1] == b"#" else _DATA
    return kinds


def _symbols(
    b: npt.NDArray[np.uint8], starts: IntArray, ends: IntArray, kinds: npt.NDArray[np.int8]
) -> tuple[npt.NDArray[np.uint8], IntArray, IntArray]:
    """Codes of the symbols (line ends included); starts and ends of the number tokens."""
    cls = _CLASS[b]
    for i in np.flatnonzero(kinds == _COMMENT):
        cls[starts[i] : ends[i]] = _WS
    if len(cls) and cls.max() == _OTHER:
        other = np.flatnonzero(cls == _OTHER)
        line = int(np.searchsorted(starts, other[0], side="right") - 1)
        raise _Bad(line, f"has the unexpected character {chr(b[other[0]])!r}")
    num = cls == _NUM
    edge = np.empty(len(num) + 1, dtype=bool)  # number tokens begin and end where `num` flips
    edge[0], edge[-1] = num[0], num[-1]
    np.not_equal(num[1:], num[:-1], out=edge[1:-1])
    flips = np.flatnonzero(edge)
    tok_start, tok_end = flips[0::2], flips[1::2]
    is_sym = cls > _NUM
    is_sym[tok_start] = True
    return cls[is_sym], tok_start, tok_end


def _check_layout(
    code: npt.NDArray[np.uint8], first: IntArray, count: IntArray, lines: IntArray, layout: Layout
) -> None:
    """Raise _Bad for the first data line whose symbols do not follow ``layout``."""
    pre, suf = layout.codes(layout.prefix), layout.codes(layout.suffix)
    need = len(pre) + len(suf) + (2 if layout.nested else 0)
    ok = count >= need if layout.nested else count == need
    if not np.all(ok):
        raise _Bad(int(lines[np.flatnonzero(~ok)[0]]), _layout_why(layout))
    ok &= np.all(code[first[:, None] + np.arange(len(pre))] == pre, axis=1)
    if len(suf):
        ok &= np.all(code[(first + count - len(suf))[:, None] + np.arange(len(suf))] == suf, axis=1)
    if layout.nested and len(first):
        depth = np.cumsum((code == _OPEN).astype(np.int32) - (code == _CLOSE))
        lo, hi = first + len(pre), first + count - len(suf)  # nested list: symbols lo .. hi - 1
        base = depth[lo - 1]
        inner = np.minimum.reduceat(depth, np.stack([lo, hi - 1], axis=1).reshape(-1))[0::2]
        ok &= (code[lo] == _OPEN) & (depth[hi - 1] == base) & (inner > base)
    if not np.all(ok):
        raise _Bad(int(lines[np.flatnonzero(~ok)[0]]), _layout_why(layout))


def _layout_why(layout: Layout) -> str:
    return f"is not laid out as {layout.names or layout.prefix + '...' + layout.suffix}"


def _columns(
    b: npt.NDArray[np.uint8], s: IntArray, e: IntArray, width: int
) -> Iterator[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]:
    """Tokens ``b[s:e]`` column by column, right-aligned: each column's characters and
    whether the token reaches that far (a loop over ``width`` columns, not over tokens)."""
    for j in range(width):
        pos = e - width + j
        yield b[np.maximum(pos, 0)], pos >= s


def _sign(b: npt.NDArray[np.uint8], s: IntArray) -> tuple[npt.NDArray[np.bool_], IntArray]:
    neg = b[s] == ord("-")
    return neg, s + (neg | (b[s] == ord("+")))


def _parse_ints(b: npt.NDArray[np.uint8], s: IntArray, e: IntArray) -> tuple[IntArray, IntArray]:
    """Exact integers of tokens ``b[s:e]`` (64-bit patterns); also the indices of bad tokens."""
    neg, s = _sign(b, s)
    n = e - s
    bad = (n <= 0) | (n > 20)
    value = np.zeros(len(s), dtype=np.uint64)
    for c, inside in _columns(b, s, e, int(min(n.max(initial=1), 20))):
        digit = c - np.uint8(48)
        bad |= inside & (digit > 9)
        value = np.where(inside, value * np.uint64(10) + digit, value)
    for i in np.flatnonzero(~bad & (n == 20)):  # 20 digits may exceed 64 bits: check exactly
        bad[i] = int(b[s[i] : e[i]].tobytes()) >= 1 << 64
    out = value.view(np.int64)
    return np.where(neg, -out, out), np.flatnonzero(bad)


_POWERS = np.array([10.0**k for k in range(18)])


def _parse_floats(b: npt.NDArray[np.uint8], s: IntArray, e: IntArray) -> npt.NDArray[np.float64]:
    """Floats of tokens ``b[s:e]``, equal to ``float(text)``; raises _Bad for a bad token.

    Plain decimals of at most 15 digits are exact integers over an exact power of ten,
    so one division rounds them correctly; the rest go to numpy's text parser.
    """
    neg, s2 = _sign(b, s)
    n = e - s2
    width = int(min(n.max(initial=1), 17))
    mantissa = np.zeros(len(s), dtype=np.int64)
    places, digits, dots = (np.zeros(len(s), dtype=np.int64) for _ in range(3))
    plain = n <= width
    for c, inside in _columns(b, s2, e, width):
        digit = c - np.uint8(48)
        is_digit = inside & (digit <= 9)
        is_dot = inside & (c == ord("."))
        plain &= ~inside | is_digit | is_dot
        mantissa = np.where(is_digit, mantissa * 10 + digit, mantissa)
        places += is_digit & (dots > 0)
        digits += is_digit
        dots += is_dot
    fast = plain & (dots <= 1) & (digits >= 1) & (digits <= 15)
    out = mantissa / _POWERS[np.minimum(places, 17)]
    out = np.where(neg, -out, out)
    slow = np.flatnonzero(~fast)
    if len(slow):
        out[slow] = _parse_slow(b, s[slow], e[slow], slow)
    result: npt.NDArray[np.float64] = out
    return result


def _parse_slow(
    b: npt.NDArray[np.uint8], s: IntArray, e: IntArray, where: IntArray
) -> npt.NDArray[np.float64]:
    """Floats by numpy's text parser (exponents, long mantissas); _Bad for a bad token."""
    n = e - s
    dst = np.cumsum(n + 1) - (n + 1)
    text = np.full(int((n + 1).sum()), ord(" "), dtype=np.uint8)
    which = np.repeat(np.arange(len(s)), n)
    step = np.arange(len(which)) - np.repeat(np.cumsum(n) - n, n)
    text[dst[which] + step] = b[s[which] + step]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns where it stops early
        try:
            out = np.fromstring(text.tobytes(), dtype=np.float64, sep=" ")
        except (DeprecationWarning, ValueError):
            out = np.empty(0)
    if len(out) != len(s):
        for i in range(len(s)):  # error path only: find the token
            token = b[s[i] : e[i]].tobytes().decode()
            try:
                float(token)
            except ValueError:
                raise _Bad(int(where[i]), f"{token!r}, not a number") from None
    result: npt.NDArray[np.float64] = out
    return result


def _parse_piece(b: npt.NDArray[np.uint8], layout: Layout) -> _Piece:
    starts, ends = _lines(b)
    kinds = _kinds(b, starts, ends)
    code, tok_start, tok_end = _symbols(b, starts, ends, kinds)
    line_end = np.flatnonzero(code == _NL)
    if len(line_end) < len(starts):  # the last line has no newline
        line_end = np.append(line_end, len(code))
    pair = _FOLLOWS[code[:-1] * 8 + code[1:]]
    if not np.all(pair):
        line = int(np.searchsorted(line_end, np.flatnonzero(~pair)[0]))
        raise _Bad(line, "is not a Python list literal")
    data = np.flatnonzero(kinds == _DATA)
    first = np.concatenate([[0], line_end[:-1] + 1])[data]
    count = line_end[data] - first
    _check_layout(code, first, count, data, layout)
    tokens_before = np.searchsorted(tok_start, starts[data])
    ints, floats = {}, {}
    for name, k in layout.ints.items():
        tok = tokens_before + k
        ints[name], bad = _parse_ints(b, tok_start[tok], tok_end[tok])
        if len(bad):
            text = b[tok_start[tok[bad[0]]] : tok_end[tok[bad[0]]]].tobytes().decode()
            raise _Bad(int(data[bad[0]]), f"has {name} {text!r}, not a 64-bit integer")
    for name, k in layout.floats.items():
        tok = tokens_before + k
        try:
            floats[name] = _parse_floats(b, tok_start[tok], tok_end[tok])
        except _Bad as bad_token:
            raise _Bad(int(data[bad_token.line]), f"has {name} {bad_token.why}") from None
    return _Piece(kinds, ints, floats)


def parse_text(
    data: bytes, layout: Layout, *, source: str | Path, piece: int = PIECE
) -> ParsedLines:
    """Parse a whole file's bytes (see the module docstring).

    Raises:
        FileFormatError: a line does not parse (its number and text in the message).
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    parts: list[_Piece] = []
    line0 = 0
    for start, stop in _pieces(data, piece):
        try:
            parts.append(_parse_piece(raw[start:stop], layout))
        except _Bad as bad:
            text = data[start:stop].split(b"\n")[bad.line].decode("utf-8", "replace").strip()
            shown = text if len(text) <= 80 else text[:77] + "..."
            msg = f"line {line0 + bad.line + 1} {bad.why}: {shown}"
            raise FileFormatError(source, msg) from None
        line0 += len(parts[-1].kinds)
    kinds = np.concatenate([p.kinds for p in parts]) if parts else np.zeros(0, np.int8)
    data_line = kinds == _DATA
    begins = data_line & ~np.concatenate([[False], data_line[:-1]])
    block = (np.cumsum(begins) - 1)[data_line]
    return ParsedLines(
        line=np.flatnonzero(data_line) + 1,
        block=block.astype(np.int64),
        n_blocks=int(begins.sum()),
        ints={k: np.concatenate([p.ints[k] for p in parts]) for k in layout.ints}
        if parts
        else {k: np.zeros(0, np.int64) for k in layout.ints},
        floats={k: np.concatenate([p.floats[k] for p in parts]) for k in layout.floats}
        if parts
        else {k: np.zeros(0) for k in layout.floats},
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise FileFormatError(path, f"cannot read: {err}") from err


def parse_file(path: str | Path, layout: Layout) -> ParsedLines:
    """Parse the file at ``path`` (see :func:`parse_text`)."""
    return parse_text(_read(Path(path)), layout, source=path)


def count_blocks(path: str | Path) -> int:
    """Number of blocks (events) of a file, from its line kinds only (no number is parsed)."""
    data = _read(Path(path))
    raw = np.frombuffer(data, dtype=np.uint8)
    kinds = [_kinds(raw[a:b], *_lines(raw[a:b])) for a, b in _pieces(data, PIECE)] or [
        np.zeros(0, np.int8)
    ]
    data_line = np.concatenate(kinds) == _DATA
    return int(np.count_nonzero(data_line & ~np.concatenate([[False], data_line[:-1]])))
