"""Fit response curves to a CSV and draw them: `python -m engine.cli.curves data.csv`.

Writes one PNG per channel (observed points, every fitted model and the ensemble, all at
steady state: the same spend every period) and `allocation.png` (current average spend
against the ensemble's optimal split of the same budget), and prints the fit summary.
`--demo` fits synthetic data with known curves instead, so it can be tried without data.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from engine.datasets import Dataset, parse_csv, parse_rows
from engine.ensemble import MODELS, curves_from_fit, fit_dataset
from engine.errors import EngineError
from engine.fitting import adstock_series, make_curves
from engine.response import SpendScaledCurves
from engine.scenarios import optimize_allocation

DEMO_CHANNELS = {
    "search": ("negexp", {"alpha": 9000.0, "mu": 0.0008}, 0.0, 4000.0),
    "social": ("mm", {"vmax": 6000.0, "k": 2500.0}, 0.2, 5000.0),
    "video": ("hill", {"vmax": 5000.0, "k": 2000.0, "n": 2.2}, 0.4, 5000.0),
    "display": ("negexp", {"alpha": 2500.0, "mu": 0.001}, 0.5, 3000.0),
}
COLORS = {
    "negexp": "tab:blue",
    "mm": "tab:orange",
    "hill": "tab:green",
    "local_slope": "tab:purple",
}


def demo_rows(weeks: int = 104, seed: int = 7) -> list[dict]:
    """Weekly long-format rows from known curves with adstock and 5% noise."""
    rng = np.random.default_rng(seed)
    start = date(2023, 1, 2)
    rows = []
    for name, (family, params, theta, top) in DEMO_CHANNELS.items():
        spend = rng.uniform(0.05, 1.0, weeks) * top
        stock = adstock_series(spend, theta)
        clean = make_curves(family, params).true_response(stock[:, None])[:, 0]
        revenue = clean * (1 + 0.05 * rng.standard_normal(weeks)).clip(0.5)
        rows += [
            {
                "date": (start + timedelta(weeks=week)).isoformat(),
                "campaign": name,
                "spend": round(float(spend[week]), 2),
                "revenue": round(float(revenue[week]), 2),
            }
            for week in range(weeks)
        ]
    return rows


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "channel"


def plot_campaign(fit: dict, series, path: Path) -> None:
    """Observed points with each model's steady-state curve and the ensemble.

    Points sit at their adstock times (1 - theta): the steady spend that would build the
    same stock, so they are comparable with the steady-state curves.
    """
    grid = np.array(fit["ensemble"]["spend"])
    scale = 1.0 / (1.0 - fit["theta"])
    equivalent = adstock_series(series.spend, fit["theta"]) / scale
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.scatter(equivalent, series.response, s=14, color="0.45", label="observed", zorder=3)
    for model, result in fit["models"].items():
        if model == "local_slope":
            continue
        curves = SpendScaledCurves(make_curves(model, result["params"]), scale)
        axis.plot(
            grid,
            curves.true_response(grid[:, None])[:, 0],
            color=COLORS[model],
            linewidth=1.2,
            label=f"{model} (weight {result['weight']:.2f})",
        )
    slope = fit["models"].get("local_slope")
    if slope is not None:
        knots = np.array(slope["params"]["spend"]) / scale
        axis.plot(
            knots,
            slope["params"]["response"],
            color=COLORS["local_slope"],
            linestyle="--",
            label=f"local slope (weight {slope['weight']:.2f})",
        )
    axis.plot(grid, fit["ensemble"]["response"], color="black", linewidth=2.2, label="ensemble")
    axis.set_title(
        f"{fit['campaign']}: response to a steady spend per period\n"
        f"(carry-over to the next period: {fit['theta']:.0%})",
        fontsize=11,
    )
    axis.set_xlabel(
        "spend per period, kept the same every period\n"
        "(each point: the steady spend that would build up the same carried-over spend)",
        fontsize=9,
    )
    axis.set_ylabel("response per period")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_allocation(report: dict, path: Path) -> None:
    """Current average spend against the optimal split of the same budget."""
    rows = report["allocation"]
    names = [row["campaign"] for row in rows]
    optimal = np.array([row["spend"] for row in rows])
    current = optimal - np.array([row["change"] for row in rows])
    positions = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(max(7.5, 1.2 * len(names)), 4.8))
    axis.bar(positions - 0.2, current, width=0.4, color="0.6", label="today (average)")
    axis.bar(positions + 0.2, optimal, width=0.4, color="tab:blue", label="best split")
    axis.set_xticks(positions, names, rotation=30, ha="right")
    axis.set_ylabel("spend per period")
    axis.set_title(
        f"Spend per period: today's average against the best split\n"
        f"of the same budget, {report['total_spend']:,.0f} "
        f"(expected response {report['total_response']:,.0f})",
        fontsize=11,
    )
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(dataset: Dataset, out: Path, budget: float | None, holdout: float) -> list[Path]:
    """Fit, plot and print; returns the PNG paths written."""
    out.mkdir(parents=True, exist_ok=True)
    fit = fit_dataset(dataset, MODELS, holdout_share=holdout)
    written = []
    print(
        f"{'campaign':<20} {'theta':>6} {'best':>11}  weights (negexp mm hill local)  holdout MAPE"
    )
    for campaign, series in zip(fit["campaigns"], dataset.campaigns, strict=True):
        path = out / f"curve_{_slug(campaign['campaign'])}.png"
        plot_campaign(campaign, series, path)
        written.append(path)
        weights = " ".join(f"{campaign['models'][m]['weight']:.2f}" for m in MODELS)
        mape = campaign["models"][campaign["best_model"]]["holdout"]
        mape_text = f"{mape['mape']:.3f}" if mape and mape["mape"] is not None else "-"
        print(
            f"{campaign['campaign']:<20} {campaign['theta']:>6.2f} {campaign['best_model']:>11}  "
            f"{weights:<31} {mape_text}"
        )
    names, curves = curves_from_fit(fit, "ensemble")
    current = np.array([float(series.spend.mean()) for series in dataset.campaigns])
    total = float(budget) if budget is not None else float(current.sum())
    report = optimize_allocation(curves, total, names=names, current=current)
    path = out / "allocation.png"
    plot_allocation(report, path)
    written.append(path)
    print(f"\nallocation of {total:,.2f} per period (ensemble curves):")
    for row in report["allocation"]:
        print(
            f"  {row['campaign']:<20} spend {row['spend']:>12,.2f}  share {row['share']:>6.1%}  "
            f"change {row['change']:>+12,.2f}  mROI {row['mroi'] or 0:.3f}"
        )
    print(f"expected response {report['total_response']:,.2f}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.cli.curves", description=__doc__)
    parser.add_argument("csv", nargs="?", help="long or wide CSV file")
    parser.add_argument("--demo", action="store_true", help="fit synthetic data instead")
    parser.add_argument("--out", default="out/curves", help="folder for the PNGs")
    parser.add_argument("--budget", type=float, help="budget per period (default: current)")
    parser.add_argument("--metric", default="auto", choices=["auto", "conversions", "revenue"])
    parser.add_argument("--holdout", type=float, default=0.25, help="share of latest dates")
    parser.add_argument("--weeks", type=int, default=104, help="weeks of --demo data")
    args = parser.parse_args(argv)
    if not args.demo and not args.csv:
        parser.error("give a CSV file or --demo")
    try:
        if args.demo:
            dataset = parse_rows(demo_rows(weeks=args.weeks), args.metric)
        else:
            dataset = parse_csv(Path(args.csv).read_text(encoding="utf-8"), args.metric)
        written = run(dataset, Path(args.out), args.budget, args.holdout)
    except (EngineError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\nwrote " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
