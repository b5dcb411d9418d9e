"""Anomalies and warnings of a run's history: what a performance analyst would flag.

Anomalies are timesteps whose CPA or ROAS sits far from the campaign's usual range by a robust
z-score; warnings are campaigns that stopped reporting, sit at the floor or are capped while
the best, and a spend pace that runs out early or leaves budget unspent.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.insight_inputs import CampaignInfo, HistoryTables, InsightSettings, RunInfo
from engine.insight_recommendations import marginal_name, marginal_text
from engine.insight_stats import LOWER_IS_BETTER

ANOMALY_METRICS: tuple[str, ...] = ("cpa", "roas")
MAD_TO_SIGMA = 0.6745
"""Iglewicz-Hoaglin constant: 0.6745 * (x - median) / MAD is a z-score for normal data."""
MEAN_AD_TO_SIGMA = 1.253314
"""Fallback when the MAD is 0: the mean absolute deviation times sqrt(pi / 2)."""
_BOUND_TOLERANCE = 1e-6


def _robust_z(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modified z-score of every entry against its column (axis 1 of an (M, T, K) stack), and
    the column medians."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=1, keepdims=True)
        deviation = np.abs(values - median)
        mad = np.nanmedian(deviation, axis=1, keepdims=True)
        mean_ad = np.nanmean(deviation, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_mad = MAD_TO_SIGMA * (values - median) / mad
        by_mean = (values - median) / (MEAN_AD_TO_SIGMA * mean_ad)
    z = np.where(mad > 0, by_mad, np.where(mean_ad > 0, by_mean, 0.0))
    return np.where(np.isfinite(values), z, np.nan), median


def find_anomalies(
    campaigns: Sequence[CampaignInfo],
    series: dict[str, np.ndarray],
    timesteps: np.ndarray,
    settings: InsightSettings,
) -> list[dict[str, Any]]:
    """Timesteps whose CPA or ROAS sits far from the campaign's usual value, largest |z|
    first."""
    stacked = np.stack([series[name] for name in ANOMALY_METRICS])  # (M, T, K)
    z, median = _robust_z(stacked)
    enough = np.isfinite(stacked).sum(axis=1, keepdims=True) >= settings.anomaly_min_points
    # A z beyond the float range (a spread of 1e-300 around the median) scores nothing.
    flagged = (
        enough & np.isfinite(z) & (np.abs(np.where(np.isfinite(z), z, 0.0)) > settings.anomaly_z)
    )
    found = []
    for m, row, k in zip(*np.nonzero(flagged), strict=True):
        metric = ANOMALY_METRICS[m]
        high = z[m, row, k] > 0
        found.append(
            {
                "campaign_id": campaigns[k].id,
                "timestep": int(timesteps[row]),
                "metric": metric,
                "value": stacked[m, row, k],
                "median": median[m, 0, k],
                "robust_z": z[m, row, k],
                "direction": "high" if high else "low",
                "favourable": bool(high != (metric in LOWER_IS_BETTER)),
                "text": f"{campaigns[k].name}: {metric.upper()} {stacked[m, row, k]:,.2f} at "
                f"timestep {int(timesteps[row])}, against a usual {median[m, 0, k]:,.2f} "
                f"(robust z {z[m, row, k]:+.1f}).",
            }
        )
    return sorted(found, key=lambda a: -abs(a["robust_z"]))


def _trailing(mask: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each column of a (T, K) boolean array."""
    if mask.shape[0] == 0:
        return np.zeros(mask.shape[1], dtype=int)
    broken = ~mask[::-1]
    return np.where(broken.any(axis=0), broken.argmax(axis=0), mask.shape[0])


def find_campaign_warnings(
    campaigns: Sequence[CampaignInfo],
    objective: str,
    tables: HistoryTables,
    marginal: np.ndarray,
    learning: dict[str, np.ndarray],
    run: RunInfo | None,
    settings: InsightSettings,
) -> list[dict[str, Any]]:
    """Campaigns that stopped reporting, sit at the floor, or are capped while the best."""
    found: list[dict[str, Any]] = []
    active = np.array([c.active for c in campaigns])
    n_rows = tables.timesteps.size
    silent = _trailing(~tables.observed)
    for k in np.flatnonzero(active & (silent >= settings.silent_timesteps)):
        name, count = campaigns[k].name, int(silent[k])
        since = int(tables.timesteps[n_rows - count])
        text = (
            f"No metrics ever reported for {name} ({count} timesteps)."
            if count == n_rows
            else f"No metrics for {name} in the last {count} timesteps (since timestep {since})."
        )
        found.append(
            {"kind": "no_data", "severity": "high", "campaign_id": campaigns[k].id, "text": text}
        )

    floor = run.floor if run else 0.0
    held = _trailing((floor > 0) & (tables.shares <= floor + _BOUND_TOLERANCE))
    for k in np.flatnonzero(active & (held >= settings.held_timesteps)):
        found.append(
            {
                "kind": "starved",
                "severity": "medium",
                "campaign_id": campaigns[k].id,
                "text": f"{campaigns[k].name} has been held at the {floor:.0%} floor for the "
                f"last {int(held[k])} timesteps: {int(learning['observations'][k])} "
                f"observations, estimate {learning['status'][k]}. Raise the floor or the "
                "pacing step if it deserves a fairer test.",
            }
        )

    caps = np.array([np.inf if c.max_budget is None else c.max_budget for c in campaigns])
    capped = _trailing(tables.budgets >= caps * (1 - _BOUND_TOLERANCE))
    others = np.where(np.eye(len(campaigns), dtype=bool), -np.inf, marginal[None, :])
    best = np.isfinite(marginal) & (marginal > others.max(axis=1))
    for k in np.flatnonzero(active & best & (capped >= settings.held_timesteps)):
        found.append(
            {
                "kind": "capped",
                "severity": "medium",
                "campaign_id": campaigns[k].id,
                "text": f"{campaigns[k].name} has been capped at its max_budget of "
                f"{caps[k]:,.2f} for the last {int(capped[k])} timesteps while its "
                f"{marginal_name(objective)} {marginal_text(objective, marginal[k])} is "
                "the best: raise the cap.",
            }
        )
    return found


def find_pace_warnings(
    tables: HistoryTables, run: RunInfo | None, settings: InsightSettings
) -> list[dict[str, Any]]:
    """Reported spend against the plan: running out early, or leaving budget unspent.

    Unreported spend counts as its full budget, as the engine's pacing counts it.
    """
    if run is None or tables.timesteps.size == 0:
        return []
    found = []
    window = max(int(settings.window), 1)
    reported = tables.metrics["spend"][-window:]
    planned = tables.budgets[-window:]
    has_spend = np.isfinite(reported)
    recent_pace = np.nansum(np.where(has_spend, reported, planned), axis=1).mean()
    left = max(run.timesteps - run.current_time, 0)
    if left > 0 and run.remaining <= 0:
        found.append(
            {
                "kind": "budget_pace",
                "severity": "high",
                "campaign_id": None,
                "text": f"The budget is spent with {left} timesteps still to go.",
            }
        )
    elif left > 0 and recent_pace * left > run.remaining * (1 + settings.pace_tolerance):
        lasts = run.remaining / recent_pace
        found.append(
            {
                "kind": "budget_pace",
                "severity": "high",
                "campaign_id": None,
                "text": f"At the recent pace of {recent_pace:,.2f} per timestep the remaining "
                f"{run.remaining:,.2f} lasts {lasts:.1f} timesteps, fewer than the {left} left.",
            }
        )
    planned_reported = np.where(has_spend, planned, 0.0).sum()
    if planned_reported > 0:
        ratio = np.where(has_spend, reported, 0.0).sum() / planned_reported
        if ratio < settings.underspend_ratio:
            found.append(
                {
                    "kind": "underspend",
                    "severity": "medium",
                    "campaign_id": None,
                    "text": f"Campaigns spent {ratio:.0%} of their budgets over the last "
                    f"{reported.shape[0]} timesteps: what is left unspent is re-planned over "
                    "the rest of the run.",
                }
            )
    return found
