"""UCB (as in the first Oktopus API) as a budget allocator: every campaign's amplitude raised by
an upper-confidence bonus, and the budget split exactly on the raised curves."""

from __future__ import annotations

import numpy as np

from engine.context import Context
from engine.params import Number
from engine.policies.returns import (
    Returns,
    ReturnsPolicy,
    best_active,
    confidence_bonus,
)
from engine.policies.step_rule import step_toward


class UCB(ReturnsPolicy):
    """Scores amplitude * (1 + c * sqrt(2 ln(total visits) / visits)): a campaign tried little
    gets the benefit of the doubt in proportion to what it may be worth.

    `rule: "step"`: the first Oktopus API's UCB, relative return + c * bonus, `step` to the best.
    """

    name = "ucb"
    param_specs = {"c": Number(0.5, 0.0), **ReturnsPolicy.common_specs}
    # The running sums depend on `saturation`; these only score them.
    mutable_params = frozenset({"c", "rule", "scales"})

    def share_target(
        self,
        context: Context,
        rng: np.random.Generator,
        amplitude: np.ndarray,
        visits: np.ndarray,
        scale: np.ndarray,
    ) -> np.ndarray:
        return self.split(
            context, amplitude * (1.0 + self.params["c"] * confidence_bonus(visits)), scale
        )

    def step_target(
        self, context: Context, rng: np.random.Generator, returns: Returns
    ) -> np.ndarray:
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
