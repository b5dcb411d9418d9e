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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from engine.allocator import (
    fill_stretches_in_turn,
    inside_stretches,
    kkt_path,
    resolve_bounds,
    resolve_weights,
    section_count,
    solve_budget,
    solve_monotone_multiplier,
    stretch_ends,
)
from engine.errors import EngineError
from engine.groups import group_report, grouped_multiplier, resolve_groups, solve_grouped
from engine.response import ResponseCurves
from engine.target import least_spend

SCENARIOS = ("fixed_budget", "flexible_budget", "target_efficiency", "target_kpi")
GROUPED_SCENARIOS = ("fixed_budget", "target_kpi")
OBJECTIVES = ("response", "net_profit")
CAPACITY_BISECTIONS = 100
RATIO_ITERATIONS = 50
# Rounds of settling S-curves' straight stretches when a capacity is met (a few in practice).
SETTLE_ROUNDS = 8


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise EngineError(f"{name} must be a finite number > 0")
    return value


def _ceiling_solution(
    curves: ResponseCurves,
    floor_multiplier: float,
    budget: float,
    low: np.ndarray,
    high: np.ndarray,
    weights: np.ndarray,
    settle: bool = True,
) -> tuple[np.ndarray, float]:
    """Spend down to the marginal floor, unless the budget runs out first (then as
    `solve_budget`, with its `settle`)."""
    spend = kkt_path(curves, low, high, weights)(floor_multiplier)
    if float(spend.sum()) <= budget:
        return spend, floor_multiplier
    solution = solve_budget(curves, budget, low, high, weights, settle=settle)
    return solution.spend, max(solution.multiplier, floor_multiplier)


def _best_ratio(
    curves: ResponseCurves,
    path: Callable[[float], np.ndarray],
    weights: np.ndarray,
    start: np.ndarray,
) -> float:
    """The best value / spend within the bounds, from a spend `start` on the KKT path.

    Dinkelbach's iteration: path(r) maximizes value - r * spend, so its ratio is at least r,
    and repeating from it climbs to the best ratio (superlinearly). When the path spends
    nothing, the best is the steepest first unit, a limit as spend goes to zero.
    """

    def ratio(spend: np.ndarray) -> float:
        return float((weights * curves.response(spend)).sum() / spend.sum())

    if float(start.sum()) <= 0:
        return float(np.max(weights * curves.marginal(start)))
    best = ratio(start)
    for _ in range(RATIO_ITERATIONS):
        spend = path(best)
        if float(spend.sum()) <= 0:
            break
        better = ratio(spend)
        if not better > best * (1 + 1e-12):
            break
        best = better
    return best


def _target_efficiency(
    curves: ResponseCurves,
    target_ratio: float,
    budget: float,
    low: np.ndarray,
    high: np.ndarray,
    weights: np.ndarray,
    metric: str,
) -> tuple[np.ndarray, float]:
    """Largest spend on the KKT path whose value / spend stays >= target_ratio.

    Along the path, value - target_ratio * spend peaks where lam == target_ratio and falls
    on both sides, so the answer is the root below that peak, capped by the budget. `metric`
    is "ROAS" (the target is the ratio) or "CPA" (spend per response, the ratio's inverse):
    an unreachable target is refused in the metric it was given in.
    """
    path = kkt_path(curves, low, high, weights)

    def surplus(lams: np.ndarray) -> np.ndarray:
        spend = path(lams)
        return (weights * curves.response(spend)).sum(axis=-1) - target_ratio * spend.sum(axis=-1)

    peak = path(target_ratio)
    best = float(surplus(np.array([target_ratio]))[0])
    if best < -1e-9 * target_ratio * float(peak.sum()) or float(peak.sum()) <= 0:
        reachable = _best_ratio(curves, path, weights, peak)
        if metric == "CPA":
            target, best_figure = 1.0 / target_ratio, 1.0 / reachable if reachable > 0 else np.inf
        else:
            target, best_figure = target_ratio, reachable
        raise EngineError(
            f"target {metric} {target:g} cannot be reached: the best {metric} this mix "
            f"achieves is {best_figure:.6g}"
        )
    _, lam_high = solve_monotone_multiplier(
        lambda lams: -surplus(lams), 0.0, 0.0, target_ratio, section_count(curves.size)
    )
    spend = path(lam_high)
    if float(spend.sum()) > budget:
        solution = solve_budget(curves, budget, low, high, weights)
        return solution.spend, solution.multiplier
    return spend, lam_high


def _cap_on_path(
    curves: ResponseCurves,
    capacity: float,
    multiplier: float,
    low: np.ndarray,
    high: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Least spend on the KKT path whose total response equals the capacity."""
    path = kkt_path(curves, low, high, weights)
    top = float(np.max(weights * curves.marginal(low))) * (1 + 1e-9) + 1e-300
    lam_low, lam_high = solve_monotone_multiplier(
        lambda lams: curves.response(path(lams)).sum(axis=-1),
        capacity,
        max(multiplier, 0.0),
        max(top, multiplier),
        section_count(curves.size),
    )
    return _fill_to_response(curves, path(lam_low), path(lam_high), capacity), lam_high


def _settle_capped_stretches(
    curves: ResponseCurves,
    capacity: float,
    budget: float,
    solution: tuple[np.ndarray, float],
    low: np.ndarray,
    high: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, float]:
    """The capacity met on S-curves' envelopes can leave a campaign partway up a straight
    stretch, where the curve itself responds less, so the capacity is not reached. Campaigns
    sharing a stretch's slope are funded in turn (engine.allocator.fill_stretches_in_turn);
    the one left partway is tried at both ends of its stretch, the capacity met again by the
    others; kept is the answer that reaches the capacity with the least spend (or, if none
    does, comes nearest), within the budget; repeated (a few rounds at most) while a stretch
    is left and a change helps."""

    def rank(spend: np.ndarray) -> tuple[bool, float]:
        reached = float(curves.true_response(spend).sum()) >= capacity * (1 - 1e-9)
        return reached, -float(spend.sum()) if reached else float(curves.true_response(spend).sum())

    best, best_rank = solution, rank(solution[0])
    low, high = low.copy(), high.copy()
    for _ in range(SETTLE_ROUNDS):
        turned = fill_stretches_in_turn(curves, best[0], low, high)
        if rank(turned) > best_rank:
            best, best_rank = (turned, best[1]), rank(turned)
        inside = inside_stretches(curves, best[0])
        if inside.size == 0:
            return best
        k = int(inside[0])
        stretch_end = min(float(stretch_ends(curves, best[0])[k]), high[k])
        improved = None
        for end in (low[k], stretch_end):
            fixed_low, fixed_high = low.copy(), high.copy()
            fixed_low[k] = fixed_high[k] = end
            if float(curves.response(fixed_high).sum()) < capacity or fixed_low.sum() > budget:
                continue
            candidate = _cap_on_path(curves, capacity, 0.0, fixed_low, fixed_high, weights)
            if float(candidate[0].sum()) > budget * (1 + 1e-12):
                continue
            if rank(candidate[0]) > best_rank:
                best, best_rank, improved = candidate, rank(candidate[0]), (fixed_low, fixed_high)
        if improved is None:
            return best
        low, high = improved
    return best


def _fill_to_response(
    curves: ResponseCurves, more: np.ndarray, less: np.ndarray, target: float
) -> np.ndarray:
    """Between two path points, add spend campaign by campaign until response hits target.

    Within the bracket each moving campaign is on a stretch where its response is linear
    in spend (a flat marginal), or the bracket is tiny; either way the split is exact.
    """
    gain = np.maximum(curves.response(more) - curves.response(less), 0.0)
    needed = target - float(curves.response(less).sum())
    taken = np.clip(needed - (np.cumsum(gain) - gain), 0.0, gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(gain > 0, taken / gain, 0.0)
    return less + share * (more - less)


def _cap_net_profit(
    curves: ResponseCurves,
    capacity: float,
    floor_multiplier: float,
    budget: float,
    low: np.ndarray,
    high: np.ndarray,
    values: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Net profit with total response <= capacity: bisection on the capacity multiplier mu.

    For a given mu the problem is the plain one with values (value_i - mu); its total
    response falls as mu grows, so bisection on mu meets the capacity exactly. An S-curve
    funds all or nothing, so where one drops out at the bisection's end the others are left
    below the capacity: it is then tried on either side of its jump, fixed, the capacity met
    again by the others, and the better net profit within the capacity kept; repeated while
    one jumps and a change helps.
    """

    def net(candidate: np.ndarray) -> float:
        response = curves.true_response(candidate)
        if float(response.sum()) > capacity * (1 + 1e-9):
            return -np.inf
        return float(values @ response - candidate.sum())

    def bisection(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The solution at the bisection's end, and the spend just below that end's mu
        (where a campaign that drops out at the end is still funded)."""

        def solve(mu: float) -> tuple[np.ndarray, float]:
            worth = np.maximum(values - mu, 0.0)
            return _ceiling_solution(
                curves, floor_multiplier, budget, low, high, worth, settle=False
            )

        low_mu, high_mu = 0.0, float(np.max(values))
        for _ in range(CAPACITY_BISECTIONS):
            middle = 0.5 * (low_mu + high_mu)
            if float(curves.response(solve(middle)[0]).sum()) > capacity:
                low_mu = middle
            else:
                high_mu = middle
            if high_mu - low_mu <= 1e-12 * max(high_mu, 1e-300):
                break
        spend, multiplier = solve(high_mu)
        return spend, multiplier, solve(low_mu)[0]

    spend, multiplier, above = bisection(low, high)
    best, best_net = (spend, multiplier), net(spend)
    low, high = low.copy(), high.copy()
    for _ in range(SETTLE_ROUNDS):
        jumped = np.flatnonzero(np.abs(above - spend) > 1e-6 * np.maximum(above, 1.0))
        jumped = jumped[low[jumped] < high[jumped]]
        if jumped.size == 0:
            break
        # Campaigns that jump together (equal curves) are funded in turn while the capacity
        # allows, the rest left out; then the one at the edge is tried both ways.
        gained = (curves.true_response(above) - curves.true_response(spend))[jumped]
        room = capacity - float(curves.true_response(spend).sum())
        funded = np.cumsum(gained) <= room + 1e-9 * capacity
        edge = int(np.count_nonzero(funded))
        improved = None
        for count in {edge, min(edge + 1, jumped.size)}:
            fixed_low, fixed_high = low.copy(), high.copy()
            chosen = np.where(np.arange(jumped.size) < count, above[jumped], spend[jumped])
            fixed_low[jumped] = fixed_high[jumped] = chosen
            if fixed_low.sum() > budget or float(curves.response(fixed_low).sum()) > capacity:
                continue
            candidate = bisection(fixed_low, fixed_high)
            if net(candidate[0]) > best_net:
                best, best_net = candidate[:2], net(candidate[0])
                improved = (fixed_low, fixed_high, candidate)
        if improved is None:
            break
        low, high, (spend, multiplier, above) = improved
    return best


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
        spend, multiplier = _ceiling_solution(curves, floor_multiplier, budget, low, high, worth)
    else:
        if (target_roas is None) == (target_cpa is None):
            raise EngineError("target_efficiency needs exactly one of target_roas and target_cpa")
        if target_roas is not None:
            spend, multiplier = _target_efficiency(
                curves, target_roas, budget, low, high, worth, "ROAS"
            )
        else:
            # A cost per acquisition counts every response alike, whatever it is worth: the
            # path ignores the values, which the report still uses.
            path_worth = np.ones(size)
            spend, multiplier = _target_efficiency(
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
            spend, multiplier = _cap_net_profit(curves, capacity, floor, budget, low, high, worth)
        else:
            spend, multiplier = _cap_on_path(curves, capacity, multiplier, low, high, path_worth)
            spend, multiplier = _settle_capped_stretches(
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


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def allocation_report(
    curves: ResponseCurves,
    spend: np.ndarray,
    *,
    names: Sequence[str],
    values: np.ndarray | None = None,
    current: np.ndarray | None = None,
    scenario: str = "fixed_budget",
    objective: str = "response",
    multiplier: float | None = None,
    capacity_binding: bool = False,
) -> dict:
    """JSON-able summary of an allocation: per-campaign figures and totals."""
    size = curves.size
    worth = resolve_weights(size, values)
    spend = np.asarray(spend, dtype=float)
    response = curves.true_response(spend)
    value = worth * response
    marginal_roi = worth * curves.marginal(spend)
    total_spend = float(spend.sum())
    if current is not None:
        current = np.broadcast_to(np.asarray(current, dtype=float), size)
        if np.any(np.isinf(current)):
            raise EngineError("current spends must be finite numbers (NaN marks unknown)")
    with np.errstate(divide="ignore", invalid="ignore"):
        roi = np.where(spend > 0, value / spend, np.nan)
    rows = [
        {
            "campaign": names[i],
            "spend": float(spend[i]),
            "share": float(spend[i] / total_spend) if total_spend > 0 else 0.0,
            "response": float(response[i]),
            "value": float(value[i]),
            "roi": _json_number(roi[i]),
            "mroi": _json_number(marginal_roi[i]),
            "change": None
            if current is None or np.isnan(current[i])
            else float(spend[i] - current[i]),
        }
        for i in range(size)
    ]
    total_value = float(value.sum())
    return {
        "scenario": scenario,
        "objective": objective,
        "allocation": rows,
        "total_spend": total_spend,
        "total_response": float(response.sum()),
        "total_value": total_value,
        "net_profit": total_value - total_spend,
        "roi": total_value / total_spend if total_spend > 0 else None,
        "marginal_roi": None if multiplier is None else _json_number(multiplier),
        "capacity_binding": capacity_binding,
    }
