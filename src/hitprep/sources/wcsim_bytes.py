"""Streamer-driven decoder of WCSim's ROOT objects from raw bytes (no ROOT, no WCSim library).

uproot reads the file's keys, its streamer info and the decompressed baskets;
this module turns the bytes of one entry into numpy columns. uproot cannot
deserialize WCSim's member-wise ``TClonesArray`` members itself, but their
bytes are regular: after a short header, each member of the contained class
is one contiguous big-endian column.

Layouts come from the file's own streamer info (``file.file.streamers``), never
from class version numbers alone: the same version number has been seen with
different member lists. Byte layout (all big-endian):

- **Byte count.** ``u4`` with bit ``0x40000000`` set; the object ends
  ``count & 0x3FFFFFFF`` bytes after the byte count's last byte.
- **Class tag.** Before a polymorphic object: ``0xFFFFFFFF`` and the class name
  (NUL-terminated) the first time, later ``0x80000000 | position``, where
  ``position`` is the basket position of the first tag plus ``fKeylen`` + 2.
- **TObject.** ``u2`` version, ``u4`` fUniqueID, ``u4`` fBits, and a ``u2`` more
  when bit ``0x10`` (kIsReferenced) of fBits is set.
- **Embedded object** (``fEvtHdr``, ``fPi0``): byte count, ``u2`` version, members.
- **TClonesArray** (``//->`` members carry no class tag, plain pointers do):
  byte count, ``u2`` version, TObject, name, ``"Class;version"``, ``i4`` count,
  ``i4`` lower bound. Bit ``0x1000`` of fBits (kBypassStreamer) marks the
  member-wise layout: ``count`` TObject headers, then one column per member
  (``count`` × array length values); a ``vector`` member is one byte count and
  version for the whole column, then per object an ``i4`` size and its values.
- **Unversioned top-level object** (the geometry branch): members only.

Errors are :class:`~hitprep.errors.FileFormatError` naming the file, the place
(``context``, e.g. ``"wcsimT entry 3, trigger 1"``), the byte position and,
where a class cannot be decoded, the layout that was found.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hitprep.errors import FileFormatError

__all__ = [
    "ClassLayout",
    "Clones",
    "Decoded",
    "Layouts",
    "Member",
    "Reader",
]

BYTECOUNT_FLAG = 0x40000000
NEW_CLASS_TAG = 0xFFFFFFFF
CLASS_REF_FLAG = 0x80000000
MAP_OFFSET = 2
IS_REFERENCED = 0x10
BYPASS_STREAMER = 0x1000

#: ROOT basic type codes (EDataType) -> big-endian numpy dtype
_BASIC: dict[int, str] = {
    1: ">i1",
    2: ">i2",
    3: ">i4",
    4: ">i8",
    5: ">f4",
    6: ">i4",
    8: ">f8",
    9: ">f4",  # Double32_t without a range is written as float
    11: ">u1",
    12: ">u2",
    13: ">u4",
    14: ">u8",
    15: ">u4",
    16: ">i8",
    17: ">u8",
    18: ">u1",
}
_OFFSET_L = 20  # fixed-size arrays: type code + 20 in ROOT, bare code in uproot
_STL_VECTOR = 1
_U2 = struct.Struct(">H")
_U4 = struct.Struct(">I")
_I4 = struct.Struct(">i")
_TOBJECT = np.dtype([("version", ">u2"), ("unique_id", ">u4"), ("bits", ">u4")])


@dataclass(frozen=True)
class Member:
    """One data member of a class, as its streamer element describes it.

    ``kind`` is ``"tobject"`` (the TObject base), ``"basic"`` (number or fixed
    array), ``"object"`` (embedded object or non-TObject base), ``"clones"``
    (TClonesArray pointer; ``tagged`` when written with a class tag),
    ``"vector"`` (``std::vector`` of numbers), ``"string"`` (TString) or
    ``"skip"`` (other STL containers: skipped by byte count).
    """

    name: str
    kind: str
    type_name: str
    dtype: np.dtype[Any] | None = None
    length: int = 1
    tagged: bool = False

    def describe(self) -> str:
        size = f"[{self.length}]" if self.length > 1 else ""
        return f"{self.type_name} {self.name}{size}"


@dataclass(frozen=True)
class ClassLayout:
    """A class's members in streaming order, for one class version."""

    name: str
    version: int
    members: tuple[Member, ...]

    def describe(self) -> str:
        """``"WCSimRootPMT v1: TObject, int fTubeNo, ..."``, for error messages."""
        return f"{self.name} v{self.version}: " + ", ".join(m.describe() for m in self.members)

    def member(self, name: str) -> Member | None:
        """The member called ``name``, or None."""
        for m in self.members:
            if m.name == name:
                return m
        return None


@dataclass
class Clones:
    """A decoded TClonesArray: ``count`` objects as columns.

    ``columns`` maps member name to a native-endian array of shape ``(count,)``
    or ``(count, length)``; ``vectors`` maps a vector member to its per-object
    sizes and flat values; ``skipped`` names members that were not decoded.
    """

    class_name: str
    version: int
    count: int
    member: str = ""
    columns: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    vectors: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[Any]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


#: member name -> value: a number, a numpy array, a :class:`Clones`, a string
Decoded = dict[str, Any]


def _element_member(element: Any, owner: str, version: int, file: Path) -> Member:
    kind = type(element).__name__.removeprefix("Model_").split("_v")[0]
    name = str(element.member("fName"))
    type_name = str(element.member("fTypeName"))
    code = int(element.member("fType"))
    if kind == "TStreamerBase":
        if name == "TObject":
            return Member(name, "tobject", "TObject")
        return Member(name, "object", name)
    if kind == "TStreamerBasicType":
        base = code - _OFFSET_L if _OFFSET_L < code < 2 * _OFFSET_L else code
        if base in _BASIC:
            length = max(int(element.member("fArrayLength")), 1)
            return Member(name, "basic", type_name, np.dtype(_BASIC[base]), length)
    elif kind in ("TStreamerObject", "TStreamerObjectAny"):
        return Member(name, "object", type_name)
    elif kind == "TStreamerObjectPointer" and type_name.rstrip("*") == "TClonesArray":
        return Member(name, "clones", "TClonesArray", tagged=code == 64)
    elif kind == "TStreamerString":
        return Member(name, "string", type_name)
    elif kind == "TStreamerSTL":
        stl = int(element.member("fSTLtype"))
        ctype = int(element.member("fCtype"))
        if stl == _STL_VECTOR and ctype in _BASIC:
            return Member(name, "vector", type_name, np.dtype(_BASIC[ctype]))
        return Member(name, "skip", type_name)
    msg = (
        f"class {owner} v{version}: member {name!r} ({type_name}, {kind} type {code})"
        " has a layout this decoder does not handle"
    )
    raise FileFormatError(file, msg)


class Layouts:
    """Class layouts from a file's streamer info (``uproot_file.file.streamers``).

    Args:
        streamers: ``{class name: {version: TStreamerInfo}}`` as uproot gives it.
        file: the file, for error messages.
    """

    def __init__(self, streamers: Mapping[str, Mapping[int, Any]], *, file: str | Path) -> None:
        self.file = Path(file)
        self._streamers = streamers
        self._cache: dict[tuple[str, int], ClassLayout] = {}

    def versions(self, name: str) -> list[int]:
        """The versions of class ``name`` the file has streamers for."""
        return sorted(int(v) for v in self._streamers.get(name, {}))

    def get(self, name: str, version: int) -> ClassLayout:
        """The layout of ``name`` at ``version``; FileFormatError when the file lacks it."""
        key = (name, version)
        if key not in self._cache:
            infos = self._streamers.get(name, {})
            if version not in infos:
                have = ", ".join(f"v{v}" for v in self.versions(name)) or "none"
                msg = f"no streamer for class {name} v{version} in the file (streamers: {have})"
                raise FileFormatError(self.file, msg)
            elements = infos[version].member("fElements")
            members = tuple(_element_member(e, name, version, self.file) for e in elements)
            self._cache[key] = ClassLayout(name, version, members)
        return self._cache[key]

    def only(self, name: str) -> ClassLayout:
        """The layout of ``name`` when the file has exactly one version of it."""
        versions = self.versions(name)
        if len(versions) != 1:
            have = ", ".join(f"v{v}" for v in versions) or "none"
            msg = f"expected one streamer for class {name}, found {have}"
            raise FileFormatError(self.file, msg)
        return self.get(name, versions[0])


class Reader:
    """A cursor over one basket's bytes that decodes objects by their layouts.

    Args:
        data: the basket's uncompressed bytes (entries, without the key header).
        layouts: the file's class layouts.
        keylen: the basket key's ``fKeylen`` (resolves class-reference tags).
        pos: where to start.
        context: where we are, for error messages (``"wcsimT entry 3"``).
        vectors: decode ``std::vector`` columns of TClonesArrays (one Python step
            per object, so off by default: they are skipped by byte count), for
            every array (``True``) or for the TClonesArray members named.
        skip: TClonesArray members to jump over by their byte count (not decoded).
    """

    def __init__(
        self,
        data: bytes,
        layouts: Layouts,
        *,
        keylen: int,
        pos: int = 0,
        context: str = "",
        vectors: bool | frozenset[str] = False,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        self.data = data
        self.layouts = layouts
        self.keylen = keylen
        self.pos = pos
        self.context = context
        self.vectors = vectors
        self._vector_members = vectors if isinstance(vectors, frozenset) else frozenset()
        self.skip = skip

    # -- primitives -------------------------------------------------------------------
    def error(self, detail: str, *, at: int | None = None) -> FileFormatError:
        where = f"{self.context}, " if self.context else ""
        pos = self.pos if at is None else at
        return FileFormatError(self.layouts.file, f"{where}byte {pos}: {detail}")

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            msg = f"need {n} bytes, {len(self.data) - self.pos} left (truncated or misread entry)"
            raise self.error(msg)

    def u2(self) -> int:
        self._need(2)
        value: int = _U2.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return value

    def u4(self) -> int:
        self._need(4)
        value: int = _U4.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def i4(self) -> int:
        self._need(4)
        value: int = _I4.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def array(self, dtype: np.dtype[Any], count: int) -> npt.NDArray[Any]:
        """``count`` values of big-endian ``dtype``, converted to native byte order."""
        if count < 0:
            msg = f"negative count {count}"
            raise self.error(msg)
        self._need(dtype.itemsize * count)
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += dtype.itemsize * count
        return out.astype(dtype.newbyteorder("="))

    def tstring(self) -> str:
        self._need(1)
        n = self.data[self.pos]
        self.pos += 1
        if n == 255:
            n = self.i4()
        self._need(n)
        text = self.data[self.pos : self.pos + n].decode("latin-1")
        self.pos += n
        return text

    def cstring(self, *, at: int | None = None) -> str:
        start = self.pos if at is None else at
        end = self.data.find(b"\0", start, start + 256)
        if end < 0:
            msg = "unterminated class name"
            raise self.error(msg, at=start)
        if at is None:
            self.pos = end + 1
        return self.data[start:end].decode("latin-1")

    def bytecount(self) -> int:
        """Read a byte count; return the position where the object ends."""
        at = self.pos
        raw = self.u4()
        if not raw & BYTECOUNT_FLAG:
            msg = f"expected a byte count (flag 0x40000000), found 0x{raw:08x}"
            raise self.error(msg, at=at)
        end = self.pos + (raw & ~BYTECOUNT_FLAG)
        if end > len(self.data):
            msg = f"byte count 0x{raw:08x} runs past the end of the entry"
            raise self.error(msg, at=at)
        return end

    def expect_end(self, end: int, what: str) -> None:
        if self.pos != end:
            msg = f"{what} decoded to byte {self.pos} but its byte count ends at {end}"
            raise self.error(msg)

    def tobject(self) -> int:
        """Read a TObject header; return its fBits."""
        self.u2()
        self.u4()
        bits = self.u4()
        if bits & IS_REFERENCED:
            self.u2()
        return bits

    def class_tag(self) -> str | None:
        """Read a byte count and class tag before a polymorphic object; None for a null one."""
        at = self.pos
        raw = self.u4()
        if raw == 0:
            return None
        if not raw & BYTECOUNT_FLAG:
            msg = f"expected a byte count before a class tag, found 0x{raw:08x}"
            raise self.error(msg, at=at)
        tag = self.u4()
        if tag == NEW_CLASS_TAG:
            return self.cstring()
        if tag & CLASS_REF_FLAG:
            first = (tag & ~CLASS_REF_FLAG) - self.keylen - MAP_OFFSET
            if first >= 0 and _U4.unpack_from(self.data, first)[0] == NEW_CLASS_TAG:
                return self.cstring(at=first + 4)
            msg = f"class reference 0x{tag:08x} does not point at a class tag"
            raise self.error(msg, at=at + 4)
        msg = f"unexpected object tag 0x{tag:08x} (object references are not supported)"
        raise self.error(msg, at=at + 4)

    # -- objects ----------------------------------------------------------------------
    def members(self, layout: ClassLayout, out: Decoded, *, prefix: str = "") -> None:
        """Decode ``layout``'s members (no header) into ``out`` under ``prefix``."""
        for m in layout.members:
            key = prefix + m.name
            if m.kind == "tobject":
                self.tobject()
            elif m.kind == "basic":
                assert m.dtype is not None
                if m.length == 1:
                    self._need(m.dtype.itemsize)
                    out[key] = np.frombuffer(self.data, m.dtype, 1, self.pos)[0].item()
                    self.pos += m.dtype.itemsize
                else:
                    out[key] = self.array(m.dtype, m.length)
            elif m.kind == "object":
                self.versioned(m.type_name, out, prefix=key + ".")
            elif m.kind == "clones" and m.name in self.skip:
                if not m.tagged or self.class_tag() is not None:
                    self.pos = self.bytecount()
            elif m.kind == "clones":
                out[key] = self.clones(tagged=m.tagged, what=key)
            elif m.kind == "vector":
                assert m.dtype is not None
                end = self.bytecount()
                self.u2()
                out[key] = self.array(m.dtype, self.i4())
                self.expect_end(end, key)
            elif m.kind == "string":
                out[key] = self.tstring()
            else:  # "skip"
                self.pos = self.bytecount()

    def versioned(self, class_name: str, out: Decoded, *, prefix: str = "") -> ClassLayout:
        """Decode an object with a byte count and version, by the file's layout for it."""
        end = self.bytecount()
        layout = self.layouts.get(class_name, self.u2())
        self.members(layout, out, prefix=prefix)
        self.expect_end(end, f"{layout.name} v{layout.version}")
        return layout

    def clones(self, *, tagged: bool, what: str) -> Clones | None:
        """Decode a TClonesArray in member-wise layout (None for a null pointer)."""
        if tagged:
            name = self.class_tag()
            if name is None:
                return None
            if name != "TClonesArray":
                msg = f"{what}: expected a TClonesArray, found class {name!r}"
                raise self.error(msg)
        end = self.bytecount()
        self.u2()
        bits = self.tobject()
        self.tstring()
        class_name, _, version_text = self.tstring().partition(";")
        count = self.i4()
        self.i4()
        if not version_text.isdigit():
            msg = f"{what}: bad class string {class_name + ';' + version_text!r}"
            raise self.error(msg)
        layout = self.layouts.get(class_name, int(version_text))
        out = Clones(class_name, layout.version, count, what.rpartition(".")[2])
        if count == 0:
            self.expect_end(end, what)
            return out
        if not bits & BYPASS_STREAMER:
            msg = (
                f"{what}: TClonesArray of {layout.describe()} is stored object-wise;"
                " only the member-wise layout is supported"
            )
            raise self.error(msg)
        for m in layout.members:
            self._clones_column(m, out, layout)
        self.expect_end(end, f"{what} ({count} {class_name})")
        return out

    def _clones_column(self, m: Member, out: Clones, layout: ClassLayout) -> None:
        n = out.count
        if m.kind == "tobject":
            self._need(_TOBJECT.itemsize * n)
            heads = np.frombuffer(self.data, _TOBJECT, n, self.pos)
            if np.any(heads["bits"] & IS_REFERENCED):
                msg = f"{layout.name} objects with kIsReferenced set are not supported"
                raise self.error(msg)
            self.pos += _TOBJECT.itemsize * n
        elif m.kind == "basic":
            assert m.dtype is not None
            col = self.array(m.dtype, n * m.length)
            out.columns[m.name] = col if m.length == 1 else col.reshape(n, m.length)
        elif m.kind == "vector" and (self.vectors is True or out.member in self._vector_members):
            assert m.dtype is not None
            out.vectors[m.name] = self._vector_column(m.dtype, n, m.name)
        elif m.kind in ("vector", "skip"):
            self.pos = self.bytecount()
            out.skipped.append(m.name)
        else:
            msg = f"member {m.describe()} inside a TClonesArray is not supported"
            msg += f" ({layout.describe()})"
            raise self.error(msg)

    def _vector_column(
        self, dtype: np.dtype[Any], n: int, what: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
        """One vector per object: sizes and flat values (steps object by object)."""
        end = self.bytecount()
        self.u2()
        sizes = np.empty(n, dtype=np.int64)
        starts = np.empty(n, dtype=np.int64)
        pos, item = self.pos, dtype.itemsize
        for k in range(n):  # sizes are interleaved with values: no vector form exists
            size = _I4.unpack_from(self.data, pos)[0]
            if size < 0 or pos + 4 + size * item > end:
                msg = f"{what}: vector size {size} of object {k} runs past its column"
                raise self.error(msg, at=pos)
            sizes[k], starts[k] = size, pos + 4
            pos += 4 + size * item
        self.pos = pos
        self.expect_end(end, what)
        total = int(sizes.sum())
        first = np.cumsum(sizes) - sizes
        within = np.arange(total, dtype=np.int64) - np.repeat(first, sizes)
        byte_pos = np.repeat(starts, sizes) + within * item
        raw = np.frombuffer(self.data, np.uint8)[byte_pos[:, None] + np.arange(item)]
        flat = np.ascontiguousarray(raw).view(dtype).reshape(-1)
        return sizes, flat.reshape(-1).astype(dtype.newbyteorder("="))

    def objarray(self, *, what: str) -> list[tuple[str, Decoded] | None]:
        """Decode a TObjArray of versioned objects: ``(class name, members)`` per slot."""
        end = self.bytecount()
        self.u2()
        self.tobject()
        self.tstring()
        count = self.i4()
        self.i4()
        if count < 0:
            msg = f"{what}: negative number of objects {count}"
            raise self.error(msg)
        slots: list[tuple[str, Decoded] | None] = []
        base = self.context
        for i in range(count):
            self.context = f"{base}, {what}[{i}]"
            name = self.class_tag()
            if name is None:
                slots.append(None)
                continue
            decoded: Decoded = {}
            self.versioned(name, decoded)
            slots.append((name, decoded))
        self.context = base
        self.expect_end(end, what)
        return slots
