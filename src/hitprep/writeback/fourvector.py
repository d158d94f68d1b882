"""NanoAOD's four-vector fields for the collections a writeback model makes.

Real NanoAOD stores ``pt``, ``eta``, ``phi`` and ``mass`` for every object of the
collections below, and coffea's ``NanoAODSchema`` builds Lorentz vectors from them
(``events.Muon`` fails without ``Muon_mass``). When a model's outputs lack some of
them, the writeback completes the collection:

- ``mass`` of muons, electrons and photons is the particle's mass as NanoAOD stores it:
  float32 with the mantissa rounded to 10 bits (``Muon_mass`` = 0.10565186 in CMS files);
- any other missing component is the conditioning object's own value (a jet's ``mass``
  from the gen jet it was made from);
- a missing component the conditioning collection does not have either is an error.

Example:
    >>> float(nanoaod_float(0.1056583755)[0])
    0.10565185546875
    >>> completion("Muon", ("pt", "eta", "phi", "charge"), ["pt", "eta", "phi", "pdgId"])
    (('mass', 0.10565185546875),)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError

__all__ = ["COMPONENTS", "FOUR_VECTOR", "PARTICLE_MASS", "completion", "nanoaod_float"]

#: the four-vector fields of NanoAOD objects, in NanoAOD's branch order
COMPONENTS = ("pt", "eta", "phi", "mass")

#: NanoAOD collections stored with all of pt, eta, phi and mass
FOUR_VECTOR = frozenset(
    {
        "Electron", "FatJet", "GenDressedLepton", "GenIsolatedPhoton", "GenJet", "GenJetAK8",
        "GenPart", "GenVisTau", "Jet", "LHEPart", "LowPtElectron", "Muon", "Photon",
        "SubGenJetAK8", "SubJet", "Tau",
    }
)  # fmt: skip

#: GeV, PDG 2024; NanoAOD stores the candidate's mass, which is the particle's for these
PARTICLE_MASS = {
    "Muon": 0.1056583755,
    "Electron": 0.00051099895,
    "LowPtElectron": 0.00051099895,
    "Photon": 0.0,
}

_MANTISSA_BITS = 10  # NanoAOD's precision for lepton and photon masses


def nanoaod_float(values: npt.ArrayLike, bits: int = _MANTISSA_BITS) -> npt.NDArray[np.float32]:
    """float32 ``values`` with the mantissa rounded to ``bits`` bits, as NanoAOD stores floats
    of reduced precision (CMSSW's ``MiniFloatConverter::reduceMantissaToNbitsRounding``)."""
    f = np.atleast_1d(np.asarray(values, dtype=np.float32))
    shift = 23 - bits
    raw = f.view(np.uint32).astype(np.uint64)
    rounded = ((raw + (1 << (shift - 1))) >> shift) << shift
    out = np.where(np.isfinite(f), rounded.astype(np.uint32).view(np.float32), f)
    return out.astype(np.float32)


def completion(
    collection: str, outputs: Sequence[str], conditioning_fields: Sequence[str]
) -> tuple[tuple[str, float | None], ...]:
    """The four-vector fields ``collection`` lacks among ``outputs``, each with its value.

    Returns:
        ``(field, value)`` pairs in NanoAOD's order: a float (the particle's mass as NanoAOD
        stores it) or ``None`` (the conditioning object's field of that name).

    Raises:
        ConfigError: a missing component the conditioning collection has not either.
    """
    if collection not in FOUR_VECTOR:
        return ()
    out: list[tuple[str, float | None]] = []
    for name in COMPONENTS:
        if name in outputs:
            continue
        if name == "mass" and collection in PARTICLE_MASS:
            out.append((name, float(nanoaod_float(PARTICLE_MASS[collection])[0])))
        elif name in conditioning_fields:
            out.append((name, None))
        else:
            msg = (
                f"model for {collection}: NanoAOD's {collection} has {name} (coffea's"
                f" NanoAODSchema needs it) but the model's outputs {list(outputs)} lack it and"
                f" its conditioning collection has no {name!r}; add {name!r} to the outputs"
            )
            raise ConfigError(msg)
    return tuple(out)
