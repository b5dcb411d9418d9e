"""What a policy sees when it learns from a finished timestep and decides the next one.

The framework (engine.framework) builds a `Context` for every step from the run's state; the
policies and the helpers they share read it. It lives apart so that they can name it without
the framework's pacing and state machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.settings import VALUE_METRIC


@dataclass(frozen=True)
class Context:
    """What a policy sees when it learns from a finished timestep and decides the next one.

    `observed[metric]` is the finished timestep's row (K,), NaN where unobserved, metrics being
    those of engine.settings.METRICS plus `planned` (the budgets the framework planned); `t` is
    the number of finished timesteps. `lower` and `upper` are the share bounds of the coming
    timestep and `budget` the amount to split. `stats` is what the policy's `update_stats`
    made of every finished timestep (None for a policy that keeps none), and `learned` what its
    `learn` handed over besides (for example those statistics already decoded). Arrays are
    read-only.
    """

    t: int
    observed: Mapping[str, np.ndarray]
    previous: np.ndarray
    active: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    budget: float
    settings: dict
    params: dict
    stats: dict | None = None
    learned: Mapping | None = None

    @property
    def n_campaigns(self) -> int:
        """K, the number of campaigns (arms)."""
        return self.active.size

    @cached_property
    def spend(self) -> np.ndarray:
        """The finished timestep's spend, its planned budget where spend was not reported."""
        reported = self.observed["spend"]
        spend = np.where(np.isnan(reported), self.observed["planned"], reported)
        spend.flags.writeable = False
        return spend

    @property
    def value_metric(self) -> str:
        """The metric policies learn: conversions, or revenue for revenue and profit."""
        return VALUE_METRIC[self.settings["objective"]]

    @property
    def value(self) -> np.ndarray:
        """The finished timestep's value metric (K,), NaN where unobserved."""
        return self.observed[self.value_metric]
