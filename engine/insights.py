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

Everything is deterministic: analytic intervals, no random draws. The output is plain JSON-able
data (NaN becomes None).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import t as student_t

from engine.errors import EngineError
from engine.settings import METRICS as METRIC_FIELDS
from engine.settings import VALUE_METRIC

TREND_METRICS: tuple[str, ...] = ("conversions", "revenue", "cpa", "roas")
ANOMALY_METRICS: tuple[str, ...] = ("cpa", "roas")
LOWER_IS_BETTER: frozenset[str] = frozenset({"cpa"})
MAD_TO_SIGMA = 0.6745
"""Iglewicz-Hoaglin constant: 0.6745 * (x - median) / MAD is a z-score for normal data."""
MEAN_AD_TO_SIGMA = 1.253314
"""Fallback when the MAD is 0: the mean absolute deviation times sqrt(pi / 2)."""
_BOUND_TOLERANCE = 1e-6


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
class _Tables:
    """History as arrays of shape (T, K), NaN where nothing was reported."""

    timesteps: np.ndarray
    metrics: dict[str, np.ndarray]
    budgets: np.ndarray
    shares: np.ndarray
    observed: np.ndarray


def _number(value: Any) -> float:
    return np.nan if value is None else float(value)


def _tables(history: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> _Tables:
    rows = sorted(history, key=lambda row: row["timestep"])
    n_campaigns = len(ids)

    def table(pick: Callable[[Mapping[str, Any], str], float]) -> np.ndarray:
        values = [[pick(row, cid) for cid in ids] for row in rows]
        return np.array(values, dtype=float).reshape(len(rows), n_campaigns)

    def metric(field: str) -> Callable[[Mapping[str, Any], str], float]:
        return lambda row, cid: _number(((row.get("metrics") or {}).get(cid) or {}).get(field))

    return _Tables(
        timesteps=np.array([row["timestep"] for row in rows], dtype=float),
        metrics={field: table(metric(field)) for field in METRIC_FIELDS},
        budgets=table(lambda row, cid: _number((row.get("budgets") or {}).get(cid))),
        shares=table(lambda row, cid: _number((row.get("allocation") or {}).get(cid))),
        observed=table(lambda row, cid: (row.get("metrics") or {}).get(cid) is not None) > 0,
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where the denominator is positive, NaN elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _ols(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Least-squares line y = intercept + slope * x along axis 0, ignoring non-finite pairs.

    Works on any trailing shape, so every metric of every campaign is fitted at once.
    """
    x, y = np.broadcast_arrays(x, y)
    mask = np.isfinite(x) & np.isfinite(y)
    n = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_mean = np.where(mask, x, 0.0).sum(axis=0) / n
        y_mean = np.where(mask, y, 0.0).sum(axis=0) / n
        dx = np.where(mask, x - x_mean, 0.0)
        dy = np.where(mask, y - y_mean, 0.0)
        sxx = (dx**2).sum(axis=0)
        slope = np.where(sxx > 0, (dx * dy).sum(axis=0) / sxx, np.nan)
        residual = np.where(mask, dy - slope * dx, 0.0)
        variance = np.where(n > 2, (residual**2).sum(axis=0) / (n - 2), np.nan)
        stderr = np.sqrt(variance / sxx)
        t_stat = np.where(stderr > 0, slope / stderr, np.sign(slope) * np.inf)
    highest = np.where(mask, x, -np.inf).max(axis=0, initial=-np.inf)
    span = highest - np.where(mask, x, np.inf).min(axis=0, initial=np.inf)
    return {
        "n": n,
        "slope": slope,
        "stderr": stderr,
        "t": t_stat,
        "x_mean": x_mean,
        "y_mean": y_mean,
        "sxx": sxx,
        "span": np.where(n > 0, span, 0.0),
    }


def _derived(tables: _Tables) -> dict[str, np.ndarray]:
    spend = tables.metrics["spend"]
    conversions = tables.metrics["conversions"]
    return {
        **tables.metrics,
        "cpa": _ratio(spend, conversions),
        "roas": _ratio(tables.metrics["revenue"], spend),
        "conversion_rate": _ratio(conversions, tables.metrics["clicks"]),
    }


def _trends(
    series: dict[str, np.ndarray], timesteps: np.ndarray, settings: InsightSettings
) -> dict[str, dict[str, np.ndarray]]:
    """Slope, relative change over the window and direction of every trend metric at once."""
    window = max(int(settings.window), 2)
    stacked = np.stack([series[name][-window:] for name in TREND_METRICS], axis=1)  # (W, M, K)
    x = timesteps[-window:].reshape(-1, 1, 1)
    fit = _ols(x, stacked)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = fit["slope"] * fit["span"] / np.abs(fit["y_mean"])
    known = (fit["n"] >= 3) & (fit["sxx"] > 0) & np.isfinite(change)
    clear = (
        known & (np.abs(fit["t"]) >= settings.trend_t) & (np.abs(change) >= settings.flat_change)
    )
    direction = np.where(
        ~known, "unknown", np.where(~clear, "flat", np.where(change > 0, "up", "down"))
    )
    lower_better = np.array([name in LOWER_IS_BETTER for name in TREND_METRICS])[:, None]
    better = (change > 0) != lower_better
    assessment = np.where(
        ~known, "unknown", np.where(~clear, "stable", np.where(better, "improving", "worsening"))
    )
    return {
        name: {
            "direction": direction[m],
            "assessment": assessment[m],
            "slope": fit["slope"][m],
            "relative_change": np.where(known[m], change[m], np.nan),
            "points": fit["n"][m],
        }
        for m, name in enumerate(TREND_METRICS)
    }


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


def _saturation(
    spend: np.ndarray, value: np.ndarray, settings: InsightSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Power-law elasticity of value in spend, and the return at low versus high spend.

    Timesteps with zero value have no logarithm and are left out of the fit (they still count in
    the low/high comparison). Also returns the log-scale fit the curves are anchored on.
    """
    positive = (spend > 0) & (value > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_spend = np.where(positive, np.log(spend), np.nan)
        log_value = np.where(positive, np.log(value), np.nan)
    fit = _ols(log_spend, log_value)
    n = fit["n"]
    identifiable = (
        (n >= 4) & (fit["sxx"] / np.maximum(n, 1) >= 0.05**2) & np.isfinite(fit["stderr"])
    )
    elasticity = np.where(identifiable, fit["slope"], np.nan)
    significant = identifiable & (elasticity + settings.trend_t * fit["stderr"] < 1.0)
    status = np.where(
        ~identifiable,
        "unknown",
        np.where(
            ~significant,
            "none",
            np.where(elasticity < settings.saturated_elasticity, "saturated", "diminishing"),
        ),
    )

    usable = (spend > 0) & np.isfinite(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(np.where(usable, spend, np.nan), axis=0)
    low = usable & (spend <= median)
    high = usable & (spend > median)

    def half(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = mask.sum(axis=0)
        total_spend = np.where(mask, spend, 0.0).sum(axis=0)
        total_value = np.where(mask, value, 0.0).sum(axis=0)
        return count, total_spend, total_value

    n_low, spend_low, value_low = half(low)
    n_high, spend_high, value_high = half(high)
    enough = (n_low >= 2) & (n_high >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_spend_gap = spend_high / n_high - spend_low / n_low
        incremental = (value_high / n_high - value_low / n_low) / mean_spend_gap
    return {
        "status": status,
        "elasticity": elasticity,
        "elasticity_stderr": np.where(identifiable, fit["stderr"], np.nan),
        "points": n,
        "low_spend_return": np.where(enough, _ratio(value_low, spend_low), np.nan),
        "high_spend_return": np.where(enough, _ratio(value_high, spend_high), np.nan),
        "incremental_return": np.where(enough & (mean_spend_gap > 0), incremental, np.nan),
    }, fit


def _learning(
    spend: np.ndarray, value: np.ndarray, settings: InsightSettings
) -> dict[str, np.ndarray]:
    """Ratio estimate of return per unit spend and its delta-method interval, per campaign."""
    usable = (spend > 0) & np.isfinite(value)
    n = usable.sum(axis=0)
    total_spend = np.where(usable, spend, 0.0).sum(axis=0)
    total_value = np.where(usable, value, 0.0).sum(axis=0)
    estimate = _ratio(total_value, total_spend)
    residual = np.where(usable, value - estimate * spend, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_spend = total_spend / n
        variance = np.where(n > 1, (residual**2).sum(axis=0) / (n - 1), np.nan)
        stderr = np.sqrt(variance / n) / mean_spend
        quantile = student_t.ppf(0.5 + settings.confidence / 2, np.maximum(n - 1, 1))
        half_width = quantile * stderr
        relative_width = np.where(
            half_width == 0, 0.0, np.where(estimate > 0, 2 * half_width / estimate, np.inf)
        )
    relative_width = np.where(n > 1, relative_width, np.nan)
    status = np.where(
        n == 0,
        "no data",
        np.where(
            (n < 3) | ~(relative_width <= settings.converging_width),
            "learning",
            np.where(relative_width <= settings.confident_width, "confident", "converging"),
        ),
    )
    return {
        "observations": n,
        "estimate": estimate,
        "low": np.maximum(estimate - half_width, 0.0),
        "high": estimate + half_width,
        "relative_width": relative_width,
        "status": status,
    }


@dataclass(frozen=True)
class _Curves:
    """value = scale * spend^elasticity per campaign, elasticity in [0, 1] (concave).

    A power law's marginal grows without bound towards zero spend; marginals are read no lower
    than `smallest_spend`, the smallest amount a recommendation moves, so a campaign with next
    to no budget is valued by what its first recommended slice would return.
    """

    scale: np.ndarray
    elasticity: np.ndarray
    smallest_spend: float

    def value(self, k: int, spend: float) -> float:
        return float(self.scale[k] * max(spend, 0.0) ** self.elasticity[k])

    def marginal(self, k: int, spend: float) -> float:
        b = self.elasticity[k]
        if b >= 1.0:
            return float(self.scale[k])
        if b <= 0.0:
            return 0.0
        return float(b * self.scale[k] * max(spend, self.smallest_spend, 1e-12) ** (b - 1.0))


def _curves(
    saturation: dict[str, np.ndarray],
    fit: dict[str, np.ndarray],
    learning: dict[str, np.ndarray],
    smallest_spend: float,
) -> tuple[_Curves, np.ndarray]:
    """Fitted concave curves where the elasticity is known, lines through the average otherwise.

    An elasticity clipped into [0, 1] keeps the curve through the centre of the data (the
    geometric means of spend and value), so its level stays where the observations are.
    """
    fitted = np.isfinite(saturation["elasticity"])
    elasticity = np.where(fitted, np.clip(saturation["elasticity"], 0.0, 1.0), 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        anchored = np.exp(fit["y_mean"] - elasticity * fit["x_mean"])
    scale = np.where(fitted, anchored, np.nan_to_num(learning["estimate"], nan=0.0))
    curves = _Curves(scale=scale, elasticity=elasticity, smallest_spend=smallest_spend)
    return curves, np.where(fitted, "curve", "average")


def _marginal_text(objective: str, marginal: float) -> str:
    """A marginal return as a reader knows it: ROAS for revenue, CPA for conversions."""
    if VALUE_METRIC[objective] == "conversions":
        return "none" if marginal <= 0 else f"{1 / marginal:,.2f}"
    return f"{marginal:.1f}"


def _marginal_name(objective: str) -> str:
    return "marginal CPA" if VALUE_METRIC[objective] == "conversions" else "marginal ROAS"


def _shift(curves: _Curves, donor: int, recipient: int, spend: np.ndarray, most: float) -> float:
    """Amount moving from donor to recipient that equalizes their marginals, at most `most`."""

    def gap(amount: float) -> float:
        return curves.marginal(recipient, spend[recipient] + amount) - curves.marginal(
            donor, spend[donor] - amount
        )

    if gap(most) >= 0:
        return most
    return float(brentq(gap, 0.0, most, xtol=1e-9 * max(most, 1.0)))


_CERTAINTY = ("no data", "learning", "converging", "confident")


def _finished(run: RunInfo) -> bool:
    """The run is over (every timestep done, or the budget spent): nothing is left to move."""
    return run.current_time >= run.timesteps or run.remaining <= 0


def _recommendations(
    campaigns: Sequence[CampaignInfo],
    objective: str,
    spend_now: np.ndarray,
    curves: _Curves,
    learning_status: np.ndarray,
    run: RunInfo | None,
    settings: InsightSettings,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Greedy pairs: the lowest-marginal donor gives to the highest-marginal recipient; none
    for a finished run.

    Each campaign appears in one shift at most, moved by the amount that equalizes the two
    marginals under the fitted curves, within the floor, min/max budgets and the pacing step.
    """
    n_campaigns = len(campaigns)
    marginal = np.array([curves.marginal(k, spend_now[k]) for k in range(n_campaigns)])
    # A campaign without data has no marginal return to tell (None), not a return of 0.
    marginal = np.where(learning_status == "no data", np.nan, marginal)
    timestep_budget = float(spend_now.sum())
    if timestep_budget <= 0 or (run is not None and _finished(run)):
        return [], marginal
    floor = run.floor if run else 0.0
    lower = np.array([max(floor * timestep_budget, c.min_budget or 0.0) for c in campaigns])
    upper = np.array([np.inf if c.max_budget is None else c.max_budget for c in campaigns])
    max_share = settings.max_shift_share
    if max_share is None:
        max_share = run.step if run else 0.25
    smallest = settings.min_shift_share * timestep_budget
    # Amounts near the ends of the float range (accepted metrics of 1e-300 spend and 1e12
    # value) can fit curves whose marginals or gains overflow: such campaigns are not moved.
    eligible = np.array([c.active for c in campaigns]) & (learning_status != "no data")
    eligible &= np.isfinite(marginal)
    donors = [k for k in np.argsort(marginal, kind="stable") if eligible[k]]
    donors = [k for k in donors if spend_now[k] - lower[k] >= smallest]
    recipients = [k for k in np.argsort(-marginal, kind="stable") if eligible[k]]
    recipients = [k for k in recipients if upper[k] - spend_now[k] >= smallest]
    total_now = sum(curves.value(k, spend_now[k]) for k in range(n_campaigns))
    timesteps_left = max(run.timesteps - run.current_time, 0) if run else None
    metric = VALUE_METRIC[objective]
    found: list[dict[str, Any]] = []
    for recipient in recipients:
        donor = next((d for d in donors if d != recipient), None)
        if donor is None or len(found) >= settings.max_recommendations:
            break
        high, low = marginal[recipient], marginal[donor]
        if high <= 0 or (low > 0 and high < settings.min_marginal_ratio * low):
            break
        most = min(
            spend_now[donor] - lower[donor],
            upper[recipient] - spend_now[recipient],
            max_share * timestep_budget,
        )
        amount = _shift(curves, donor, recipient, spend_now, most)
        gain = (
            curves.value(recipient, spend_now[recipient] + amount)
            - curves.value(recipient, spend_now[recipient])
            + curves.value(donor, spend_now[donor] - amount)
            - curves.value(donor, spend_now[donor])
        )
        if amount < smallest or not np.isfinite(gain):
            continue
        donors.remove(donor)
        share = amount / timestep_budget
        relative = gain / total_now if total_now > 0 else np.nan
        certainty = min(learning_status[donor], learning_status[recipient], key=_CERTAINTY.index)
        text = (
            f"Move {share:.0%} of the timestep budget ({amount:,.2f}) from "
            f"{campaigns[donor].name} to {campaigns[recipient].name}: "
            f"{_marginal_name(objective)} {_marginal_text(objective, low)} vs "
            f"{_marginal_text(objective, high)}. "
            f"Expected {gain:+,.2f} {metric} per timestep"
            + (f" ({relative:+.1%})." if np.isfinite(relative) else ".")
        )
        if certainty == "learning":
            text += " Still learning: treat as a hint."
        found.append(
            {
                "kind": "shift",
                "from_campaign": campaigns[donor].id,
                "to_campaign": campaigns[recipient].id,
                "share": share,
                "amount": amount,
                "from_marginal": low,
                "to_marginal": high,
                "expected_gain": gain,
                "expected_gain_relative": relative,
                "expected_gain_remaining": None
                if timesteps_left is None
                else gain * timesteps_left,
                "metric": metric,
                "confidence": certainty,
                "text": text,
            }
        )
    return found, marginal


def _trailing(mask: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each column of a (T, K) boolean array."""
    if mask.shape[0] == 0:
        return np.zeros(mask.shape[1], dtype=int)
    broken = ~mask[::-1]
    return np.where(broken.any(axis=0), broken.argmax(axis=0), mask.shape[0])


def _campaign_warnings(
    campaigns: Sequence[CampaignInfo],
    objective: str,
    tables: _Tables,
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
                f"{_marginal_name(objective)} {_marginal_text(objective, marginal[k])} is "
                "the best: raise the cap.",
            }
        )
    return found


def _pace_warnings(
    tables: _Tables, run: RunInfo | None, settings: InsightSettings
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


def _anomalies(
    campaigns: Sequence[CampaignInfo],
    series: dict[str, np.ndarray],
    timesteps: np.ndarray,
    settings: InsightSettings,
) -> list[dict[str, Any]]:
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


def _pooled_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Sum of numerator over sum of denominator per campaign, over timesteps reporting both."""
    both = np.isfinite(numerator) & np.isfinite(denominator)
    return _ratio(
        np.where(both, numerator, 0.0).sum(axis=0), np.where(both, denominator, 0.0).sum(axis=0)
    )


def _spend_now(tables: _Tables, ids: Sequence[str], run: RunInfo | None) -> np.ndarray:
    """The budgets recommendations start from: the current ones, else the last decided."""
    if run is not None and run.budgets is not None:
        spend = np.array([_number(run.budgets.get(cid)) for cid in ids])
    elif tables.timesteps.size:
        spend = tables.budgets[-1]
    else:
        spend = np.zeros(len(ids))
    return np.nan_to_num(spend, nan=0.0)


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
    tables = _tables(history, ids)
    series = _derived(tables)
    spend, value = series["spend"], series[VALUE_METRIC[objective]]
    trends = _trends(series, tables.timesteps, settings)
    saturation, fit = _saturation(spend, value, settings)
    learning = _learning(spend, value, settings)
    spend_now = _spend_now(tables, ids, run)
    smallest_spend = settings.min_shift_share * float(spend_now.sum())
    curves, basis = _curves(saturation, fit, learning, smallest_spend)
    recommendations, marginal = _recommendations(
        campaigns, objective, spend_now, curves, learning["status"], run, settings
    )
    totals = {name: np.nansum(series[name], axis=0) for name in ("spend", "conversions", "revenue")}
    pooled = {
        "cpa": _pooled_ratio(spend, series["conversions"]),
        "roas": _pooled_ratio(series["revenue"], spend),
        "conversion_rate": _pooled_ratio(series["conversions"], series["clicks"]),
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
    campaign_warnings = _campaign_warnings(
        campaigns, objective, tables, marginal, learning, run, settings
    )
    return _json(
        {
            "objective": objective,
            "value_metric": VALUE_METRIC[objective],
            "timesteps_analyzed": int(tables.timesteps.size),
            "window": int(min(settings.window, tables.timesteps.size)),
            "campaigns": per_campaign,
            "anomalies": _anomalies(campaigns, series, tables.timesteps, settings),
            "recommendations": recommendations,
            "warnings": campaign_warnings + _pace_warnings(tables, run, settings),
        }
    )
