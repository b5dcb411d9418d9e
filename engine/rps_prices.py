"""The price series the RPS allocator reads: their checks, the edge's sign, rolling means.

Also two drifting random walks to try the allocator and its backtest on when no history is
at hand.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from engine.errors import EngineError
from engine.rps_bands import is_real_number

PRICE_KINDS: tuple[str, ...] = ("cost", "value")
DEFAULT_SIMULATION_STEPS = 30

# Longer than any price series Oktopus keeps (a state has at most 10,000 timesteps); a longer
# window means the same as null, all prices.
MAX_LOOKBACK = 1_000_000


def _validated_price_series(values: Sequence[float], name: str) -> np.ndarray:
    try:
        prices = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"{name} must be a list of numbers") from exc
    if prices.ndim != 1:
        raise EngineError(f"{name} must be a flat list of numbers")
    if prices.size == 0:
        raise EngineError(f"{name} is empty: send at least one price")
    not_finite = np.flatnonzero(~np.isfinite(prices))
    if not_finite.size:
        index = int(not_finite[0])
        raise EngineError(f"{name}[{index}] is {prices[index]}: prices must be finite numbers")
    not_positive = np.flatnonzero(prices <= 0)
    if not_positive.size:
        index = int(not_positive[0])
        raise EngineError(f"{name}[{index}] is {prices[index]:g}: prices must be greater than 0")
    return prices


def validate_prices(
    prices_a: Sequence[float], prices_b: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Two non-empty, equally long series of finite positive prices as float arrays."""
    a = _validated_price_series(prices_a, "prices_a")
    b = _validated_price_series(prices_b, "prices_b")
    if a.size != b.size:
        raise EngineError(
            f"prices_a and prices_b must have the same length (got {a.size} and {b.size})"
        )
    return a, b


def validate_lookback(lookback: int | None) -> int | None:
    """``None`` (all prices) or an integer from 1 to MAX_LOOKBACK."""
    if lookback is None:
        return None
    if not isinstance(lookback, numbers.Integral) or isinstance(lookback, bool):
        raise EngineError(f"lookback must be an integer >= 1 or null (got {lookback!r})")
    if lookback < 1:
        raise EngineError(f"lookback must be at least 1 (got {lookback})")
    if lookback > MAX_LOOKBACK:
        raise EngineError(f"lookback must be at most {MAX_LOOKBACK:,} (null uses all prices)")
    return int(lookback)


def validate_price_kind(price_kind: str) -> str:
    """``"cost"`` (lower price is better) or ``"value"`` (higher price is better)."""
    if price_kind not in PRICE_KINDS:
        raise EngineError(f"price_kind must be 'cost' or 'value' (got {price_kind!r})")
    return price_kind


def edge_sign(price_kind: str) -> float:
    """-1 for costs (the cheaper channel is the stronger), 1 for values."""
    return -1.0 if price_kind == "cost" else 1.0


def rolling_mean(values: np.ndarray, lookback: int | None) -> np.ndarray:
    """Mean of the `lookback` values ending at each step; all values so far with None."""
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.arange(1, values.size + 1)
    starts = ends - (values.size if lookback is None else lookback)
    starts = np.maximum(starts, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def simulate_price_streams(
    steps: int = DEFAULT_SIMULATION_STEPS,
    *,
    start_a: float = 1.0,
    start_b: float = 1.0,
    drift_a: float = -0.01,
    drift_b: float = 0.01,
    volatility_a: float = 0.05,
    volatility_b: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two drifting geometric random walks starting at ``start_a``/``start_b``.

    Each step multiplies a price by ``exp(drift + volatility * N(0, 1))``; by default A's price
    drifts down and B's up, so for cost prices A becomes the better buy over time.
    """
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 1:
        raise EngineError(f"steps must be an integer >= 1 (got {steps!r})")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise EngineError(f"seed must be a non-negative integer (got {seed!r})")
    for name, value in (("start_a", start_a), ("start_b", start_b)):
        if not is_real_number(value) or not math.isfinite(value) or value <= 0:
            raise EngineError(f"{name} must be a finite number greater than 0 (got {value!r})")
    for name, value in (("drift_a", drift_a), ("drift_b", drift_b)):
        if not is_real_number(value) or not math.isfinite(value):
            raise EngineError(f"{name} must be a finite number (got {value!r})")
    for name, value in (("volatility_a", volatility_a), ("volatility_b", volatility_b)):
        if not is_real_number(value) or not math.isfinite(value) or value < 0:
            raise EngineError(f"{name} must be a finite number >= 0 (got {value!r})")
    rng = np.random.default_rng(int(seed))
    shocks = rng.standard_normal((2, int(steps) - 1))
    drift = np.array([[drift_a], [drift_b]], dtype=float)
    volatility = np.array([[volatility_a], [volatility_b]], dtype=float)
    log_paths = np.cumsum(drift + volatility * shocks, axis=1)
    log_start = np.log(np.array([[start_a], [start_b]], dtype=float))
    with np.errstate(over="ignore", under="ignore"):
        prices = np.exp(log_start + np.concatenate((np.zeros((2, 1)), log_paths), axis=1))
    if not (np.isfinite(prices).all() and (prices > 0).all()):
        raise EngineError(
            "simulated prices left the floating-point range: use fewer steps or a smaller "
            "drift or volatility"
        )
    return prices[0], prices[1]
