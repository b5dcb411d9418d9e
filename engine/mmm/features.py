"""Regressors of the marketing-mix model: the baseline design and each channel's media term.

Baseline: intercept, linear trend, Fourier terms of the calendar (yearly for daily, weekly
and two-year monthly data; weekly too for daily data) and standardized controls.

Media: spend is divided by the channel's mean spend, carried over by geometric adstock
(decay theta, optionally cut after `max_lag` periods) and divided by the adstock weights'
sum, so that a steady spend x gives the level x / mean; then saturated (Hill
a^n / (k^n + a^n) or negative-exponential 1 - exp(-a / k)). Each channel's non-linear
hyperparameters take values on a grid of `options`; the sampler weighs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.signal import lfilter

from engine.errors import EngineError

SATURATIONS = ("hill", "negexp")
THETAS = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
HILL_K = np.array([0.3, 0.5, 0.8, 1.25, 2.0, 3.2])
HILL_N = np.array([1.0, 1.6, 2.4])
NEGEXP_K = np.array([0.2, 0.35, 0.6, 1.0, 1.7, 3.0, 5.0])
FOURIER_ORDERS = {"daily": {"yearly": 3, "weekly": 2}, "weekly": {"yearly": 2}, "monthly": {}}
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class OptionGrid:
    """Hyperparameter values of one channel's options: theta, k, n (n is 1 for negexp)."""

    saturation: str
    theta: np.ndarray
    k: np.ndarray
    n: np.ndarray

    @property
    def size(self) -> int:
        return self.theta.size

    @property
    def dimensions(self) -> int:
        """How many hyperparameters vary on the grid (counted as parameters)."""
        return 3 if self.saturation == "hill" else 2


def option_grid(saturation: str) -> OptionGrid:
    """Every combination of the family's grid values."""
    if saturation not in SATURATIONS:
        raise EngineError(f"saturation {saturation!r} is unknown (known: {', '.join(SATURATIONS)})")
    if saturation == "hill":
        theta, k, n = np.meshgrid(THETAS, HILL_K, HILL_N, indexing="ij")
    else:
        theta, k = np.meshgrid(THETAS, NEGEXP_K, indexing="ij")
        n = np.ones_like(theta)
    return OptionGrid(saturation, theta.ravel(), k.ravel(), n.ravel())


def adstock(levels: np.ndarray, theta: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Normalized geometric adstock of levels (T,) for each theta: shape (len(theta), T).

    The weights theta^l (l <= max_lag when given) are divided by their sum, so a steady
    level stays the same level.
    """
    levels = np.asarray(levels, dtype=float)
    out = np.empty((theta.size, levels.size))
    for row, decay in enumerate(theta):
        if max_lag is None:
            out[row] = lfilter([1.0 - decay], [1.0, -decay], levels)
        else:
            weights = decay ** np.arange(max_lag + 1)
            out[row] = lfilter(weights / weights.sum(), [1.0], levels)
    return out


def saturate(
    level: np.ndarray, k: np.ndarray, n: np.ndarray, saturation: str
) -> tuple[np.ndarray, np.ndarray]:
    """Saturated level and its elasticity term level * d saturation / d level."""
    level = np.maximum(np.asarray(level, dtype=float), 0.0)
    if saturation == "hill":
        with np.errstate(divide="ignore", over="ignore"):
            value = 1.0 / (1.0 + (k / level) ** n)
        value = np.nan_to_num(value, nan=0.0)
        return value, n * value * (1.0 - value)
    ratio = level / k
    return -np.expm1(-ratio), ratio * np.exp(-ratio)


def media_terms(
    spend: np.ndarray,
    scale: np.ndarray,
    grid: OptionGrid,
    options: np.ndarray | None = None,
    max_lag: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Saturated adstock and elasticity terms, shape (C, G, T), for spend (T, C).

    `options` (C, G') picks a subset of each channel's grid (all options when None).
    """
    periods, channels = spend.shape
    picks = np.tile(np.arange(grid.size), (channels, 1)) if options is None else options
    values = np.empty((channels, picks.shape[1], periods))
    slopes = np.empty_like(values)
    thetas, inverse = np.unique(grid.theta, return_inverse=True)
    for c in range(channels):
        stocks = adstock(spend[:, c] / scale[c], thetas, max_lag)
        level = stocks[inverse[picks[c]]]
        values[c], slopes[c] = saturate(
            level, grid.k[picks[c]][:, None], grid.n[picks[c]][:, None], grid.saturation
        )
    return values, slopes


def steady_response(
    spend: np.ndarray, scale: float, k: np.ndarray, n: np.ndarray, saturation: str
) -> np.ndarray:
    """Saturation at a steady spend per period: shape (len(k), len(spend))."""
    level = np.asarray(spend, dtype=float)[None, :] / scale
    return saturate(level, np.asarray(k)[:, None], np.asarray(n)[:, None], saturation)[0]


def seasonal_terms(dates: tuple[date, ...], frequency: str) -> tuple[np.ndarray, list[str]]:
    """Fourier columns of the calendar (T, F) and their names."""
    days = np.array([day.toordinal() for day in dates], dtype=float)
    span = days[-1] - days[0]
    orders = dict(FOURIER_ORDERS[frequency])
    if frequency == "monthly" and span >= 2 * DAYS_PER_YEAR - 40:
        orders["yearly"] = 1
    if span < DAYS_PER_YEAR - 14:
        orders.pop("yearly", None)
    periods = {"yearly": DAYS_PER_YEAR, "weekly": 7.0}
    columns, names = [], []
    for cycle, order in orders.items():
        for harmonic in range(1, order + 1):
            angle = 2 * np.pi * harmonic * days / periods[cycle]
            columns += [np.sin(angle), np.cos(angle)]
            names += [f"{cycle}_sin{harmonic}", f"{cycle}_cos{harmonic}"]
    return (np.column_stack(columns) if columns else np.empty((days.size, 0))), names


@dataclass(frozen=True)
class BaseDesign:
    """Baseline columns (T, Q), their names and which block each belongs to."""

    matrix: np.ndarray
    names: list[str]
    blocks: list[str]


def base_design(
    dates: tuple[date, ...],
    frequency: str,
    controls: np.ndarray,
    control_names: tuple[str, ...],
    fit_rows: int,
) -> BaseDesign:
    """Intercept, trend (0 to 1 over the fitted rows), seasonality and standardized controls.

    Controls are standardized with the fitted rows' mean and spread; a control that does
    not vary there cannot be told from the intercept and raises EngineError.
    """
    periods = len(dates)
    trend = np.arange(periods) / max(fit_rows - 1, 1)
    seasonal, seasonal_names = seasonal_terms(dates, frequency)
    columns = [np.ones(periods), trend, *seasonal.T]
    names = ["intercept", "trend", *seasonal_names]
    blocks = ["baseline", "trend", *["seasonality"] * len(seasonal_names)]
    for index, name in enumerate(control_names):
        values = controls[:, index]
        spread = values[:fit_rows].std()
        if spread <= 1e-12 * max(1.0, abs(values[:fit_rows].mean())):
            raise EngineError(f"column {name!r}: the control does not vary, so it cannot be fitted")
        columns.append((values - values[:fit_rows].mean()) / spread)
        names.append(name)
        blocks.append("controls")
    return BaseDesign(np.column_stack(columns), names, blocks)
