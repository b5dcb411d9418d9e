"""What a performance analyst and a budget strategist would say about a run's history.

From the history rows of a state (one per finished timestep: budgets, shares and the metrics
each campaign reported, or None when it reported nothing) this computes, per campaign:

- trends of conversions, revenue, CPA and ROAS over the recent timesteps: the least-squares
  slope, its size relative to the mean, and a direction only when the slope is clearly
  distinguishable from noise (|t| >= 2);
- anomalies: timesteps whose CPA or ROAS sits far from the campaign's usual range, by the
  robust (median / median-absolute-deviation) z-score of Iglewicz and Hoaglin;
- saturation: the elasticity b of a power-law fit value = a * spend^b on log scales (b < 1:
  every extra unit of spend returns less), and the return at low versus high spend;
- learning status: how many observations back the return estimate and how wide its interval is;

then concrete recommendations (shift budget from the campaign with the lowest marginal return
to the one with the highest, by the amount that equalizes them under the fitted curves, with the
expected gain) and warnings (budget pace, campaigns held at their floor or capped, campaigns
that stopped reporting).

The parts live apart: the inputs and history tables in engine.insight_inputs, the
statistics in engine.insight_stats, anomalies and warnings in engine.insight_warnings, the
recommendations in engine.insight_recommendations; `analyze` here puts them together.

Everything is deterministic: analytic intervals, no random draws. The output is plain JSON-able
data (NaN becomes None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.insight_inputs import (
    CampaignInfo,
    InsightSettings,
    RunInfo,
    current_budgets,
    derived_series,
    history_tables,
)
from engine.insight_recommendations import fit_curves, recommend_shifts
from engine.insight_stats import (
    LOWER_IS_BETTER,
    TREND_METRICS,
    estimate_learning,
    fit_saturation,
    fit_trends,
    pooled_ratio,
)
from engine.insight_warnings import (
    ANOMALY_METRICS,
    MAD_TO_SIGMA,
    MEAN_AD_TO_SIGMA,
    find_anomalies,
    find_campaign_warnings,
    find_pace_warnings,
)
from engine.settings import VALUE_METRIC

__all__ = [
    "ANOMALY_METRICS",
    "LOWER_IS_BETTER",
    "MAD_TO_SIGMA",
    "MEAN_AD_TO_SIGMA",
    "TREND_METRICS",
    "CampaignInfo",
    "InsightSettings",
    "RunInfo",
    "analyze",
]


def _json(value: Any) -> Any:
    """Plain Python values; NaN and infinities become None."""
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# Accepted amounts span 0 to 1e12, down to 1e-300: ratios and squares of them overflow to inf
# in places, which the analysis reads as "no usable number" (None in its answer), not as news.
@np.errstate(over="ignore", invalid="ignore")
def analyze(
    history: Sequence[Mapping[str, Any]],
    campaigns: Sequence[CampaignInfo],
    objective: str,
    run: RunInfo | None = None,
    settings: InsightSettings | None = None,
) -> dict[str, Any]:
    """The structured analysis of a run's history (JSON-able, NaN as None).

    `history` rows look like the API's: `timestep`, `allocation` and `budgets` per campaign
    id, `metrics` per campaign id (a dict of METRIC_FIELDS or None when nothing was reported).
    `campaigns` gives the order, names, bounds and status; `run` enables the pace and floor
    warnings and gives the current budgets the recommendations start from.
    """
    if objective not in VALUE_METRIC:
        raise EngineError(f"unknown objective {objective!r} (known: {', '.join(VALUE_METRIC)})")
    if not campaigns:
        raise EngineError("at least one campaign is needed")
    settings = settings or InsightSettings()
    ids = [c.id for c in campaigns]
    tables = history_tables(history, ids)
    series = derived_series(tables)
    spend, value = series["spend"], series[VALUE_METRIC[objective]]
    trends = fit_trends(series, tables.timesteps, settings)
    saturation, fit = fit_saturation(spend, value, settings)
    learning = estimate_learning(spend, value, settings)
    spend_now = current_budgets(tables, ids, run)
    smallest_spend = settings.min_shift_share * float(spend_now.sum())
    curves, basis = fit_curves(saturation, fit, learning, smallest_spend)
    recommendations, marginal = recommend_shifts(
        campaigns, objective, spend_now, curves, learning["status"], run, settings
    )
    totals = {name: np.nansum(series[name], axis=0) for name in ("spend", "conversions", "revenue")}
    pooled = {
        "cpa": pooled_ratio(spend, series["conversions"]),
        "roas": pooled_ratio(series["revenue"], spend),
        "conversion_rate": pooled_ratio(series["conversions"], series["clicks"]),
    }
    per_campaign = [
        {
            "campaign_id": campaign.id,
            "name": campaign.name,
            "active": campaign.active,
            "observations": int(tables.observed[:, k].sum()),
            **{name: values[k] for name, values in totals.items()},
            **{name: values[k] for name, values in pooled.items()},
            "current_budget": spend_now[k],
            "marginal_return": marginal[k],
            "marginal_basis": basis[k],
            "trends": {
                name: {key: values[k] for key, values in trend.items()}
                for name, trend in trends.items()
            },
            "saturation": {key: values[k] for key, values in saturation.items()},
            "learning": {key: values[k] for key, values in learning.items()},
        }
        for k, campaign in enumerate(campaigns)
    ]
    campaign_warnings = find_campaign_warnings(
        campaigns, objective, tables, marginal, learning, run, settings
    )
    return _json(
        {
            "objective": objective,
            "value_metric": VALUE_METRIC[objective],
            "timesteps_analyzed": int(tables.timesteps.size),
            "window": int(min(settings.window, tables.timesteps.size)),
            "campaigns": per_campaign,
            "anomalies": find_anomalies(campaigns, series, tables.timesteps, settings),
            "recommendations": recommendations,
            "warnings": campaign_warnings + find_pace_warnings(tables, run, settings),
        }
    )
