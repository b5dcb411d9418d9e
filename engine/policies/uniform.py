"""Equal shares over active campaigns: the baseline every learning policy must beat."""

from __future__ import annotations

import numpy as np

from engine.context import Context
from engine.framework import Policy, uniform_target


class Uniform(Policy):
    """Never learns; keeps (or walks back within `step` to) equal shares."""

    name = "uniform"

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        return uniform_target(context.active)
