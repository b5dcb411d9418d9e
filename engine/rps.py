"""Relative Price Strength (RPS) band allocator for two channels, and its backtest.

``RPS_t = ln(price_a_t / price_b_t)``; its mean over the last ``lookback`` prices is turned into
A's *edge* according to ``price_kind``: for ``"cost"`` prices (CPC, CPA: lower is better, the
default) the edge is ``-RPS``, for ``"value"`` prices (revenue per unit: higher is better) it is
``+RPS``. A positive edge always favours A. Five bands split the edge axis, each carrying the budget
split between A and B. Keeping the bands on the edge axis lets one band table serve both kinds.

Band boundaries belong to the band nearer ``EQUAL``: a heavier band is entered only when the edge
strictly passes its threshold, so swapping A and B swaps the allocation even at a boundary.

The bands live in engine.rps_bands, the price checks and simulated prices in engine.rps_prices,
the backtest and grid search in engine.rps_backtest; this module allocates from the RPS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.rps_backtest import (
    DEFAULT_GRID_EQUAL_THRESHOLDS,
    DEFAULT_GRID_HEAVY_THRESHOLDS,
    DEFAULT_GRID_LOOKBACKS,
    DEFAULT_HOLDOUT_FRACTION,
    MIN_GRID_STEPS,
    backtest,
    grid_search,
)
from engine.rps_bands import (
    BAND_NAMES,
    DEFAULT_ALLOCATIONS,
    DEFAULT_BANDS,
    DEFAULT_EQUAL_THRESHOLD,
    DEFAULT_HEAVY_THRESHOLD,
    BandTable,
    band_indices,
    default_bands,
    symmetric_bands,
    validate_bands,
)
from engine.rps_prices import (
    DEFAULT_SIMULATION_STEPS,
    MAX_LOOKBACK,
    PRICE_KINDS,
    edge_sign,
    rolling_mean,
    simulate_price_streams,
    validate_lookback,
    validate_price_kind,
    validate_prices,
)

__all__ = [
    "BAND_NAMES",
    "DEFAULT_ALLOCATIONS",
    "DEFAULT_BANDS",
    "DEFAULT_EQUAL_THRESHOLD",
    "DEFAULT_GRID_EQUAL_THRESHOLDS",
    "DEFAULT_GRID_HEAVY_THRESHOLDS",
    "DEFAULT_GRID_LOOKBACKS",
    "DEFAULT_HEAVY_THRESHOLD",
    "DEFAULT_HOLDOUT_FRACTION",
    "DEFAULT_SIMULATION_STEPS",
    "MAX_LOOKBACK",
    "MIN_GRID_STEPS",
    "PRICE_KINDS",
    "BandTable",
    "backtest",
    "default_bands",
    "edge_sign",
    "grid_search",
    "relative_price_strength",
    "rolling_rps",
    "rps_allocation",
    "simulate_price_streams",
    "symmetric_bands",
    "validate_bands",
    "validate_lookback",
    "validate_price_kind",
    "validate_prices",
]


def relative_price_strength(prices_a: Sequence[float], prices_b: Sequence[float]) -> np.ndarray:
    """Per-step ``ln(price_a / price_b)``."""
    a, b = validate_prices(prices_a, prices_b)
    return np.log(a) - np.log(b)


def rolling_rps(
    prices_a: Sequence[float], prices_b: Sequence[float], lookback: int | None = None
) -> np.ndarray:
    """Mean RPS of the window ending at each step, using only prices up to that step.

    Early steps average over what is available; ``lookback=None`` averages all prices so far.
    """
    log_ratio = relative_price_strength(prices_a, prices_b)
    return rolling_mean(log_ratio, validate_lookback(lookback))


def rps_allocation(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    lookback: int | None = None,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
) -> dict:
    """Budget split between A and B from the mean RPS of the last ``lookback`` prices.

    Returns ``{"allocation": [a, b], "rps": mean ln(price_a / price_b), "band": name}``; raises
    ``EngineError`` on bad input. A lookback longer than the series uses all prices.
    """
    a, b = validate_prices(prices_a, prices_b)
    window = validate_lookback(lookback)
    kind = validate_price_kind(price_kind)
    table = validate_bands(bands)
    log_ratio = np.log(a) - np.log(b)
    mean_rps = float(np.mean(log_ratio if window is None else log_ratio[-window:]))
    band = int(band_indices(np.array([edge_sign(kind) * mean_rps]), table.thresholds)[0])
    return {
        "allocation": table.allocations[band].tolist(),
        "rps": mean_rps,
        "band": BAND_NAMES[band],
    }
