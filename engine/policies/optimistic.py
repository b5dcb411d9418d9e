"""Optimistic initial values (seed 001): greedy on returns that start high and earn their way."""

from __future__ import annotations

import numpy as np

from engine.framework import Context
from engine.params import Number
from engine.policies.returns import ReturnsPolicy, best_active, observed_returns
from engine.policies.step_rule import step_toward


class Optimistic(ReturnsPolicy):
    """Greedy on (visits * return + initial_visits * initial_value) / (visits + initial_visits).

    `initial_value` is relative to the pooled return (2.0 = twice the average campaign).
    """

    name = "optimistic"
    param_specs = {
        "initial_value": Number(2.0, 0.0),
        "initial_visits": Number(5.0, 0.0),
    }
    mutable_params = frozenset({"initial_value", "initial_visits"})

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        returns = observed_returns(context)
        if not returns.informed:
            return context.previous
        prior_visits = self.params["initial_visits"]
        prior_total = prior_visits * self.params["initial_value"]
        weight = np.maximum(returns.visits + prior_visits, 1e-12)
        estimate = (returns.visits * returns.rate + prior_total) / weight
        chosen = best_active(estimate, context.active)
        return step_toward(context, chosen, returns.rate)
