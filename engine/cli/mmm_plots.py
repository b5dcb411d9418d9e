"""PNG charts of a fitted marketing-mix model (matplotlib, no display needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _dates(values: list[str]) -> list[date]:
    return [date.fromisoformat(value) for value in values]


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_fit(decomposition: dict, kpi: str, path: Path) -> Path:
    """Actual against fitted KPI, the holdout periods shaded."""
    days = _dates(decomposition["dates"])
    figure, axis = plt.subplots(figsize=(10, 4.5))
    axis.plot(days, decomposition["actual"], color="0.3", linewidth=1.2, label="actual")
    axis.plot(days, decomposition["fitted"], color="tab:blue", linewidth=1.6, label="fitted")
    if decomposition["holdout_from"]:
        start = date.fromisoformat(decomposition["holdout_from"])
        axis.axvspan(start, days[-1], color="tab:orange", alpha=0.15, label="holdout")
    axis.set_title(f"{kpi}: fit against actual")
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(figure, path)


def plot_decomposition(decomposition: dict, kpi: str, path: Path) -> Path:
    """Stacked areas: baseline with trend, seasonality with controls, then each channel."""
    days = _dates(decomposition["dates"])
    layers = {
        "baseline + trend": np.add(decomposition["baseline"], decomposition["trend"]),
        "seasonality + controls": np.add(decomposition["seasonality"], decomposition["controls"]),
        **{name: np.asarray(values) for name, values in decomposition["channels"].items()},
    }
    figure, axis = plt.subplots(figsize=(10, 5))
    axis.stackplot(days, *layers.values(), labels=list(layers), alpha=0.85)
    axis.plot(days, decomposition["actual"], color="black", linewidth=1.0, label="actual")
    axis.set_title(f"{kpi}: decomposition over time (posterior mean)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", ncol=2)
    return _save(figure, path)


def plot_roi(summary: dict, path: Path) -> Path:
    """ROI per channel with its 90% interval, and the marginal ROI beside it."""
    rows = summary["channels"]
    names = [row["channel"] for row in rows]
    positions = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4.5))
    for offset, key, color in ((-0.15, "roi", "tab:blue"), (0.15, "mroi", "tab:green")):
        mean = np.array([row[key]["mean"] for row in rows])
        low = np.array([row[key]["low"] for row in rows])
        high = np.array([row[key]["high"] for row in rows])
        axis.errorbar(
            positions + offset,
            mean,
            yerr=[mean - low, high - mean],
            fmt="o",
            color=color,
            capsize=4,
            label=f"{key.upper() if key == 'roi' else 'marginal ROI'} (90% interval)",
        )
    axis.axhline(1.0, color="0.5", linewidth=0.8, linestyle="--")
    axis.set_xticks(positions, names, rotation=30, ha="right")
    axis.set_title("Return on spend per channel")
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    return _save(figure, path)


def plot_curves(curves: dict, path: Path) -> Path:
    """Each channel's steady-state response curve with its 90% band and current spend."""
    rows = curves["channels"]
    columns = min(3, len(rows))
    lines = -(-len(rows) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines), squeeze=False)
    for axis, row in zip(axes.ravel(), rows, strict=False):
        axis.fill_between(row["spend"], row["low"], row["high"], color="tab:blue", alpha=0.2)
        axis.plot(row["spend"], row["mean"], color="tab:blue")
        axis.axvline(row["current_spend"], color="tab:red", linewidth=0.9, linestyle="--")
        axis.set_title(row["channel"], fontsize=10)
        axis.grid(alpha=0.3)
    for axis in axes.ravel()[len(rows) :]:
        axis.set_visible(False)
    figure.suptitle(f"{curves['kpi']} per period against spend per period (steady state)")
    return _save(figure, path)


def write_all(summary: dict, decomposition: dict, curves: dict, out: Path) -> list[Path]:
    """All four charts into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    kpi = summary["kpi"]
    return [
        plot_fit(decomposition, kpi, out / "mmm_fit.png"),
        plot_decomposition(decomposition, kpi, out / "mmm_decomposition.png"),
        plot_roi(summary, out / "mmm_roi.png"),
        plot_curves(curves, out / "mmm_curves.png"),
    ]
