"""Toy generator models: reco-like jets and muons from their generator-level partners.

They stand in for trained networks in the demo, the tests and the shipped
preset: each maps a conditioning table and standard normal noise (seeded by the
job) to an output table with one row per input row, in *model space*, i.e. after
the preset's preprocessing (``pt`` as ``log``, jet ``mass`` as ``log1p``).

- :func:`jets` (inputs ``log pt, eta, phi, log1p mass, hadronFlavour``; 5 noise
  columns) smears the jet momentum with a calorimeter-like resolution
  ``sigma/pt = sqrt((N/pt)^2 + S^2/pt + C^2)`` (N = 3 GeV, S = 1 GeV^1/2, C = 0.05) and
  a 2 % low response, the angles by 0.02, the mass by 10 %, and draws a b-tag
  score that is high for b jets, medium for c jets, low for light jets.
- :func:`muons` (inputs ``log pt, eta, phi, pdgId``; 3 noise columns) smears the
  tracker momentum by ``1 % + 0.01 % * pt``, the angles by 0.001, and gives the
  charge from the PDG id with a 0.1 % charge flip.
- :func:`identity` returns the conditioning unchanged (round trips, benchmarks).

Example:
    >>> cond = np.array([[np.log(50.0), 0.1, 0.2, np.log1p(8.0), 5.0]])
    >>> jets(cond, np.zeros((1, 5))).shape
    (1, 5)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["identity", "jets", "muons"]

Float64 = npt.NDArray[np.float64]

_JET_N, _JET_S, _JET_C = 3.0, 1.0, 0.05
_JET_RESPONSE = 0.98


def _columns(conditioning: Float64, noise: Float64, n_in: int, n_noise: int, what: str) -> None:
    if conditioning.ndim != 2 or conditioning.shape[1] != n_in:
        msg = f"{what} expects {n_in} conditioning columns, got shape {conditioning.shape}"
        raise ValueError(msg)
    if noise.ndim != 2 or noise.shape[1] < n_noise:
        msg = f"{what} expects at least {n_noise} noise columns, got shape {noise.shape}"
        raise ValueError(msg)


def _wrap_phi(phi: Float64) -> Float64:
    out: Float64 = np.mod(phi + np.pi, 2.0 * np.pi) - np.pi
    return out


def identity(conditioning: Float64, noise: Float64) -> Float64:
    """The conditioning table itself (noise is ignored)."""
    return np.array(conditioning, dtype=np.float64, copy=True)


def jets(conditioning: Float64, noise: Float64) -> Float64:
    """Reco jets from gen jets: ``[log pt, eta, phi, log1p mass, hadronFlavour]`` ->
    ``[log pt, eta, phi, log1p mass, btagDeepFlavB]``."""
    _columns(conditioning, noise, 5, 5, "toy_model.jets")
    log_pt, eta, phi, log1p_mass, flavour = conditioning.T
    pt = np.exp(log_pt)
    sigma = np.sqrt((_JET_N / pt) ** 2 + _JET_S**2 / pt + _JET_C**2)
    out = np.empty((len(conditioning), 5), dtype=np.float64)
    out[:, 0] = log_pt + np.log(_JET_RESPONSE) + sigma * noise[:, 0]
    out[:, 1] = eta + 0.02 * noise[:, 1]
    out[:, 2] = _wrap_phi(phi + 0.02 * noise[:, 2])
    out[:, 3] = np.maximum(log1p_mass + 0.1 * noise[:, 3], 0.0)
    centre = np.where(flavour == 5, 2.0, np.where(flavour == 4, -0.5, -3.0))
    out[:, 4] = 1.0 / (1.0 + np.exp(-(centre + noise[:, 4])))
    return out


def muons(conditioning: Float64, noise: Float64) -> Float64:
    """Reco muons from gen muons: ``[log pt, eta, phi, pdgId]`` ->
    ``[log pt, eta, phi, charge]``."""
    _columns(conditioning, noise, 4, 3, "toy_model.muons")
    log_pt, eta, phi, pdg_id = conditioning.T
    pt = np.exp(log_pt)
    sigma = 0.01 + 1e-4 * pt
    out = np.empty((len(conditioning), 4), dtype=np.float64)
    out[:, 0] = log_pt + sigma * noise[:, 0]
    out[:, 1] = eta + 1e-3 * noise[:, 1]
    out[:, 2] = _wrap_phi(phi + 1e-3 * noise[:, 2])
    charge = -np.sign(pdg_id)  # a mu- has pdgId +13
    flip = np.abs(noise[:, 0] * noise[:, 1]) > 6.0  # rare: ~0.1 % of muons
    out[:, 3] = np.where(flip, -charge, charge)
    return out
