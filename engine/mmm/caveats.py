"""Warnings about what the data cannot tell apart, each naming channels and what to do.

- `collinear`: two channels' spends move together (correlation above 0.9 over the fitted
  periods), so the model cannot split their effects: their intervals are wide.
- `rarely_varied`: a channel's spend hardly changes or is on in few periods.
- `weakly_identified`: the data leave a channel's ROI interval wide (high above three
  times low and the interval wider than the mean): the answer is mostly the prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.mmm.data import MMMData

COLLINEAR = 0.9
MIN_VARIATION = 0.1
MIN_ACTIVE_SHARE = 0.1


def data_warnings(data: MMMData, fit_rows: int) -> list[dict]:
    """Collinear and rarely varied channels, from the spend alone."""
    spend = data.spend[:fit_rows]
    warnings = []
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(spend.T) if spend.shape[1] > 1 else np.ones((1, 1))
    for a in range(len(data.channels)):
        for b in range(a + 1, len(data.channels)):
            if correlation[a, b] > COLLINEAR:
                pair = [data.channels[a], data.channels[b]]
                warnings.append(
                    {
                        "code": "collinear",
                        "channels": pair,
                        "message": f"spend on {pair[0]} and {pair[1]} moves together "
                        f"(correlation {correlation[a, b]:.2f}): their effects cannot be told "
                        "apart; vary one without the other for a few periods, or give an ROI "
                        "prior from a lift test",
                    }
                )
    for c, name in enumerate(data.channels):
        values = spend[:, c]
        active = float(np.mean(values > 0))
        variation = float(values.std() / values.mean()) if values.mean() > 0 else 0.0
        if variation < MIN_VARIATION or active < MIN_ACTIVE_SHARE:
            warnings.append(
                {
                    "code": "rarely_varied",
                    "channels": [name],
                    "message": f"spend on {name} hardly varies (variation {variation:.2f}, on in "
                    f"{active:.0%} of periods): its effect is poorly identified; vary its "
                    "budget or give an ROI prior",
                }
            )
    return warnings


def interval_warnings(channels: Sequence[str], roi_draws: Sequence[np.ndarray]) -> list[dict]:
    """Channels whose ROI interval stays wide after seeing the data."""
    warnings = []
    for name, draws in zip(channels, roi_draws, strict=True):
        low, high = np.percentile(draws, [5, 95])
        mean = float(np.mean(draws))
        if high > 3 * max(low, 1e-12) and high - low > mean:
            warnings.append(
                {
                    "code": "weakly_identified",
                    "channels": [name],
                    "message": f"the ROI of {name} lies between {low:.2f} and {high:.2f} (90%): "
                    "the data say little about it; vary its spend or give an ROI prior",
                }
            )
    return warnings
