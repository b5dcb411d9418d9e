"""Nonparametric local-slope response estimator (spend_allocation's dd1).

Observations are averaged in spend bins, anchored at (0, 0), made increasing by isotonic
regression, and their slopes then made non-increasing by a second (weighted) isotonic
regression: the result is the closest concave, increasing piecewise-linear curve to the
binned data, i.e. diminishing returns enforced without assuming a functional form.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

MAX_BINS = 12


def binned_means(
    spend: np.ndarray, response: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean spend, mean response and count per spend-quantile bin (empty bins dropped)."""
    spend = np.asarray(spend, dtype=float)
    response = np.asarray(response, dtype=float)
    edges = np.unique(np.quantile(spend, np.linspace(0.0, 1.0, bins + 1)))
    index = np.clip(np.searchsorted(edges, spend, side="right") - 1, 0, max(edges.size - 2, 0))
    counts = np.bincount(index, minlength=edges.size)
    filled = counts > 0
    mean_spend = np.bincount(index, spend, minlength=edges.size)[filled] / counts[filled]
    mean_response = np.bincount(index, response, minlength=edges.size)[filled] / counts[filled]
    return mean_spend, mean_response, counts[filled].astype(float)


def fit_local_slope(
    spend: np.ndarray, response: np.ndarray, bins: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Concave increasing curve through the binned data: (spend knots, response levels).

    Knots start at 0 with response 0; the curve is flat past the last knot.
    """
    spend = np.asarray(spend, dtype=float)
    bins = bins or int(np.clip(spend.size // 3, 2, MAX_BINS))
    mean_spend, mean_response, counts = binned_means(spend, response, bins)
    positive = mean_spend > 0
    knots = np.concatenate([[0.0], mean_spend[positive]])
    # The anchor weighs as much as all observations together: the curve starts at (0, 0).
    weights = np.concatenate([[counts.sum()], counts[positive]])
    levels = np.concatenate([[0.0], mean_response[positive]])
    levels = (
        IsotonicRegression(increasing=True, y_min=0.0).fit(knots, levels, weights).predict(knots)
    )
    levels[0] = 0.0
    if knots.size < 2:
        return np.array([0.0, max(float(spend.max()), 1.0)]), np.zeros(2)
    widths = np.diff(knots)
    slopes = np.diff(levels) / widths
    order = np.arange(slopes.size, dtype=float)
    slopes = (
        IsotonicRegression(increasing=False, y_min=0.0).fit(order, slopes, widths).predict(order)
    )
    return knots, np.concatenate([[0.0], np.cumsum(slopes * widths)])
