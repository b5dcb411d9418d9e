"""Epsilon-greedy (seed 001): usually the best observed return, sometimes a random campaign."""

from __future__ import annotations

import numpy as np

from engine.framework import Context
from engine.params import Number
from engine.policies.returns import ReturnsPolicy, best_active, observed_returns
from engine.policies.step_rule import step_toward


class EpsilonGreedy(ReturnsPolicy):
    """Explores with probability epsilon * decay^(t-1), else moves `step` to the best return."""

    name = "epsilon_greedy"
    param_specs = {
        "epsilon": Number(0.1, 0.0, 1.0),
        "decay": Number(1.0, 0.0, 1.0, low_open=True),
    }
    mutable_params = frozenset({"epsilon", "decay"})

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        returns = observed_returns(context)
        if not returns.informed:
            return context.previous
        epsilon = self.params["epsilon"] * self.params["decay"] ** (context.t - 1)
        explore = rng.random() < epsilon
        random_pick = int(rng.choice(np.flatnonzero(context.active)))
        chosen = random_pick if explore else best_active(returns.rate, context.active)
        return step_toward(context, chosen, returns.rate)
