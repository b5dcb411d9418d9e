"""Geometric adstock: A_t = x_t + theta * A_{t-1}, the carry-over of media spend
(as in the marketing budget allocation study)."""

from __future__ import annotations

import numpy as np

from engine.errors import EngineError

MAX_THETA = 0.95


def decay_matrix(periods: int, theta: np.ndarray) -> np.ndarray:
    """Weights W[k, t, s] = theta_k^(t - s) for s <= t, else 0."""
    lags = np.subtract.outer(np.arange(periods), np.arange(periods))
    theta = np.asarray(theta, dtype=float)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(lags >= 0, theta ** np.maximum(lags, 0), 0.0)
    return weights


def geometric_adstock(
    spend: np.ndarray, theta: np.ndarray, initial: np.ndarray | None = None
) -> np.ndarray:
    """Adstocked spend of shape (T, K) for spend (T, K), decay theta (K,) and prior stock (K,)."""
    spend = np.asarray(spend, dtype=float)
    if spend.ndim == 1:
        spend = spend[:, None]
    periods, size = spend.shape
    theta = np.broadcast_to(np.asarray(theta, dtype=float), size)
    if np.any(theta < 0) or np.any(theta >= 1) or not np.all(np.isfinite(theta)):
        raise EngineError("adstock theta must lie in [0, 1)")
    stock = np.einsum("kts,sk->tk", decay_matrix(periods, theta), spend)
    if initial is not None:
        carried = np.broadcast_to(np.asarray(initial, dtype=float), size)
        stock = stock + theta ** np.arange(1, periods + 1)[:, None] * carried
    return stock


def steady_state_scale(theta: np.ndarray) -> np.ndarray:
    """Adstock per unit of spend when the same spend repeats every period: 1 / (1 - theta)."""
    return 1.0 / (1.0 - np.asarray(theta, dtype=float))
