"""Epsilon-greedy (as in the first Oktopus API) as a budget allocator: the budget split exactly
on the estimated curves, but for a share epsilon spread equally to keep exploring."""

from __future__ import annotations

import numpy as np

from engine.context import Context
from engine.framework import uniform_target
from engine.params import Number
from engine.policies.returns import Returns, ReturnsPolicy, best_active
from engine.policies.step_rule import step_toward


class EpsilonGreedy(ReturnsPolicy):
    """Greedy split on the amplitudes for 1 - epsilon_t of the budget, equal split for the
    rest, epsilon_t = epsilon * decay^(t-1).

    `rule: "step"`: the first Oktopus API's epsilon-greedy, with probability epsilon_t a random
    campaign, else the best return, gains `step`.
    """

    name = "epsilon_greedy"
    param_specs = {
        "epsilon": Number(0.1, 0.0, 1.0),
        "decay": Number(1.0, 0.0, 1.0, low_open=True),
        **ReturnsPolicy.common_specs,
    }
    mutable_params = frozenset({"epsilon", "decay", "rule", "scales"})

    def _epsilon(self, context: Context) -> float:
        return self.params["epsilon"] * self.params["decay"] ** (context.t - 1)

    def share_target(
        self,
        context: Context,
        rng: np.random.Generator,
        amplitude: np.ndarray,
        visits: np.ndarray,
        scale: np.ndarray,
    ) -> np.ndarray:
        epsilon = self._epsilon(context)
        greedy = self.split(context, amplitude, scale)
        return (1.0 - epsilon) * greedy + epsilon * uniform_target(context.active)

    def step_target(
        self, context: Context, rng: np.random.Generator, returns: Returns
    ) -> np.ndarray:
        explore = rng.random() < self._epsilon(context)
        random_pick = int(rng.choice(np.flatnonzero(context.active)))
        chosen = random_pick if explore else best_active(returns.rate, context.active)
        return step_toward(context, chosen, returns.rate)
