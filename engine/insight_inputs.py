"""What the run-history analysis reads: campaigns, the run, its thresholds, the history as arrays.

engine.insights analyzes; this module holds its inputs (the campaigns and run as the analysis
names them, the settings of its thresholds) and turns the API's history rows into (T, K) tables
with the derived ratios (CPA, ROAS, conversion rate), so each part of the analysis reads the
same arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.settings import METRICS as METRIC_FIELDS


@dataclass(frozen=True)
class CampaignInfo:
    """A campaign as the analysis names and bounds it (bounds are per-timestep amounts)."""

    id: str
    name: str
    min_budget: float | None = None
    max_budget: float | None = None
    active: bool = True


@dataclass(frozen=True)
class RunInfo:
    """What the history alone cannot tell: the run's budget, clock, pacing and current split."""

    budget: float
    remaining: float
    timesteps: int
    current_time: int
    floor: float = 0.0
    step: float = 1.0
    budgets: Mapping[str, float] | None = None


@dataclass(frozen=True)
class InsightSettings:
    """Thresholds of the analysis; the defaults are conventional, not tuned to a data set."""

    window: int = 7
    """Recent timesteps the trends look at."""
    trend_t: float = 2.0
    """|slope / standard error| needed to call a trend up or down."""
    flat_change: float = 0.05
    """Relative change over the window below which a trend is flat whatever its t."""
    anomaly_z: float = 3.5
    """Robust z-score beyond which a timestep is an anomaly (Iglewicz-Hoaglin)."""
    anomaly_min_points: int = 5
    """Observations a campaign needs before anything can be called unusual for it."""
    saturated_elasticity: float = 0.5
    """Elasticity below which returns are called saturated rather than diminishing."""
    confidence: float = 0.9
    """Level of the return intervals."""
    confident_width: float = 0.25
    """Relative interval width at or below which the estimate is confident."""
    converging_width: float = 0.6
    """Relative interval width at or below which the estimate is converging."""
    min_marginal_ratio: float = 1.2
    """Marginal returns must differ by this factor before a shift is recommended."""
    min_shift_share: float = 0.01
    """Smallest shift, as a share of the timestep budget, worth recommending."""
    max_shift_share: float | None = None
    """Largest recommended shift per timestep; None: the run's pacing step (25% without one)."""
    max_recommendations: int = 3
    silent_timesteps: int = 2
    """Consecutive timesteps without metrics that raise a no-data warning."""
    held_timesteps: int = 3
    """Consecutive timesteps at a floor or cap that raise a starved / capped warning."""
    pace_tolerance: float = 0.1
    """Relative overshoot of the spend pace that raises a budget warning."""
    underspend_ratio: float = 0.8
    """Reported spend below this share of the planned budgets raises an underspend warning."""


@dataclass(frozen=True)
class HistoryTables:
    """History as arrays of shape (T, K), NaN where nothing was reported."""

    timesteps: np.ndarray
    metrics: dict[str, np.ndarray]
    budgets: np.ndarray
    shares: np.ndarray
    observed: np.ndarray


def _number(value: Any) -> float:
    return np.nan if value is None else float(value)


def history_tables(history: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> HistoryTables:
    """The history rows as (T, K) tables in the campaigns' order, sorted by timestep."""
    rows = sorted(history, key=lambda row: row["timestep"])
    n_campaigns = len(ids)

    def table(pick: Callable[[Mapping[str, Any], str], float]) -> np.ndarray:
        values = [[pick(row, cid) for cid in ids] for row in rows]
        return np.array(values, dtype=float).reshape(len(rows), n_campaigns)

    def metric(field: str) -> Callable[[Mapping[str, Any], str], float]:
        return lambda row, cid: _number(((row.get("metrics") or {}).get(cid) or {}).get(field))

    return HistoryTables(
        timesteps=np.array([row["timestep"] for row in rows], dtype=float),
        metrics={field: table(metric(field)) for field in METRIC_FIELDS},
        budgets=table(lambda row, cid: _number((row.get("budgets") or {}).get(cid))),
        shares=table(lambda row, cid: _number((row.get("allocation") or {}).get(cid))),
        observed=table(lambda row, cid: (row.get("metrics") or {}).get(cid) is not None) > 0,
    )


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where the denominator is positive, NaN elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def derived_series(tables: HistoryTables) -> dict[str, np.ndarray]:
    """The reported metrics and, per timestep and campaign, CPA, ROAS and conversion rate."""
    spend = tables.metrics["spend"]
    conversions = tables.metrics["conversions"]
    return {
        **tables.metrics,
        "cpa": safe_ratio(spend, conversions),
        "roas": safe_ratio(tables.metrics["revenue"], spend),
        "conversion_rate": safe_ratio(conversions, tables.metrics["clicks"]),
    }


def current_budgets(tables: HistoryTables, ids: Sequence[str], run: RunInfo | None) -> np.ndarray:
    """The budgets recommendations start from: the current ones, else the last decided."""
    if run is not None and run.budgets is not None:
        spend = np.array([_number(run.budgets.get(cid)) for cid in ids])
    elif tables.timesteps.size:
        spend = tables.budgets[-1]
    else:
        spend = np.zeros(len(ids))
    return np.nan_to_num(spend, nan=0.0)
