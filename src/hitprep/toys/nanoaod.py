"""Toy NanoAOD: generator-level jets and particles plus reco-like jets and muons, as a TTree.

Not a physics simulation; a fast, seeded sample with NanoAOD's layout for the
writeback demo, tests and benchmarks:

- ``Events``: ``run``, ``luminosityBlock`` (uint32), ``event`` (uint64),
  ``genWeight``, ``MET_pt``, ``HLT_IsoMu24`` (bool); collections ``GenJet``
  (pt, eta, phi, mass, partonFlavour, hadronFlavour), ``GenPart`` (pt, eta,
  phi, mass, pdgId, status, genPartIdxMother) with final-state muons among other
  particles, ``Jet`` (reco jets from every gen jet: pt, eta, phi, mass,
  btagDeepFlavB, genJetIdx, jetId), ``Muon`` (95 % of the final-state gen muons:
  pt, eta, phi, mass (as NanoAOD stores it), charge, genPartIdx, tightId) and the
  bare ``PSWeight`` (four per event); every counter ``nX`` is uint32, as in CMS files.
- ``Runs`` (``run``, ``genEventCount``, ``genEventSumw``, bare ``LHEScaleSumw``)
  and ``LuminosityBlocks`` (``run``, ``luminosityBlock``).

The last ``trailing_without_muons`` events have no muon at all (gen or reco),
the case that misaligns FlashSim's block upsampling.

Usage::

    hitprep toy nanoaod -n 1000 -o toy_nano.root
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from hitprep.errors import ConfigError
from hitprep.events import event_index, jagged_from_flat, make_batch, offsets_from_counts
from hitprep.sinks.root import RootSink
from hitprep.writeback.fourvector import PARTICLE_MASS, nanoaod_float
from hitprep.writeback.toy_model import jets as smear_jets

__all__ = ["cli_main", "simulate", "write_toy_nanoaod"]

_GEN_PDG = np.array([1, 2, 3, 4, 5, 21, 11, -11, 13, -13, 22, 211, -211], dtype=np.int32)
_MUON_MASS = 0.10566


def _wrap(phi: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    return out


def _batch(
    events: dict[str, npt.NDArray[np.generic]],
    collections: dict[str, tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.generic]]]],
    length: int,
) -> ak.Array:
    built = {
        name: jagged_from_flat(columns, offsets_from_counts(counts))
        for name, (counts, columns) in collections.items()
    }
    return make_batch(events, built, length=length)


def simulate(
    n_events: int, *, seed: int = 0, first_event: int = 1, trailing_without_muons: int = 3
) -> ak.Array:
    """One batch of toy NanoAOD events (fields as in the module docstring, no ``entry``)."""
    if n_events < 0 or trailing_without_muons < 0:
        msg = (
            "events and trailing_without_muons must be >= 0, got"
            f" {n_events}, {trailing_without_muons}"
        )
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    n = n_events
    f32 = np.float32
    n_genjet, genjet = _gen_jets(rng, n)
    n_part, genpart, owner, within = _gen_particles(rng, n, trailing_without_muons)
    jet = _reco_jets(rng, genjet, n_genjet)
    n_muon, muon = _reco_muons(rng, genpart, owner, within, n)

    ps = np.full(n, 4, dtype=np.int64)
    events: dict[str, npt.NDArray[np.generic]] = {
        "run": np.full(n, 1, dtype=np.uint32),
        "luminosityBlock": (1 + (first_event - 1 + np.arange(n)) // 100).astype(np.uint32),
        "event": (first_event + np.arange(n)).astype(np.uint64),
        "genWeight": rng.choice(np.array([1.0, -1.0], f32), n, p=[0.9, 0.1]),
        "MET_pt": rng.exponential(30.0, n).astype(f32),
        "HLT_IsoMu24": n_muon > 0,
    }
    return _batch(
        events,
        {
            "GenJet": (n_genjet, genjet),
            "GenPart": (n_part, genpart),
            "Jet": (n_genjet, jet),
            "Muon": (n_muon, muon),
            "PSWeight": (ps, {"value": rng.uniform(0.5, 1.5, 4 * n).astype(f32)}),
        },
        n,
    )


_Columns = dict[str, npt.NDArray[Any]]


def _gen_jets(rng: np.random.Generator, n: int) -> tuple[npt.NDArray[np.int64], _Columns]:
    """Gen jets per event and their columns."""
    f32 = np.float32
    n_genjet = rng.poisson(5.0, n).astype(np.int64)
    g = int(n_genjet.sum())
    genjet = {
        "pt": (15.0 + rng.exponential(35.0, g)).astype(f32),
        "eta": rng.uniform(-4.7, 4.7, g).astype(f32),
        "phi": rng.uniform(-np.pi, np.pi, g).astype(f32),
        "mass": rng.gamma(2.0, 4.0, g).astype(f32),
        "partonFlavour": rng.choice(np.array([1, 2, 3, 4, 5, 21], np.int32), g),
    }
    flav = np.abs(genjet["partonFlavour"])
    genjet["hadronFlavour"] = np.where(flav == 5, 5, np.where(flav == 4, 4, 0)).astype(np.uint8)
    return n_genjet, genjet


def _gen_particles(
    rng: np.random.Generator, n: int, trailing_without_muons: int
) -> tuple[npt.NDArray[np.int64], _Columns, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Gen particles per event, their columns, and each one's event and place in it; the
    last ``trailing_without_muons`` events have photons where muons were drawn."""
    f32 = np.float32
    n_part = rng.poisson(8.0, n).astype(np.int64)
    p = int(n_part.sum())
    pdg = rng.choice(_GEN_PDG, p)
    status = rng.choice(np.array([1, 1, 2, 23, 62], np.int32), p)
    owner = event_index(n_part)
    quiet = owner >= n - trailing_without_muons
    pdg = np.where(quiet & (np.abs(pdg) == 13), np.int32(22), pdg).astype(np.int32)
    within = np.arange(p) - offsets_from_counts(n_part)[:-1][owner]
    mother = np.where(within > 1, rng.integers(0, np.maximum(within, 1)), -1).astype(np.int32)
    genpart = {
        "pt": (1.0 + rng.exponential(25.0, p)).astype(f32),
        "eta": rng.uniform(-5.0, 5.0, p).astype(f32),
        "phi": rng.uniform(-np.pi, np.pi, p).astype(f32),
        "mass": np.where(np.abs(pdg) == 13, _MUON_MASS, 0.0).astype(f32),
        "pdgId": pdg,
        "status": status,
        "genPartIdxMother": mother,
    }
    return n_part, genpart, owner, within


def _reco_jets(
    rng: np.random.Generator, genjet: _Columns, n_genjet: npt.NDArray[np.int64]
) -> _Columns:
    """Reco jets: one per gen jet, through the toy model with unit-free noise."""
    f32 = np.float32
    g = len(genjet["pt"])
    cond = np.column_stack(
        [
            np.log(genjet["pt"].astype(np.float64)),
            genjet["eta"],
            genjet["phi"],
            np.log1p(genjet["mass"].astype(np.float64)),
            genjet["hadronFlavour"],
        ]
    )
    reco = smear_jets(cond, rng.standard_normal((g, 5)))
    jet_index = np.arange(g) - offsets_from_counts(n_genjet)[:-1][event_index(n_genjet)]
    return {
        "pt": np.exp(reco[:, 0]).astype(f32),
        "eta": reco[:, 1].astype(f32),
        "phi": reco[:, 2].astype(f32),
        "mass": np.expm1(reco[:, 3]).astype(f32),
        "btagDeepFlavB": reco[:, 4].astype(f32),
        "genJetIdx": jet_index.astype(np.int32),
        "jetId": rng.choice(np.array([2, 6], np.int32), g),
    }


def _reco_muons(
    rng: np.random.Generator,
    genpart: _Columns,
    owner: npt.NDArray[np.int64],
    within: npt.NDArray[np.int64],
    n: int,
) -> tuple[npt.NDArray[np.int64], _Columns]:
    """Reco muons per event and their columns: 95 % of final-state gen muons."""
    f32 = np.float32
    pdg, status = genpart["pdgId"], genpart["status"]
    p = len(pdg)
    is_mu = (np.abs(pdg) == 13) & (status == 1)
    found = is_mu & (rng.random(p) < 0.95)
    n_muon = np.bincount(owner[found], minlength=n).astype(np.int64)
    m = int(found.sum())
    mu_pt = genpart["pt"][found].astype(np.float64)
    muon = {
        "pt": (mu_pt * (1.0 + (0.01 + 1e-4 * mu_pt) * rng.standard_normal(m))).astype(f32),
        "eta": (genpart["eta"][found] + 1e-3 * rng.standard_normal(m)).astype(f32),
        "phi": _wrap(genpart["phi"][found] + 1e-3 * rng.standard_normal(m)).astype(f32),
        "mass": np.repeat(nanoaod_float(PARTICLE_MASS["Muon"]), m),
        "charge": (-np.sign(pdg[found])).astype(np.int32),
        "genPartIdx": within[found].astype(np.int32),
        "tightId": rng.random(m) < 0.9,
    }
    return n_muon, muon


_TITLES = {
    "nGenJet": "slimmedGenJets, i.e. ak4 Jets made with visible genparticles",
    "nGenPart": "interesting gen particles",
    "nJet": "slimmedJets, i.e. ak4 PFJets CHS with JECs applied (toy)",
    "nMuon": "slimmedMuons after basic selection (toy)",
    "Jet_genJetIdx": "index of matched gen jet",
    "Muon_genPartIdx": "Index into genParticle list for MC matching to status==1 muons",
}


def write_toy_nanoaod(
    path: str | Path,
    n_events: int = 1000,
    *,
    seed: int = 0,
    trailing_without_muons: int = 3,
    step: int = 50_000,
    overwrite: bool = False,
) -> Path:
    """Write a toy NanoAOD file with ``Events``, ``Runs`` and ``LuminosityBlocks``.

    Args:
        path: output ROOT file (appears only when complete).
        n_events: number of events.
        seed: random seed (the file is a pure function of the arguments).
        trailing_without_muons: the last events that have no gen or reco muon.
        step: events simulated and written per chunk.
        overwrite: replace an existing file.

    Returns:
        The path written.
    """
    if step <= 0:
        msg = f"step must be positive, got {step}"
        raise ConfigError(msg)
    chunks = max(1, -(-n_events // step))
    with RootSink(path, overwrite=overwrite, baskets=chunks) as writer:
        for i, start in enumerate(range(0, max(n_events, 1), step)):
            count = min(step, n_events - start)
            tail = max(0, trailing_without_muons - (n_events - start - count))
            batch = simulate(
                count, seed=seed * 1_000_003 + i, first_event=1 + start, trailing_without_muons=tail
            )
            writer.extend("Events", batch, titles=_TITLES)
        lumis = np.unique(1 + np.arange(n_events) // 100).astype(np.uint32)
        writer.extend(
            "LuminosityBlocks",
            make_batch(
                {"run": np.ones(len(lumis), np.uint32), "luminosityBlock": lumis},
                {},
                length=len(lumis),
            ),
        )
        runs = make_batch(
            {
                "run": np.array([1], np.uint32),
                "genEventCount": np.array([n_events], np.int64),
                "genEventSumw": np.array([0.8 * n_events], np.float64),
            },
            {"LHEScaleSumw": jagged_from_flat({"value": np.linspace(0.9, 1.1, 9)}, [0, 9])},
            length=1,
        )
        writer.extend("Runs", runs)
        return writer.commit()


def cli_main(argv: Sequence[str] | None = None) -> int:
    """``hitprep toy nanoaod``: write a toy NanoAOD file."""
    parser = argparse.ArgumentParser(
        prog="hitprep toy nanoaod",
        description=(
            "Write a toy NanoAOD file (Events with GenJet, GenPart, Jet, Muon, PSWeight and"
            " uint32 counters; Runs; LuminosityBlocks) that `hitprep writeback` reads."
        ),
    )
    parser.add_argument("-n", "--events", type=int, default=1000, help="number of events")
    parser.add_argument("-o", "--output", required=True, help="output ROOT file")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--trailing-without-muons", type=int, default=3, help="last events with no muon"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    written = write_toy_nanoaod(
        args.output,
        args.events,
        seed=args.seed,
        trailing_without_muons=args.trailing_without_muons,
        overwrite=args.overwrite,
    )
    print(f"wrote {args.events} toy NanoAOD events -> {written}")
    return 0
