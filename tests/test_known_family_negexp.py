"""The family learner told the wrong family (benchmarks/known_family_negexp.py): one player
with the told-family learner where every curve is negexp, another where they are not."""

from __future__ import annotations

import numpy as np

from benchmarks.known_family import KnownFamily, broad_family_prior
from benchmarks.known_family_negexp import KnownFamilyNegexp, believed_negexp
from engine.simulate import run
from engine.worlds import make_broad_world


def _efficiencies(family: str) -> tuple[float, float]:
    world = make_broad_world(family, 6, 8, seed=3, volume=16)
    prior = broad_family_prior(world, volume=16)
    told = run(KnownFamily(world, prior), world, 5, step=0.2).efficiency
    believes = run(KnownFamilyNegexp(world, prior), world, 5, step=0.2).efficiency
    return told, believes


def test_on_negexp_worlds_it_is_the_told_family_learner():
    told, believes = _efficiencies("negexp")
    assert believes == told


def test_on_hill_worlds_it_believes_negexp_and_plays_otherwise():
    world = make_broad_world("hill", 6, 8, seed=3, volume=16)
    believed = believed_negexp(world)
    assert np.all(believed.kind == 0) and np.all(believed.shape == 1.0)
    assert np.array_equal(believed.scale, world.scale)
    assert np.array_equal(believed.amplitude, world.amplitude)
    told, believes = _efficiencies("hill")
    assert abs(told - believes) > 1e-3
