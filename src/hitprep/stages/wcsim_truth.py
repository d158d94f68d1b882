"""The ``[wcsim_truth]`` job section: labels, primary kinematics and veto flags, vectorized.

Adds event fields ``label``, ``pid``, ``energy``, ``position_x/y/z``,
``direction_x/y/z``, ``polar``, ``azimuth``, ``veto``, ``veto2`` and
``fully_contained``.

**Primary particle.** Event dumps (DataTools ``.npz``, the HDF5 twin) carry
``pid``, ``energy``, ``position`` and ``direction``; they are used as they are.
For WCSim ROOT files they come from trigger 0's tracks with DataTools' rules:
the one Geant4 primary (flag 0, parent 0) if there is one; for an e+e− pair
with a generator track (flag −1) of PDG 22, a γ with the generator track's
direction and energy at the pair's start; for a pair with a generator ν_e of
(almost) zero energy (old γ files), a γ with the pair's summed momentum and
energy; otherwise PDG 0 with the primaries' mean start, momentum direction and
summed energy (zeros when there is no primary).

**Labels** from an explicit table (``labels = {22 = 0, 11 = 1, 13 = 2}``) by
``|pid|`` (``match = "absolute"``) or ``pid`` (``"exact"``); other codes → −1.

**Angles** as WatChMaL defines them: polar = arccos(dir_y), azimuth =
atan2(dir_z, dir_x).

**Veto.** A track counts if ``|pid|`` is 13 with energy above
``muon_threshold`` (166 MeV), or 11 or 22 above ``electron_threshold`` (2 MeV),
and it stops outside the tank (radius ``radius`` or half-height ``half_height``
about the tank ``axis``). ``veto``: any track counts. ``veto2``: the same with
each track's energy lowered by ``dedx`` (2 MeV/cm) × that track's own length
(DataTools' true-hit script takes one norm over the whole array instead).
``fully_contained``: no e, μ or γ track, whatever its energy, stops outside.

Tank dimensions and axis default to the input's geometry (``radius = 0``,
``half_height = 0``, ``axis = "auto"``); inputs without one (``.npz``) need
them in the job or ``geometry = "file"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import awkward as ak
import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from hitprep.config import Job
from hitprep.detectors.wcsim_geometry import AXES, read_geometry
from hitprep.errors import ConfigError, FileFormatError
from hitprep.events import counts, event_column, event_index, flat_column, with_fields
from hitprep.jobmodel import JobSection, Section
from hitprep.pipeline import BuildOptions, Context, Stage

__all__ = [
    "JOB_SECTIONS",
    "TruthStage",
    "WcsimTruthSection",
    "angles",
    "build_stages",
    "label_table",
    "primaries_from_tracks",
]

_F = npt.NDArray[np.float64]
_TRACKS = ["pdg", "energy", *(f"{w}_{c}" for w in ("start", "stop") for c in "xyz")]
_PRIMARY = ["pid", "energy", *(f"{w}_{c}" for w in ("position", "direction") for c in "xyz")]


class WcsimTruthSection(Section):
    """``[wcsim_truth]``: labels, energies, directions and containment from the truth."""

    labels: dict[int, int] = Field(default_factory=lambda: {22: 0, 11: 1, 13: 2})
    """Class label of each primary particle type, {PDG code = label}."""
    match: Literal["absolute", "exact"] = "absolute"
    """Match PDG codes by absolute value (a particle and its antiparticle alike) or exactly."""
    axis: Literal["x", "y", "z", "auto"] = "auto"
    """The tank's axis ("auto": from the input's geometry)."""
    radius: float = 0.0
    """Tank radius (0: from the input's geometry)."""
    half_height: float = 0.0
    """Tank half height (0: from the input's geometry)."""
    geometry: str = ""
    """File to read the tank geometry from ("": the input itself)."""
    muon_threshold: float = 166.0
    """Veto: a muon leaving the tank with more energy than this (MeV) ..."""
    electron_threshold: float = 2.0
    """... or an electron with more than this (MeV)."""
    dedx: float = 2.0
    """veto2: energy lost per unit track length inside the tank (MeV/cm) before the cut."""

    @field_validator("labels", mode="before")
    @classmethod
    def _pdg_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return label_table("labels", value, prefix="")

    @model_validator(mode="after")
    def _non_negative(self) -> WcsimTruthSection:
        for key in ("radius", "half_height", "dedx"):
            if getattr(self, key) < 0:
                msg = f"{key}: must be >= 0, got {getattr(self, key)}"
                raise ValueError(msg)
        return self


def label_table(where: str, table: Any, *, prefix: str = ".labels") -> dict[int, int]:
    """``{"22": 0, ...}`` (TOML keys are strings) as ``{22: 0, ...}``."""
    out: dict[int, int] = {}
    for key, value in dict(table).items():
        try:
            code = int(key)
        except ValueError:
            msg = f"{where}{prefix}: keys must be PDG codes, got {key!r}"
            raise ConfigError(msg) from None
        if not isinstance(value, int) or isinstance(value, bool):
            msg = f"{where}{prefix}.{key}: expected an integer label, got {value!r}"
            raise ConfigError(msg)
        out[code] = value
    return out


def angles(direction: _F) -> tuple[_F, _F]:
    """WatChMaL's (polar, azimuth) of unit vectors (N, 3): arccos(y), atan2(z, x).

    Example:
        >>> [round(float(a[0]), 4) for a in angles(np.array([[0.0, 0.0, 1.0]]))]
        [1.5708, 1.5708]
    """
    polar = np.arccos(np.clip(direction[:, 1], -1.0, 1.0))
    azimuth = np.arctan2(direction[:, 2], direction[:, 0])
    return polar, azimuth


def _first(
    mask: npt.NDArray[np.bool_], event: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.int64]:
    """Flat index of the first True item of each event (−1 where none)."""
    where = np.flatnonzero(mask)
    out = np.full(n, -1, dtype=np.int64)
    ev, first = np.unique(event[where], return_index=True)
    out[ev] = where[first]
    return out


def primaries_from_tracks(tracks: ak.Array) -> dict[str, npt.NDArray[Any]]:
    """pid, energy, position_* and direction_* per event from WCSim tracks (DataTools' rules)."""
    n = len(tracks)
    ev = event_index(counts(tracks))
    col = {f: flat_column(tracks, f) for f in ak.fields(tracks)}
    in_first = col["trigger"] == 0 if "trigger" in col else np.ones(len(ev), dtype=bool)
    pdg = col["pdg"].astype(np.int64)
    energy = col["energy"].astype(np.float64)
    start = np.stack([col[f"start_{c}"] for c in "xyz"], axis=1).astype(np.float64)
    dirn = np.stack([col[f"dir_{c}"] for c in "xyz"], axis=1).astype(np.float64)
    mom = dirn * col["p"].astype(np.float64)[:, None] if "p" in col else dirn
    prim = in_first & (col["flag"] == 0) & (col["parent_pdg"] == 0)
    gen = in_first & (col["flag"] == -1)
    n_prim = np.bincount(ev[prim], minlength=n)
    n_gen = np.bincount(ev[gen], minlength=n)
    first_prim, first_gen = _first(prim, ev, n), _first(gen, ev, n)

    def per_event(values: _F, mask: npt.NDArray[np.bool_]) -> _F:
        return np.asarray(np.bincount(ev[mask], weights=values[mask], minlength=n), np.float64)

    pair = (n_prim == 2) & (per_event(pdg.astype(float), prim) == 0)
    pair &= per_event(np.abs(pdg).astype(float), prim) == 22
    gen_pdg = np.where(first_gen >= 0, pdg[first_gen], 0)
    gen_e = np.where(first_gen >= 0, energy[first_gen], 0.0)
    gamma = pair & (n_gen == 1) & (gen_pdg == 22)
    old_gamma = pair & (n_gen == 1) & (gen_pdg == 12) & (gen_e < 1e-4)
    single = n_prim == 1
    summed = np.stack([per_event(mom[:, k], prim) for k in range(3)], axis=1)
    norm = np.linalg.norm(summed, axis=1, keepdims=True)
    summed_dir = np.divide(summed, norm, out=np.zeros_like(summed), where=norm > 0)
    mean_start = np.stack([per_event(start[:, k], prim) for k in range(3)], axis=1)
    mean_start /= np.maximum(n_prim, 1)[:, None]
    fp = np.maximum(first_prim, 0)
    fg = np.maximum(first_gen, 0)
    has = (first_prim >= 0)[:, None]
    position = np.where(
        single[:, None] | ((gamma | old_gamma)[:, None] & has), start[fp], mean_start
    )
    direction = np.where(single[:, None], dirn[fp], np.where(gamma[:, None], dirn[fg], summed_dir))
    e_out = np.where(single, energy[fp], np.where(gamma, gen_e, per_event(energy, prim)))
    pid = np.where(single, pdg[fp], np.where(gamma | old_gamma, 22, 0))
    out: dict[str, npt.NDArray[Any]] = {"pid": pid.astype(np.int32), "energy": e_out}
    for k, c in enumerate("xyz"):
        out[f"position_{c}"] = position[:, k]
        out[f"direction_{c}"] = direction[:, k]
    return out


class TruthStage(Stage):
    """Labels, primary kinematics, angles and veto flags (see the module docstring)."""

    collections = frozenset({"tracks"})
    preserves_counts = True

    def __init__(self, section: WcsimTruthSection) -> None:
        self.section = section
        self.labels: dict[int, int] = section.labels
        self.required = frozenset(f"tracks.{f}" for f in _TRACKS)
        self.provides = frozenset(
            ["label", "polar", "azimuth", "veto", "veto2", "fully_contained", *_PRIMARY]
        )

    def _tank(self, source: str) -> tuple[int, float, float, _F]:
        """Axis index, radius, half-height and centre for ``source``'s events."""
        sec = self.section
        if sec.radius > 0 and sec.half_height > 0 and sec.axis != "auto":
            return AXES[sec.axis], sec.radius, sec.half_height, np.zeros(3)
        try:
            geo = read_geometry(sec.geometry or source)
        except FileFormatError as err:
            msg = (
                f"[wcsim_truth] needs the tank ({err}); set its radius, half_height and axis,"
                " or geometry = a file with the tank"
            )
            raise ConfigError(msg) from err
        axis = geo.axis_index(sec.axis)
        radius = sec.radius or geo.radius
        half = sec.half_height or geo.length / 2
        return axis, float(radius), float(half), geo.offset

    def __call__(self, batch: ak.Array, ctx: Context) -> ak.Array:
        n = len(batch)
        names = set(ak.fields(batch))
        tracks = batch["tracks"]
        if set(_PRIMARY) <= names:
            truth: dict[str, npt.NDArray[Any]] = {f: event_column(batch, f) for f in _PRIMARY}
        else:
            truth = primaries_from_tracks(tracks)
        direction = np.stack([truth[f"direction_{c}"] for c in "xyz"], axis=1).astype(np.float64)
        polar, azimuth = angles(direction)
        truth["polar"], truth["azimuth"] = polar.astype(np.float32), azimuth.astype(np.float32)
        truth["label"] = self.label(np.asarray(truth["pid"]))
        truth.update(self.vetoes(tracks, n, ctx.source))
        # as layouts: ak.to_layout of a numpy array would inspect it (and import numpy.ma)
        return with_fields(batch, {k: ak.contents.NumpyArray(v) for k, v in truth.items()})

    def label(self, pid: npt.NDArray[Any]) -> npt.NDArray[np.int32]:
        """Label of each PDG code from the table (−1 for codes it lacks)."""
        code = np.abs(pid) if self.section.match == "absolute" else pid
        keys = np.array(sorted(self.labels), dtype=np.int64)
        values = np.array([self.labels[k] for k in keys.tolist()], dtype=np.int32)
        if len(keys) == 0:
            return np.full(len(pid), -1, dtype=np.int32)
        at = np.clip(np.searchsorted(keys, code), 0, len(keys) - 1)
        return np.where(keys[at] == code, values[at], -1).astype(np.int32)

    def vetoes(self, tracks: ak.Array, n: int, source: str) -> dict[str, npt.NDArray[np.bool_]]:
        """``veto``, ``veto2`` and ``fully_contained`` per event."""
        sec = self.section
        axis, radius, half, centre = self._tank(source)
        ev = event_index(counts(tracks))
        col = {f: flat_column(tracks, f).astype(np.float64) for f in _TRACKS}
        stop = np.stack([col[f"stop_{c}"] for c in "xyz"], axis=1) - centre
        start = np.stack([col[f"start_{c}"] for c in "xyz"], axis=1) - centre
        others = [k for k in range(3) if k != axis]
        outside = (np.hypot(stop[:, others[0]], stop[:, others[1]]) > radius) | (
            np.abs(stop[:, axis]) > half
        )
        apdg = np.abs(col["pdg"])
        species = np.isin(apdg, (11, 13, 22))
        threshold = np.where(apdg == 13, sec.muon_threshold, sec.electron_threshold)
        length = np.linalg.norm(stop - start, axis=1)  # per track, not over the whole array

        def any_per_event(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
            return np.bincount(ev[mask], minlength=n) > 0

        exits = species & outside
        return {
            "veto": any_per_event(exits & (col["energy"] > threshold)),
            "veto2": any_per_event(exits & (col["energy"] - sec.dedx * length > threshold)),
            "fully_contained": ~any_per_event(exits),
        }


def build_stages(job: Job, options: BuildOptions) -> Sequence[Stage]:
    """The truth stage of a job with a ``[wcsim_truth]`` section."""
    del options
    return [TruthStage(job.get("wcsim_truth"))]


JOB_SECTIONS = (
    JobSection("wcsim_truth", WcsimTruthSection, 130, kind="stage", build=build_stages),
)
