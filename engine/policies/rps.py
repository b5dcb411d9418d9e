"""RPS band allocation for exactly two campaigns, with cost per click as the price streams.

Wraps engine.rps.rps_allocation; timesteps where either campaign's cost per click is unknown
(no clicks, clicks/spend unobserved, or a ratio that over- or underflows) are left out of the
streams. Until one pair of prices exists the split stays equal. The state keeps the streams
themselves (two numbers a priced timestep): the band rule reads a window of them, not a sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.context import Context
from engine.framework import Policy, uniform_target
from engine.params import Anything
from engine.rps import rps_allocation
from engine.rps_bands import validate_bands
from engine.rps_prices import validate_lookback


class RPS(Policy):
    """Budget split of the RPS band the mean log cost-per-click ratio falls in."""

    name = "rps"
    param_specs = {"lookback": Anything(None), "bands": Anything(None)}
    max_campaigns = 2
    mutable_params = frozenset({"lookback", "bands"})

    def __init__(self, params: Mapping | None = None) -> None:
        super().__init__(params)
        validate_lookback(self.params["lookback"])
        validate_bands(self.params["bands"])
        if self.params["bands"] is not None:
            # Kept as plain JSON data: the state copies its parameters, and any read-only
            # mapping given (engine.rps_bands.DEFAULT_BANDS is one) could be neither copied
            # nor stored.
            self.params["bands"] = [
                {**band, "allocation": list(band["allocation"])} for band in self.params["bands"]
            ]

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict:
        return {"cost_per_click": [[] for _ in range(n_campaigns)]}

    def resize_stats(self, stats: dict, keep: Sequence[int | None], n_old: int) -> dict:
        """The streams reordered; an added campaign has no prices, and the band rule reads the
        two streams as pairs, so both start over."""
        streams = stats["cost_per_click"]
        if any(index is None for index in keep):
            return {"cost_per_click": [[] for _ in keep]}
        return {"cost_per_click": [list(streams[index]) for index in keep]}

    def update_stats(self, stats: dict, context: Context) -> dict:
        clicks, spend = context.observed["clicks"], context.spend
        streams = stats["cost_per_click"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            prices = spend / clicks
        # Spend over clicks can overflow to inf or underflow to 0 (clicks 1e-310, or spend
        # 1e-300 for 1e300 clicks): such a price is as unknown as one without clicks.
        if np.all(np.isfinite(prices) & (prices > 0)):
            grown = [
                [*stream, price] for stream, price in zip(streams, prices.tolist(), strict=True)
            ]
            return {"cost_per_click": grown}
        return {"cost_per_click": [list(stream) for stream in streams]}

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        first, second = context.stats["cost_per_click"]
        if not first:
            return uniform_target(context.active)
        result = rps_allocation(
            first,
            second,
            lookback=self.params["lookback"],
            price_kind="cost",
            bands=self.params["bands"],
        )
        return np.array(result["allocation"], dtype=float)
