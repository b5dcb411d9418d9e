"""Per-campaign model fitting, holdout evaluation, confidence, ensemble and net-profit grids.

For each campaign (as spend_allocation does): fit every response model (negexp, mm, hill,
local slope) on the adstocked spend (theta fitted per campaign, as in the marketing budget
allocation study), score each on a time holdout,
turn three confidence components into ensemble weights, and build the ensemble response
and marginal grids over the spend range being optimized.

Confidence components, each in [0, 1]:
- fit: the Akaike weight of the model's in-sample fit, exp(-AIC/2) normalized over the
  models, so a better fit counts and an extra parameter must earn its keep;
- forecast: 1 / (1 + holdout RMSE / mean holdout response), on the latest dates;
- support: the share of the optimized spend range the model can speak for: all of it for
  a parametric curve, whose form carries it past the data, and only the part the observed
  spend covers for the local-slope curve, which is flat past the data by assumption.
Weights are proportional to the product of the components (equal if all are zero).

The grids are per-period spend at steady state: spending x every period builds a stock
of x / (1 - theta), so the curves are evaluated at that stock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.adstock import steady_state_scale
from engine.datasets import CampaignSeries, Dataset
from engine.errors import EngineError
from engine.fitting import (
    PARAMETERS,
    adstock_series,
    error_metrics,
    fit_family,
    fit_theta,
    holdout_split,
    make_curves,
)
from engine.grid_curves import GridCurves, MarginalGridCurves
from engine.local_slope import fit_local_slope
from engine.response import ResponseCurves, SpendScaledCurves

MODELS = ("negexp", "mm", "hill", "local_slope")
GRID_POINTS = 201
MIN_ADSTOCK_POINTS = 6
MAX_SPEND_SPAN_INVERSE = 1e-9


@dataclass(frozen=True)
class FittedModel:
    """One fitted model of one campaign, on the adstock scale."""

    family: str
    params: dict
    parameters: int

    def curves(self) -> ResponseCurves:
        """Single-campaign curves (the concave envelope for Hill)."""
        if self.family == "local_slope":
            return GridCurves(np.array([self.params["spend"]]), np.array([self.params["response"]]))
        return make_curves(self.family, self.params)

    def predict(self, stock: np.ndarray) -> np.ndarray:
        return self.curves().true_response(np.asarray(stock, dtype=float)[:, None])[:, 0]


def _fit_model(family: str, stock: np.ndarray, response: np.ndarray) -> FittedModel:
    if family == "local_slope":
        knots, levels = fit_local_slope(stock, response)
        params = {"spend": knots.tolist(), "response": levels.tolist()}
        return FittedModel(family, params, parameters=max(knots.size - 1, 1))
    fitted = fit_family(family, stock, response)
    return FittedModel(family, fitted.params, parameters=len(PARAMETERS[family]))


def _aic(actual: np.ndarray, predicted: np.ndarray, parameters: int) -> float:
    """Akaike information criterion of a least-squares fit (Gaussian errors)."""
    points = actual.size
    mse = float(np.mean((np.asarray(actual) - predicted) ** 2))
    scale = max(float(np.mean(np.asarray(actual) ** 2)), 1e-300)
    return points * np.log(max(mse, 1e-12 * scale)) + 2.0 * parameters


def _holdout(
    family: str,
    spend: np.ndarray,
    stock: np.ndarray,
    response: np.ndarray,
    share: float,
    parameters: int,
) -> dict | None:
    """Refit on all but the latest dates and score the forecast of those (None if too few)."""
    train = holdout_split(spend.size, share, parameters)
    if train == spend.size or np.unique(spend[:train][spend[:train] > 0]).size < 2:
        return None
    trial = _fit_model(family, stock[:train], response[:train])
    scores = error_metrics(response[train:], trial.predict(stock[train:]))
    level = float(np.mean(np.abs(response[train:]))) or float(np.mean(np.abs(response)))
    return {
        **scores,
        "points": int(spend.size - train),
        "forecast": 1.0 / (1.0 + scores["rmse"] / (level or 1.0)),
    }


def _ensemble_grids(
    curves: Sequence[ResponseCurves], weights: np.ndarray, top: float, value: float | None
) -> dict[str, list[float]]:
    """Weighted response and marginal of the models on a spend grid, net profit if valued."""
    grid = np.linspace(0.0, top, GRID_POINTS)
    response = sum(
        w * c.response(grid[:, None])[:, 0] for w, c in zip(weights, curves, strict=True)
    )
    marginal = sum(
        w * c.marginal(grid[:, None])[:, 0] for w, c in zip(weights, curves, strict=True)
    )
    if not np.isfinite(marginal[0]):
        # Hill with n < 1 starts with an infinite marginal: use the first chord's slope.
        marginal[0] = max((response[1] - response[0]) / (grid[1] - grid[0]), marginal[1])
    grids = {"spend": grid.tolist(), "response": response.tolist(), "marginal": marginal.tolist()}
    if value is not None:
        grids["net_profit"] = (value * response - grid).tolist()
        grids["marginal_net_profit"] = (value * marginal - 1.0).tolist()
    return grids


def _validate(series: CampaignSeries, models: Sequence[str]) -> None:
    richest = max(len(PARAMETERS.get(model, ())) for model in models) if models else 0
    needed = max(richest, 2) + 1
    if series.spend.size < needed:
        raise EngineError(
            f"campaign {series.name!r}: {series.spend.size} observations, fewer than the "
            f"{needed} needed to fit {richest or 2} parameters and judge the fit"
        )
    if not np.any(series.spend > 0):
        raise EngineError(f"campaign {series.name!r}: all spends are zero, nothing to fit")
    positive = np.unique(series.spend[series.spend > 0])
    if positive[0] < MAX_SPEND_SPAN_INVERSE * positive[-1]:
        raise EngineError(
            f"campaign {series.name!r}: positive spends range from {positive[0]:g} to "
            f"{positive[-1]:g}, more than nine orders of magnitude: inconsistent units?"
        )
    if positive.size < 2:
        raise EngineError(
            f"campaign {series.name!r}: spend never varies, so no response curve can be told"
        )


def fit_campaign(
    series: CampaignSeries,
    models: Sequence[str] = MODELS,
    *,
    holdout_share: float = 0.25,
    adstock: bool = True,
    spend_range: float | None = None,
    value_per_response: float | None = None,
) -> dict:
    """Every model of one campaign with diagnostics, confidence, weights and grids (JSON-able)."""
    unknown = [model for model in models if model not in MODELS]
    if unknown or not models:
        raise EngineError(f"unknown models {unknown} (known: {', '.join(MODELS)})")
    repeated = sorted({model for model in models if list(models).count(model) > 1})
    if repeated:
        # Results, confidence and weights are keyed by model: each may be named once only.
        raise EngineError(f"models name {', '.join(repeated)} more than once")
    _validate(series, models)
    spend, response = series.spend, series.response
    theta = 0.0
    if adstock and spend.size >= MIN_ADSTOCK_POINTS:
        theta = fit_theta(spend, response)
    stock = adstock_series(spend, theta)
    scale = float(steady_state_scale(theta))
    top = float(spend_range) if spend_range is not None else 2.0 * float(spend.max())
    if not np.isfinite(top) or top <= 0:
        raise EngineError(f"campaign {series.name!r}: spend range must be a number > 0")
    stock_range = top * scale
    coverage = float(np.clip(float(stock.max()) / stock_range, 0.0, 1.0))
    results, fitted, criteria, components = {}, {}, {}, {}
    for family in models:
        model = _fit_model(family, stock, response)
        fitted[family] = model
        predicted = model.predict(stock)
        criteria[family] = _aic(response, predicted, model.parameters)
        holdout = _holdout(family, spend, stock, response, holdout_share, model.parameters)
        components[family] = {
            "fit": 0.0,
            "forecast": None if holdout is None else holdout.pop("forecast"),
            "support": coverage if family == "local_slope" else 1.0,
        }
        train = error_metrics(response, predicted)
        results[family] = {"params": model.params, "train": train, "holdout": holdout}
    aic = np.array([criteria[family] for family in models])
    akaike = np.exp(-0.5 * (aic - aic.min()))
    for family, weight in zip(models, akaike / akaike.sum(), strict=True):
        components[family]["fit"] = float(weight)
    products = np.array(
        [np.prod([c for c in parts.values() if c is not None]) for parts in components.values()]
    )
    if products.sum() > 0:
        weights = products / products.sum()
    else:
        weights = np.full(len(models), 1.0 / len(models))
    for family, weight in zip(models, weights, strict=True):
        results[family]["confidence"] = components[family]
        results[family]["weight"] = float(weight)
    curves = [SpendScaledCurves(fitted[family].curves(), scale) for family in models]
    ensemble = _ensemble_grids(curves, weights, top, value_per_response)
    return {
        "campaign": series.name,
        "observations": int(spend.size),
        "theta": theta,
        "max_spend": float(spend.max()),
        "spend_range": top,
        "models": results,
        "best_model": models[int(np.argmax(weights))],
        "ensemble": ensemble,
        "value_per_response": value_per_response,
    }


def downstream_value(figures: Mapping[str, float] | None, name: str) -> float | None:
    """Value of one unit of response: downstream conversion rate x value per transaction."""
    if figures is None:
        return None
    try:
        rate = float(figures.get("conversion_rate", 1.0))
        value = float(figures["value_per_transaction"])
    except (KeyError, TypeError, ValueError):
        raise EngineError(
            f"campaign {name!r}: downstream figures need value_per_transaction "
            "(and optionally conversion_rate) as numbers"
        ) from None
    if not (np.isfinite(rate) and np.isfinite(value)) or rate < 0 or value < 0:
        raise EngineError(f"campaign {name!r}: downstream figures must be finite numbers >= 0")
    return rate * value


def fit_dataset(
    dataset: Dataset,
    models: Sequence[str] = MODELS,
    *,
    holdout_share: float = 0.25,
    adstock: bool = True,
    spend_ranges: Mapping[str, float] | None = None,
    downstream: Mapping[str, Mapping[str, float]] | None = None,
) -> dict:
    """fit_campaign for every campaign of a dataset."""
    spend_ranges = spend_ranges or {}
    downstream = downstream or {}
    unknown = sorted(set(spend_ranges) - set(dataset.names)) + sorted(
        set(downstream) - set(dataset.names)
    )
    if unknown:
        raise EngineError(f"campaign {unknown[0]!r} is not in the data")
    campaigns = [
        fit_campaign(
            series,
            models,
            holdout_share=holdout_share,
            adstock=adstock,
            spend_range=spend_ranges.get(series.name),
            value_per_response=downstream_value(downstream.get(series.name), series.name),
        )
        for series in dataset.campaigns
    ]
    return {
        "metric": dataset.metric,
        "layout": dataset.layout,
        "models": list(models),
        "campaigns": campaigns,
    }


def curves_from_fit(
    fit: Mapping, model: str = "ensemble", *, steady_state: bool = True
) -> tuple[list[str], ResponseCurves]:
    """Campaign names and curves of one model of a stored fit.

    steady_state=True gives per-period curves (the same spend every period, for a single
    allocation); False gives the curves of the adstocked stock itself, for multi-period
    plans that carry the stock over with each campaign's theta.
    """
    campaigns = fit["campaigns"]
    names = [campaign["campaign"] for campaign in campaigns]
    scales = steady_state_scale(np.array([campaign["theta"] for campaign in campaigns]))
    if model == "ensemble":
        spend, marginal = pad_grids(
            [campaign["ensemble"]["spend"] for campaign in campaigns],
            [campaign["ensemble"]["marginal"] for campaign in campaigns],
        )
        if steady_state:
            return names, MarginalGridCurves(spend, marginal, names)
        return names, MarginalGridCurves(spend * scales[:, None], marginal / scales[:, None], names)
    if model == "local_slope":
        if any("local_slope" not in campaign["models"] for campaign in campaigns):
            raise EngineError("the fit has no local_slope model")
        grids = [campaign["models"]["local_slope"]["params"] for campaign in campaigns]
        spend, response = pad_grids([g["spend"] for g in grids], [g["response"] for g in grids])
        curves = GridCurves(spend, response, names)
    elif model in PARAMETERS:
        if any(model not in campaign["models"] for campaign in campaigns):
            raise EngineError(f"the fit has no {model} model")
        params = {
            name: np.array([campaign["models"][model]["params"][name] for campaign in campaigns])
            for name in PARAMETERS[model]
        }
        curves = make_curves(model, params)
    else:
        raise EngineError(f"unknown model {model!r} (known: ensemble, {', '.join(MODELS)})")
    return names, SpendScaledCurves(curves, scales) if steady_state else curves


def pad_grids(
    spends: Sequence[Sequence[float]], responses: Sequence[Sequence[float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Ragged grids as (K, G) arrays, short ones padded by repeating their last point."""
    length = max(len(spend) for spend in spends)
    if any(len(s) != len(r) for s, r in zip(spends, responses, strict=True)):
        raise EngineError("spend and response grids must have the same length")
    if any(len(spend) < 2 for spend in spends):
        raise EngineError("a grid needs two points or more")

    def padded(values: Sequence[float]) -> list[float]:
        return list(values) + [values[-1]] * (length - len(values))

    return (
        np.array([padded(spend) for spend in spends], dtype=float),
        np.array([padded(response) for response in responses], dtype=float),
    )
