"""The scenarios where the budget is a ceiling: flexible_budget and target_efficiency.

flexible_budget spends down to a marginal-return floor unless the budget runs out first;
target_efficiency spends the most whose overall value / spend stays at a target, refusing an
unreachable target with the best ratio the mix achieves. Both walk the allocator's KKT path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.allocator import kkt_path, section_count, solve_budget, solve_monotone_multiplier
from engine.errors import EngineError
from engine.response import ResponseCurves

RATIO_ITERATIONS = 50


def ceiling_solution(
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


def target_efficiency_solution(
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
