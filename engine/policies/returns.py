"""Per-campaign return estimates shared by the value-estimate bandits (the first Oktopus
API's family).

A campaign's return is its observed value per unit spend, relative to the pooled return of all
campaigns (1 = average), so that exploration constants do not depend on the currency. Its visits
count how much it was tried, in timesteps of an equal share. The state keeps three running sums:
spend and value per campaign over its observed timesteps, and the number of observed cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.framework import Context, Policy
from engine.settings import SMALLEST_NORMAL


@dataclass(frozen=True)
class Returns:
    """Relative value per unit spend (1 where nothing was observed) and equal-share visits.

    `informed` is False until some value was reported: then there is nothing to act on.
    """

    rate: np.ndarray
    visits: np.ndarray
    informed: bool = True


class ReturnsPolicy(Policy):
    """A policy deciding from observed returns: keeps their running sums in the state."""

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict:
        return {"spend": [0.0] * n_campaigns, "value": [0.0] * n_campaigns, "cells": 0}

    def update_stats(self, stats: dict, context: Context) -> dict:
        observed = np.isfinite(context.value)
        spend = np.asarray(stats["spend"], dtype=float) + np.where(observed, context.spend, 0.0)
        value = np.asarray(stats["value"], dtype=float) + np.where(observed, context.value, 0.0)
        return {
            "spend": spend.tolist(),
            "value": value.tolist(),
            "cells": int(stats["cells"]) + int(observed.sum()),
        }


def observed_returns(context: Context) -> Returns:
    """Returns pooled over every observed timestep of every campaign (from the running sums)."""
    spend = np.asarray(context.stats["spend"], dtype=float)
    value = np.asarray(context.stats["value"], dtype=float)
    total_spend, total_value = spend.sum(), value.sum()
    n_campaigns = context.n_campaigns
    pooled = total_value / total_spend if total_spend > 0 else 0.0
    # A pooled return that is 0, subnormal or infinite (values next to nothing, or spends so)
    # cannot scale the others: their relative rates would be 0 / 0 or x / 0.
    if not SMALLEST_NORMAL <= pooled < np.inf:
        return Returns(rate=np.ones(n_campaigns), visits=np.zeros(n_campaigns), informed=False)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rate = np.divide(value, spend * pooled, out=np.ones(n_campaigns), where=spend > 0)
    # A spend so small that spend * pooled underflows: no value there is a rate of 0, some
    # value the highest rate there is.
    rate = np.nan_to_num(rate, nan=0.0)
    visits = spend / (total_spend / context.stats["cells"])
    return Returns(rate=rate, visits=visits)


def best_active(scores: np.ndarray, active: np.ndarray) -> int:
    """Index of the highest score among active campaigns."""
    return int(np.argmax(np.where(active, scores, -np.inf)))
