"""Axis labels with units for the fields hitprep bins and plots.

Example:
    >>> axis_label("pos_z"), axis_label("time"), axis_label("layer")
    ('pos_z [m]', 'time [ns]', 'layer')
    >>> weight_label(None), weight_label("E")
    ('hits', 'E [MeV]')
"""

from __future__ import annotations

__all__ = ["UNITS", "axis_label", "weight_label"]

#: field -> unit, as the sources and calibration provide them (KM3NeT positions in m and
#: times in ns; LDMX and ACTS positions in mm, LDMX energies in MeV; angles in rad)
UNITS: dict[str, str] = {
    "pos_x": "m",
    "pos_y": "m",
    "pos_z": "m",
    "time": "ns",
    "t": "ns",
    "tot": "ns",
    "x": "mm",
    "y": "mm",
    "z": "mm",
    "r": "mm",
    "phi": "rad",
    "theta": "rad",
    "E": "MeV",
    "charge": "p.e.",
}


def axis_label(name: str) -> str:
    """``name [unit]``, or the name alone for counts, indices and unknown fields."""
    unit = UNITS.get(name)
    return f"{name} [{unit}]" if unit else name


def weight_label(weights: str | None) -> str:
    """What an image's pixels hold: hit counts, or the sum of a field with its unit."""
    return axis_label(weights) if weights else "hits"
