"""A profile of the reports by position in a period (the day of the week), learnt over the run.

Weekly seasonality multiplies every campaign's response on a given day of the week by one
factor, while the `curve` policy fits one amplitude a campaign from all its rows: the cycle is
noise to it, and with drift as well it cost `curve` a point against softmax. A factor read off
each row alone (engine.policies.shared_factor) mends that but also reads the largest
campaigns' own drift as everyone's. This profile keeps, for each position in the period (a
row's timestep modulo `period`), how many complete rows it saw and the sum and sum of squares
of their ratios (a row's observed total over the total the fit predicted at its spends). A
position's factor is its mean ratio over that of all rows, so that a level common to every
day, drift included, is left to the fit; drift, which does not repeat with the period,
averages out over the weeks. It is shrunk toward 1 by how much of the positions' spread the
spread of rows within a position explains (empirical Bayes), so that a market without a
cycle, or a handful of campaigns whose totals are noisy, learns factors near 1. Each row is
divided by its position's factor before it enters the sums. The statistics are three lists
of `period` numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_FACTOR_RANGE = (0.5, 2.0)


def empty_profile(period: int) -> dict:
    """A profile that has seen no row: every factor 1."""
    return {
        "period": int(period),
        "rows": [0.0] * period,
        "ratios": [0.0] * period,
        "squares": [0.0] * period,
    }


def profile_of(stats: Mapping, period: int) -> dict:
    """The profile `stats` keep, or an empty one where they keep none of this period (made
    before the profile, or under another period: the rows already in the sums stay)."""
    profile = stats.get("weekly")
    if profile is None or int(profile["period"]) != period:
        return empty_profile(period)
    return profile


def factors(profile: Mapping) -> np.ndarray:
    """Each position's factor (period,): its rows' mean ratio relative to that of all rows,
    shrunk toward 1 as far as the spread between positions is no more than the spread of
    rows within a position explains (empirical Bayes); all 1 until two positions hold two
    rows each."""
    period = int(profile["period"])
    rows = np.asarray(profile["rows"], dtype=float)
    ratios = np.asarray(profile["ratios"], dtype=float)
    squares = np.asarray(profile["squares"], dtype=float)
    seen = rows > 0
    if period < 2 or (rows >= 2).sum() < 2:
        return np.ones(period)
    mean = np.divide(ratios, rows, out=np.zeros(period), where=seen)
    overall = ratios.sum() / rows.sum()
    # Within a position: the rows' spread around their position's mean, pooled.
    within = max(squares.sum() - (rows * mean**2).sum(), 0.0) / max(rows.sum() - seen.sum(), 1.0)
    noise = np.divide(within, rows, out=np.full(period, np.inf), where=seen)
    # Between positions: what their means spread beyond that noise.
    spread = np.sum(seen * (mean - overall) ** 2) / max(seen.sum() - 1, 1)
    signal = max(spread - noise[seen].mean(), 0.0)
    trust = np.divide(signal, signal + noise, out=np.zeros(period), where=seen & (signal > 0))
    return np.clip(1.0 + trust * (mean / overall - 1.0), *_FACTOR_RANGE)


def row_factors(profile: Mapping, rows: np.ndarray) -> np.ndarray:
    """The factor of each row (R,) by its timestep number `rows` (R,)."""
    period = int(profile["period"])
    if period < 2:
        return np.ones(np.shape(rows))
    return factors(profile)[np.asarray(rows, dtype=int) % period]


def learnt(
    profile: Mapping,
    rows: np.ndarray,
    value: np.ndarray,
    weight: np.ndarray,
    predicted: np.ndarray,
) -> dict:
    """The profile with complete rows added: timestep numbers `rows` (R,), their values and
    weights (R, K), and what the fit predicts for them (R, K, NaN where it cannot yet). A row's
    ratio is its observed over predicted total, over the campaigns that both reported and
    predict."""
    period = int(profile["period"])
    if period < 2 or len(rows) == 0:
        return dict(profile)
    both = (weight > 0) & np.isfinite(predicted)
    observed = np.where(both, value * weight, 0.0).sum(axis=1)
    expected = np.where(both, predicted * weight, 0.0).sum(axis=1)
    counted = expected > 0
    ratio = observed[counted] / expected[counted]
    position = np.asarray(rows, dtype=int)[counted] % period
    return {
        "period": period,
        "rows": (np.asarray(profile["rows"]) + np.bincount(position, minlength=period)).tolist(),
        "ratios": (
            np.asarray(profile["ratios"]) + np.bincount(position, ratio, minlength=period)
        ).tolist(),
        "squares": (
            np.asarray(profile["squares"]) + np.bincount(position, ratio**2, minlength=period)
        ).tolist(),
    }
