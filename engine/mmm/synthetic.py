"""Synthetic marketing histories with known truth, for tests, benchmarks and the sample data.

Weekly (or daily) periods; per channel a spend pattern (a smooth level with bursts and
some dark periods), geometric adstock and Hill or negative-exponential saturation with
parameters drawn away from the model's grid points, a true ROI; some channel pairs share
a spend driver (correlated). The KPI adds an intercept, a trend, yearly seasonality, a
price control and noise of 5% to 20% of the KPI. Every true quantity is returned beside
the rows, in the definitions the model reports (ROI over the data's periods, steady-state
response curves), so estimates can be scored.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from engine.mmm.features import adstock, saturate

CHANNEL_NAMES = (
    "tv", "search", "social", "video", "display", "radio", "affiliates", "email", "ooh",
    "podcast", "influencers", "print", "retail_media", "ctv", "audio", "native", "sms",
    "sponsorship", "catalog", "events",
)  # fmt: skip
START = date(2023, 1, 2)


def _spend_patterns(rng: np.random.Generator, periods: int, channels: int) -> np.ndarray:
    """Spend (T, C): log-AR(1) levels, shared drivers for some pairs, dark periods."""
    levels = rng.uniform(np.log(2_000), np.log(30_000), channels)
    shocks = rng.standard_normal((periods, channels))
    pair_count = max(1, channels // 4) if channels >= 2 else 0
    pairs = rng.permutation(channels)[: 2 * pair_count].reshape(-1, 2)
    for a, b in pairs:
        shared = rng.uniform(0.6, 0.85)
        shocks[:, b] = shared * shocks[:, a] + np.sqrt(1 - shared**2) * shocks[:, b]
    walk = np.empty_like(shocks)
    walk[0] = shocks[0]
    for t in range(1, periods):
        walk[t] = 0.6 * walk[t - 1] + np.sqrt(1 - 0.36) * shocks[t]
    spend = np.exp(levels + rng.uniform(0.3, 0.6, channels) * walk)
    dark = rng.uniform(size=(periods, channels)) < rng.uniform(0.0, 0.15, channels)
    return np.round(np.where(dark, 0.0, spend), 2)


def generate(
    seed: int,
    periods: int = 104,
    channels: int | None = None,
    frequency: str = "weekly",
    noise: float | None = None,
    roi_range: tuple[float, float] = (0.4, 4.0),
) -> dict:
    """A data set {"rows", "truth"}: wide rows (date, revenue, one column per channel, price);
    the true ROIs log-uniform in `roi_range` (the same draws rescaled on the log scale, so
    other ranges keep every other feature of the seed's data set)."""
    low, high = roi_range
    if not 0 < low < high:
        raise ValueError("roi_range must be (low, high) with 0 < low < high")
    rng = np.random.default_rng(seed)
    count = int(channels if channels is not None else rng.integers(3, 11))
    names = list(CHANNEL_NAMES[:count])
    step = 7 if frequency == "weekly" else 1
    days = [START + timedelta(days=step * t) for t in range(periods)]
    spend = _spend_patterns(rng, periods, count)
    scale = spend.mean(axis=0)
    families = np.where(rng.uniform(size=count) < 0.5, "hill", "negexp")
    theta = rng.uniform(0.05, 0.7, count)
    k = np.exp(rng.uniform(np.log(0.5), np.log(2.2), count))
    n = np.where(families == "hill", rng.uniform(1.1, 2.3, count), 1.0)
    roi = np.exp(rng.uniform(np.log(low), np.log(high), count))
    media = np.empty((count, periods))
    for c in range(count):
        level = adstock(spend[:, c] / scale[c], np.array([theta[c]]))[0]
        media[c] = saturate(level, k[c], n[c], str(families[c]))[0]
    beta = roi * spend.sum(axis=0) / media.sum(axis=1)
    contributions = beta[:, None] * media
    paid = contributions.sum(axis=0).mean()
    share = rng.uniform(0.25, 0.6)
    intercept = paid * (1 - share) / share
    ordinal = np.array([day.toordinal() for day in days], dtype=float)
    phase = rng.uniform(0, 2 * np.pi)
    seasonality = intercept * rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * ordinal / 365.25 + phase)
    trend = intercept * rng.uniform(-0.1, 0.2) * np.arange(periods) / periods
    price = np.round(10 * np.exp(0.05 * np.cumsum(rng.standard_normal(periods)) / 3), 3)
    price_effect = -intercept * rng.uniform(0.5, 1.5) * (price / price.mean() - 1)
    expected = intercept + trend + seasonality + price_effect + contributions.sum(axis=0)
    level = noise if noise is not None else rng.uniform(0.05, 0.2)
    revenue = np.maximum(expected + level * expected.mean() * rng.standard_normal(periods), 0)
    rows = [
        {
            "date": day.isoformat(),
            "revenue": round(float(revenue[t]), 2),
            **{name: float(spend[t, c]) for c, name in enumerate(names)},
            "price": float(price[t]),
        }
        for t, day in enumerate(days)
    ]
    truth = {
        "channels": [
            {
                "channel": names[c],
                "family": str(families[c]),
                "theta": float(theta[c]),
                "k": float(k[c] * scale[c]),
                "n": float(n[c]),
                "effect": float(beta[c]),
                "roi": float(roi[c]),
                "contribution": float(contributions[c].sum()),
                "spend": float(spend[:, c].sum()),
                "mean_spend": float(scale[c]),
            }
            for c in range(count)
        ],
        "noise": float(level),
        "paid_share": float(share),
        "roi_range": [float(low), float(high)],
    }
    return {"rows": rows, "truth": truth}


def true_response(truth: dict, spend: np.ndarray) -> np.ndarray:
    """True steady-state response per period of each channel at spend (C,) or (C, S)."""
    spend = np.asarray(spend, dtype=float)
    values = []
    for c, channel in enumerate(truth["channels"]):
        level = spend[c] / channel["mean_spend"]
        k = channel["k"] / channel["mean_spend"]
        values.append(channel["effect"] * saturate(level, k, channel["n"], channel["family"])[0])
    return np.array(values)
