"""A factor shared by every campaign per timestep, read off the reports against the fit.

Weekly seasonality (and the part of drift that moves a whole market) multiplies every
campaign's response in a timestep by one common factor, while the `curve` policy fits one
amplitude a campaign from all its rows: the cycle is noise to it. With `shared_factor` w > 0,
each row is divided, before it enters the sums, by its timestep's factor: the total of its
campaigns' values over the total the sums so far predict at their spends (each campaign's
best-fitting grid curve), moved from 1 toward that ratio by w and kept within
`_FACTOR_RANGE`. A factor common to every campaign does not change which allocation is best,
so only the fit's noise is at stake; w = 0 (the default) leaves the rows as they are.
"""

from __future__ import annotations

import numpy as np

_FACTOR_RANGE = (0.5, 2.0)
_LEAST_ROWS = 2.0
"""A campaign predicts its row only once this many rows are in its sums."""


def predictions(sums: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Each campaign's predicted value (R, K) at the rows' grid features (R, K, G): the curve
    of least squared residual among the grid's, at its least-squares amplitude; NaN for a
    campaign with fewer than `_LEAST_ROWS` rows in the sums."""
    ff, fy, yy = sums["ff"], sums["fy"], sums["yy"]
    amplitude = np.divide(fy, ff, out=np.zeros_like(fy), where=ff > 0)
    residual = yy[:, None] - amplitude * fy  # (K, G)
    best = np.argmin(residual, axis=1)  # (K,)
    campaigns = np.arange(best.size)
    predicted = features[:, campaigns, best] * amplitude[campaigns, best][None, :]
    known = sums["count"] >= _LEAST_ROWS
    return np.where(known[None, :], predicted, np.nan)


def row_factors(
    value: np.ndarray, weight: np.ndarray, predicted: np.ndarray, strength: float
) -> np.ndarray:
    """Each row's shared factor (R,): observed over predicted totals of the campaigns that
    both reported (weight > 0) and predict, moved from 1 by `strength`."""
    both = (weight > 0) & np.isfinite(predicted)
    observed = np.where(both, value * weight, 0.0).sum(axis=1)
    expected = np.where(both, predicted * weight, 0.0).sum(axis=1)
    ratio = np.divide(observed, expected, out=np.ones_like(observed), where=expected > 0)
    return np.clip(1.0 + strength * (ratio - 1.0), *_FACTOR_RANGE)


def deseasoned(
    sums: dict[str, np.ndarray],
    features: np.ndarray,
    value: np.ndarray,
    weight: np.ndarray,
    strength: float,
) -> np.ndarray:
    """Rows of values (R, K) divided by their shared factor, as the sums `sums` read them."""
    if strength == 0.0 or value.shape[0] == 0:
        return value
    factors = row_factors(value, weight, predictions(sums, features), strength)
    return value / factors[:, None]
