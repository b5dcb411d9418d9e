"""UCB (seed 001): the campaign with the best return plus an uncertainty bonus."""

from __future__ import annotations

import numpy as np

from engine.framework import Context
from engine.params import Number
from engine.policies.returns import ReturnsPolicy, best_active, observed_returns
from engine.policies.step_rule import step_toward


class UCB(ReturnsPolicy):
    """Score = relative return + c * sqrt(2 ln(total visits) / visits); moves `step` to the best."""

    name = "ucb"
    param_specs = {"c": Number(0.5, 0.0)}
    mutable_params = frozenset({"c"})

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        returns = observed_returns(context)
        if not returns.informed:
            return context.previous
        total = max(returns.visits.sum(), 1.0)
        bonus = np.sqrt(
            np.divide(
                2.0 * np.log(total),
                returns.visits,
                out=np.full(context.n_campaigns, np.inf),
                where=returns.visits > 0,
            )
        )
        chosen = best_active(returns.rate + self.params["c"] * bonus, context.active)
        return step_toward(context, chosen, returns.rate)
