"""How much the vectorized RPS backtest and grid search save over step-by-step loops.

Baselines, measured in the same run on the same simulated prices:
- backtest: calling ``rps_allocation`` on every prefix of the history (the literal "decide from
  prices up to t" loop);
- grid search: one ``backtest`` call per setting on the training part.

Run with ``python -m benchmarks.bench_rps`` (a few seconds on one core).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.rps import rps_allocation
from engine.rps_backtest import (
    DEFAULT_GRID_EQUAL_THRESHOLDS,
    DEFAULT_GRID_HEAVY_THRESHOLDS,
    DEFAULT_GRID_LOOKBACKS,
    backtest,
    grid_search,
)
from engine.rps_bands import symmetric_bands
from engine.rps_prices import simulate_price_streams

PREFIX_LOOP_MAX_STEPS = 1_000
"""The prefix loop is quadratic in the steps: longer histories would take tens of seconds."""


def _best_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _prefix_loop(prices_a: list[float], prices_b: list[float], lookback: int) -> list[str]:
    return [
        rps_allocation(prices_a[: t + 1], prices_b[: t + 1], lookback)["band"]
        for t in range(len(prices_a))
    ]


def _per_setting_grid(prices_a: list[float], prices_b: list[float]) -> float:
    train = len(prices_a) - round(0.3 * len(prices_a))
    return max(
        backtest(prices_a[:train], prices_b[:train], 100.0, lookback, bands=symmetric_bands(e, h))[
            "totals"
        ]["rps"]
        for lookback in DEFAULT_GRID_LOOKBACKS
        if lookback <= train
        for e in DEFAULT_GRID_EQUAL_THRESHOLDS
        for h in DEFAULT_GRID_HEAVY_THRESHOLDS
        if e < h
    )


def main() -> None:
    print(f"{'steps':>6} {'task':<12} {'vectorized s':>13} {'baseline s':>11} {'speed-up':>9}")
    for steps in (30, 1_000, 10_000):
        a, b = (series.tolist() for series in simulate_price_streams(steps, seed=1))
        fast = _best_seconds(lambda a=a, b=b: backtest(a, b, lookback=5))
        if steps <= PREFIX_LOOP_MAX_STEPS:
            slow = _best_seconds(lambda a=a, b=b: _prefix_loop(a, b, 5), repeats=1)
            print(f"{steps:>6} {'backtest':<12} {fast:>13.5f} {slow:>11.5f} {slow / fast:>8.1f}x")
        else:
            print(f"{steps:>6} {'backtest':<12} {fast:>13.5f} {'(skipped)':>11} {'':>9}")
        fast = _best_seconds(lambda a=a, b=b: grid_search(a, b))
        slow = _best_seconds(lambda a=a, b=b: _per_setting_grid(a, b), repeats=1)
        print(f"{steps:>6} {'grid search':<12} {fast:>13.5f} {slow:>11.5f} {slow / fast:>8.1f}x")


if __name__ == "__main__":
    main()
