"""RPS band allocation for exactly two campaigns, with cost per click as the price streams.

Wraps engine.rps.rps_allocation; timesteps where either campaign's cost per click is unknown
(no clicks, or clicks/spend unobserved) are left out of the streams. Until one pair of prices
exists the split stays equal.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.framework import Context, Policy, uniform_target
from engine.params import Anything
from engine.rps import rps_allocation, validate_bands, validate_lookback


class RPS(Policy):
    """Budget split of the RPS band the mean log cost-per-click ratio falls in."""

    name = "rps"
    param_specs = {"lookback": Anything(None), "bands": Anything(None)}
    max_campaigns = 2

    def __init__(self, params: Mapping | None = None) -> None:
        super().__init__(params)
        validate_lookback(self.params["lookback"])
        validate_bands(self.params["bands"])

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        clicks = context.history["clicks"]
        priced = np.all(np.isfinite(clicks) & (clicks > 0) & (context.spend > 0), axis=1)
        if not priced.any():
            return uniform_target(context.active)
        cost_per_click = context.spend[priced] / clicks[priced]
        result = rps_allocation(
            cost_per_click[:, 0].tolist(),
            cost_per_click[:, 1].tolist(),
            lookback=self.params["lookback"],
            price_kind="cost",
            bands=self.params["bands"],
        )
        return np.array(result["allocation"], dtype=float)
