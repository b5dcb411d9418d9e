"""Command line of the RPS band allocator: `python -m engine.cli.rps --backtest` backtests it on
simulated price streams against a flat 50/50 split and writes a PNG."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from engine.errors import EngineError
from engine.rps_backtest import DEFAULT_HOLDOUT_FRACTION, backtest, grid_search
from engine.rps_bands import validate_bands
from engine.rps_prices import (
    DEFAULT_SIMULATION_STEPS,
    PRICE_KINDS,
    edge_sign,
    simulate_price_streams,
    validate_price_kind,
    validate_prices,
)


def plot_backtest(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    report: dict,
    path: str,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
) -> None:
    """Write a PNG of the prices, the rolling RPS with band boundaries, and A's share per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = validate_prices(prices_a, prices_b)
    table = validate_bands(bands)
    steps = np.arange(a.size)
    figure, (price_axis, rps_axis, share_axis) = plt.subplots(
        3, 1, sharex=True, figsize=(9, 8), constrained_layout=True
    )
    price_axis.plot(steps, a, label="channel A")
    price_axis.plot(steps, b, label="channel B")
    price_axis.set_ylabel(f"price ({validate_price_kind(price_kind)})")
    price_axis.legend(loc="best")

    rps_axis.plot(steps, report["rps"], color="black", label="mean RPS = ln(A / B)")
    for boundary in edge_sign(price_kind) * table.thresholds:
        rps_axis.axhline(boundary, color="grey", linestyle="--", linewidth=0.8)
    rps_axis.set_ylabel("RPS (dashed: bands)")
    rps_axis.legend(loc="best")

    share_a = np.array(report["allocations"])[:, 0]
    share_axis.step(steps, share_a, where="post", label="RPS strategy")
    share_axis.axhline(0.5, color="grey", linestyle=":", label="flat 50/50")
    share_axis.set_ylim(0, 1)
    share_axis.set_ylabel("share of budget to A")
    share_axis.set_xlabel("time unit")
    share_axis.legend(loc="best")
    totals = report["totals"]
    figure.suptitle(
        f"RPS vs flat: {totals['rps']:.1f} vs {totals['flat']:.1f} "
        f"({100 * totals['relative_difference']:+.2f}%)"
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _format_comparison(label: str, comparison: dict) -> str:
    return (
        f"{label:<28}{comparison['flat']:>12.2f}{comparison['rps']:>12.2f}"
        f"{comparison['difference']:>+12.2f}{100 * comparison['relative_difference']:>+9.2f}%"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m engine.cli.rps --backtest`` on simulated price streams."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.cli.rps",
        description="Backtest the RPS band allocator against a flat 50/50 split.",
    )
    parser.add_argument("--backtest", action="store_true", help="run the backtest")
    parser.add_argument("--steps", type=int, default=DEFAULT_SIMULATION_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=100.0, help="budget per time unit")
    parser.add_argument("--lookback", type=int, default=None, help="default: all prices so far")
    parser.add_argument("--price-kind", choices=PRICE_KINDS, default="cost")
    parser.add_argument("--start-a", type=float, default=1.0)
    parser.add_argument("--start-b", type=float, default=1.0)
    parser.add_argument("--drift-a", type=float, default=-0.01)
    parser.add_argument("--drift-b", type=float, default=0.01)
    parser.add_argument("--volatility", type=float, default=0.05)
    parser.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT_FRACTION)
    parser.add_argument("--output", default="rps_backtest.png", help="PNG path")
    args = parser.parse_args(argv)
    if not args.backtest:
        parser.print_help()
        return 2
    try:
        a, b = simulate_price_streams(
            args.steps,
            start_a=args.start_a,
            start_b=args.start_b,
            drift_a=args.drift_a,
            drift_b=args.drift_b,
            volatility_a=args.volatility,
            volatility_b=args.volatility,
            seed=args.seed,
        )
        report = backtest(a, b, args.budget, args.lookback, args.price_kind)
        search = grid_search(a, b, args.budget, args.price_kind, lookback=args.lookback)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plot_backtest(a, b, report, args.output, args.price_kind)

    cost = args.price_kind == "cost"
    unit = "units bought (budget / price)" if cost else "value (budget * price)"
    lookback = "all" if args.lookback is None else args.lookback
    print(f"RPS backtest: {args.steps} steps, seed {args.seed}, budget {args.budget:g}/step")
    print(f"result = {unit}; lookback {lookback}; default bands")
    print(f"{'':<28}{'flat 50/50':>12}{'RPS':>12}{'RPS - flat':>12}{'':>10}")
    print(_format_comparison("whole history", report["totals"]))
    best = search["best"]
    print(
        f"grid search: {search['settings_evaluated']} settings on the first "
        f"{search['train_steps']} steps, {search['holdout_steps']}-step held-out tail"
    )
    print(
        f"best: lookback {best['lookback']}, equal |edge| <= {best['equal_threshold']:g}, "
        f"heavy |edge| > {best['heavy_threshold']:g}"
    )
    print(_format_comparison("best, in sample", search["in_sample"]))
    print(_format_comparison("best, held-out tail", search["out_of_sample"]))
    print(_format_comparison("default, held-out tail", search["baseline_out_of_sample"]))
    print(f"final allocation for the next step: {report['next_allocation']}")
    print(f"plot written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
