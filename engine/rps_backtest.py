"""Backtests of the RPS allocator against a flat 50/50 split, and the grid search that tunes it.

The split decided at step t is spent at t + 1 (no look-ahead; step 0 is spent 50/50). The grid
search scores lookbacks and symmetric band thresholds on the earlier steps and judges the best
on a held-out tail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from engine.errors import EngineError
from engine.rps_bands import (
    BAND_NAMES,
    band_indices,
    is_real_number,
    symmetric_bands,
    validate_bands,
)
from engine.rps_prices import (
    edge_sign,
    rolling_mean,
    validate_lookback,
    validate_price_kind,
    validate_prices,
)

DEFAULT_GRID_LOOKBACKS: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 21)
DEFAULT_GRID_EQUAL_THRESHOLDS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1)
DEFAULT_GRID_HEAVY_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
DEFAULT_HOLDOUT_FRACTION = 0.3
MIN_GRID_STEPS = 3
"""Fewest prices the grid search can use: 2 to score settings on (step 0 is always spent 50/50,
so one step tells no settings apart) and 1 held out to judge the best on."""

_FLAT_SPLIT = np.array([0.5, 0.5])


def _validate_budget(budget: float) -> float:
    if not is_real_number(budget) or not math.isfinite(budget) or budget <= 0:
        raise EngineError(f"budget must be a finite number greater than 0 (got {budget!r})")
    return float(budget)


def _yields(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """What one unit of spend returns per channel and step, shape (2, T).

    Cost prices buy ``1 / price`` units (clicks, conversions); value prices return ``price``.
    """
    prices = np.stack((a, b))
    with np.errstate(over="ignore"):
        return 1.0 / prices if kind == "cost" else prices


def _flat_results(yields: np.ndarray, budget: float) -> np.ndarray:
    """Per-step results of the 50/50 split, refusing totals floating point cannot hold.

    No split returns more than twice the flat split in a step, so a finite doubled flat total
    keeps every strategy total finite too.
    """
    with np.errstate(over="ignore"):
        flat = budget * (_FLAT_SPLIT @ yields)
        total = float(flat.sum())
    if not (math.isfinite(2.0 * total) and total > 0):
        raise EngineError("budget and prices give results beyond floating-point range: rescale")
    return flat


def _applied_allocations(decided: np.ndarray) -> np.ndarray:
    """Shift decisions one step forward: the split decided at t is spent at t+1; t=0 is 50/50."""
    return np.concatenate((_FLAT_SPLIT[None, :], decided[:-1]), axis=0)


def _strategy_results(
    yields: np.ndarray, budget: float, allocations: np.ndarray, band_index: np.ndarray
) -> np.ndarray:
    """Per-step results when the band decided at t sets the split at t+1 (t=0 is 50/50).

    ``band_index`` has shape (..., T); one result table per band avoids materialising a split
    for every setting and step.
    """
    per_band = budget * (allocations @ yields)
    flat_first = budget * (_FLAT_SPLIT @ yields[:, 0])
    later = per_band[band_index[..., :-1], np.arange(1, yields.shape[1])]
    first = np.full((*band_index.shape[:-1], 1), flat_first)
    return np.concatenate((first, later), axis=-1)


def _comparison(flat_total: float, rps_total: float) -> dict:
    return {
        "flat": flat_total,
        "rps": rps_total,
        "difference": rps_total - flat_total,
        "relative_difference": (rps_total - flat_total) / flat_total,
    }


def _validated_backtest_inputs(
    prices_a: Sequence[float], prices_b: Sequence[float], budget: float
) -> tuple[np.ndarray, np.ndarray, float]:
    a, b = validate_prices(prices_a, prices_b)
    if a.size < 2:
        raise EngineError(f"a backtest needs at least 2 prices per channel (got {a.size})")
    return a, b, _validate_budget(budget)


def backtest(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    budget: float = 100.0,
    lookback: int | None = None,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
) -> dict:
    """Compare a flat 50/50 split with the RPS strategy over the given price history.

    ``bands[t]`` and ``rps[t]`` come from prices up to t and set ``allocations[t + 1]`` (no
    look-ahead; step 0 is spent 50/50). ``budget`` is spent every step; each step's result is
    ``spend / price`` summed over channels for cost prices and ``spend * price`` for values.
    """
    a, b, budget = _validated_backtest_inputs(prices_a, prices_b, budget)
    window = validate_lookback(lookback)
    kind = validate_price_kind(price_kind)
    table = validate_bands(bands)
    mean_rps = rolling_mean(np.log(a) - np.log(b), window)
    band_index = band_indices(edge_sign(kind) * mean_rps, table.thresholds)
    yields = _yields(a, b, kind)
    flat = _flat_results(yields, budget)
    strategy = _strategy_results(yields, budget, table.allocations, band_index)
    return {
        "steps": int(a.size),
        "rps": mean_rps.tolist(),
        "bands": [BAND_NAMES[i] for i in band_index],
        "allocations": _applied_allocations(table.allocations[band_index]).tolist(),
        "next_allocation": table.allocations[band_index[-1]].tolist(),
        "flat_results": flat.tolist(),
        "rps_results": strategy.tolist(),
        "totals": _comparison(float(flat.sum()), float(strategy.sum())),
    }


def _validated_grid(
    lookbacks: Sequence[int],
    equal_thresholds: Sequence[float],
    heavy_thresholds: Sequence[float],
    train_steps: int,
) -> tuple[list[int], np.ndarray]:
    if not lookbacks:
        raise EngineError("grid lookbacks must not be empty")
    checked = [validate_lookback(lookback) for lookback in lookbacks]
    usable = sorted({lookback for lookback in checked if lookback <= train_steps})
    if not usable:
        raise EngineError(
            f"every grid lookback exceeds the {train_steps} training steps before the held-out tail"
        )
    for name, values in (("equal", equal_thresholds), ("heavy", heavy_thresholds)):
        if not values:
            raise EngineError(f"grid {name} thresholds must not be empty")
        if not all(is_real_number(v) and math.isfinite(v) and v > 0 for v in values):
            raise EngineError(f"grid {name} thresholds must be finite numbers > 0 (got {values})")
    pairs = [(e, h) for e in sorted(set(equal_thresholds)) for h in sorted(set(heavy_thresholds))]
    pairs = [(e, h) for e, h in pairs if e < h]
    if not pairs:
        raise EngineError("the grid needs at least one equal threshold below a heavy threshold")
    return usable, np.array(pairs, dtype=float)


def grid_search(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    budget: float = 100.0,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
    lookback: int | None = None,
    lookbacks: Sequence[int] = DEFAULT_GRID_LOOKBACKS,
    equal_thresholds: Sequence[float] = DEFAULT_GRID_EQUAL_THRESHOLDS,
    heavy_thresholds: Sequence[float] = DEFAULT_GRID_HEAVY_THRESHOLDS,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
) -> dict:
    """Tune lookback and symmetric band thresholds on the history, judge them on a held-out tail.

    The last ``holdout_fraction`` of the steps is kept out of the search; every setting is scored
    by its gain over 50/50 on the earlier steps, and the best (first on ties) is then run on the
    tail. Tail decisions may use earlier prices, never later ones. The allocations of ``bands``
    are kept; ``lookback`` and ``bands`` also give the untuned baseline on the same tail.
    """
    a, b, budget = _validated_backtest_inputs(prices_a, prices_b, budget)
    if a.size < MIN_GRID_STEPS:
        raise EngineError(
            f"the grid search needs at least {MIN_GRID_STEPS} prices per channel, 2 to score "
            f"settings on and 1 to judge them on (got {a.size})"
        )
    kind = validate_price_kind(price_kind)
    table = validate_bands(bands)
    window = validate_lookback(lookback)
    if not is_real_number(holdout_fraction) or not 0 < holdout_fraction < 1:
        raise EngineError(
            f"holdout_fraction must lie strictly between 0 and 1 (got {holdout_fraction!r})"
        )
    tail_steps = max(1, round(a.size * holdout_fraction))
    train_steps = a.size - tail_steps
    if train_steps < 2:
        raise EngineError(
            f"{a.size} steps leave {train_steps} for the search before a {tail_steps}-step tail; "
            "send a longer history or a smaller holdout_fraction"
        )
    usable_lookbacks, pairs = _validated_grid(
        lookbacks, equal_thresholds, heavy_thresholds, train_steps
    )
    grid_thresholds = np.column_stack((-pairs[:, 1], -pairs[:, 0], pairs[:, 0], pairs[:, 1]))
    log_ratio = np.log(a) - np.log(b)
    sign = edge_sign(kind)
    yields = _yields(a, b, kind)
    flat = _flat_results(yields, budget)

    train_totals = np.empty((len(usable_lookbacks), len(pairs)))
    tail_totals = np.empty_like(train_totals)
    for row, grid_lookback in enumerate(usable_lookbacks):
        edge = sign * rolling_mean(log_ratio, grid_lookback)
        band_index = band_indices(edge[None, :], grid_thresholds)
        results = _strategy_results(yields, budget, table.allocations, band_index)
        train_totals[row] = results[:, :train_steps].sum(axis=-1)
        tail_totals[row] = results[:, train_steps:].sum(axis=-1)
    best_lookback_at, best_pair_at = np.unravel_index(np.argmax(train_totals), train_totals.shape)
    equal_threshold, heavy_threshold = pairs[best_pair_at].tolist()
    best_tail = float(tail_totals[best_lookback_at, best_pair_at])

    baseline_index = band_indices(sign * rolling_mean(log_ratio, window), table.thresholds)
    baseline = _strategy_results(yields, budget, table.allocations, baseline_index)
    flat_train, flat_tail = float(flat[:train_steps].sum()), float(flat[train_steps:].sum())
    return {
        "train_steps": int(train_steps),
        "holdout_steps": int(tail_steps),
        "settings_evaluated": int(train_totals.size),
        "best": {
            "lookback": int(usable_lookbacks[best_lookback_at]),
            "equal_threshold": equal_threshold,
            "heavy_threshold": heavy_threshold,
            "bands": symmetric_bands(
                equal_threshold,
                heavy_threshold,
                dict(zip(BAND_NAMES, table.allocations.tolist(), strict=True)),
            ),
        },
        "in_sample": _comparison(flat_train, float(train_totals[best_lookback_at, best_pair_at])),
        "out_of_sample": _comparison(flat_tail, best_tail),
        "baseline_out_of_sample": _comparison(flat_tail, float(baseline[train_steps:].sum())),
    }
