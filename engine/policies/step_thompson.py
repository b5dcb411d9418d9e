"""The first Oktopus API's Thompson sampling: the best sampled campaign gains `step` from the
weakest.

That API's README found this the best of its policies and named its limitation: a fixed small
step converges slowly. It stays here as the reference the `curve` policy has to beat.
"""

from __future__ import annotations

import numpy as np

from engine.context import Context
from engine.params import Number
from engine.policies.returns import best_active
from engine.policies.step_rule import step_toward
from engine.policies.thompson import ReturnSampler, sample_returns


class StepThompson(ReturnSampler):
    """Moves `step` to argmax of one posterior draw of value per unit spend."""

    name = "step_thompson"
    param_specs = {"prior_strength": Number(1.0, 0.0, low_open=True)}
    mutable_params = frozenset({"prior_strength"})

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        draw, mean = sample_returns(context, rng, self.params["prior_strength"])
        return step_toward(context, best_active(draw, context.active), mean)
