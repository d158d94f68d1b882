"""Tests of the detx reader against the km3net-testdata files."""

from __future__ import annotations

import time
from pathlib import Path

import km3net_testdata
import numpy as np
import pytest

from hitprep.detectors import Detector, read_detx
from hitprep.errors import CalibrationError, FileFormatError

DETX_DIR = Path(km3net_testdata.data_path("detx"))
INVALID = "detx_v5_invalid_multiline_comments.detx"
ALL_FILES = sorted(p.name for p in DETX_DIR.glob("*.detx"))
VALID_FILES = [name for name in ALL_FILES if "invalid" not in name]
# Hand-made files whose direction vectors are deliberately not normalised.
SYNTHETIC = {"detx_v1.detx", "detx_v2.detx", "detx_v3.detx", "detx_v3_whitespace.detx"}
BIG = "KM3NeT_-00000001_20171212.detx"


@pytest.fixture(scope="module")
def big() -> Detector:
    return read_detx(DETX_DIR / BIG)


def test_testdata_has_all_versions() -> None:
    versions = {read_detx(DETX_DIR / name).version for name in VALID_FILES}
    assert versions == {1, 2, 3, 4, 5}
    assert INVALID in ALL_FILES


@pytest.mark.parametrize("name", VALID_FILES)
def test_every_file_parses(name: str) -> None:
    det = read_detx(DETX_DIR / name)
    assert det.path == str(DETX_DIR / name)
    assert 1 <= det.version <= 5
    n = det.n_pmts
    assert n > 0
    for field in ("pmt_id", "dom_id", "channel_id", "du", "floor"):
        arr = getattr(det, field)
        assert arr.dtype == np.int64 and arr.shape == (n,), field
        assert not arr.flags.writeable
    for field in ("pos_x", "pos_y", "pos_z", "dir_x", "dir_y", "dir_z", "t0"):
        arr = getattr(det, field)
        assert arr.dtype == np.float64 and arr.shape == (n,), field
        assert np.all(np.isfinite(arr))
    # PMTs of a DOM are contiguous and numbered 0..k-1 in file order.
    starts = np.flatnonzero(np.diff(det.dom_id, prepend=det.dom_id[0] - 1))
    assert starts.size == det.n_doms
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        np.testing.assert_array_equal(det.channel_id[start:stop], np.arange(stop - start))
    assert np.unique(det.pmt_id).size == n


def test_invalid_multiline_comments_raises() -> None:
    with pytest.raises(FileFormatError, match=r"line \d+: comment line after the data began"):
        read_detx(DETX_DIR / INVALID)


@pytest.mark.parametrize(
    ("name", "det_id", "version", "n_doms", "n_pmts"),
    [
        (BIG, 20, 2, 2070, 64170),  # det_id in the header is 20 despite the file name
        ("km3net_jul13_90m_r1494_corrected.detx", -1, 1, 2070, 64170),
        ("D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx", 49, 3, 108, 3348),
        ("detx_v4.detx", 44, 4, 90, 2790),
        ("detx_v5.detx", 49, 5, 108, 3348),  # header says 114: 6 base modules without PMTs
        ("KM3NeT_00000133_20221025.detx", 133, 5, 378, 11718),  # header: 399 incl. 21 bases
        ("detx_v1.detx", 1, 1, 6, 18),
    ],
)
def test_counts(name: str, det_id: int, version: int, n_doms: int, n_pmts: int) -> None:
    det = read_detx(DETX_DIR / name)
    assert (det.det_id, det.version, det.n_doms, det.n_pmts) == (
        det_id,
        version,
        n_doms,
        n_pmts,
    )


def test_big_file_values(big: Detector) -> None:
    # "101   1  1 31" then " 1 -23.062 49.584 65.111 0.000 -0.832 0.555 0.000"
    assert (big.pmt_id[0], big.dom_id[0], big.channel_id[0]) == (1, 101, 0)
    assert (big.du[0], big.floor[0]) == (1, 1)
    np.testing.assert_array_equal(
        [big.pos_x[0], big.pos_y[0], big.pos_z[0]], [-23.062, 49.584, 65.111]
    )
    np.testing.assert_array_equal([big.dir_x[0], big.dir_y[0], big.dir_z[0]], [0.0, -0.832, 0.555])
    assert big.t0[0] == 0.0
    # second PMT " 3 -23.253 49.750 65.059 -0.955 0.000 0.295 0.000"
    assert (big.pmt_id[1], big.channel_id[1], big.pos_x[1], big.dir_x[1]) == (3, 1, -23.253, -0.955)
    # last line " 128339 469.688 113.059 676.941 0.000 -0.955 -0.295 0.000"
    assert (big.pmt_id[-1], big.channel_id[-1], big.pos_z[-1], big.dir_z[-1]) == (
        128339,
        30,
        676.941,
        -0.295,
    )
    assert np.unique(big.du).size == 115
    assert (big.floor.min(), big.floor.max()) == (1, 18)


def test_v4_v5_values() -> None:
    v4 = read_detx(DETX_DIR / "detx_v4.detx")
    # " 808432836    1  1   +86.500 ... +0.000 31" then
    # "     2712   +86.607    +9.227   +29.457 +0.535000 +0.637000 +0.555000 +207261.022 0"
    assert (v4.dom_id[0], v4.du[0], v4.floor[0], v4.pmt_id[0]) == (808432836, 1, 1, 2712)
    assert (v4.pos_x[0], v4.pos_y[0], v4.pos_z[0]) == (86.607, 9.227, 29.457)
    assert (v4.dir_x[0], v4.dir_y[0], v4.dir_z[0], v4.t0[0]) == (0.535, 0.637, 0.555, 207261.022)

    v5 = read_detx(DETX_DIR / "detx_v5.detx")
    # " 808987107   11  1 ... +37694.902 0 31" then
    # "    10057  +484.761  +564.607   +26.805 +0.803578 -0.215292 +0.554898 +207699.045 0"
    assert (v5.dom_id[0], v5.du[0], v5.floor[0], v5.pmt_id[0]) == (808987107, 11, 1, 10057)
    assert (v5.pos_x[0], v5.pos_y[0], v5.pos_z[0], v5.t0[0]) == (
        484.761,
        564.607,
        26.805,
        207699.045,
    )
    assert (v5.dir_x[0], v5.dir_y[0], v5.dir_z[0]) == (0.803578, -0.215292, 0.554898)
    # base module " 808469948    1  0 ... -50000.000 0 0" has no PMT rows
    assert 808469948 not in v5.dom_id
    assert v5.floor.min() == 1


def test_v1_to_v3_synthetic_values() -> None:
    for name in ("detx_v1.detx", "detx_v2.detx", "detx_v3.detx", "detx_v3_whitespace.detx"):
        det = read_detx(DETX_DIR / name)
        # "1 1 1 3" then " 1 1.1 1.2 1.3 -1.1 0.2 0.3 10.0"; last " 18 23.7 23.8 23.9 ..."
        assert (det.pmt_id[0], det.dom_id[0], det.du[0], det.floor[0]) == (1, 1, 1, 1)
        assert (det.pos_x[0], det.dir_x[0], det.t0[0]) == (1.1, -1.1, 10.0)
        assert (det.pmt_id[-1], det.pos_z[-1], det.t0[-1]) == (18, 23.9, 290.8)
        assert det.channel_id.tolist() == [0, 1, 2] * 6


@pytest.mark.parametrize("name", sorted(set(VALID_FILES) - SYNTHETIC))
def test_directions_are_unit_vectors(name: str) -> None:
    det = read_detx(DETX_DIR / name)
    norm = np.sqrt(det.dir_x**2 + det.dir_y**2 + det.dir_z**2)
    # values are written with 3 decimals in older files
    np.testing.assert_allclose(norm, 1.0, atol=2e-3)


@pytest.mark.parametrize("name", VALID_FILES)
def test_lookup_round_trip(name: str) -> None:
    det = read_detx(DETX_DIR / name)
    rows = np.arange(det.n_pmts)
    np.testing.assert_array_equal(det.dom_channel_index(det.dom_id, det.channel_id), rows)
    np.testing.assert_array_equal(det.pmt_id_index(det.pmt_id), rows)
    rng = np.random.default_rng(1)
    pick = rng.integers(0, det.n_pmts, size=1000)
    got = det.dom_channel_index(
        det.dom_id[pick].astype(np.uint32), det.channel_id[pick].astype(np.uint8)
    )
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, pick)
    np.testing.assert_array_equal(det.pmt_id_index(det.pmt_id[pick].astype(np.int32)), pick)


def test_lookup_shapes(big: Detector) -> None:
    got = big.dom_channel_index(big.dom_id[:6].reshape(2, 3), big.channel_id[:6].reshape(2, 3))
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got.ravel(), np.arange(6))
    # a scalar DOM broadcasts over channels
    np.testing.assert_array_equal(
        big.dom_channel_index(np.int64(101), np.arange(31)), np.arange(31)
    )
    empty = big.dom_channel_index(np.empty(0, np.int64), np.empty(0, np.int64))
    assert empty.shape == (0,) and empty.dtype == np.int64
    assert big.pmt_id_index(np.empty(0, np.int32)).shape == (0,)
    with pytest.raises(TypeError, match="integer dtype"):
        big.dom_channel_index(np.array([101.0]), np.array([0]))


def test_missing_dom_raises(big: Detector) -> None:
    dom = np.array([101, 101, 999999, 102, 999999, 888888], dtype=np.int64)
    chan = np.array([0, 1, 5, 2, 6, 0], dtype=np.int64)
    with pytest.raises(CalibrationError) as info:
        big.dom_channel_index(dom, chan, source="hits.h5")
    msg = str(info.value)
    assert "999999" in msg
    assert str(DETX_DIR / BIG) in msg
    assert "hits.h5" in msg
    assert "3 of 6 hits" in msg
    assert "2070 DOMs" in msg
    assert "channel_id=5" in msg


def test_missing_channel_raises(big: Detector) -> None:
    with pytest.raises(CalibrationError, match=r"dom_id=101, channel_id=31 \(DOM 101 has 31"):
        big.dom_channel_index(np.array([101, 101]), np.array([30, 31]))
    with pytest.raises(CalibrationError, match="channel_id=-1"):
        big.dom_channel_index(np.array([101]), np.array([-1]))


def test_missing_pmt_id_raises(big: Detector) -> None:
    # PMT ids in this file are odd: 2 is not one of them
    with pytest.raises(CalibrationError) as info:
        big.pmt_id_index(np.array([1, 2, 3, 4]), source="mc.h5")
    msg = str(info.value)
    assert "pmt_id=2" in msg and "2 of 4 hits" in msg and "mc.h5" in msg and BIG in msg


def _lines(name: str) -> list[str]:
    return (DETX_DIR / name).read_text().splitlines(keepends=True)


def _write(tmp_path: Path, lines: list[str], name: str = "broken.detx") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


ORCA6 = "D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx"  # 108 DOMs x 31 PMTs, v3


@pytest.mark.parametrize(
    ("name", "keep", "pattern"),
    [
        (
            ORCA6,
            -1,
            r"end of file: DOM 808976219 \(line 3542\) declares 31 PMTs but the file ends after 30",
        ),
        (ORCA6, -31, r"end of file: DOM 808976219 \(line 3542\) .* ends after 0 \(truncated\?\)"),
        (ORCA6, -32, r"end of file: the header declares 108 DOMs but the file ends after 107"),
        ("detx_v2.detx", 4, r"end of file: the header declares 6 DOMs but the file ends after 0"),
        ("detx_v2.detx", 2, r"end of file: file ends where the UTM line"),
        ("detx_v1.detx", 1, r"end of file: the header declares 6 DOMs but the file ends after 0"),
    ],
)
def test_truncated_file_raises(tmp_path: Path, name: str, keep: int, pattern: str) -> None:
    lines = _lines(name)
    while not lines[-1].strip():
        lines.pop()
    path = _write(tmp_path, lines[:keep])
    with pytest.raises(FileFormatError, match=pattern):
        read_detx(path)


def test_truncated_mid_line_raises(tmp_path: Path) -> None:
    text = (DETX_DIR / BIG).read_text()
    half = tmp_path / "half.detx"
    half.write_text(text[: len(text) // 2])
    with pytest.raises(
        FileFormatError, match=r"end of file: DOM \d+ \(line \d+\) declares 31 PMTs"
    ):
        read_detx(half)
    # cut inside the very last PMT line: all lines are there, the last one is short
    last = tmp_path / "last.detx"
    last.write_text(text.rstrip()[:-12])
    with pytest.raises(FileFormatError, match=r"line 68313: PMT line has 6 fields, expected 8"):
        read_detx(last)


def test_bad_lines_name_line_number(tmp_path: Path) -> None:
    lines = _lines("detx_v2.detx")  # line 7 is " 2 1.4 1.5 1.6 0.1 -1.2 0.3 20.1"
    bad_number = lines.copy()
    bad_number[6] = " 2 1.4 1.5 x 0.1 -1.2 0.3 20.1\n"
    with pytest.raises(FileFormatError, match=r"line 7: PMT value 'x' is not a number"):
        read_detx(_write(tmp_path, bad_number, "a.detx"))
    extra = lines.copy()
    extra[6] = " 2 1.4 1.5 1.6 0.1 -1.2 0.3 20.1 0\n"
    with pytest.raises(FileFormatError, match=r"line 7: PMT line has 9 fields, expected 8"):
        read_detx(_write(tmp_path, extra, "b.detx"))
    bad_dom = lines.copy()
    bad_dom[4] = "1 1 1\n"
    with pytest.raises(FileFormatError, match=r"line 5: DOM line has 3 fields, expected 4"):
        read_detx(_write(tmp_path, bad_dom, "c.detx"))
    trailing = [*lines, "1 2 3\n"]
    with pytest.raises(FileFormatError, match=r"line 29: unexpected content after the 6 DOMs"):
        read_detx(_write(tmp_path, trailing, "d.detx"))
    duplicate = lines.copy()
    duplicate[8] = "1 1 2 3\n"
    with pytest.raises(FileFormatError, match=r"line 9: DOM 1 appears twice \(first at line 5\)"):
        read_detx(_write(tmp_path, duplicate, "e.detx"))
    fractional_id = lines.copy()
    fractional_id[6] = " 2.5 1.4 1.5 1.6 0.1 -1.2 0.3 20.1\n"
    with pytest.raises(FileFormatError, match=r"line 7: PMT id/status must be integers"):
        read_detx(_write(tmp_path, fractional_id, "f.detx"))


@pytest.mark.parametrize(
    ("header", "pattern"),
    [
        ("23 v6\n", r"line 1: unsupported detx version 'v6'"),
        ("23 V0\n", r"unsupported detx version 'V0'"),
        ("23 x2\n", r"line 1: version token or v1 DOM count 'x2' is not an integer"),
        ("23\n", r"line 1: header has 1 fields"),
    ],
)
def test_bad_header_raises(tmp_path: Path, header: str, pattern: str) -> None:
    lines = _lines("detx_v2.detx")
    lines[0] = header
    with pytest.raises(FileFormatError, match=pattern):
        read_detx(_write(tmp_path, lines))


def test_empty_and_binary_files_raise(tmp_path: Path) -> None:
    empty = tmp_path / "empty.detx"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(FileFormatError, match="no header line"):
        read_detx(empty)
    binary = tmp_path / "binary.detx"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\xff")
    with pytest.raises(FileFormatError, match="not a text file"):
        read_detx(binary)
    with pytest.raises(FileNotFoundError):
        read_detx(tmp_path / "missing.detx")


def test_crlf_and_tabs(tmp_path: Path) -> None:
    text = (DETX_DIR / "detx_v3.detx").read_text().replace(" ", "\t").replace("\n", "\r\n")
    path = tmp_path / "crlf.detx"
    path.write_text(text, newline="")
    det = read_detx(path)
    ref = read_detx(DETX_DIR / "detx_v3.detx")
    np.testing.assert_array_equal(det.pos_y, ref.pos_y)
    np.testing.assert_array_equal(det.pmt_id, ref.pmt_id)


def test_parse_is_fast() -> None:
    start = time.perf_counter()
    det = read_detx(DETX_DIR / BIG)
    elapsed = time.perf_counter() - start
    assert det.n_pmts == 64170
    assert elapsed < 1.0, f"parsing 64k PMT lines took {elapsed:.2f} s"


def test_detector_validates_lengths() -> None:
    ones = np.ones(3)
    names = "pmt_id dom_id channel_id du floor pos_x pos_y pos_z dir_x dir_y dir_z t0"
    fields = dict.fromkeys(names.split(), ones)
    det = Detector(path="x", det_id=1, version=2, **fields)
    assert det.n_pmts == 3 and det.pmt_id.dtype == np.int64
    fields["t0"] = np.ones(2)
    with pytest.raises(ValueError, match="t0 has 2 rows, expected 3"):
        Detector(path="x", det_id=1, version=2, **fields)


def test_duplicate_pmt_id_makes_pmt_lookup_fail(tmp_path: Path) -> None:
    lines = _lines("detx_v2.detx")  # line 7 is PMT 2 of DOM 1
    lines[6] = lines[6].replace(" 2 ", " 1 ", 1)
    det = read_detx(_write(tmp_path, lines))
    np.testing.assert_array_equal(det.dom_channel_index(det.dom_id, det.channel_id), np.arange(18))
    with pytest.raises(FileFormatError, match="PMT id 1 occurs 2 times"):
        det.pmt_id_index(np.array([3]))
