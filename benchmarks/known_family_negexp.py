"""The exact family learner told the wrong family: every campaign a negative exponential.

"known family (thompson)" (`benchmarks.known_family.KnownFamily`) is told each campaign's curve
family and Hill exponent and the generator's priors, and learns saturation spends, amplitudes
and values with an exact posterior. This player is the same learner believing that every
campaign's curve is a negative exponential, `curve`'s own concave family, whatever the world's
truth; it is given the same priors. Beside the first it isolates what a misspecified curve
family costs an otherwise exact learner: on negexp worlds the two are one player.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from benchmarks.known_family import FamilyPrior, KnownFamily
from engine.worlds import World


def believed_negexp(world: World) -> World:
    """The world as a learner believing every curve negexp sees it: same scales, amplitudes,
    values and conditions, every campaign's family negexp (kind 0) and Hill exponent 1."""
    return replace(world, kind=np.zeros_like(world.kind), shape=np.ones_like(world.shape))


class KnownFamilyNegexp(KnownFamily):
    """`KnownFamily` whose likelihood and Thompson splits take every campaign for negexp."""

    def __init__(self, world: World, prior: FamilyPrior | None = None) -> None:
        super().__init__(believed_negexp(world), prior)
