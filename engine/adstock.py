"""Geometric adstock: A_t = x_t + theta * A_{t-1}, the carry-over of media spend
(as in the marketing budget allocation study)."""

from __future__ import annotations

import numpy as np

from engine.errors import EngineError

MAX_THETA = 0.95


def decay_matrix(periods: int, theta: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Weights W[k, t, s] = theta_k^(t - s) for 0 <= t - s (<= max_lag when given), else 0."""
    lags = np.subtract.outer(np.arange(periods), np.arange(periods))
    theta = np.asarray(theta, dtype=float)[:, None, None]
    kept = lags >= 0 if max_lag is None else (lags >= 0) & (lags <= max_lag)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(kept, theta ** np.maximum(lags, 0), 0.0)
    return weights


def carried_in(
    periods: int, theta: np.ndarray, initial: np.ndarray, max_lag: int | None = None
) -> np.ndarray:
    """What a stock carried in before the first period leaves in each period (T, K):
    theta^(t + 1) * initial, nothing after `max_lag` periods when given."""
    lags = np.arange(1, periods + 1)[:, None]
    left = np.asarray(theta, dtype=float) ** lags * np.asarray(initial, dtype=float)
    return left if max_lag is None else np.where(lags <= max_lag, left, 0.0)


def geometric_adstock(
    spend: np.ndarray,
    theta: np.ndarray,
    initial: np.ndarray | None = None,
    max_lag: int | None = None,
) -> np.ndarray:
    """Adstocked spend of shape (T, K) for spend (T, K), decay theta (K,) and prior stock (K,);
    with `max_lag`, spend stops counting after that many periods (the cut geometric decay)."""
    spend = np.asarray(spend, dtype=float)
    if spend.ndim == 1:
        spend = spend[:, None]
    periods, size = spend.shape
    theta = np.broadcast_to(np.asarray(theta, dtype=float), size)
    if np.any(theta < 0) or np.any(theta >= 1) or not np.all(np.isfinite(theta)):
        raise EngineError("adstock theta must lie in [0, 1)")
    check_max_lag(max_lag)
    stock = np.einsum("kts,sk->tk", decay_matrix(periods, theta, max_lag), spend)
    if initial is not None:
        carried = np.broadcast_to(np.asarray(initial, dtype=float), size)
        stock = stock + carried_in(periods, theta, carried, max_lag)
    return stock


def check_max_lag(max_lag: int | None) -> None:
    """EngineError unless max_lag is None or a whole number >= 1."""
    if max_lag is not None and (
        isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 1
    ):
        raise EngineError("max_lag must be a whole number >= 1")


def steady_state_scale(theta: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Adstock per unit of spend when the same spend repeats every period: 1 / (1 - theta),
    or sum of theta^l for l = 0 .. max_lag when the decay is cut."""
    theta = np.asarray(theta, dtype=float)
    if max_lag is None:
        return 1.0 / (1.0 - theta)
    return (1.0 - theta ** (max_lag + 1)) / (1.0 - theta)
