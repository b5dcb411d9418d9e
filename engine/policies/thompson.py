"""Thompson sampling with probability matching (seed 003): share_k = theta_k / sum(theta).

Where clicks and conversions are reported, a campaign's conversion rate per click has a
Beta-Binomial posterior (seed 003) and its sampled value per unit spend is
theta * clicks per spend * value per conversion. Where clicks are not reported, value per unit
spend has a Gamma-Poisson posterior, counting value in conversion-equivalents (revenue divided by
the pooled revenue per conversion; 1 currency unit if no conversion is ever reported). The
framework then applies `floor` and the `step` cap, like seed 003's floor and cap pacing.
"""

from __future__ import annotations

import numpy as np

from engine.framework import Context, Policy
from engine.params import Number


def _sums(values: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, values * weights, 0.0).sum(axis=0)


def sample_returns(
    context: Context, rng: np.random.Generator, prior_strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """One posterior draw and the posterior mean of every campaign's value per unit spend."""
    history, spend = context.history, context.spend
    conversions = history["conversions"]
    use_revenue = context.settings["objective"] != "conversions"
    value = history["revenue"] if use_revenue else conversions
    ones = np.ones_like(spend)

    paired = np.isfinite(conversions) & np.isfinite(history["revenue"])
    pooled_conversions = _sums(conversions, ones, paired).sum()
    pooled_unit = _sums(history["revenue"], ones, paired).sum() / max(pooled_conversions, 1e-12)
    unit = pooled_unit if use_revenue and pooled_conversions > 0 else 1.0
    campaign_conversions = _sums(conversions, ones, paired)
    per_conversion = np.divide(
        _sums(history["revenue"], ones, paired),
        campaign_conversions,
        out=np.full(context.n_campaigns, unit),
        where=campaign_conversions > 0,
    )
    if not use_revenue:
        per_conversion = np.ones(context.n_campaigns)

    # Gamma-Poisson on value per unit spend, in conversion-equivalents.
    observed = np.isfinite(value)
    counts = _sums(value, ones, observed) / unit
    exposure = _sums(spend, ones, observed)
    pooled_rate = counts.sum() / exposure.sum() if exposure.sum() > 0 and counts.sum() > 0 else 1.0
    shape = prior_strength + counts
    rate = prior_strength / pooled_rate + exposure
    gamma_draw = rng.gamma(shape, 1.0 / rate) * unit
    gamma_mean = shape / rate * unit

    # Beta-Binomial on conversions per click where clicks are reported (seed 003).
    clicked = np.isfinite(history["clicks"]) & np.isfinite(conversions)
    clicks = _sums(history["clicks"], ones, clicked)
    converted = np.minimum(_sums(conversions, ones, clicked), clicks)
    click_spend = _sums(spend, ones, clicked)
    alpha, beta = 1.0 + converted, 1.0 + clicks - converted
    beta_draw = rng.beta(alpha, beta)
    clicks_per_spend = np.divide(
        clicks, click_spend, out=np.zeros_like(clicks), where=click_spend > 0
    )
    scale = clicks_per_spend * per_conversion
    has_clicks = (clicks > 0) & (click_spend > 0)
    draw = np.where(has_clicks, beta_draw * scale, gamma_draw)
    mean = np.where(has_clicks, alpha / (alpha + beta) * scale, gamma_mean)
    return draw, mean


class Thompson(Policy):
    """Probability matching on sampled returns, paced by `floor` and `step`."""

    name = "thompson"
    param_specs = {"prior_strength": Number(1.0, 0.0, low_open=True)}

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        draw, _ = sample_returns(context, rng, self.params["prior_strength"])
        weights = np.where(context.active, np.maximum(draw, 0.0), 0.0)
        total = weights.sum()
        return weights / total if total > 0 else context.previous
