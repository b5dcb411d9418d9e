"""Budget scenarios on top of the exact allocator, and the per-campaign report.

Every scenario walks the same KKT path (spend where each campaign's weighted marginal
equals a common multiplier lam) and only differs in how it picks lam:

- fixed_budget: spend the whole budget (Robyn's max_response, Meridian's fixed budget).
- flexible_budget: the budget is a ceiling; spend while the marginal return stays above a
  target marginal ROI (for net profit, by default while an extra unit still pays for
  itself: marginal ROI 1), as in Meridian's flexible budget.
- target_efficiency: the most response whose overall ROAS stays >= target_roas, or whose
  CPA stays <= target_cpa (Robyn's target_efficiency); the budget is a ceiling.
- target_kpi: the least spend whose best allocation reaches a target KPI (the total value,
  which is the total response when no values are given); the budget is a ceiling
  (engine.target).

Group constraints (engine.groups: the total of disjoint groups of campaigns within absolute
bounds or shares of the spend) apply to fixed_budget and target_kpi.

Objectives: "response" maximizes sum(value_i * f_i(x_i)) (value defaults to 1), and
"net_profit" maximizes sum(value_i * f_i(x_i)) - sum(x_i), with value_i the worth of one
unit of response (downstream conversion rate x value per transaction).

An operating capacity caps total response sum(f_i(x_i)); it turns the budget into a
ceiling, because conversions beyond capacity cannot be served. For net profit the cap is
solved exactly with a second multiplier; for the response objective Oktopus takes the
least spend on the optimal path that reaches the capacity (exact when values are equal).

The ceiling scenarios' solvers live in engine.budget_ceilings, the capacity in
engine.capacity and the report in engine.scenario_report; this module picks the scenario.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.allocator import resolve_bounds, resolve_weights, solve_budget
from engine.budget_ceilings import RATIO_ITERATIONS, ceiling_solution, target_efficiency_solution
from engine.capacity import (
    CAPACITY_BISECTIONS,
    SETTLE_ROUNDS,
    cap_net_profit,
    cap_on_path,
    settle_capped_stretches,
)
from engine.errors import EngineError
from engine.groups import group_report, grouped_multiplier, resolve_groups, solve_grouped
from engine.response import ResponseCurves
from engine.scenario_report import allocation_report
from engine.target import least_spend

__all__ = [
    "CAPACITY_BISECTIONS",
    "GROUPED_SCENARIOS",
    "OBJECTIVES",
    "RATIO_ITERATIONS",
    "SCENARIOS",
    "SETTLE_ROUNDS",
    "allocation_report",
    "optimize_allocation",
]

SCENARIOS = ("fixed_budget", "flexible_budget", "target_efficiency", "target_kpi")
GROUPED_SCENARIOS = ("fixed_budget", "target_kpi")
OBJECTIVES = ("response", "net_profit")


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise EngineError(f"{name} must be a finite number > 0")
    return value


def optimize_allocation(
    curves: ResponseCurves,
    budget: float,
    scenario: str = "fixed_budget",
    *,
    objective: str = "response",
    values: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    current: np.ndarray | None = None,
    capacity: float | None = None,
    target_mroi: float | None = None,
    target_roas: float | None = None,
    target_cpa: float | None = None,
    target: float | None = None,
    groups: Sequence[Mapping] | None = None,
    names: Sequence[str] | None = None,
) -> dict:
    """Solve one scenario and report spend, share, response, ROI and marginal ROI per campaign.

    `groups` (fixed_budget and target_kpi only) are `{"name", "campaigns": [names], "min"?,
    "max"?, "min_share"?, "max_share"?}`; the report then has a row per group.

    ROI is value / spend and marginal ROI the value of the next unit of spend, both at the
    optimum; `change` is spend minus `current` when a current allocation is given (NaN
    entries of `current` mark campaigns whose current spend is unknown).
    """
    if scenario not in SCENARIOS:
        raise EngineError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if objective not in OBJECTIVES:
        raise EngineError(f"unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    size = curves.size
    names = list(names) if names is not None else [f"campaign_{i}" for i in range(size)]
    if len(names) != size:
        raise EngineError("one name per campaign is needed")
    budget = float(budget)
    if not np.isfinite(budget) or budget < 0:
        raise EngineError("budget must be a finite number >= 0")
    low, high = resolve_bounds(size, lower, upper)
    if float(low.sum()) > budget * (1 + 1e-12):
        raise EngineError(f"minimum spends add up to {low.sum():g}, above the budget {budget:g}")
    high = np.maximum(np.minimum(high, budget - float(low.sum()) + low), low)
    worth = resolve_weights(size, values)
    capacity = _positive("capacity", capacity)
    target_mroi = _positive("target_mroi", target_mroi)
    target_roas = _positive("target_roas", target_roas)
    target_cpa = _positive("target_cpa", target_cpa)
    floor_multiplier = target_mroi if target_mroi is not None else 1.0
    target = _positive("target", target)
    grouping = resolve_groups(groups, names)
    if grouping is not None and scenario not in GROUPED_SCENARIOS:
        raise EngineError(f"groups apply to the scenarios {', '.join(GROUPED_SCENARIOS)}")
    if capacity is not None and (grouping is not None or scenario == "target_kpi"):
        raise EngineError("capacity does not combine with groups or the target_kpi scenario")

    path_worth = worth
    multipliers = None
    if scenario == "fixed_budget" and grouping is not None:
        spend, multipliers = solve_grouped(curves, budget, low, high, worth, grouping)
        multiplier = grouped_multiplier(grouping, multipliers)
    elif scenario == "fixed_budget":
        solution = solve_budget(curves, budget, low, high, worth)
        spend, multiplier = solution.spend, solution.multiplier
    elif scenario == "target_kpi":
        if target is None:
            raise EngineError("target_kpi needs target (the KPI to reach)")
        spend, multiplier = least_spend(curves, target, budget, low, high, worth, grouping)
    elif scenario == "flexible_budget":
        if target_mroi is None and objective != "net_profit":
            raise EngineError("flexible_budget needs target_mroi (or the net_profit objective)")
        spend, multiplier = ceiling_solution(curves, floor_multiplier, budget, low, high, worth)
    else:
        if (target_roas is None) == (target_cpa is None):
            raise EngineError("target_efficiency needs exactly one of target_roas and target_cpa")
        if target_roas is not None:
            spend, multiplier = target_efficiency_solution(
                curves, target_roas, budget, low, high, worth, "ROAS"
            )
        else:
            # A cost per acquisition counts every response alike, whatever it is worth: the
            # path ignores the values, which the report still uses.
            path_worth = np.ones(size)
            spend, multiplier = target_efficiency_solution(
                curves,
                1.0 / target_cpa,
                budget,
                low,
                high,
                path_worth,
                "CPA",
            )

    capacity_binding = False
    if capacity is not None and float(curves.response(spend).sum()) > capacity * (1 + 1e-12):
        if float(curves.response(low).sum()) > capacity:
            raise EngineError(f"minimum spends alone exceed the capacity {capacity:g}")
        capacity_binding = True
        if objective == "net_profit" and scenario != "target_efficiency":
            floor = floor_multiplier if scenario == "flexible_budget" else 1.0
            spend, multiplier = cap_net_profit(curves, capacity, floor, budget, low, high, worth)
        else:
            spend, multiplier = cap_on_path(curves, capacity, multiplier, low, high, path_worth)
            spend, multiplier = settle_capped_stretches(
                curves, capacity, budget, (spend, multiplier), low, high, path_worth
            )
    report = allocation_report(
        curves,
        spend,
        names=names,
        values=worth,
        current=current,
        scenario=scenario,
        objective=objective,
        # The path's multiplier is the marginal ROI of every free campaign, unless it ignored
        # the values (a CPA target): then each campaign's own `mroi` says it.
        multiplier=multiplier if np.array_equal(path_worth, worth) else None,
        capacity_binding=capacity_binding,
    )
    if grouping is not None:
        if multipliers is None:  # target_kpi: each group's marginal value at the answer
            _, multipliers = solve_grouped(curves, float(spend.sum()), low, high, worth, grouping)
        report["groups"] = group_report(grouping, spend, low, high, multipliers)
    return report
