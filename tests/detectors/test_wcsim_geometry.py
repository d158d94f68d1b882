from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hitprep.detectors.wcsim_geometry import (
    BARREL,
    BOTTOM,
    TOP,
    TankGeometry,
    cluster_positions,
)
from hitprep.errors import ConfigError, FileFormatError


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_cylinder_regions_by_position(axis: str) -> None:
    geo = TankGeometry.cylinder(
        radius=300.0, length=500.0, rows=6, columns=20, cap_rows=8, axis=axis, inset=5.0
    )
    geo.check()
    assert geo.infer_axis() == axis
    regions = geo.regions("auto")
    n_cap = int((regions == TOP).sum())
    assert (regions == BARREL).sum() == 6 * 20
    assert (regions == BOTTOM).sum() == n_cap > 0
    h, r, _ = geo.cylindrical(axis)
    assert np.all(h[regions == TOP] == pytest.approx(245.0))
    assert np.all(r[regions == BARREL] == pytest.approx(295.0))
    # PMTs face inwards
    inward = -(geo.position - geo.offset)
    assert np.all(np.einsum("ij,ij->i", inward, geo.direction) > 0)


def test_regions_ignore_the_cylinder_flag() -> None:
    geo = TankGeometry.cylinder(radius=100, length=200, rows=4, columns=8, cap_rows=6)
    wrong = replace(geo, cyl_loc=np.zeros(geo.num_pmts, dtype=np.int32))
    np.testing.assert_array_equal(wrong.regions("y"), geo.regions("y"))


def test_infer_axis_ambiguous_or_unknown() -> None:
    geo = TankGeometry.cylinder(radius=100, length=200, rows=4, columns=8, cap_rows=6)
    tiny = replace(geo, radius=1.0, length=1.0, origin="tiny")
    with pytest.raises(ConfigError, match=r"cannot infer the tank axis.*none"):
        tiny.infer_axis()
    with pytest.raises(ConfigError, match="one of x, y, z or auto"):
        geo.axis_index("w")


def test_cluster_positions() -> None:
    group, centres = cluster_positions([5.0, 0.1, 0.0, 5.2, 10.0], tolerance=1.0)
    assert group.tolist() == [1, 0, 0, 1, 2]
    np.testing.assert_allclose(centres, [0.05, 5.1, 10.0])
    empty, none = cluster_positions([], tolerance=1.0)
    assert len(empty) == len(none) == 0


def test_arrays_round_trip_and_checks() -> None:
    geo = TankGeometry.cylinder(radius=100, length=200, rows=4, columns=8, cap_rows=6)
    back = TankGeometry.from_arrays(geo.to_arrays(), origin="mem")
    np.testing.assert_array_equal(back.position, geo.position)
    assert back.radius == 100.0
    with pytest.raises(FileFormatError, match="lacks radius"):
        arrays = geo.to_arrays()
        del arrays["radius"]
        TankGeometry.from_arrays(arrays, origin="mem")
    bad_tube = geo.to_arrays()
    bad_tube["tube_no"] = np.arange(geo.num_pmts) + 2
    with pytest.raises(FileFormatError, match="row 0 has tube number 2, expected 1"):
        TankGeometry.from_arrays(bad_tube, origin="mem")
    bad_dir = geo.to_arrays()
    bad_dir["orientation"] = geo.direction * 2
    with pytest.raises(FileFormatError, match="direction has length 2"):
        TankGeometry.from_arrays(bad_dir, origin="mem")
