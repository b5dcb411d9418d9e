"""Softmax exploration (as in the first Oktopus API) as a budget allocator: the budget split
exactly on amplitudes perturbed by Gumbel noise of temperature tau."""

from __future__ import annotations

import numpy as np

from engine.context import Context
from engine.params import Number
from engine.policies.returns import Returns, ReturnsPolicy
from engine.policies.step_rule import step_toward

_EULER_GAMMA = 0.5772156649015329


class Softmax(ReturnsPolicy):
    """Scores log amplitude + tau * Gumbel noise (centred): the Gumbel-max trick that makes a
    single pick a softmax draw over log amplitudes / tau, applied to a whole split.

    `rule: "step"`: the first Oktopus API's softmax, a campaign drawn from
    softmax(relative return / tau) gains `step`.
    """

    name = "softmax"
    param_specs = {"tau": Number(0.1, 0.0, low_open=True), **ReturnsPolicy.common_specs}
    # The running sums depend on `saturation`; these only score them.
    mutable_params = frozenset({"tau", "rule", "scales"})

    def share_target(
        self,
        context: Context,
        rng: np.random.Generator,
        amplitude: np.ndarray,
        visits: np.ndarray,
        scale: np.ndarray,
    ) -> np.ndarray:
        noise = rng.gumbel(size=context.n_campaigns) - _EULER_GAMMA
        # Perturbed relative to the largest, so a huge tau cannot overflow every score to inf.
        with np.errstate(divide="ignore"):
            logs = np.log(amplitude) + self.params["tau"] * noise
        logs = np.where(context.active, logs, -np.inf)
        return self.split(context, np.exp(logs - logs.max()), scale)

    def step_target(
        self, context: Context, rng: np.random.Generator, returns: Returns
    ) -> np.ndarray:
        rate = np.where(context.active, returns.rate, -np.inf)
        # Returns relative to the best before dividing: a tiny tau sends the others to -inf
        # (weight 0) instead of every logit to inf (inf - inf is NaN).
        with np.errstate(over="ignore"):
            weights = np.exp((rate - rate.max()) / self.params["tau"])
        chosen = int(rng.choice(context.n_campaigns, p=weights / weights.sum()))
        return step_toward(context, chosen, returns.rate)
