"""WCSim ROOT source on the real 2015 file: decoded values pinned, self-consistency, bad input."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from hitprep.detectors.wcsim_geometry import BARREL, BOTTOM, TOP, TankGeometry
from hitprep.errors import FileFormatError, KeyInFileError
from hitprep.sources import detect_format, open_source
from hitprep.sources.wcsim import WCSimSource, read_wcsim_geometry
from hitprep.sources.wcsim_bytes import Clones, Layouts

N_EVENTS = 10
DIGITS_PER_EVENT = [8236, 9186, 8182, 8083, 7918, 8661, 8918, 8781, 8588, 8128]
PHOTONS_PER_EVENT = [17956, 18096, 17165, 16928, 16134, 16838, 18328, 18504, 16713, 16505]
TRIGGER_TIMES = [
    [135, 7940],
    [135, 1310, 2755, 9735, 11035],
    [135, 2520],
    [135, 1275],
    [135, 1240],
    [135, 1155, 3580],
    [135, 2110, 5830, 7605],
    [135, 2030, 7015, 9115],
    [135, 1610],
    [135, 2670],
]


@pytest.fixture(scope="module")
def wcsim_path(shared_data: Path) -> Path:
    path = shared_data / "wcsim" / "wcsim_10events_2015.root"
    if not path.exists():
        pytest.skip(f"real WCSim file {path} is absent")
    return path


@pytest.fixture(scope="module")
def source(wcsim_path: Path) -> Iterator[WCSimSource]:
    with WCSimSource(wcsim_path) as src:
        yield src


@pytest.fixture(scope="module")
def batch(source: WCSimSource) -> ak.Array:
    return source.read(0, N_EVENTS)


def test_detected_and_opened_by_format(wcsim_path: Path) -> None:
    assert detect_format(wcsim_path) == "wcsim"
    with open_source(wcsim_path) as src:
        assert isinstance(src, WCSimSource)
        assert src.num_events == N_EVENTS
        assert src.trigger_versions == [2]


def test_geometry_values(source: WCSimSource) -> None:
    geo = source.geometry
    assert geo.radius == pytest.approx(3710.4553, abs=1e-3)
    assert geo.length == 6000.0
    assert geo.num_pmts == 44028
    assert geo.pmt_radius == pytest.approx(25.4, abs=1e-5)
    np.testing.assert_array_equal(geo.tube, np.arange(1, 44029))
    np.testing.assert_allclose(np.linalg.norm(geo.direction, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(geo.position[0], [3710.282, 35.881073, -2726.7166], rtol=1e-6)
    # this tank's axis is z; PMTs are placed by position: 84 rows x 327 barrel, 8280 per cap
    assert geo.infer_axis() == "z"
    regions = geo.regions("auto")
    assert np.bincount(regions).tolist() == [27468, 8280, 8280]
    # WCSim's flag (0 top, 1 wall, 2 bottom) agrees for a z-axis tank
    flag_region = np.choose(geo.cyl_loc, [TOP, BARREL, BOTTOM])
    np.testing.assert_array_equal(regions, flag_region)
    h, r, _ = geo.cylindrical("z")
    assert np.abs(h).max() == pytest.approx(3008.9211, abs=1e-3)
    assert r[regions == BARREL].min() > 3709.0


def test_geometry_reader_standalone(wcsim_path: Path) -> None:
    geo = read_wcsim_geometry(wcsim_path)
    assert isinstance(geo, TankGeometry)
    assert geo.num_pmts == 44028


def test_fields_listing(source: WCSimSource) -> None:
    fields = source.fields()
    for name in ["entry", "event_id", "vtx_z", "digi_hits.pmt", "digi_hits.charge",
                 "digi_hits.time", "true_hits.parent", "tracks.pdg", "tracks.dir_z",
                 "triggers.type", "triggers.time"]:  # fmt: skip
        assert name in fields
    assert len(fields) == len(set(fields))


def test_per_trigger_counts_equal_stored_counts(batch: ak.Array) -> None:
    digi, trig = batch["digi_hits"], batch["triggers"]
    assert ak.num(digi).tolist() == DIGITS_PER_EVENT
    assert ak.num(batch["true_hits"]).tolist() == PHOTONS_PER_EVENT
    for e in range(N_EVENTS):
        stored = trig["n_digi_hits"][e].to_numpy()
        found = np.bincount(digi["trigger"][e].to_numpy(), minlength=len(stored))
        np.testing.assert_array_equal(found, stored)
        tracks = np.bincount(batch["tracks"]["trigger"][e].to_numpy(), minlength=len(stored))
        np.testing.assert_array_equal(tracks, trig["n_tracks"][e].to_numpy())
    # true photons exist in trigger 0 only
    assert ak.all(batch["true_hits"]["trigger"] == 0)
    assert ak.sum(trig["n_photons"], axis=1).tolist() == PHOTONS_PER_EVENT


def test_trigger_values(batch: ak.Array) -> None:
    trig = batch["triggers"]
    assert batch["n_triggers"].tolist() == [len(t) for t in TRIGGER_TIMES]
    assert trig["time"].tolist() == TRIGGER_TIMES
    assert ak.all(trig["type"] == 0)  # all NDigits
    assert trig["number"][1].tolist() == [1, 2, 3, 4, 5]
    assert trig["n_info"][0].tolist() == [1, 1]
    assert trig["info_0"][0].tolist() == [3452.0, 63.0]
    assert np.isnan(trig["info_1"][0].to_numpy()).all()
    assert trig["sum_q"][0, 0] == pytest.approx(15058.4228515625)


def test_first_digits_of_event_0(batch: ak.Array) -> None:
    digi = batch["digi_hits"]
    # tube numbers 27158, 27311, 17247, 34469, 33664 in the file
    assert digi["pmt"][0, :5].tolist() == [27157, 27310, 17246, 34468, 33663]
    np.testing.assert_array_equal(
        digi["charge"][0, :3].to_numpy(),
        np.array([6.218681812286377, 5.2029218673706055, 1.1406737565994263], np.float32),
    )
    np.testing.assert_array_equal(
        digi["time"][0, :3].to_numpy(),
        np.array([997.5946044921875, 997.3333740234375, 1159.400390625], np.float32),
    )
    assert ak.flatten(digi["pmt"]).to_numpy().dtype == np.int32
    times = ak.flatten(digi["time"]).to_numpy()
    assert 540.0 < times.min() < 550.0
    assert 1900.0 < times.max() < 1910.0


def test_tube_ids_in_range(batch: ak.Array) -> None:
    for name in ["digi_hits", "true_hits"]:
        pmt = ak.flatten(batch[name]["pmt"]).to_numpy()
        assert pmt.min() >= 0
        assert pmt.max() < 44028


def test_primary_track_and_vertex(batch: ak.Array) -> None:
    tracks = batch["tracks"]
    assert ak.num(tracks).tolist() == [6] * N_EVENTS
    ev0 = tracks[0]
    assert ev0["pdg"].tolist()[:3] == [-13, 0, -13]
    assert ev0["flag"].tolist()[:3] == [-1, -2, 0]
    # the Geant4 primary: a 1 GeV (kinetic) mu+ from the origin along +z
    assert ev0["mass"][2] == pytest.approx(105.65836, abs=1e-4)
    assert ev0["energy"][2] == pytest.approx(1105.6583, abs=1e-3)
    assert ev0["p"][2] == pytest.approx(1100.5984, abs=1e-3)
    assert [ev0[f"dir_{c}"][2] for c in "xyz"] == [0.0, 0.0, 1.0]
    assert [ev0[f"stop_{c}"][2] for c in "xyz"] == pytest.approx(
        [-43.8114, 13.18, 468.2483], abs=1e-3
    )
    # the generator track (flag -1) carries m = 0 and E = p
    assert ev0["mass"][0] == 0.0
    assert ev0["energy"][0] == ev0["p"][0]
    # the muon's decay products, parent = the muon's PDG code
    assert ev0["pdg"].tolist()[3:] == [12, -14, -11]
    assert ev0["parent_pdg"].tolist()[3:] == [-13, -13, -13]
    assert batch["event_id"].tolist() == list(range(N_EVENTS))
    assert batch["vtx_x"].tolist() == [0.0] * N_EVENTS
    assert batch["vtxvol"].tolist() == [10] * N_EVENTS
    norms = np.hypot.reduce(
        np.stack([ak.flatten(tracks[f"dir_{c}"]).to_numpy() for c in "xyz"]), axis=0
    )
    assert np.all((np.abs(norms - 1) < 1e-3) | (norms == 0))


def test_true_hit_parents(batch: ak.Array) -> None:
    parents = ak.flatten(batch["true_hits"]["parent"]).to_numpy()
    assert set(np.unique(parents).tolist()) == {-1, 1}  # dark noise, the primary
    assert batch["true_hits"]["pmt"][0, :4].tolist() == [27157] * 4  # 4 photons on tube 27158


def test_chunks_and_field_subsets_agree(source: WCSimSource, batch: ak.Array) -> None:
    parts = list(source.iterate(step=3, fields=["digi_hits.pmt", "digi_hits.time", "run"]))
    assert [len(p) for p in parts] == [3, 3, 3, 1]
    joined = ak.concatenate(parts)
    assert joined["digi_hits"]["pmt"].tolist() == batch["digi_hits"]["pmt"].tolist()
    assert set(ak.fields(joined)) == {"entry", "run", "digi_hits"}
    assert joined["entry"].tolist() == list(range(N_EVENTS))
    one = source.read(7, 8, fields=["triggers.time"])
    assert one["triggers"]["time"].tolist() == [TRIGGER_TIMES[7]]


def test_photon_ids_decode_byte_exactly(source: WCSimSource) -> None:
    """The member-wise vector column (fPhotonIds) decodes to the entry's last byte and
    each digit's photon ids index into its tube's true photons."""
    reader, end = source._entry_reader(0, frozenset())
    reader.vectors = True
    triggers = reader.objarray(what="fEventList")
    assert reader.pos == end
    decoded = triggers[0]
    assert decoded is not None
    digi, hits = decoded[1]["fCherenkovDigiHits"], decoded[1]["fCherenkovHits"]
    assert isinstance(digi, Clones)
    assert isinstance(hits, Clones)
    sizes, ids = digi.vectors["fPhotonIds"]
    assert len(sizes) == digi.count == 7386
    assert int(sizes.sum()) == 14597
    tubes, photons = hits.columns["fTubeID"].tolist(), hits.columns["fTotalPe"][:, 1].tolist()
    per_tube = dict(zip(tubes, photons, strict=True))
    cap = np.array([per_tube[t] for t in digi.columns["fTubeId"].tolist()])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    assert np.all(np.maximum.reduceat(ids, starts) < cap)


def test_unknown_field_names_nearest(source: WCSimSource) -> None:
    with pytest.raises(KeyInFileError, match=r"digi_hits\.charge"):
        source.read(0, 1, fields=["digi_hits.charg"])


def test_tube_out_of_range_is_reported(wcsim_path: Path) -> None:
    with WCSimSource(wcsim_path) as src:
        small = TankGeometry.cylinder(radius=100, length=100, rows=10, columns=10, cap_rows=4)
        src._geometry = small
        with pytest.raises(
            FileFormatError, match=r"entry 0, trigger 0.*tube number .* outside 1\.\.1"
        ):
            src.read(0, 1, fields=["digi_hits.pmt"])


# --- bad input --------------------------------------------------------------------------------


def test_not_wcsim_root_file(tmp_path: Path) -> None:
    path = tmp_path / "other.root"
    with uproot.recreate(path) as f:
        f["Events"] = {"x": np.arange(3, dtype=np.float32)}
    assert detect_format(path) == "root_tree"
    with pytest.raises(KeyInFileError, match="WCSim tree 'wcsimT' not found"):
        WCSimSource(path)


def test_truncated_file(wcsim_path: Path, tmp_path: Path) -> None:
    data = wcsim_path.read_bytes()
    path = tmp_path / "truncated.root"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"truncated\.root"), WCSimSource(path) as src:
        src.read(0, src.num_events)


def test_corrupt_basket(wcsim_path: Path, tmp_path: Path) -> None:
    """Bytes damaged inside a compressed basket: an error naming file and basket."""
    path = tmp_path / "corrupt.root"
    shutil.copy(wcsim_path, path)
    with uproot.open(wcsim_path) as f:
        branch = f["wcsimT"]["wcsimrootevent/fEventList"]
        seek = int(branch.member("fBasketSeek")[3])
    raw = bytearray(path.read_bytes())
    raw[seek + 200 : seek + 400] = bytes(200)
    path.write_bytes(bytes(raw))
    with WCSimSource(path) as src:
        src.read(0, 3, fields=["digi_hits.pmt"])
        with pytest.raises(FileFormatError, match=r"corrupt\.root.*(basket 3|entry 3)"):
            src.read(3, 4, fields=["digi_hits.pmt"])


class _Element:
    """Stand-in for an uproot streamer element (for layout tests without a file)."""

    def __init__(self, kind: str, **members: Any) -> None:
        self.__class__ = type(f"Model_{kind}", (_Element,), {})
        self._m = members

    def member(self, name: str) -> Any:
        return self._m[name]


class _Info:
    def __init__(self, elements: list[_Element]) -> None:
        self._e = elements

    def member(self, name: str) -> Any:
        assert name == "fElements"
        return self._e


def _basic(name: str, code: int) -> _Element:
    return _Element("TStreamerBasicType", fName=name, fTypeName="int", fType=code, fArrayLength=0)


def test_unknown_layout_is_named(wcsim_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trigger class without digits: the error says which layout was found."""
    streamers = {"WCSimRootTrigger": {7: _Info([_basic("fNtrack", 3), _basic("fMode", 3)])}}
    monkeypatch.setattr(
        "hitprep.sources.wcsim.Layouts", lambda _s, *, file: Layouts(streamers, file=file)
    )
    with pytest.raises(
        FileFormatError,
        match=r"WCSimRootTrigger lacks .*found WCSimRootTrigger v7: int fNtrack, int fMode",
    ):
        WCSimSource(wcsim_path)


def test_layouts_errors(tmp_path: Path) -> None:
    lay = Layouts({"A": {1: _Info([_basic("fX", 3)])}}, file=tmp_path / "f.root")
    assert lay.get("A", 1).describe() == "A v1: int fX"
    with pytest.raises(FileFormatError, match=r"no streamer for class A v2 .*streamers: v1"):
        lay.get("A", 2)
    bad = Layouts({"B": {1: _Info([_basic("fH", 19)])}}, file=tmp_path / "f.root")
    with pytest.raises(FileFormatError, match=r"member 'fH'.*does not handle"):
        bad.get("B", 1)


# --- member-wise vector columns (newer WCSim track boundaries), from synthetic bytes --------


def _vector_element(name: str, ctype: int) -> _Element:
    return _Element(
        "TStreamerSTL", fName=name, fTypeName="vector<float>", fType=500, fSTLtype=1, fCtype=ctype
    )


def _clones_bytes(ids: list[int], kes: list[list[float]]) -> bytes:
    """A member-wise TClonesArray of class T v1 (TObject, int fId, vector<float> fKE)."""
    import struct

    def tstring(text: str) -> bytes:
        return bytes([len(text)]) + text.encode()

    n = len(ids)
    column = struct.pack(">H", 9) + b"".join(
        struct.pack(">i", len(v)) + struct.pack(f">{len(v)}f", *v) for v in kes
    )
    body = struct.pack(">HHII", 4, 1, 0, 0x03001000) + tstring("Ts") + tstring("T;1")
    body += struct.pack(">ii", n, 0) + struct.pack(">HII", 1, 0, 0x03000000) * n
    body += struct.pack(f">{n}i", *ids)
    body += struct.pack(">I", 0x40000000 | len(column)) + column
    return struct.pack(">I", 0x40000000 | len(body)) + body


def test_vector_columns_decode_when_asked(tmp_path: Path) -> None:
    info = _Info(
        [
            _Element("TStreamerBase", fName="TObject", fTypeName="BASE", fType=66),
            _basic("fId", 3),
            _vector_element("fKE", 5),
        ]
    )
    layouts = Layouts({"T": {1: info}}, file=tmp_path / "synthetic.root")
    data = _clones_bytes([7, 8, 9], [[1.5, 2.5], [], [3.0]])
    from hitprep.sources.wcsim_bytes import Reader

    skipped = Reader(data, layouts, keylen=0).clones(tagged=False, what="fTracks")
    assert skipped is not None
    assert skipped.columns["fId"].tolist() == [7, 8, 9]
    assert skipped.skipped == ["fKE"]
    reader = Reader(data, layouts, keylen=0, vectors=frozenset({"fTracks"}))
    decoded = reader.clones(tagged=False, what="fTracks")
    assert reader.pos == len(data)
    assert decoded is not None
    sizes, values = decoded.vectors["fKE"]
    assert sizes.tolist() == [2, 0, 1]
    assert values.tolist() == [1.5, 2.5, 3.0]
    truncated = Reader(data[:-3], layouts, keylen=0, vectors=True)
    with pytest.raises(FileFormatError, match=r"synthetic\.root: .*runs past"):
        truncated.clones(tagged=False, what="fTracks")


def test_track_boundaries_collection(wcsim_path: Path) -> None:
    """Tracks with boundary vectors become a ``track_boundaries`` collection."""
    from hitprep.sources.wcsim import _Accumulator

    with WCSimSource(wcsim_path) as src:
        assert "track_boundaries.ke" not in src.fields()  # WCSimRootTrack v1 has none
    vectors = {"fBoundaryKEs": "ke", "fBoundaryTypes": "type"}
    collections = {"track_boundaries": ["track", "ke", "type"]}
    acc = _Accumulator(0, collections, vectors)
    tracks = Clones("WCSimRootTrack", 3, 2)
    tracks.vectors = {
        "fBoundaryKEs": (np.array([2, 1]), np.array([10.0, 5.0, 7.0], np.float32)),
        "fBoundaryTypes": (np.array([2, 1]), np.array([1, 2, 1], np.int32)),
    }
    from hitprep.sources.wcsim_bytes import Reader

    r = Reader(b"", Layouts({}, file="x.root"), keylen=0)  # for error messages
    assert acc._boundaries(tracks, 4, r) == 3
    assert [a.tolist() for a in acc.cols["track_boundaries"]["track"]] == [[4, 4, 5]]
    tracks.vectors["fBoundaryTypes"] = (np.array([1, 2]), np.array([1, 2, 1], np.int32))
    with pytest.raises(FileFormatError, match="differ in length"):
        acc._boundaries(tracks, 0, r)
