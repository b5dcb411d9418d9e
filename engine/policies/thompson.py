"""Thompson sampling with probability matching (the Smart Budget dashboard's):
share_k = theta_k / sum(theta).

Where clicks and conversions are reported, a campaign's conversion rate per click has a
Beta-Binomial posterior (as in the Smart Budget dashboard) and its sampled value per unit spend is
theta * clicks per spend * value per conversion. Where clicks are not reported, value per unit
spend has a Gamma-Poisson posterior, counting value in conversion-equivalents (revenue divided by
the pooled revenue per conversion; 1 currency unit if no conversion is ever reported). The
framework then applies `floor` and the `step` cap, like the Smart Budget dashboard's floor
and cap pacing.

Every quantity is a sum over timesteps, so the state keeps per-campaign running sums only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.context import Context
from engine.framework import Policy
from engine.params import Number
from engine.settings import SMALLEST_NORMAL

_SUMS = (
    "paired_conversions",  # conversions where conversions and revenue are both reported
    "paired_revenue",  # revenue where conversions and revenue are both reported
    "value",  # the objective's value where reported
    "exposure",  # spend where the value is reported
    "clicks",  # clicks where clicks and conversions are both reported
    "clicked_conversions",  # conversions where clicks and conversions are both reported
    "click_spend",  # spend where clicks and conversions are both reported
)


class ReturnSampler(Policy):
    """A policy sampling value per unit spend: keeps the sums `sample_returns` needs."""

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict:
        return {key: [0.0] * n_campaigns for key in _SUMS}

    def update_stats(self, stats: dict, context: Context) -> dict:
        observed = context.observed
        conversions, revenue, clicks = (
            observed["conversions"],
            observed["revenue"],
            observed["clicks"],
        )
        value = conversions if context.settings["objective"] == "conversions" else revenue
        paired = np.isfinite(conversions) & np.isfinite(revenue)
        valued = np.isfinite(value)
        clicked = np.isfinite(clicks) & np.isfinite(conversions)
        added = {
            "paired_conversions": np.where(paired, conversions, 0.0),
            "paired_revenue": np.where(paired, revenue, 0.0),
            "value": np.where(valued, value, 0.0),
            "exposure": np.where(valued, context.spend, 0.0),
            "clicks": np.where(clicked, clicks, 0.0),
            "clicked_conversions": np.where(clicked, conversions, 0.0),
            "click_spend": np.where(clicked, context.spend, 0.0),
        }
        return {key: (np.asarray(stats[key], dtype=float) + added[key]).tolist() for key in _SUMS}


def sample_returns(
    context: Context, rng: np.random.Generator, prior_strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """One posterior draw and the posterior mean of every campaign's value per unit spend."""
    sums = {key: np.asarray(context.stats[key], dtype=float) for key in _SUMS}
    use_revenue = context.settings["objective"] != "conversions"

    campaign_conversions = sums["paired_conversions"]
    pooled_conversions = campaign_conversions.sum()
    pooled_unit = sums["paired_revenue"].sum() / max(pooled_conversions, 1e-12)
    unit = pooled_unit if use_revenue and pooled_conversions > 0 else 1.0
    per_conversion = np.divide(
        sums["paired_revenue"],
        campaign_conversions,
        out=np.full(context.n_campaigns, unit),
        where=campaign_conversions > 0,
    )
    if not use_revenue:
        per_conversion = np.ones(context.n_campaigns)

    # Gamma-Poisson on value per unit spend, in conversion-equivalents. A pooled revenue per
    # conversion of 0 (every revenue 0) or beyond the float range cannot count value: count
    # currency units then, as when no conversion is reported (draws from the prior if all 0).
    if not SMALLEST_NORMAL <= unit < np.inf:
        unit = 1.0
    counts = sums["value"] / unit
    exposure = sums["exposure"]
    pooled_rate = counts.sum() / exposure.sum() if exposure.sum() > 0 and counts.sum() > 0 else 1.0
    shape = prior_strength + counts
    rate = prior_strength / pooled_rate + exposure
    gamma_draw = rng.gamma(shape, 1.0 / rate) * unit
    gamma_mean = shape / rate * unit

    # Beta-Binomial on conversions per click where clicks are reported (the Smart Budget
    # dashboard's model).
    clicks = sums["clicks"]
    converted = np.minimum(sums["clicked_conversions"], clicks)
    click_spend = sums["click_spend"]
    # Non-converted clicks first: 1 + clicks - converted rounds to 0 once clicks pass 2**53.
    alpha, beta = 1.0 + converted, 1.0 + np.maximum(clicks - converted, 0.0)
    beta_draw = rng.beta(alpha, beta)
    clicks_per_spend = np.divide(
        clicks, click_spend, out=np.zeros_like(clicks), where=click_spend > 0
    )
    scale = clicks_per_spend * per_conversion
    has_clicks = (clicks > 0) & (click_spend > 0)
    draw = np.where(has_clicks, beta_draw * scale, gamma_draw)
    mean = np.where(has_clicks, alpha / (alpha + beta) * scale, gamma_mean)
    return draw, mean


class Thompson(ReturnSampler):
    """Probability matching on sampled returns, paced by `floor` and `step`."""

    name = "thompson"
    param_specs = {"prior_strength": Number(1.0, 0.0, low_open=True)}
    mutable_params = frozenset({"prior_strength"})

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        draw, _ = sample_returns(context, rng, self.params["prior_strength"])
        weights = np.where(context.active, np.maximum(draw, 0.0), 0.0)
        total = weights.sum()
        return weights / total if total > 0 else context.previous
