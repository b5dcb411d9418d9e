"""Per-campaign statistics of a run's history: trends, saturation and learning status.

Trends are least-squares slopes over the recent window, called up or down only when clearly
distinguishable from noise; saturation is the elasticity of a power-law fit on log scales;
learning status is the width of the return estimate's interval. All are vectorized over
metrics and campaigns, analytic and deterministic.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import t as student_t

from engine.insight_inputs import InsightSettings, safe_ratio

TREND_METRICS: tuple[str, ...] = ("conversions", "revenue", "cpa", "roas")
LOWER_IS_BETTER: frozenset[str] = frozenset({"cpa"})


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


def fit_trends(
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


def fit_saturation(
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
        "low_spend_return": np.where(enough, safe_ratio(value_low, spend_low), np.nan),
        "high_spend_return": np.where(enough, safe_ratio(value_high, spend_high), np.nan),
        "incremental_return": np.where(enough & (mean_spend_gap > 0), incremental, np.nan),
    }, fit


def estimate_learning(
    spend: np.ndarray, value: np.ndarray, settings: InsightSettings
) -> dict[str, np.ndarray]:
    """Ratio estimate of return per unit spend and its delta-method interval, per campaign."""
    usable = (spend > 0) & np.isfinite(value)
    n = usable.sum(axis=0)
    total_spend = np.where(usable, spend, 0.0).sum(axis=0)
    total_value = np.where(usable, value, 0.0).sum(axis=0)
    estimate = safe_ratio(total_value, total_spend)
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


def pooled_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Sum of numerator over sum of denominator per campaign, over timesteps reporting both."""
    both = np.isfinite(numerator) & np.isfinite(denominator)
    return safe_ratio(
        np.where(both, numerator, 0.0).sum(axis=0), np.where(both, denominator, 0.0).sum(axis=0)
    )
