"""Optimistic initial values (as in the first Oktopus API) as a budget allocator: amplitudes
start high and earn their way, and the budget is split exactly on them."""

from __future__ import annotations

import numpy as np

from engine.context import Context
from engine.params import Choice, Number
from engine.policies.returns import SCALES, Returns, ReturnsPolicy, best_active
from engine.policies.step_rule import step_toward


class Optimistic(ReturnsPolicy):
    """Scores (visits * estimate + initial_visits * initial_value) / (visits + initial_visits).

    `initial_value` is relative to the pooled estimate (2.0 = twice the average campaign); the
    estimate is the amplitude, or with `rule: "step"` (the first Oktopus API's rule, `step` to
    the best) the return per unit spend.
    """

    name = "optimistic"
    param_specs = {
        "initial_value": Number(2.0, 0.0),
        "initial_visits": Number(5.0, 0.0),
        **ReturnsPolicy.common_specs,
        # Learnt scales cost optimism points on log and mixed worlds (docs/decision_quality.md).
        "scales": Choice("fixed", SCALES),
    }
    mutable_params = frozenset({"initial_value", "initial_visits", "rule", "scales"})

    def _optimistic(self, estimate: np.ndarray, visits: np.ndarray) -> np.ndarray:
        prior_visits = self.params["initial_visits"]
        prior_total = prior_visits * self.params["initial_value"]
        weight = np.maximum(visits + prior_visits, 1e-12)
        return (visits * estimate + prior_total) / weight

    def share_target(
        self,
        context: Context,
        rng: np.random.Generator,
        amplitude: np.ndarray,
        visits: np.ndarray,
        scale: np.ndarray,
    ) -> np.ndarray:
        return self.split(context, self._optimistic(amplitude, visits), scale)

    def step_target(
        self, context: Context, rng: np.random.Generator, returns: Returns
    ) -> np.ndarray:
        chosen = best_active(self._optimistic(returns.rate, returns.visits), context.active)
        return step_toward(context, chosen, returns.rate)
