"""Budgets from a fitted marketing-mix model: allocate and plan on its posterior.

Each posterior draw gives every channel a steady-state response curve in the allocator's
families (Hill: vmax, k, n; negexp: alpha, mu) in KPI per period at a spend per period.
The allocation maximizes the POSTERIOR MEAN KPI (the mean of the draws' curves, concave
as each is, solved exactly by engine.draws) rather than the curve of one point estimate,
and reports the expected KPI with its 90% interval over the draws at that allocation.

Plans carry adstock over between periods as the allocator's plans do (stock_t = spend_t +
theta * stock_(t-1); cut after the model's `max_lag` periods when it has one). The model's
adstock is normalized (a steady spend x reaches the level x), so a draw's curve of the
plan's stock is f((1 - theta) * stock) (f(stock / sum(theta^l, l <= max_lag))); plans take each
channel's posterior-mean theta for the carry-over and average the draws' curves at it. A
plan solves many allocations (one per period, or a share vector, or a joint flighting
problem), each on the mean of the draws' curves, so it decides on PLAN_DRAWS draws evenly
spaced through the posterior; the plan chosen is then scored on all of them (its
responses, `total_response` and `expected_kpi`). Deciding on 25 draws rather than all
1,000 cost the plans at most about 1% of the all-draw expected KPI where measured
(docs/mmm_accuracy.md), and took seconds rather than minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.adstock import geometric_adstock, steady_state_scale
from engine.draws import DrawMeanCurves, allocate_on_draws
from engine.mmm.answers import interval
from engine.mmm.model import MarketingMixModel
from engine.planning import plan_summary
from engine.scenario_report import allocation_report
from engine.scenarios import optimize_allocation

PLAN_DRAWS = 25
PLANS = ("sequential", "static", "flighting")


def curve_draws(
    model: MarketingMixModel, theta: np.ndarray | None = None
) -> tuple[str, dict[str, np.ndarray]]:
    """The family and each parameter's draws (S, C) of the channels' curves.

    Without `theta`: steady-state curves, KPI per period at a spend repeated every period.
    With `theta` (C,): curves of the un-normalized adstock stock that decays by theta (for
    `max_lag` periods when the model has one: a steady spend x then builds the stock
    x * sum(theta^l, l <= max_lag), which the model's normalized adstock maps to x).
    """
    q = model.base.matrix.shape[1]
    channels = len(model.data.channels)
    height = model.coefficients[:, q : q + channels] * model.y_scale
    k = model.grid.k[model.options] * model.spend_scale[None, :]
    if theta is not None:
        k = k * steady_state_scale(np.asarray(theta, dtype=float), model.max_lag)[None, :]
    if model.saturation == "hill":
        return "hill", {"vmax": height, "k": k, "n": model.grid.n[model.options]}
    return "negexp", {"alpha": height, "mu": 1.0 / k}


def mean_theta(model: MarketingMixModel) -> np.ndarray:
    """Each channel's posterior-mean adstock decay (C,)."""
    return model.grid.theta[model.options].mean(axis=0)


def posterior_curves(
    model: MarketingMixModel, theta: np.ndarray | None = None, draws: int | None = None
) -> DrawMeanCurves:
    """The posterior-mean curves of the channels (see `curve_draws`), averaged over `draws`
    draws evenly spaced through the posterior (all of them when None)."""
    family, params = curve_draws(model, theta)
    if draws is not None and draws < model.draws:
        picks = np.linspace(0, model.draws - 1, draws).round().astype(int)
        params = {name: values[picks] for name, values in params.items()}
    return DrawMeanCurves(family, params)


def allocate_on_model(
    model: MarketingMixModel,
    budget: float,
    scenario: str = "fixed_budget",
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    current: np.ndarray | None = None,
    values: np.ndarray | None = None,
    groups: Sequence[Mapping] | None = None,
    objective: str = "response",
    **targets: float | None,
) -> dict:
    """The allocation of `budget` over the model's channels that maximizes the posterior
    mean KPI (fixed_budget, with bounds and groups, by engine.draws; the other scenarios of
    engine.scenarios on the same mean curves, `targets` its capacity and targets), reported
    as engine.scenarios reports it plus `expected_kpi` {"mean", "low", "high"} (the
    values-weighted KPI's posterior mean and 90% interval over the draws)."""
    names = list(model.data.channels)
    family, params = curve_draws(model)
    curves = DrawMeanCurves(family, params)
    if scenario == "fixed_budget" and targets.get("capacity") is None:
        solved = allocate_on_draws(family, params, budget, lower, upper, groups, values, names)
        report = allocation_report(
            curves,
            solved["spend"],
            names=names,
            values=values,
            current=current,
            objective=objective,
            multiplier=solved["multiplier"],
        )
        if solved["groups"] is not None:
            report["groups"] = solved["groups"]
        report["expected_kpi"] = solved["kpi"]
        return report
    report = optimize_allocation(
        curves,
        budget,
        scenario,
        objective=objective,
        values=values,
        lower=lower,
        upper=upper,
        current=current,
        groups=groups,
        names=names,
        **targets,
    )
    spend = np.array([row["spend"] for row in report["allocation"]])
    worth = np.ones(len(names)) if values is None else np.asarray(values, dtype=float)
    totals = (worth * curves.per_draw("true_response", spend)).sum(axis=1)
    report["expected_kpi"] = interval(totals)
    return report


def score_plans(
    model: MarketingMixModel,
    result: dict,
    theta: np.ndarray,
    initial_stock: np.ndarray | None = None,
) -> dict:
    """`result` (engine.planning / engine.flighting plans decided on PLAN_DRAWS draws) with
    every plan's responses and totals scored on ALL posterior draws, so its
    `total_response` is the all-draw expected KPI of the plan chosen, plus `expected_kpi`:
    each plan's total with its 90% interval over the draws (None for a plan not made)."""
    curves = posterior_curves(model, theta)
    names = list(model.data.channels)
    expected = {}
    for key in PLANS:
        plan = result.get(key)
        if plan is None:
            expected[key] = None
            continue
        spend = np.array(
            [[row["spend"] for row in period["allocation"]] for period in plan["periods"]]
        )
        budgets = np.array([period["budget"] for period in plan["periods"]])
        stock = geometric_adstock(spend, theta, initial=initial_stock, max_lag=model.max_lag)
        result[key] = {**plan, **plan_summary(names, budgets, spend, stock, curves)}
        result["total_response"][key] = result[key]["total_response"]
        expected[key] = interval(curves.per_draw("true_response", stock).sum(axis=(0, 2)))
    return {**result, "expected_kpi": expected}
