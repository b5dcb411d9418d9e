"""Softmax exploration (seed 001): picks campaigns in proportion to exp(return / tau)."""

from __future__ import annotations

import numpy as np

from engine.framework import Context
from engine.params import Number
from engine.policies.returns import ReturnsPolicy, observed_returns
from engine.policies.step_rule import step_toward


class Softmax(ReturnsPolicy):
    """Draws the campaign to grow from softmax(relative return / tau) over active campaigns."""

    name = "softmax"
    param_specs = {"tau": Number(0.1, 0.0, low_open=True)}
    mutable_params = frozenset({"tau"})

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        returns = observed_returns(context)
        if not returns.informed:
            return context.previous
        rate = np.where(context.active, returns.rate, -np.inf)
        # Returns relative to the best before dividing: a tiny tau sends the others to -inf
        # (weight 0) instead of every logit to inf (inf - inf is NaN).
        with np.errstate(over="ignore"):
            weights = np.exp((rate - rate.max()) / self.params["tau"])
        chosen = int(rng.choice(context.n_campaigns, p=weights / weights.sum()))
        return step_toward(context, chosen, returns.rate)
